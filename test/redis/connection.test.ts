import assert from 'node:assert/strict';
import { reconnectOnReadOnly } from '../../src/redis/failover.js';
import { after, before, describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { NonRetriableError, RetriableError, StreamError, isRetriable } from '../../src/core/errors.js';
import {
  closeRedisClient,
  createRedisClient,
  parseRedisUrl,
  replyCode,
  runBounded,
  translateRedisError,
} from '../../src/redis/connection.js';
import { recordLastOpen } from '../../src/app-opens/tasks/recordLastOpen.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';

const SECRET = 'pa$$:w/rd@top-secret';
const ENC = encodeURIComponent(SECRET);

function replyError(message: string): Error {
  // The shape ioredis gives a Redis error reply (redis-errors' ReplyError): only name and message matter.
  return Object.assign(new Error(message), { name: 'ReplyError' });
}

describe('parseRedisUrl', () => {
  test('standalone with user, percent-encoded password, port and db', () => {
    assert.deepEqual(parseRedisUrl(`redis://app:${ENC}@cache.internal:6380/2`), {
      tls: false,
      cluster: false,
      nodes: [{ host: 'cache.internal', port: 6380 }],
      username: 'app',
      password: SECRET,
      db: 2,
    });
  });
  test('defaults: port 6379, db 0, no credentials', () => {
    assert.deepEqual(parseRedisUrl('redis://localhost'), {
      tls: false,
      cluster: false,
      nodes: [{ host: 'localhost', port: 6379 }],
      username: undefined,
      password: undefined,
      db: 0,
    });
  });
  test('rediss is TLS; ":password@" and "password@" both mean a password without a user', () => {
    const a = parseRedisUrl('rediss://:s3cret@h:1/');
    assert.equal(a.tls, true);
    assert.equal(a.username, undefined);
    assert.equal(a.password, 's3cret');
    assert.equal(parseRedisUrl('redis://s3cret@h').password, 's3cret');
  });
  test('cluster seeds, IPv6', () => {
    const p = parseRedisUrl('rediss+cluster://u:p@10.0.0.1:7000,[::1]:7001,node3');
    assert.equal(p.cluster, true);
    assert.equal(p.tls, true);
    assert.deepEqual(p.nodes, [
      { host: '10.0.0.1', port: 7000 },
      { host: '::1', port: 7001 },
      { host: 'node3', port: 6379 },
    ]);
  });
  test('errors name the problem and never show the password', () => {
    const cases = [
      `http://u:${SECRET}@h`,
      `redis://u:${SECRET}@h:99999`,
      `redis://u:${SECRET}@h/x`,
      `redis://u:${SECRET}@a,b`,
      `redis://u:${SECRET}@h?tls=true`,
      `redis://u:${SECRET}@`,
      'not a url',
    ];
    for (const url of cases) {
      assert.throws(
        () => parseRedisUrl(url),
        (err: Error) => err instanceof TypeError && err.message.startsWith('Invalid Redis URL') && !err.message.includes(SECRET) && !err.message.includes(ENC),
        url,
      );
    }
  });
  test('sentinel: sentinels (port default 26379), master name, db; credentials are the data nodes\'', () => {
    assert.deepEqual(parseRedisUrl(`redis+sentinel://app:${ENC}@s1,s2:26380,[::1]:5000/my%20master/3`), {
      tls: false,
      cluster: false,
      nodes: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
        { host: '::1', port: 5000 },
      ],
      username: 'app',
      password: SECRET,
      db: 3,
      sentinelName: 'my master',
    });
    const t = parseRedisUrl('rediss+sentinel://s1/mymaster');
    assert.deepEqual([t.tls, t.db, t.sentinelName], [true, 0, 'mymaster']);
    assert.equal(parseRedisUrl('redis+sentinel://s1/mymaster/').db, 0);
  });
  test('sentinel: a clear error without a master name, with a bad db, with extra path; none leaks the password', () => {
    for (const [url, why] of [
      ['redis+sentinel://:hunter2@s1:26379', /needs the master name/],
      ['redis+sentinel://:hunter2@s1:26379/', /needs the master name/],
      ['redis+sentinel://:hunter2@s1/m/x', /the database must be a number, got "x"/],
      ['redis+sentinel://:hunter2@s1/m/1/2', /unexpected "\/2" after the database/],
    ] as const) {
      assert.throws(() => parseRedisUrl(url), (e: unknown) => e instanceof TypeError && why.test(e.message) && !e.message.includes('hunter2'), url);
    }
  });
  test('reconnectOnReadOnly: READONLY reconnects (without resending), anything else does not', () => {
    assert.equal(reconnectOnReadOnly(replyError("READONLY You can't write against a read only replica.")), 1);
    assert.equal(reconnectOnReadOnly(replyError('OOM command not allowed')), false);
    assert.equal(reconnectOnReadOnly(new Error('Connection is closed.')), false);
  });
});

describe('createRedisClient options', () => {
  test('validated at construction, naming the option', () => {
    assert.throws(() => createRedisClient('redis://h', { commandTimeoutMs: 0, lazyConnect: true }), /`commandTimeoutMs`/);
    assert.throws(() => createRedisClient('redis://h', { connectTimeoutMs: -1, lazyConnect: true }), /`connectTimeoutMs`/);
    assert.throws(() => createRedisClient('redis://h', { maxRetriesPerRequest: 1.5, lazyConnect: true }), /`maxRetriesPerRequest`/);
    assert.throws(() => createRedisClient(`redis+cluster://:${SECRET}@h/3`, { lazyConnect: true }), (e: Error) => /only database 0/.test(e.message) && !e.message.includes(SECRET));
  });

  test('rediss:// wires TLS options; redis:// does not; cluster by scheme or option', async () => {
    const tls = createRedisClient(`rediss://app:${ENC}@cache.example:6380/3`, {
      lazyConnect: true,
      tls: { rejectUnauthorized: false, servername: 'cache.example' },
    });
    assert.ok(tls instanceof Redis);
    assert.deepEqual(tls.options.tls, { rejectUnauthorized: false, servername: 'cache.example' });
    assert.equal(tls.options.host, 'cache.example');
    assert.equal(tls.options.port, 6380);
    assert.equal(tls.options.username, 'app');
    assert.equal(tls.options.password, SECRET);
    assert.equal(tls.options.db, 3);
    assert.equal(tls.options.commandTimeout, 5000);
    assert.equal(tls.options.maxRetriesPerRequest, 1);
    assert.equal(tls.options.enableOfflineQueue, true);

    const plain = createRedisClient('redis://cache', { lazyConnect: true });
    assert.ok(plain instanceof Redis);
    assert.equal(plain.options.tls, undefined);

    const c1 = createRedisClient('rediss+cluster://:pw@a:7000,b:7001', { lazyConnect: true });
    assert.ok(c1 instanceof Cluster);
    assert.deepEqual(c1.options.redisOptions?.tls, {});
    assert.equal(c1.options.redisOptions?.password, 'pw');
    assert.equal(c1.options.redisOptions?.commandTimeout, 5000);
    const c2 = createRedisClient('redis://a:7000', { lazyConnect: true, cluster: true });
    assert.ok(c2 instanceof Cluster);
    await Promise.all([tls, plain, c1, c2].map(closeRedisClient));
  });
});

describe('translateRedisError', () => {
  test('transient replies and connection failures are retriable; WRONGTYPE is not', () => {
    for (const msg of [
      "OOM command not allowed when used memory > 'maxmemory'.",
      'NOREPLICAS Not enough good replicas to write.',
      'LOADING Redis is loading the dataset in memory',
      'BUSY Redis is busy running a script.',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'CLUSTERDOWN The cluster is down',
      'MASTERDOWN Link with MASTER is down',
      "READONLY You can't write against a read only replica.",
      'MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.',
      'MOVED 3999 127.0.0.1:6381',
      'ASK 3999 127.0.0.1:6381',
      'NOPERM this user has no permissions',
    ]) {
      const err = translateRedisError(replyError(msg), 'EVALSHA');
      assert.ok(err instanceof RetriableError, msg);
      assert.equal(isRetriable(err), true);
      assert.equal((err.cause as Error).message, msg);
    }
    const wt = translateRedisError(replyError('WRONGTYPE Operation against a key holding the wrong kind of value'), 'HSET');
    assert.ok(wt instanceof NonRetriableError);
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT']) {
      assert.ok(translateRedisError(Object.assign(new Error(code), { code }), 'x') instanceof RetriableError);
    }
    assert.ok(translateRedisError(new Error('Command timed out'), 'x') instanceof RetriableError);
    assert.ok(translateRedisError(Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' }), 'x') instanceof RetriableError);
    const own = new NonRetriableError('mine');
    assert.equal(translateRedisError(own, 'x'), own);
    assert.equal(replyCode(replyError('OOM x')), 'OOM');
    assert.equal(replyCode(new Error('OOM x')), undefined);
  });

  test('AUTH arguments are scrubbed from the cause', () => {
    const err = Object.assign(replyError('WRONGPASS invalid username-password pair'), { command: { name: 'auth', args: ['u', SECRET] } });
    const t = translateRedisError(err, 'connect');
    assert.ok(t instanceof StreamError);
    assert.ok(!JSON.stringify({ m: t.message, c: (t.cause as { command: unknown }).command }).includes(SECRET));
  });
});

describe('against a private redis-server', () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedis({ password: SECRET });
  });
  after(stopAllRedis);

  test('connects with a percent-encoded password and selects the db', async () => {
    const redis = createRedisClient(`${server.url}/4`);
    try {
      await redis.set('k', 'v');
      const info = await redis.client('INFO');
      assert.match(String(info), /db=4/);
    } finally {
      await closeRedisClient(redis);
    }
  });

  test('a wrong password fails bounded, retriable, and the password appears nowhere', async () => {
    const logged: string[] = [];
    const logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (o: object, m?: string) => void logged.push(JSON.stringify(o) + (m ?? '')),
      error: (o: object, m?: string) => void logged.push(JSON.stringify(o) + (m ?? '')),
      child() {
        return this;
      },
    };
    const wrong = 'wrong-' + SECRET;
    const url = `redis://default:${encodeURIComponent(wrong)}@127.0.0.1:${server.port}`;
    const redis = createRedisClient(url, { logger, commandTimeoutMs: 1000 });
    const t0 = Date.now();
    try {
      const err = await runBounded(redis, 'PING', () => redis.ping()).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(Date.now() - t0 < 3000, `failed after ${Date.now() - t0} ms`);
      assert.ok(err instanceof RetriableError, String(err));
      const text = `${err.message} ${String(err.cause)} ${logged.join('\n')}`;
      assert.ok(!text.includes(wrong) && !text.includes(encodeURIComponent(wrong)), text);
      assert.ok(err.message.includes(`default:***@127.0.0.1:${server.port}`), err.message);
    } finally {
      await closeRedisClient(redis);
    }
  });

  test('Redis down: a command fails within the bound as RetriableError; after restart the client works again', async () => {
    const redis = createRedisClient(server.url, { commandTimeoutMs: 1500 });
    try {
      await redis.set('before', '1');
      await server.down();
      const t0 = Date.now();
      const err = await runBounded(redis, 'SET', () => redis.set('during', '1')).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      const took = Date.now() - t0;
      assert.ok(err instanceof RetriableError, String(err));
      assert.ok(took < 2600, `failed after ${took} ms`);
      await server.up();
      // The client reconnects on its own (backoff capped at 2 s): retry as the framework would.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await runBounded(redis, 'SET', () => redis.set('after', '1'));
          break;
        } catch (e) {
          assert.ok(e instanceof RetriableError);
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.equal(await redis.get('after'), '1');
    } finally {
      await closeRedisClient(redis);
    }
  });
});

describe('rediss:// against a private TLS redis-server', () => {
  let tlsServer: RedisServer;
  before(async () => {
    tlsServer = await startRedis({ tls: true, password: SECRET });
  });
  after(stopAllRedis);

  test('connects over TLS with the CA given in options.tls, and the task works through it', async () => {
    assert.ok(tlsServer.tlsUrl?.startsWith('rediss://'));
    const redis = createRedisClient(tlsServer.tlsUrl as string, { tls: { ca: tlsServer.ca } });
    try {
      assert.equal(await redis.ping(), 'PONG');
      assert.equal(await recordLastOpen(redis, { userId: 1n, platform: 'ios', timestamp: 5, appVersion: null, deviceId: null }), true);
      const info = String(await redis.client('INFO'));
      assert.match(info, new RegExp(`laddr=127\\.0\\.0\\.1:${tlsServer.tlsPort}`), 'the connection is the TLS port');
    } finally {
      await closeRedisClient(redis);
    }
  });

  test('an untrusted certificate fails bounded and retriable, without the password in the error', async () => {
    const redis = createRedisClient(tlsServer.tlsUrl as string, { commandTimeoutMs: 1000 });
    try {
      const t0 = Date.now();
      const err = await runBounded(redis, 'PING', () => redis.ping()).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RetriableError, String(err));
      assert.ok(Date.now() - t0 < 2600);
      assert.ok(!err.message.includes(SECRET) && !err.message.includes(ENC));
    } finally {
      await closeRedisClient(redis);
    }
  });
});

describe('a hung Redis (process frozen with SIGSTOP)', () => {
  let hung: RedisServer;
  before(async () => {
    hung = await startRedis();
  });
  after(async () => {
    hung.resume();
    await stopAllRedis();
  });

  test('commands fail after commandTimeoutMs as RetriableError; after it thaws, commands work again', async () => {
    const redis = createRedisClient(hung.url, { commandTimeoutMs: 800 });
    try {
      await redis.ping();
      hung.pause();
      const t0 = Date.now();
      const err = await runBounded(redis, 'SET', () => redis.set('k', 'v')).then(
        () => assert.fail('expected a timeout'),
        (e: unknown) => e,
      );
      const took = Date.now() - t0;
      assert.ok(err instanceof RetriableError, String(err));
      assert.ok(took >= 700 && took < 2000, `failed after ${took} ms`);
      hung.resume();
      assert.equal(await runBounded(redis, 'GET', () => redis.get('k')), 'v', 'the timed-out SET was applied late: why writes must be idempotent');
    } finally {
      hung.resume();
      await closeRedisClient(redis);
    }
  });
});
