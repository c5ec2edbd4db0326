/**
 * The npm package as a new user gets it (make test-package, not part of make test-unit: packing
 * rebuilds dist/). `npm pack` (its prepack builds) makes the tarball; a new project
 * (the README's install block, run as printed with the tarball for `kinesis-streams`) installs it;
 * the README's "Write a worker" blocks are written there exactly as printed (marked
 * `<!-- package-test: NAME -->` in README.md) and its test runs with `node --test`. Then what
 * every user would try: each documented entry point from an ES module and from CommonJS; the
 * TypeScript compiler (the project's) under nodenext, node16, bundler and commonjs + node10, with
 * skipLibCheck off; the Lambda handler of docs/lambda.md compiled and invoked against a private
 * redis-server; what the install brought (no app binaries, no HTTP framework, no AWS SDK,
 * engines true on Node 20.19); and the README's last step, the worker under the real Java KCL
 * daemon started by the package's kinesis-streams-daemon on local stand-ins (skipped without java).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';
import { closeRedisClient, createRedisClient } from '../../src/redis/connection.js';
import { localClient } from '../helpers/kinesalite.js';
import { lambdaEvent } from '../helpers/lambdaEvent.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
  exports: Record<string, unknown>;
  files: string[];
};
/** The documented entry points: every subpath of the exports map but package.json. */
const ENTRY_POINTS = Object.keys(rootPackage.exports)
  .filter((k) => k !== './package.json')
  .map((k) => (k === '.' ? 'kinesis-streams' : `kinesis-streams/${k.slice(2)}`));
const APP_BINARIES = ['lastopens', 'app-opens-api', 'dailyactives'];
const repoVersion = (name: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * The code blocks of a Markdown file that follow a `<!-- package-test: NAME -->` line, by NAME,
 * exactly as printed.
 */
function markedBlocks(file: string): Map<string, string> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const blocks = new Map<string, string>();
  for (const m of text.matchAll(/^<!-- package-test: (\S+) -->\n```[a-z]*\n([\s\S]*?)^```$/gm)) blocks.set(m[1]!, m[2]!);
  return blocks;
}

/** This process's environment without what marks it as a node:test child (a nested `node --test` would report to this runner). */
const USER_ENV: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = USER_ENV, timeout = 300_000): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}, ${String(r.error ?? '')}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Every file under dir, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => statSync(join(dir, p)).isFile());
}

const readme = markedBlocks('README.md');
const lambdaDoc = markedBlocks('docs/lambda.md');

let work: string;
let tarball: string;
let unpacked: string;
let project: string;
let installLog = '';

before(() => {
  work = mkdtempSync(join(tmpdir(), 'package-test-'));
  // npm pack as a publisher runs it: prepack builds a clean dist/.
  const packed = JSON.parse(ok(run('npm', ['pack', '--json', '--pack-destination', work], ROOT, USER_ENV, 600_000), 'npm pack')) as Array<{ filename: string }>;
  tarball = join(work, packed[0]!.filename);
  unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
  // The README's install block, as printed, with the tarball in place of the registry's package.
  const install = readme.get('install');
  assert.ok(install, 'README.md has no <!-- package-test: install --> block');
  assert.match(install, /^npm install kinesis-streams$/m);
  const script = `set -euo pipefail\n${install.replace(/^npm install kinesis-streams$/m, `npm install --no-audit --no-fund ${tarball}`)}\npwd\n`;
  const r = run('bash', ['-c', script], work);
  installLog = `${r.stdout}\n${r.stderr}`;
  project = ok(r, 'the README install block').trim().split('\n').at(-1)!;
  assert.ok(existsSync(join(project, 'node_modules/kinesis-streams/package.json')), installLog);
});

after(async () => {
  await stopAllRedis();
  if (work && !process.env.KEEP_PACKAGE_TEST) rmSync(work, { recursive: true, force: true });
});

describe('the tarball', () => {
  test('ships the built framework and app-opens model and tasks, ESM and CommonJS, and LICENSE; not the app', () => {
    const files = filesUnder(join(unpacked, 'package'));
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json']) {
      assert.ok(files.includes(f), `${f} missing from the package`);
    }
    for (const entry of ENTRY_POINTS.slice(1)) {
      const sub = entry.slice('kinesis-streams/'.length);
      for (const f of [`dist/${sub}/index.js`, `dist/${sub}/index.d.ts`, `dist/cjs/${sub}/index.js`, `dist/cjs/${sub}/index.d.ts`]) assert.ok(files.includes(f), `${f} missing`);
    }
    assert.match(readFileSync(join(unpacked, 'package/LICENSE'), 'utf8'), /^MIT License/);
    const app = files.filter((f) => /^dist\/(cjs\/)?app-opens\/(api|bin|lambda)\/|^dist\/(cjs\/)?app-opens\/(lastopens|redisWorker)\.|^bin\/(lastopens|app-opens-api|dailyactives)$|\.lua$/.test(f));
    assert.deepEqual(app, [], 'app files in the package');
    assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'sources or tests in the package');
  });

  test('no dangling source map: every map carries its sources, no declaration map points at src/', () => {
    const dir = join(unpacked, 'package');
    const maps = filesUnder(dir).filter((f) => f.endsWith('.map'));
    assert.ok(maps.length > 0);
    for (const f of maps) {
      assert.ok(!f.endsWith('.d.ts.map'), `${f}: a declaration map`);
      const map = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      assert.equal(map.sourcesContent?.length, map.sources.length, `${f} does not carry its sources`);
      assert.ok(map.sourcesContent.every((s) => typeof s === 'string' && s.length > 0), `${f} has an empty source`);
    }
    for (const f of filesUnder(dir).filter((p) => p.endsWith('.js'))) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(dir, f), 'utf8'))?.[1];
      if (url !== undefined) assert.ok(existsSync(join(dir, f, '..', url)), `${f} points at a missing ${url}`);
    }
  });

  test("the README's relative links resolve inside the package", () => {
    const dir = join(unpacked, 'package');
    const links = [...readFileSync(join(dir, 'README.md'), 'utf8').matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)].map((m) => m[1]!);
    assert.ok(links.length > 5);
    assert.deepEqual(links.filter((l) => !existsSync(join(dir, l))), []);
  });
});

describe('installed into a new project', () => {
  test("the README's install block: no EBADENGINE, no app binaries in node_modules/.bin", (t) => {
    assert.doesNotMatch(installLog, /EBADENGINE/);
    const bins = readdirSync(join(project, 'node_modules/.bin'));
    assert.deepEqual(bins.filter((b) => APP_BINARIES.includes(b)), []);
    t.diagnostic(`node_modules/.bin: ${bins.join(' ')}`);
  });

  test('a plain worker installs neither the HTTP API nor the AWS SDK; packages and size reported; engines true on Node 20.19', (t) => {
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };
    const installed = Object.keys(lock.packages).filter((k) => k !== '');
    for (const heavy of ['fastify', 'jose', 'ajv', '@fastify/', '@aws-sdk/', '@smithy/', 'aws-kcl']) {
      assert.deepEqual(installed.filter((k) => k.startsWith(`node_modules/${heavy}`)), [], `${heavy} installed with the package`);
    }
    const semver = createRequire(join(ROOT, 'package.json'))('semver') as { satisfies(version: string, range: string): boolean; minVersion(range: string): { version: string } };
    const oldest = semver.minVersion(rootPackage.engines.node).version;
    const refusing = Object.entries(lock.packages)
      .filter(([k, v]) => k !== '' && v.engines?.node !== undefined && !semver.satisfies(oldest, v.engines.node))
      .map(([k, v]) => `${k} wants node ${v.engines!.node}`);
    assert.deepEqual(refusing, [], `engines says ${rootPackage.engines.node}`);
    const bytes = filesUnder(join(project, 'node_modules')).reduce((sum, f) => sum + statSync(join(project, 'node_modules', f)).size, 0);
    t.diagnostic(`a plain worker installs ${installed.length} packages, ${(bytes / 1e6).toFixed(1)} MB in node_modules (the 0.1.0 package before the split: 97 packages, 42 MB)`);
  });

  test("the README's worker and its TestDaemon test, as printed: node --test passes", () => {
    for (const name of ['worker.js', 'worker.test.js']) {
      const code = readme.get(name);
      assert.ok(code, `README.md has no <!-- package-test: ${name} --> block`);
      writeFileSync(join(project, name), code);
    }
    assert.equal(readme.get('run-tests')?.trim(), 'node --test');
    const r = run(process.execPath, ['--test'], project);
    ok(r, 'node --test in the new project');
    assert.match(r.stdout, /^# pass 1$/m, r.stdout);
    assert.match(r.stdout, /^# fail 0$/m, r.stdout);
    assert.match(readFileSync(join(project, 'myworker.log'), 'utf8'), /"msg":"app open"/);
  });

  test('every entry point from an ES module and from CommonJS (each its own build), the producer failing clearly until its peers are installed', () => {
    const esm = [
      ...ENTRY_POINTS.map((e, i) => `import * as m${i} from '${e}';`),
      `const mods = { ${ENTRY_POINTS.map((e, i) => `'${e}': m${i}`).join(', ')} };`,
      `console.log(JSON.stringify({ resolved: import.meta.resolve('kinesis-streams'), names: Object.fromEntries(Object.entries(mods).map(([k, m]) => [k, Object.keys(m).sort()])) }));`,
    ].join('\n');
    const cjs = [
      `const entries = ${JSON.stringify(ENTRY_POINTS)};`,
      `const names = Object.fromEntries(entries.map((e) => [e, Object.keys(require(e)).filter((k) => k !== '__esModule').sort()]));`,
      `console.log(JSON.stringify({ resolved: require.resolve('kinesis-streams'), names }));`,
    ].join('\n');
    writeFileSync(join(project, 'entries.mjs'), esm);
    writeFileSync(join(project, 'entries.cjs'), cjs);
    // Without the optional peers, the producer names what is missing; the rest loads.
    for (const file of ['entries.mjs', 'entries.cjs']) {
      const r = run(process.execPath, [file], project);
      assert.notEqual(r.status, 0, `${file} loaded the producer without the AWS SDK`);
      assert.match(r.stderr, /Cannot find (package|module) '@aws-sdk\/client-kinesis'/, r.stderr);
    }
    ok(run('npm', ['install', '--no-audit', '--no-fund', `@aws-sdk/client-kinesis@${repoVersion('@aws-sdk/client-kinesis')}`, `@smithy/node-http-handler@${repoVersion('@smithy/node-http-handler')}`], project), 'npm install of the producer peers');
    type Loaded = { resolved: string; names: Record<string, string[]> };
    const fromEsm = JSON.parse(ok(run(process.execPath, ['entries.mjs'], project), 'entries.mjs')) as Loaded;
    const fromCjs = JSON.parse(ok(run(process.execPath, ['entries.cjs'], project), 'entries.cjs')) as Loaded;
    assert.match(fromEsm.resolved, /node_modules\/kinesis-streams\/dist\/index\.js$/);
    assert.match(fromCjs.resolved, /node_modules\/kinesis-streams\/dist\/cjs\/index\.js$/);
    assert.deepEqual(fromCjs.names, fromEsm.names, 'the CommonJS build exports what the ESM build does');
    assert.ok(fromEsm.names['kinesis-streams']!.includes('runWithSingleProcessor'));
    assert.ok(fromEsm.names['kinesis-streams/app-opens']!.includes('appOpenDecoder'));
    assert.ok(fromEsm.names['kinesis-streams/testing']!.includes('TestDaemon'));
    assert.ok(fromEsm.names['kinesis-streams/lambda']!.includes('createKinesisHandler'));
    assert.ok(fromEsm.names['kinesis-streams/producer']!.includes('BatchProducer'));
    assert.ok(fromEsm.names['kinesis-streams/redis']!.includes('createRedisClient'));
  });

  test('TypeScript: every entry point with types under nodenext, node16, bundler and commonjs + node10, skipLibCheck off, the Lambda types real', () => {
    ok(run('npm', ['install', '--no-audit', '--no-fund', '-D', `@types/node@${repoVersion('@types/node')}`], project), 'npm install -D @types/node');
    // Uses a symbol of each entry point, so an entry point typed `any` or missing fails; the lines
    // marked to expect an error fail the build when the Lambda event or context types are `any`.
    const body = `
import { runWithSingleProcessor, RetriableError, type WorkerConfig } from 'kinesis-streams';
import { appOpenDecoder, toAvro, type AppOpen } from 'kinesis-streams/app-opens';
import { TestDaemon, makeRecords } from 'kinesis-streams/testing';
import { createRedisClient } from 'kinesis-streams/redis';
import { BatchProducer } from 'kinesis-streams/producer';
import { createKinesisHandler, createLocalContext, type KinesisHandler } from 'kinesis-streams/lambda';

const config: WorkerConfig<AppOpen> = { decoder: appOpenDecoder, exitProcess: false };
export const started: Promise<number> = runWithSingleProcessor(config, async (event) => {
  if (event.platform === '') throw new RetriableError('retry');
});
export const bytes: Buffer = toAvro({ timestamp: 1, userId: 1n, platform: 'ios', appVersion: null, deviceId: null });
export const records: ReadonlyArray<{ data: string }> = makeRecords([bytes]);
export const spawnDaemon = (): TestDaemon => TestDaemon.spawn('node', { args: ['worker.js'] });
export const redisOf = (url: string): { quit(): Promise<unknown> } => createRedisClient(url);
export type Producer = BatchProducer;
export const handler: KinesisHandler = createKinesisHandler({ decoder: appOpenDecoder, singleProcessor: async () => undefined });
type LambdaEvent = Parameters<KinesisHandler>[0];
type LambdaContext = Parameters<KinesisHandler>[1];
// @ts-expect-error an event has Records, not records: an error only while the types are real
export const badEvent: LambdaEvent = { records: [] };
export const goodEvent: LambdaEvent = { Records: [] };
// @ts-expect-error a context's getRemainingTimeInMillis returns a number
export const badRemaining: string = createLocalContext().getRemainingTimeInMillis();
export const context: LambdaContext = createLocalContext();
export const answer: Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }> = handler(goodEvent, context);
`;
    mkdirSync(join(project, 'ts'), { recursive: true });
    writeFileSync(join(project, 'ts/consumer.ts'), body);
    writeFileSync(join(project, 'ts/consumer.cts'), body);
    const strict = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', types: ['node'] };
    const configs: Record<string, { compilerOptions: object; files: string[] }> = {
      nodenext: { compilerOptions: { ...strict, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['consumer.ts', 'consumer.cts'] },
      node16: { compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16' }, files: ['consumer.ts', 'consumer.cts'] },
      bundler: { compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler' }, files: ['consumer.ts'] },
      'commonjs-node10': { compilerOptions: { ...strict, module: 'commonjs', moduleResolution: 'node', esModuleInterop: true }, files: ['consumer.ts'] },
    };
    for (const [name, config] of Object.entries(configs)) {
      writeFileSync(join(project, `ts/tsconfig.${name}.json`), JSON.stringify(config, null, 2));
      const r = run(process.execPath, [TSC, '-p', `ts/tsconfig.${name}.json`, '--listFiles'], project);
      ok(r, `tsc (${name})`);
      // Each entry point's declarations came from the package, the Lambda types from @types/aws-lambda.
      const listed = r.stdout.split('\n').map((f) => relative(project, f));
      assert.ok(listed.some((f) => f.startsWith('node_modules/@types/aws-lambda/')), `${name}: @types/aws-lambda not loaded`);
      assert.ok(listed.some((f) => /^node_modules\/kinesis-streams\/dist\/(cjs\/)?lambda\/index\.d\.ts$/.test(f)), `${name}: lambda declarations not loaded`);
    }
    // A file with an error fails: the check above can fail.
    writeFileSync(join(project, 'ts/broken.ts'), `import { appOpenDecoder } from 'kinesis-streams/app-opens';\nexport const n: number = appOpenDecoder;\n`);
    writeFileSync(join(project, 'ts/tsconfig.broken.json'), JSON.stringify({ ...configs.nodenext, files: ['broken.ts'] }));
    assert.notEqual(run(process.execPath, [TSC, '-p', 'ts/tsconfig.broken.json'], project).status, 0);
  });

  describe("docs/lambda.md's handler, compiled against the installed package and invoked", () => {
    let server: RedisServer;
    before(async () => {
      server = await startRedis();
    });

    test('an event of app opens: an empty batchItemFailures, the newest opens in Redis, the poison record dead-lettered', async () => {
      const code = lambdaDoc.get('handler.ts');
      assert.ok(code, 'docs/lambda.md has no <!-- package-test: handler.ts --> block');
      const dir = join(project, 'lambda');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'handler.ts'), code);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { strict: true, skipLibCheck: false, target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', types: ['node'] }, files: ['handler.ts'] }),
      );
      ok(run(process.execPath, [TSC, '-p', 'lambda/tsconfig.json'], project), 'tsc of the handler');
      const now = Math.floor(Date.now() / 1000);
      const open = (userId: bigint, platform: string, timestamp: number): AppOpen => ({ userId, platform, timestamp, appVersion: null, deviceId: null });
      const event = lambdaEvent([toAvro(open(7n, 'ios', now - 10)), toAvro(open(7n, 'ios', now - 5)), Buffer.from('poison'), toAvro(open(8n, 'android', now - 1))]);
      writeFileSync(join(dir, 'event.json'), JSON.stringify(event));
      writeFileSync(
        join(dir, 'invoke.mjs'),
        [
          `import { readFileSync } from 'node:fs';`,
          `import { createLocalContext } from 'kinesis-streams/lambda';`,
          `import { handler } from './handler.js';`,
          `const response = await handler(JSON.parse(readFileSync(new URL('event.json', import.meta.url), 'utf8')), createLocalContext());`,
          `process.stdout.write('\\nRESPONSE ' + JSON.stringify(response) + '\\n');`,
          `process.exit(0);`,
        ].join('\n'),
      );
      const r = run(process.execPath, ['lambda/invoke.mjs'], project, { ...USER_ENV, RESULTS_REDIS_URL: server.url });
      const out = ok(r, 'invoking the handler');
      assert.deepEqual(JSON.parse(/^RESPONSE (.*)$/m.exec(out)?.[1] ?? 'null'), { batchItemFailures: [] }, out);
      const redis = createRedisClient(server.url);
      try {
        assert.equal(await redis.hget('user:7:checkpoint', 'ios_app_open'), String(now - 5));
        assert.equal(await redis.hget('user:8:checkpoint', 'android_app_open'), String(now - 1));
        assert.equal(await redis.xlen('deadletter:app-opens'), 1);
      } finally {
        await closeRedisClient(redis);
      }
    });
  });

  test("the README's daemon step, as printed: the worker under the real KCL daemon (kinesis-streams-daemon --local), a record put on the stream reaches its log, Ctrl-C stops it all (exit 130)", async (t) => {
    if (spawnSync('java', ['-version']).status !== 0) {
      t.skip('no java on PATH: the real daemon cannot run here');
      return;
    }
    const install = readme.get('daemon-install');
    const properties = readme.get('myworker.properties');
    const command = readme.get('daemon-run')?.trim();
    assert.ok(install && properties && command, 'README.md lacks a daemon-install, myworker.properties or daemon-run block');
    ok(run('bash', ['-c', `set -euo pipefail\n${install}`], project), 'the README daemon-install block');
    writeFileSync(join(project, 'myworker.properties'), properties);
    writeFileSync(join(project, 'worker.js'), readme.get('worker.js')!); // as the README's worker step wrote it (this test may run alone)
    const env: NodeJS.ProcessEnv = { ...USER_ENV };
    // The jars this repository already fetched (make jars), where present: the launcher's documented
    // KCL_JARS_DIR, so the test does not depend on Maven Central; without them it downloads its pinned set.
    if (existsSync(join(ROOT, 'vendor/kcl-jars/.complete'))) env.KCL_JARS_DIR = join(ROOT, 'vendor/kcl-jars');
    // Its own process group, as a terminal's foreground job: Ctrl-C is SIGINT to the group.
    const daemon = spawn('bash', ['-c', `exec ${command}`], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const group = -daemon.pid!;
    let output = '';
    daemon.stdout.on('data', (c: Buffer) => (output += c.toString()));
    daemon.stderr.on('data', (c: Buffer) => (output += c.toString()));
    // 'close': every process holding the output pipes (npx, the launcher, java, the workers) is gone.
    let closed = false;
    const allGone = new Promise<void>((resolve) => daemon.once('close', () => resolve()));
    void allGone.then(() => (closed = true));
    const until = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline || closed) assert.fail(`${what} (waited ${timeoutMs} ms); launcher output:\n${output}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    try {
      await until(() => /daemon started/.test(output), 'the daemon did not start', 240_000);
      const endpoint = /local stack: kinesis (http:\/\/\S+)/.exec(output)?.[1];
      assert.ok(endpoint, output);
      const kinesis = localClient(endpoint);
      const userId = 424_242n;
      const data = toAvro({ userId, platform: 'android', timestamp: Math.floor(Date.now() / 1000), appVersion: null, deviceId: null });
      await until(
        () =>
          kinesis.send(new PutRecordCommand({ StreamName: 'app-opens', PartitionKey: 'pk', Data: data })).then(
            () => true,
            () => false,
          ),
        'cannot put a record on the local stream',
        60_000,
      );
      kinesis.destroy();
      const log = join(project, 'myworker.log');
      await until(() => existsSync(log) && readFileSync(log, 'utf8').includes(`"userId":"${userId}"`), 'the record never reached the worker', 240_000);
      process.kill(group, 'SIGINT'); // Ctrl-C
      const stopped = await Promise.race([allGone.then(() => 'stopped'), new Promise<string>((r) => setTimeout(() => r('still running'), 120_000).unref())]);
      assert.equal(stopped, 'stopped', output);
      assert.match(output, /daemon exited with 130/, output);
    } finally {
      if (!closed) {
        try {
          process.kill(group, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
  });
});
