/**
 * bin/app-opens-api as users run it: the built binary in a child process, configured by
 * environment and .env, writing to an in-process kinesalite (or to the fault proxy in front of it).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fromAvro } from '../../../src/app-opens/model/index.js';
import { startFaultProxy } from '../../helpers/faultProxy.js';
import { startKinesalite, type Kinesalite } from '../../helpers/kinesalite.js';
import { rawCommand, startRedis, type RedisServer } from '../../helpers/redis.js';

const BIN = fileURLToPath(new URL('../../../bin/app-opens-api', import.meta.url));
const STREAM = 'app-opens';
/** A backend service's key (these tests post for many users). */
const KEY = 'bin-test-service-key-0123456789';

interface Api {
  child: ChildProcess;
  url: string;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Starts the binary with PORT=0 and waits for its "listening" line. */
async function startApi(env: Record<string, string>, cwd: string): Promise<Api> {
  const child = spawn(process.execPath, [BIN], { cwd, env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', AUTH_API_KEYS: KEY, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr!.resume();
  const rl = createInterface({ input: child.stdout! });
  const listening = new Promise<number>((resolve, reject) => {
    rl.on('line', (line) => {
      const obj = JSON.parse(line) as Record<string, unknown>;
      lines.push(obj);
      if (obj.msg === 'listening') resolve(obj.port as number);
    });
    void exited.then((code) => reject(new Error(`app-opens-api exited with ${code} before listening`)));
    setTimeout(() => reject(new Error('app-opens-api did not listen within 20 s')), 20_000).unref();
  });
  const port = await listening;
  return { child, url: `http://127.0.0.1:${port}`, lines, exited };
}

async function postEvents(url: string, n: number, first = 1): Promise<void> {
  for (let i = first; i < first + n; i++) {
    const res = await fetch(`${url}/app_opens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({ userId: String(i), platform: 'ios', timestamp: 1_764_000_000 + i }),
    });
    assert.equal(res.status, 202);
  }
}

describe('bin/app-opens-api configuration', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'app-opens-api-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('without STREAM_NAME it exits 78 with one stderr line naming it, and nothing on stdout', () => {
    const r = spawnSync(process.execPath, [BIN], { cwd: dir, env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 78);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.stderr.trim().split('\n'), ['app-opens-api: STREAM_NAME is not set (mandatory)']);
  });

  test('without any AUTH_* it refuses to start: exit 78, one stderr line naming the variables', () => {
    const r = spawnSync(process.execPath, [BIN], { cwd: dir, env: { PATH: process.env.PATH, STREAM_NAME: STREAM }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 78);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^app-opens-api: no authentication configured: set AUTH_JWT_SECRET, AUTH_JWKS_URL, AUTH_API_KEYS .*AUTH=none/);
  });

  test('bad AUTH settings are refused without echoing the secret', () => {
    const run = (env: Record<string, string>): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [BIN], { cwd: dir, env: { PATH: process.env.PATH, STREAM_NAME: STREAM, ...env }, encoding: 'utf8', timeout: 20_000 });
    const short = run({ AUTH_JWT_SECRET: 'tooshort-s3cr3t' });
    assert.equal(short.status, 78);
    assert.match(String(short.stderr), /AUTH_JWT_SECRET is malformed: must be at least 32 bytes/);
    assert.doesNotMatch(String(short.stderr), /tooshort-s3cr3t/);
    const shortKey = run({ AUTH_API_KEYS: `${KEY},k3y-too-short` });
    assert.equal(shortKey.status, 78);
    assert.doesNotMatch(String(shortKey.stderr), /k3y-too-short/);
    assert.equal(run({ AUTH: 'off' }).status, 78);
    const both = run({ AUTH: 'none', AUTH_API_KEYS: KEY });
    assert.equal(both.status, 78);
    assert.match(String(both.stderr), /AUTH=none conflicts with AUTH_API_KEYS/);
  });

  test('a .env file in the working directory is read', () => {
    writeFileSync(join(dir, '.env'), 'STREAM_NAME=app-opens\nPORT=eighty\n');
    const r = spawnSync(process.execPath, [BIN], { cwd: dir, env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 78);
    assert.match(r.stderr, /PORT is malformed/);
  });
});

describe('bin/app-opens-api on SIGTERM', () => {
  let k: Kinesalite;
  let dir: string;
  before(async () => {
    k = await startKinesalite({ shards: 2, streamName: STREAM });
    dir = mkdtempSync(join(tmpdir(), 'app-opens-api-'));
    // The real environment wins over .env: PORT=eighty here would be a config error.
    writeFileSync(join(dir, '.env'), 'PORT=eighty\nLOG_LEVEL=info\n');
  });
  after(async () => {
    await k.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('stops accepting, sends what is buffered, reports it, exits 0', async () => {
    // Prepare
    const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: k.endpoint, SHUTDOWN_TIMEOUT_MS: '10000' }, dir);
    await postEvents(api.url, 40);
    // Act
    api.child.kill('SIGTERM');
    const code = await api.exited;
    // Assess
    assert.equal(code, 0, JSON.stringify(api.lines.slice(-3)));
    const stopped = api.lines.find((l) => l.msg === 'stopped');
    assert.ok(stopped, 'no "stopped" line');
    assert.equal(stopped.remaining, 0);
    assert.equal(stopped.totalSent, 40);
    const stored = await k.readAll();
    const ids = stored.map((s) => fromAvro(s.data).userId).sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(ids, Array.from({ length: 40 }, (_, i) => BigInt(i + 1)));
    await assert.rejects(fetch(`${api.url}/healthz`)); // no longer listening
  });

  test('when Kinesis keeps failing it gives up after SHUTDOWN_TIMEOUT_MS, logs every undelivered event, exits 1', async () => {
    // Prepare: every PutRecords answers 500 (fault proxy: see its header for why it is a fake).
    const proxy = await startFaultProxy(k.endpoint, { failRequest: () => true });
    try {
      const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: proxy.endpoint, SHUTDOWN_TIMEOUT_MS: '300' }, dir);
      await postEvents(api.url, 5, 1000);
      // Act
      api.child.kill('SIGTERM');
      const code = await api.exited;
      // Assess
      assert.equal(code, 1);
      const undelivered = api.lines.filter((l) => l.msg === 'event not delivered');
      assert.equal(undelivered.length, 5);
      const events = undelivered.map((l) => fromAvro(Buffer.from(String(l.data), 'base64')));
      assert.deepEqual(events.map((e) => e.userId).sort(), [1000n, 1001n, 1002n, 1003n, 1004n]);
      const stopped = api.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('stopped with events undelivered'));
      assert.ok(stopped);
      assert.equal(stopped.remaining, 5);
      assert.ok(proxy.counts.failedRequests > 0);
    } finally {
      await proxy.close();
    }
  });
});

describe('bin/app-opens-api: AUTH=none, secrets in logs, a rate limit shared through Redis', () => {
  let k: Kinesalite;
  let dir: string;
  let redis: RedisServer;
  before(async () => {
    k = await startKinesalite({ shards: 1, streamName: STREAM });
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'app-opens-api-'));
  });
  after(async () => {
    await redis.stop();
    await k.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (url: string, body: unknown, headers: Record<string, string>): Promise<Response> =>
    fetch(`${url}/app_opens`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  async function stop(api: Api): Promise<void> {
    api.child.kill('SIGTERM');
    assert.equal(await api.exited, 0, JSON.stringify(api.lines.slice(-3)));
  }

  test('AUTH=none starts with a warning and takes the userId from the body', async () => {
    const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: k.endpoint, AUTH: 'none', AUTH_API_KEYS: '' }, dir);
    try {
      const warning = api.lines.find((l) => l.level === 'warn' && /AUTH=none/.test(String(l.msg)));
      assert.ok(warning, 'a warning at start');
      assert.equal((await post(api.url, { userId: '9001', platform: 'ios', timestamp: 1_764_000_000 }, {})).status, 202);
      assert.equal((await post(api.url, { platform: 'ios' }, {})).status, 400);
    } finally {
      await stop(api);
    }
    const ids = (await k.readAll()).map((s) => fromAvro(s.data).userId);
    assert.ok(ids.includes(9001n));
  });

  test('neither the API key nor the token reaches the log, even at trace level and on errors', async () => {
    const wrongKey = 'wrong-key-that-must-not-be-logged-42';
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.must-not-be-logged';
    const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: k.endpoint, LOG_LEVEL: 'trace' }, dir);
    try {
      assert.equal((await post(api.url, { userId: '9002', platform: 'ios', timestamp: 1_764_000_000 }, { 'x-api-key': KEY })).status, 202);
      assert.equal((await post(api.url, { userId: '9003', platform: 'ios' }, { 'x-api-key': wrongKey })).status, 401);
      assert.equal((await post(api.url, { userId: '9003', platform: 'ios' }, { authorization: `Bearer ${token}` })).status, 401);
      assert.equal((await post(api.url, { userId: '9003', platform: 'BAD' }, { 'x-api-key': KEY })).status, 400);
    } finally {
      await stop(api);
    }
    const log = api.lines.map((l) => JSON.stringify(l)).join('\n');
    assert.ok(api.lines.length > 3, 'the process logged');
    for (const secret of [KEY, wrongKey, token]) assert.ok(!log.includes(secret), `${secret} found in the log`);
  });

  test('two instances share one count through RATE_LIMIT_REDIS_URL: 429 with Retry-After on both', async () => {
    // Prepare: 3 requests per minute per user, counted in the private redis-server.
    const secret = 'bin-test-jwt-secret-of-32-bytes-or-more';
    const env = { STREAM_NAME: STREAM, KINESIS_ENDPOINT: k.endpoint, AUTH_JWT_SECRET: secret, RATE_LIMIT_PER_MINUTE: '3', RATE_LIMIT_REDIS_URL: redis.url };
    const [a, b] = await Promise.all([startApi(env, dir), startApi(env, dir)]);
    const before = (await k.readAll()).length;
    try {
      const { SignJWT } = await import('jose');
      const token = await new SignJWT({ sub: '777', exp: Math.floor(Date.now() / 1000) + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
      const auth = { authorization: `Bearer ${token}` };
      // Act: 2 requests to A, 1 to B: the user's 3 are used up across both.
      for (const [api, t] of [[a, 1], [a, 2], [b, 3]] as const) assert.equal((await post(api.url, { platform: 'ios', timestamp: 1_764_000_000 + t }, auth)).status, 202);
      // Assess
      for (const api of [b, a]) {
        const res = await post(api.url, { platform: 'ios', timestamp: 1_764_000_100 }, auth);
        assert.equal(res.status, 429);
        const retryAfter = Number(res.headers.get('retry-after'));
        assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${res.headers.get('retry-after')}`);
      }
      assert.match(await rawCommand(redis.port, ['KEYS', 'app-opens-rate:*']), /user:777/);
    } finally {
      await Promise.all([stop(a), stop(b)]);
    }
    // Only the 3 accepted events reached the stream.
    const added = (await k.readAll()).slice(before).map((s) => fromAvro(s.data));
    assert.deepEqual(added.map((e) => [e.userId, e.timestamp]).sort(), [[777n, 1_764_000_001], [777n, 1_764_000_002], [777n, 1_764_000_003]]);
  });
});
