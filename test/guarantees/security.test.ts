/**
 * Secrets stay out of every log path of bin/lastopens (the log file and stderr, whole, grepped
 * for the password), and `.env` files stay out of git.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, afterEach, describe, test } from 'node:test';
import { toAvro } from '../../src/app-opens/model/index.js';
import { makeRecords } from '../../src/testing/index.js';
import { startRedis, stopAllRedis } from '../helpers/redis.js';
import { BIN, NOW, spawnLastopens, until, type LastopensWorker } from '../helpers/lastopens.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHARD = 'shardId-000000000003';
// Characters that percent-encoding changes, so that both spellings are searched for.
const SECRET = 'Zq8/s3cr3t+pw@x';
const ENCODED = encodeURIComponent(SECRET);

const workers: LastopensWorker[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) {
    await w.daemon.stop();
    rmSync(w.dir, { recursive: true, force: true });
  }
});
after(stopAllRedis);

function assertNoSecret(text: string, where: string, secret = SECRET): void {
  assert.ok(text.length > 0, `${where} is not empty`);
  for (const s of [secret, encodeURIComponent(secret)]) assert.ok(!text.includes(s), `${where} contains the password (${s})`);
}

const good = (i: number): Buffer => toAvro({ userId: BigInt(i), platform: 'ios', timestamp: NOW - i, appVersion: null, deviceId: null });

describe('secrets in logs', () => {
  test('the Redis password never reaches the log file or stderr: start-up, connection errors while Redis is down, retries, dead letters, stats, fatal exit', async () => {
    // Prepare: a password-protected Redis; the worker logs at trace level with a fast stats line.
    const server = await startRedis({ password: SECRET });
    assert.ok(server.url.includes(ENCODED), 'the URL carries the password');
    const w = spawnLastopens(server.url, { LOG_LEVEL: 'trace', STATS_INTERVAL_MS: '50' });
    workers.push(w);
    // Act: a batch with a poison record, an outage with retries, recovery, then a fatal protocol error.
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(makeRecords([good(1), Buffer.from('poison')]));
    await server.down();
    const pending = w.daemon.processRecords(makeRecords([good(2)], { start: 2 }));
    await until(() => w.logged('retriable processor failure').length >= 2 && w.logged('redis connection error').length >= 1, 'retries and a connection error in the log');
    await server.up();
    await pending;
    await until(() => w.logged('stats').length >= 2, 'stats lines');
    w.daemon.sendRaw('{"action":"processRecords","records":[');
    const exit = await w.daemon.exited;
    // Assess: every path was taken, and the password is nowhere.
    assert.equal(exit.code, 2);
    for (const msg of ['lastopens starting', 'redis connection error', 'retriable processor failure', 'dead-lettering record', 'stats', 'fatal: protocol error', 'worker exiting']) {
      assert.ok(w.logged(msg).length >= 1, `the log has a "${msg}" line`);
    }
    assert.match(String(w.logged('lastopens starting')[0]!.redis), /^redis:\/\/:\*\*\*@127\.0\.0\.1:\d+$/);
    assertNoSecret(readFileSync(w.logPath, 'utf8'), 'the log file');
    assertNoSecret(w.daemon.stderr, 'stderr');
  });

  test('LOG_PATH=stderr and a wrong password (authentication failing on every attempt): the password is not on stderr', async () => {
    const server = await startRedis({ password: 'the-right-one' });
    const wrong = `redis://:${ENCODED}@127.0.0.1:${server.port}`;
    const w = spawnLastopens(wrong, { LOG_PATH: 'stderr', LOG_LEVEL: 'trace' });
    workers.push(w);
    await w.daemon.initialize(SHARD);
    const pending = w.daemon.processRecords(makeRecords([good(3)]));
    pending.catch(() => undefined);
    await until(() => (w.daemon.stderr.match(/retriable processor failure/g) ?? []).length >= 2, 'retries on stderr');
    w.daemon.kill('SIGTERM');
    assert.equal((await w.daemon.exited).code, 0);
    assert.match(w.daemon.stderr, /WRONGPASS|NOAUTH|invalid username-password/);
    assertNoSecret(w.daemon.stderr, 'stderr');
    assert.deepEqual(w.daemon.checkpoints, [], 'nothing checkpointed while Redis refuses the worker');
  });

  for (const [name, url] of [
    ['a db that is not a number', `redis://:${ENCODED}@127.0.0.1:1/notanumber`],
    ['a query string', `redis://app:${ENCODED}@127.0.0.1:1?tls=true`],
    ['a cluster URL with a db', `redis+cluster://:${ENCODED}@127.0.0.1:1/3`],
  ] as const) {
    test(`a RESULTS_REDIS_URL the client refuses (${name}): exit 78, one stderr line naming the variable, password redacted`, () => {
      const r = spawnSync(BIN, [], { env: { PATH: process.env.PATH, RESULTS_REDIS_URL: url, STREAM_NAME: 's', LOG_PATH: 'stderr' }, input: '', encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.stdout, '');
      assertNoSecret(r.stderr, 'stderr');
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
      assert.deepEqual(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^lastopens: RESULTS_REDIS_URL is malformed: .*\*\*\*@127\.0\.0\.1/);
      assert.equal(r.status, 78);
    });
  }
});

describe('secrets in git', () => {
  const ignored = (path: string): boolean => spawnSync('git', ['-C', ROOT, 'check-ignore', '-q', path]).status === 0;

  test('.env files are ignored by git; .env.example is not; no .env file is tracked', () => {
    for (const p of ['.env', '.env.production', '.env.local', 'config/.env']) assert.ok(ignored(p), `${p} is ignored`);
    assert.ok(!ignored('.env.example'), '.env.example is not ignored (it documents the variables)');
    const tracked = spawnSync('git', ['-C', ROOT, 'ls-files'], { encoding: 'utf8' }).stdout.split('\n');
    assert.deepEqual(tracked.filter((f) => /(^|\/)\.env(\.|$)/.test(f) && !f.endsWith('.env.example')), []);
  });
});
