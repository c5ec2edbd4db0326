/**
 * The lastopens Lambda function as deployed: configured by the environment, against a private
 * redis-server, on events shaped exactly like Lambda's. In-process for the semantics, and as the
 * built dist/app-opens/lambda/lastopens.js in a plain `node` process for what Lambda's runtime loads.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { LASTOPENS_CONNECTION_NAME, closeLastOpens, handler } from '../../../src/app-opens/lambda/lastopens.js';
import { createLocalContext } from '../../../src/lambda/localContext.js';
import { sequenceNumber } from '../../../src/testing/index.js';
import { toAvro, type AppOpen } from '../../../src/app-opens/model/index.js';
import { kplAggregate } from '../../helpers/kplAggregate.js';
import { lambdaEvent } from '../../helpers/lambdaEvent.js';
import { parseEmfLines } from '../../helpers/emf.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../fixtures/lambda/app-opens-event.json', import.meta.url));
const STREAM = 'app-opens-test';
const now = Math.floor(Date.now() / 1000);
const open = (userId: number, platform: string, timestamp: number): AppOpen => ({ userId: BigInt(userId), platform, timestamp, appVersion: '4.2.0', deviceId: null });
const seqOf = (event: KinesisStreamEvent, i: number): string => event.Records[i]!.kinesis.sequenceNumber;
const fields = (f: string[]): Record<string, string> => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i], f[2 * i + 1]])) as Record<string, string>;

const mtimeOrZero = (path: string): number => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
};
const newestMtime = (dir: string): number =>
  Math.max(...readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => mtimeOrZero(`${dir}/${f}`)));

let server: RedisServer;
let admin: Redis;
const savedEnv = { ...process.env };
/** Working directory of child processes: empty, so no stray .env file is read. */
const CWD = mkdtempSync(join(tmpdir(), 'lastopens-lambda-'));

const ourConnections = async (): Promise<number> =>
  String(await admin.client('LIST'))
    .split('\n')
    .filter((l) => l.includes(` name=${LASTOPENS_CONNECTION_NAME} `)).length;

before(async () => {
  server = await startRedis();
  admin = new Redis(server.url);
  Object.assign(process.env, { RESULTS_REDIS_URL: server.url, STREAM_NAME: STREAM, LOG_LEVEL: 'silent', METRICS: '0' });
  delete process.env.DEADLETTER_MAXLEN;
});
after(async () => {
  await closeLastOpens();
  admin.disconnect();
  await stopAllRedis();
  process.env = savedEnv;
  rmSync(CWD, { recursive: true, force: true });
});
afterEach(async () => {
  await admin.config('SET', 'maxmemory', '0');
  await admin.flushall();
});

describe('lastopens handler (src, in-process)', () => {
  test('the example event: plain, aggregated and replayed opens applied, the poison record dead-lettered and not reported', async () => {
    const event = JSON.parse(readFileSync(FIXTURE, 'utf8')) as KinesisStreamEvent;
    const response = await handler(event, createLocalContext());
    assert.deepEqual(response, { batchItemFailures: [] });
    assert.deepEqual(await admin.hgetall('user:1001:checkpoint'), { ios_app_open: '1764000000', android_app_open: '1764000050' });
    assert.deepEqual(await admin.hgetall('user:1002:checkpoint'), { android_app_open: '1764000100' }, 'the older replay did not move it back');
    assert.deepEqual(await admin.hgetall('user:1003:checkpoint'), { web_app_open: '1764000200' });
    const letters = (await admin.xrange(`deadletter:${STREAM}`, '-', '+')).map(([, f]) => fields(f));
    assert.equal(letters.length, 1);
    assert.deepEqual(
      { ...letters[0], reason: undefined },
      { sequenceNumber: seqOf(event, 2), subSequenceNumber: '0', shardId: 'shardId-000000000006', partitionKey: 'bad', reason: undefined, data: event.Records[2]!.kinesis.data },
    );
    assert.match(letters[0]!.reason!, /DecodeError/);
  });

  test('Redis refusing writes (OOM): the batch is reported from its first record, nothing dead-lettered; Lambda\'s retry completes it', async () => {
    // Prepare: one batch applied; then Redis runs out of memory (noeviction).
    const batch1 = lambdaEvent([toAvro(open(1, 'ios', now - 100))]);
    assert.deepEqual(await handler(batch1, createLocalContext()), { batchItemFailures: [] });
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    const batch2 = lambdaEvent(
      [
        toAvro(open(1, 'ios', now - 50)),
        kplAggregate([
          { partitionKey: '2', data: toAvro(open(2, 'android', now - 40)) },
          { partitionKey: '3', data: Buffer.from('poison inside an aggregate') },
        ]),
        toAvro(open(4, 'web', now - 30)),
      ],
      { start: 1 },
    );
    // Act
    const failed = await handler(batch2, createLocalContext({ timeoutMs: 30_000 }));
    // Assess: one batch call for all of it, so nothing of it counts as handled.
    assert.deepEqual(failed, { batchItemFailures: [{ itemIdentifier: seqOf(batch2, 0) }] });
    await admin.config('SET', 'maxmemory', '0');
    assert.equal(await admin.hget('user:1:checkpoint', 'ios_app_open'), String(now - 100), 'batch 1 stays, batch 2 not applied');
    assert.equal(await admin.exists('user:2:checkpoint'), 0);
    assert.equal(await admin.exists(`deadletter:${STREAM}`), 0, 'no dead letter before the batch is handled');
    // Act: Lambda retries from the reported record (the whole batch here).
    assert.deepEqual(await handler(batch2, createLocalContext()), { batchItemFailures: [] });
    assert.equal(await admin.hget('user:1:checkpoint', 'ios_app_open'), String(now - 50));
    assert.equal(await admin.hget('user:2:checkpoint', 'android_app_open'), String(now - 40));
    assert.equal(await admin.hget('user:4:checkpoint', 'web_app_open'), String(now - 30));
    const letters = (await admin.xrange(`deadletter:${STREAM}`, '-', '+')).map(([, f]) => fields(f));
    assert.deepEqual(letters.map((l) => [l.sequenceNumber, l.subSequenceNumber, l.partitionKey]), [[seqOf(batch2, 1), '1', '3']]);
  });

  test('Redis down: reported; the same connection object reconnects when Redis is back, and one connection serves every invocation', async () => {
    await closeLastOpens(); // a fresh container for this test
    const event = lambdaEvent([toAvro(open(5, 'ios', now - 5))]);
    for (let i = 0; i < 3; i++) assert.deepEqual(await handler(event, createLocalContext()), { batchItemFailures: [] });
    assert.equal(await ourConnections(), 1, 'one connection for three invocations');

    admin.disconnect();
    await server.down();
    const started = Date.now();
    const event6 = lambdaEvent([toAvro(open(6, 'ios', now))], { start: 1 });
    const down = await handler(event6, createLocalContext({ timeoutMs: 30_000 }));
    assert.deepEqual(down, { batchItemFailures: [{ itemIdentifier: seqOf(event6, 0) }] });
    assert.ok(Date.now() - started < 15_000, 'bounded in-process retry');

    await server.up();
    admin = new Redis(server.url);
    const deadline = Date.now() + 15_000;
    while ((await ourConnections()) === 0) {
      assert.ok(Date.now() < deadline, 'the function\'s client reconnected');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(await handler(event6, createLocalContext()), { batchItemFailures: [] });
    assert.equal(await admin.hget('user:6:checkpoint', 'ios_app_open'), String(now));
    assert.equal(await ourConnections(), 1, 'still one connection: reused, not re-created');
  });
});

describe('lastopens handler (dist/app-opens/lambda/lastopens.js in a plain node process)', () => {
  // The driver Lambda's runtime would be: import the module, call `handler` per invocation.
  const DRIVER = `
    import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
    const mod = await import(process.env.LAMBDA_MODULE);
    const event = JSON.parse(readFileSync(process.env.LAMBDA_EVENT, 'utf8'));
    const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 30000 };
    try {
      const responses = [await mod.handler(event, context), await mod.handler(event, context)];
      process.stdout.write('RESULT ' + JSON.stringify(responses) + '\\n');
    } catch (err) {
      process.stdout.write('ERROR ' + JSON.stringify({ name: err.name, message: err.message }) + '\\n');
    } finally {
      await mod.closeLastOpens();
    }
  `;
  const MODULE = pathToFileURL(`${ROOT}dist/app-opens/lambda/lastopens.js`).href;
  const run = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', DRIVER], {
      cwd: CWD,
      env: { PATH: process.env.PATH, LAMBDA_MODULE: MODULE, LAMBDA_EVENT: FIXTURE, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const lines = r.stdout.trim().split('\n').filter(Boolean);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines, last: lines.at(-1) ?? '' };
  };

  before(() => {
    // `make test` builds first; build here only when dist is missing or older than src.
    if (newestMtime(`${ROOT}src`) > mtimeOrZero(`${ROOT}dist/app-opens/lambda/lastopens.js`)) {
      execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'pipe' });
    }
  });

  test('loads as ESM under plain node, handles the example event twice, logs JSON to stdout without the Redis password', async () => {
    const secret = await startRedis({ password: 'hunter2-s3cret' });
    const secretClient = new Redis(secret.url);
    try {
      const r = run({ RESULTS_REDIS_URL: secret.url, STREAM_NAME: STREAM });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.last, `RESULT ${JSON.stringify([{ batchItemFailures: [] }, { batchItemFailures: [] }])}`);
      const logs = r.lines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(logs.filter((l) => l.msg === 'lastopens starting (new container)').length, 1, 'set up once for two invocations');
      assert.equal(logs.filter((l) => l.msg === 'batch handled').length, 2);
      assert.ok(!r.stdout.includes('hunter2-s3cret') && !r.stderr.includes('hunter2-s3cret'), 'password never printed');
      assert.match(String(logs[0]!.redis), /:\*\*\*@/);
      assert.deepEqual(await secretClient.hgetall('user:1003:checkpoint'), { web_app_open: '1764000200' });
      assert.equal(await secretClient.xlen(`deadletter:${STREAM}`), 2, 'the poison record, once per invocation');
      // Metrics: one EMF document per invocation on stdout (where EMF belongs on Lambda), valid
      // against the EMF schema, per function instead of per shard.
      const emf = parseEmfLines(r.lines.filter((l) => l.startsWith('{"_aws"')).join('\n'));
      assert.equal(emf.length, 2, 'one metrics document per invocation');
      assert.deepEqual(
        emf.map((d) => [d.StreamName, typeof d.FunctionName, d.ShardId, d.RecordsDeadLettered]),
        [
          [STREAM, 'string', undefined, 1],
          [STREAM, 'string', undefined, 1],
        ],
      );
    } finally {
      secretClient.disconnect();
      await secret.stop();
    }
  });

  test('issue 28: 200 poison records of 1 MiB among valid ones: Redis grows by less than DEADLETTER_MAX_BYTES plus a small margin, letters cut to 64 KiB, nothing reported, drops in the metrics', async (t) => {
    // Prepare: a driver that makes 40 events of 5 valid opens around 5 poison records of 1 MiB
    // (Lambda's shape) and hands them to the built module, one invocation each.
    const budget = 4 * 1024 * 1024;
    const driver = `
      const mod = await import(process.env.LAMBDA_MODULE);
      const { toAvro } = await import(process.env.MODEL_MODULE);
      const { sequenceNumber } = await import(process.env.TESTING_MODULE);
      const now = Number(process.env.NOW);
      const context = { awsRequestId: 'req', functionName: 'lastopens', getRemainingTimeInMillis: () => 30000 };
      const record = (data, i) => ({
        kinesis: { kinesisSchemaVersion: '1.0', partitionKey: 'pk-' + i, sequenceNumber: sequenceNumber(i), data: data.toString('base64'), approximateArrivalTimestamp: 1764000000 + i },
        eventSource: 'aws:kinesis', eventVersion: '1.0', eventID: 'shardId-000000000006:' + sequenceNumber(i), eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::123456789012:role/r', awsRegion: 'eu-west-1', eventSourceARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/' + process.env.STREAM_NAME,
      });
      const responses = [];
      for (let b = 0; b < 40; b++) {
        const records = [];
        for (let i = 0; i < 10; i++) {
          const n = b * 10 + i;
          const data = i % 2 === 0
            ? toAvro({ userId: BigInt(n + 1), platform: 'web', timestamp: now - b, appVersion: null, deviceId: null })
            : Buffer.concat([Buffer.from([0, n % 256]), Buffer.alloc(1024 * 1024 - 2, n % 251)]);
          records.push(record(data, n));
        }
        responses.push(await mod.handler({ Records: records }, context));
      }
      await mod.closeLastOpens();
      process.stdout.write('RESULT ' + JSON.stringify(responses) + '\\n');
    `;
    const usedMemory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    const before = await usedMemory();
    // Act
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', driver], {
      cwd: CWD,
      env: {
        PATH: process.env.PATH,
        LAMBDA_MODULE: MODULE,
        MODEL_MODULE: pathToFileURL(`${ROOT}dist/app-opens/model/index.js`).href,
        TESTING_MODULE: pathToFileURL(`${ROOT}dist/testing/index.js`).href,
        NOW: String(now),
        RESULTS_REDIS_URL: server.url,
        STREAM_NAME: STREAM,
        LOG_LEVEL: 'warn',
        DEADLETTER_MAX_BYTES: String(budget),
      },
      encoding: 'utf8',
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const growth = (await usedMemory()) - before;
    t.diagnostic(`used_memory grew by ${growth} bytes (budget ${budget})`);
    // Assess
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.at(-1), `RESULT ${JSON.stringify(Array.from({ length: 40 }, () => ({ batchItemFailures: [] })))}`);
    assert.ok(growth < budget + 1024 * 1024, `used_memory grew by ${growth} bytes; budget ${budget}`);
    for (const u of [1, 195, 399]) assert.equal(await admin.hget(`user:${u}:checkpoint`, 'web_app_open'), String(now - Math.floor((u - 1) / 10)));
    const letters = (await admin.xrange(`deadletter:${STREAM}`, '-', '+')).map(([, f]) => fields(f));
    assert.ok(letters.length >= 20 && letters.length < 100, `${letters.length} letters kept`);
    assert.ok(letters.every((l) => l.truncated === '1' && l.dataBytes === String(1024 * 1024) && Buffer.from(l.data!, 'base64').length === 64 * 1024));
    assert.equal(letters.at(-1)!.sequenceNumber, sequenceNumber(399), 'the newest letter is kept');
    const docs = parseEmfLines(lines.filter((l) => l.startsWith('{"_aws"')).join('\n'));
    assert.equal(docs.length, 40, 'one metrics document per invocation');
    assert.equal(docs.reduce((a, d) => a + (d.DeadLettersDropped as number), 0), 200 - letters.length, 'DeadLettersDropped counts every drop');
    const logs = lines.filter((l) => l.startsWith('{"level"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(logs.filter((l) => String(l.msg).startsWith('dead letters dropped')).length, 1, 'one line for the interval, not one per letter');
  });

  for (const [name, env, message] of [
    ['RESULTS_REDIS_URL missing', { STREAM_NAME: STREAM }, 'lastopens: RESULTS_REDIS_URL is not set (mandatory)'],
    ['STREAM_NAME missing', { RESULTS_REDIS_URL: 'redis://127.0.0.1:1' }, 'lastopens: STREAM_NAME is not set (mandatory)'],
    ['DEADLETTER_MAXLEN malformed', { RESULTS_REDIS_URL: 'redis://127.0.0.1:1', STREAM_NAME: STREAM, DEADLETTER_MAXLEN: 'lots' }, 'lastopens: DEADLETTER_MAXLEN is malformed: expected an integer, got "lots"'],
  ] as const) {
    test(`${name}: the invocation fails with a ConfigError naming it`, () => {
      const r = run(env);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.last, `ERROR ${JSON.stringify({ name: 'ConfigError', message })}`);
    });
  }

  test('scripts/lambda-local.ts runs the handler (src or the build) on an event file and prints the response last', async () => {
    const local = (args: string[], env: Record<string, string>) =>
      spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), `${ROOT}scripts/lambda-local.ts`, ...args], {
        cwd: CWD,
        env: { PATH: process.env.PATH, ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const env = { RESULTS_REDIS_URL: server.url, STREAM_NAME: 'local-run' };
    for (const extra of [[], ['--module', `${ROOT}dist/app-opens/lambda/lastopens.js`]]) {
      const r = local([FIXTURE, ...extra], env);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim().split('\n').at(-1), '{"batchItemFailures":[]}');
    }
    assert.equal(await admin.xlen('deadletter:local-run'), 2);
    assert.deepEqual(await admin.hgetall('user:1001:checkpoint'), { ios_app_open: '1764000000', android_app_open: '1764000050' });
    const broken = local([FIXTURE], { STREAM_NAME: 'local-run' });
    assert.equal(broken.status, 1);
    assert.equal(broken.stderr, 'lambda-local: the handler failed: ConfigError: lastopens: RESULTS_REDIS_URL is not set (mandatory)\n');
    assert.equal(local([], env).status, 2);
  });
});
