/**
 * The environment is documented once: the tables the workers read (src/app-opens/*\/app.ts) are
 * the source, the README's and docs/lambda.md's sections are generated from them
 * (scripts/env-docs.ts), and no other table in the docs lists a worker's variable.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ENV_DOC_SECTIONS, envDocSection } from '../../scripts/env-docs.js';
import { envVar, envVarTable, readEnvVar } from '../../src/config/variables.js';
import { parseInteger } from '../../src/config/env.js';
import { LASTOPENS_ENVIRONMENT } from '../../src/app-opens/lastopens/app.js';
import { DAILYACTIVES_ENVIRONMENT } from '../../src/app-opens/dailyactives/app.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(`${ROOT}${file}`, 'utf8');

describe('environment docs', () => {
  test('every generated section is current (run `node --import tsx scripts/env-docs.ts` after changing a table)', () => {
    for (const s of ENV_DOC_SECTIONS) {
      const section = envDocSection(read(s.file), s.id);
      assert.ok(section !== undefined, `${s.file}: markers of ${s.id} missing`);
      assert.equal(section, `${s.render()}\n`, `${s.file}#${s.id} is stale`);
    }
  });

  test('outside the generated sections, no docs table has a row for a worker variable', () => {
    const names = new Set([...LASTOPENS_ENVIRONMENT.kcl, ...LASTOPENS_ENVIRONMENT.lambda, ...DAILYACTIVES_ENVIRONMENT.kcl].map((v) => v.name));
    // The HTTP API is another program: its own STREAM_NAME and LOG_LEVEL are documented with it.
    const files = ['README.md', ...readdirSync(`${ROOT}docs`).filter((f) => f.endsWith('.md') && f !== 'api.md').map((f) => `docs/${f}`)];
    const rows: string[] = [];
    for (const file of files) {
      let text = read(file);
      for (const s of ENV_DOC_SECTIONS.filter((x) => x.file === file)) text = text.replace(envDocSection(text, s.id) ?? '', '');
      text = text.replace(/\n## The App Opens API\n[\s\S]*?\n(?=## )/, '\n');
      for (const line of text.split('\n')) {
        const first = /^\|\s*`([A-Z0-9_]+)`\s*\|/.exec(line)?.[1];
        if (first !== undefined && names.has(first)) rows.push(`${file}: ${line.slice(0, 80)}`);
      }
    }
    assert.deepEqual(rows, []);
  });

  test('the table reads what it documents: default, parser, a ConfigError naming the variable', () => {
    const CHUNK = envVar({ name: 'CHUNK', presence: 'optional', fallback: 5, parse: parseInteger({ min: 1 }), meaning: 'see [docs/x.md](docs/x.md#y)' });
    assert.equal(readEnvVar(CHUNK, {}), 5);
    assert.equal(readEnvVar(CHUNK, { CHUNK: ' 7 ' }), 7);
    assert.throws(() => readEnvVar(CHUNK, { CHUNK: '0' }), { name: 'ConfigError', message: 'CHUNK is malformed: must be >= 1' });
    const URL_ = envVar({ name: 'URL_', presence: 'mandatory', meaning: 'm' });
    assert.throws(() => readEnvVar(URL_, {}), { name: 'ConfigError', message: 'URL_ is not set (mandatory)' });
    const warned: string[] = [];
    const PATH_ = envVar({ name: 'PATH_', presence: 'important', defaultText: '`./<worker>.log`', meaning: 'm' });
    assert.equal(readEnvVar(PATH_, {}, { fallback: './w.log', onDefault: (m) => warned.push(m) }), './w.log');
    assert.deepEqual(warned, ['PATH_ is not set; using the default "./w.log"']);
    assert.equal(
      envVarTable([CHUNK, URL_, PATH_], 'docs'),
      [
        '| variable | | default | meaning |',
        '| --- | --- | --- | --- |',
        '| `CHUNK` | optional | `5` | see [x.md](x.md#y) |',
        '| `URL_` | mandatory |  | m |',
        '| `PATH_` | important | `./<worker>.log` | m |',
      ].join('\n'),
    );
  });
});
