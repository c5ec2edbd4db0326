/**
 * The public surface: each entry point of package.json's `exports` exports exactly the values
 * listed here (an accidental export, or a lost one, fails), and every value exported has a doc
 * comment where it is defined. Internals stay importable by relative path (tests, bench, scripts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const SURFACE: Record<string, { file: string; values: string[] }> = {
  '.': {
    file: 'src/index.ts',
    values: [
      // the KCL worker runtime
      'runWithSingleProcessor', 'runWithBatchProcessor', 'ExitCode', 'checkHealthDir', 'LogDeadLetterSink',
      // errors a processor throws
      'StreamError', 'RetriableError', 'NonRetriableError', 'DecodeError', 'ValidationError', 'isRetriable',
      // retriability as plain functions (the `classify` option; docs/guarantees.md)
      'classifyError', 'classifyCheckpointError',
      // observability: the worker's events, and the EMF document both runtimes write
      'Instrumentation', 'emfDocument', 'checkNamespace', 'DEFAULT_METRICS_NAMESPACE',
      // configuration and logging for a worker's entry point
      'createWorkerLogger', 'parseLogLevel', 'ConfigError', 'loadEnvFile', 'mandatoryVar', 'importantVar', 'optionalVar',
      'parseUrl', 'parseInteger', 'parseStreamName', 'redactUrl',
      // Avro schema fingerprints, for a model of one's own
      'fingerprintOf', 'formatFingerprint',
    ],
  },
  './app-opens': {
    file: 'src/app-opens/index.ts',
    values: [
      'APP_OPEN_SCHEMA_V1', 'APP_OPEN_V1_FINGERPRINT', 'appOpenDecoder', 'fromAvro', 'toAvro', 'validate', 'validationError', 'registerAppOpenSchema',
      'recordLastOpen', 'recordLastOpens', 'lastOpenKey', 'lastOpenField',
    ],
  },
  './testing': { file: 'src/testing/index.ts', values: ['TestDaemon', 'makeRecords', 'sequenceNumber'] },
  './redis': {
    file: 'src/redis/index.ts',
    values: [
      'createRedisClient', 'closeRedisClient', 'parseRedisUrl', 'translateRedisError', 'runBounded', 'keySlot',
      'RedisDeadLetterSink', 'deadLetterKey', 'deleteDeadLetters', 'classifyRedisError', 'defineScript',
    ],
  },
  './producer': {
    file: 'src/producer/index.ts',
    values: [
      'BatchProducer', 'createKinesisClient', 'PRODUCER_DEFAULTS',
      'AbandonedAtStopError', 'BufferFullError', 'ProducerClosedError', 'PutRecordFailedError', 'RecordLimitError',
      'classifyRequestError',
    ],
  },
  './lambda': { file: 'src/lambda/index.ts', values: ['createKinesisHandler', 'createLambdaLogger', 'createLocalContext'] },
};

const root = resolve(import.meta.dirname, '..');

test('the entry points are the package.json exports, no more, no fewer', () => {
  type Target = { types: string; default: string };
  const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { exports: Record<string, { import: Target; require: Target }> };
  // './package.json' is exported too (tools read the version); it is no code entry point.
  assert.deepEqual(Object.keys(pkg.exports).filter((e) => e !== './package.json').sort(), Object.keys(SURFACE).sort());
  for (const [entry, { file }] of Object.entries(SURFACE)) {
    const built = file.slice('src/'.length).replace(/\.ts$/, '');
    assert.deepEqual(pkg.exports[entry]!.import, { types: `./dist/${built}.d.ts`, default: `./dist/${built}.js` }, entry);
    assert.deepEqual(pkg.exports[entry]!.require, { types: `./dist/cjs/${built}.d.ts`, default: `./dist/cjs/${built}.js` }, entry);
  }
});

for (const [entry, { file, values }] of Object.entries(SURFACE)) {
  test(`${entry}: exports exactly its listed values`, async () => {
    const module = (await import(resolve(root, file))) as Record<string, unknown>;
    assert.deepEqual(Object.keys(module).sort(), [...values].sort());
  });
}

test('every exported value has a doc comment where it is defined', () => {
  const program = ts.createProgram(Object.values(SURFACE).map(({ file }) => resolve(root, file)), {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const undocumented: string[] = [];
  for (const [entry, { file }] of Object.entries(SURFACE)) {
    const source = program.getSourceFile(resolve(root, file));
    assert.ok(source, file);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    assert.ok(moduleSymbol, file);
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      if (!(symbol.flags & ts.SymbolFlags.Value)) continue; // types: not asserted here
      const documented = symbol.getDocumentationComment(checker).some((part) => part.text.trim() !== '');
      if (!documented) undocumented.push(`${entry}: ${exported.name}`);
    }
  }
  assert.deepEqual(undocumented, []);
});
