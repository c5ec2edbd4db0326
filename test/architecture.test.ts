/**
 * The layering of ../shared/architecture.md, checked on the import graph of src/: the framework
 * knows no app, arrows point down only, and each public subpath stays on its side. A new import
 * that breaks a rule fails here with the file and the arrow.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/** Every .ts file under src, as a path relative to src. */
function sources(dir = SRC): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

/**
 * The src-relative files a file imports (relative specifiers only), value and type imports alike;
 * `valueOnly` leaves out `import type` / `export type` (erased at run time).
 */
function importsOf(file: string, valueOnly = false): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(import|export)(\s+type)?\b[^;'"]*?(?:from\s*)?\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    if (valueOnly && m[2] !== undefined) continue;
    out.push(normalize(join(dirname(file), m[3]!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** The layer a file belongs to: its first folder (`app-opens` counts as one layer). */
const layerOf = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : 'index');

/** Which layers each framework layer may import (besides itself). The app may import any. */
const ALLOWED: Record<string, string[]> = {
  core: [],
  avro: ['core'],
  config: ['core'],
  kcl: ['core', 'config'],
  lambda: ['core', 'config'],
  redis: ['core', 'config'],
  producer: ['core', 'config'],
  testing: ['core', 'kcl'],
  daemon: ['core', 'config'],
  index: ['core', 'config', 'kcl', 'avro'],
};

const graph = sources().map((file) => ({ file, imports: importsOf(file), valueImports: importsOf(file, true) }));

describe('architecture', () => {
  test('the import graph was read (sanity: the worker imports the pipeline)', () => {
    const worker = graph.find((g) => g.file === join('kcl', 'worker.ts'));
    assert.ok(worker, 'src/kcl/worker.ts not found');
    assert.ok(worker.imports.includes(join('core', 'pipeline.ts')), JSON.stringify(worker.imports));
  });

  test('the framework never imports the app (src/app-opens)', () => {
    const arrows = graph.flatMap(({ file, imports }) =>
      layerOf(file) === 'app-opens' ? [] : imports.filter((i) => layerOf(i) === 'app-opens').map((i) => `${file} -> ${i}`),
    );
    assert.deepEqual(arrows, []);
  });

  test('framework layers import only the layers below them', () => {
    const arrows = graph.flatMap(({ file, imports }) => {
      const from = layerOf(file);
      const allowed = ALLOWED[from];
      if (allowed === undefined) return from === 'app-opens' ? [] : [`${file}: unknown layer "${from}" (add it to ALLOWED)`];
      return imports.filter((i) => layerOf(i) !== from && !allowed.includes(layerOf(i))).map((i) => `${file} -> ${i}`);
    });
    assert.deepEqual(arrows, []);
  });

  test('no import cycle between files (type-only imports, erased at run time, aside)', () => {
    const edges = new Map(graph.map((g) => [g.file, g.valueImports]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of edges.keys()) visit(file, []);
    assert.deepEqual(cycles, []);
  });
});
