/**
 * Every `@example` in src/ compiles, as a user would write it: each block becomes a module of its
 * own that imports the package by name ('kinesis-streams', 'kinesis-streams/redis', ...; mapped
 * to src/<entry>/index.ts), type-checked with the project's strictness. Names a block uses
 * without importing them come from the entry points (every exported name, as if imported), and
 * the few values an example takes as given (`redis`, `logger`, `event`...) from PRELUDE below.
 * A wrong example (a misspelt option, a removed export, arguments in the wrong place) fails here.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const root = resolve(import.meta.dirname, '../..');

const ENTRIES: Record<string, string> = {
  'kinesis-streams': 'src/index.ts',
  'kinesis-streams/app-opens': 'src/app-opens/index.ts',
  'kinesis-streams/testing': 'src/testing/index.ts',
  'kinesis-streams/redis': 'src/redis/index.ts',
  'kinesis-streams/producer': 'src/producer/index.ts',
  'kinesis-streams/lambda': 'src/lambda/index.ts',
};

/** The values examples take as given, declared with their types (only those a block does not declare itself). */
const PRELUDE: Record<string, string> = {
  redis: 'RedisClient',
  logger: 'Logger',
  event: 'AppOpen',
  events: 'AppOpen[]',
  decoder: 'Decoder<AppOpen>',
  processor: 'SingleProcessor<AppOpen>',
  batchProcessor: 'BatchProcessor<AppOpen>',
  deadLetters: 'DeadLetterSink',
  producer: 'BatchProducer',
  instrumentation: 'Instrumentation',
  record: 'KinesisRecord',
  data: 'Buffer',
  url: 'string',
  err: 'unknown',
};

export interface Example {
  file: string;
  line: number;
  code: string;
}

/** The `@example` blocks of a source text: the lines after the tag up to the next tag or the end of the comment. */
export function extractExamples(file: string, text: string): Example[] {
  const lines = text.split('\n');
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\*\s*@example\s*$/.test(lines[i]!)) continue;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*\*\s*@\w/.test(lines[j]!) && !/^\s*\*\/\s*$/.test(lines[j]!); j++) {
      body.push(lines[j]!.replace(/^\s*\* ?/, ''));
    }
    examples.push({ file, line: i + 2, code: body.join('\n') });
    i = j - 1;
  }
  return examples;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(path);
    return d.name.endsWith('.ts') ? [path] : [];
  });
}

/** The names each entry point exports (values and types), read from its export lists. */
function entryNames(): Map<string, string> {
  const byName = new Map<string, string>();
  for (const [specifier, file] of Object.entries(ENTRIES)) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
      for (const part of m[1]!.split(',')) {
        const name = part.replace(/\/\/.*$/gm, '').trim().split(/\s+as\s+/).pop()!;
        if (name !== '' && !byName.has(name)) byName.set(name, specifier);
      }
    }
  }
  return byName;
}

/** Top-level names a block declares or imports itself. */
function declaredNames(code: string): Set<string> {
  const sf = ts.createSourceFile('x.ts', code, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const names = new Set<string>();
  const bind = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const el of name.elements) if (!ts.isOmittedExpression(el)) bind(el.name);
  };
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st)) {
      const clause = st.importClause;
      if (clause?.name) names.add(clause.name.text);
      const bindings = clause?.namedBindings;
      if (bindings && ts.isNamedImports(bindings)) for (const el of bindings.elements) names.add(el.name.text);
      if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
    } else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) bind(d.name);
    } else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st)) && st.name) {
      names.add(st.name.text);
    }
  }
  return names;
}

/** A block as a module: the imports and declarations it takes as given, then its code; and how many lines come before the code. */
export function exampleModule(code: string, names: Map<string, string>): { text: string; preludeLines: number } {
  const own = declaredNames(code);
  const imports = new Map<string, string[]>();
  for (const [name, specifier] of names) {
    if (own.has(name)) continue;
    if (!imports.has(specifier)) imports.set(specifier, []);
    imports.get(specifier)!.push(name);
  }
  const prelude = [...imports].map(([specifier, list]) => `import { ${list.join(', ')} } from '${specifier}';`);
  for (const [name, type] of Object.entries(PRELUDE)) if (!own.has(name)) prelude.push(`declare const ${name}: ${type};`);
  prelude.push('export {};');
  return { text: `${prelude.join('\n')}\n${code}\n`, preludeLines: prelude.length };
}

/** Type-checks the blocks; returns one message per error, naming the source file and line of the example. */
export function checkExamples(examples: Example[]): string[] {
  const names = entryNames();
  const virtual = new Map<string, { example: Example; preludeLines: number; text: string }>();
  examples.forEach((example, i) => {
    const { text, preludeLines } = exampleModule(example.code, names);
    virtual.set(join(root, '.examples', `example-${i}.ts`), { example, preludeLines, text });
  });
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
    esModuleInterop: true,
    resolveJsonModule: true,
    baseUrl: root,
    paths: Object.fromEntries(Object.entries(ENTRIES).map(([specifier, file]) => [specifier, [file]])),
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const v = virtual.get(resolve(fileName));
    return v ? ts.createSourceFile(fileName, v.text, languageVersion) : getSourceFile.call(host, fileName, languageVersion, ...rest);
  };
  host.fileExists = (fileName) => virtual.has(resolve(fileName)) || fileExists.call(host, fileName);
  host.readFile = (fileName) => virtual.get(resolve(fileName))?.text ?? readFile.call(host, fileName);
  const program = ts.createProgram([...virtual.keys()], options, host);
  const problems: string[] = [];
  for (const [path, { example, preludeLines }] of virtual) {
    const sf = program.getSourceFile(path)!;
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line - preludeLines;
      const where = line < 0 ? 'prelude' : `line ${example.line + line}`;
      problems.push(`${relative(root, example.file)}:${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    }
  }
  return problems;
}

test('every @example in src/ compiles against the public entry points', () => {
  const examples = sourceFiles(join(root, 'src')).flatMap((file) => extractExamples(file, readFileSync(file, 'utf8')));
  assert.ok(examples.length > 0);
  assert.deepEqual(checkExamples(examples), []);
});

test('a wrong example fails: the processor inside the worker config', () => {
  const wrong = { file: join(root, 'src/app-opens/model/appOpenAvro.ts'), line: 1, code: 'await runWithSingleProcessor({ decoder: appOpenDecoder, processor });' };
  const right = { ...wrong, code: 'await runWithSingleProcessor({ decoder: appOpenDecoder }, processor);' };
  assert.deepEqual(checkExamples([right]), []);
  const problems = checkExamples([wrong]);
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0]!, /appOpenAvro\.ts:line 1: Expected 2 arguments, but got 1/);
});
