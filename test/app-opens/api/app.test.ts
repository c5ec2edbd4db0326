/**
 * The App Opens API in this process, listening on a real port, writing through a real
 * BatchProducer to an in-process kinesalite; events are read back from the stream and decoded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/app-opens/api/app.js';
import { createAuthenticator } from '../../../src/app-opens/api/auth.js';
import { fromAvro, type AppOpen } from '../../../src/app-opens/model/index.js';
import { BatchProducer } from '../../../src/producer/index.js';
import { startKinesalite, type Kinesalite } from '../../helpers/kinesalite.js';

const NOW = 1_764_000_000;
/** A backend service's key: it may post for any user, as these tests do. */
const KEY = 'test-service-key-0123456789';

interface Running {
  app: FastifyInstance;
  producer: BatchProducer;
  url: string;
}

async function serve(k: Kinesalite, producer: BatchProducer, nowSeconds = (): number => NOW): Promise<Running> {
  const app = await buildApp({ producer, nowSeconds, authenticator: createAuthenticator({ apiKeys: [KEY] }) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, producer, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

async function post(url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json', 'x-api-key': KEY }): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/app_opens`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe('POST /app_opens', () => {
  let k: Kinesalite;
  let r: Running;
  before(async () => {
    k = await startKinesalite({ shards: 2, streamName: 'app-opens' });
    const producer = new BatchProducer({ client: k.client, streamName: k.streamName, whenFull: 'reject', flushIntervalMs: 20 });
    producer.start();
    r = await serve(k, producer);
  });
  after(async () => {
    await r.app.close();
    await r.producer.stop(1_000);
    await k.close();
  });

  test('accepted events are in the stream, Avro-encoded, keyed by userId, exact beyond 2^53', async () => {
    // Prepare
    const bodies = [
      { userId: 42, platform: 'ios', timestamp: NOW - 10, appVersion: '7.1.0', deviceId: 'abc' },
      { userId: '9223372036854775807', platform: 'android', timestamp: NOW - 5 },
      { userId: '9007199254740993', platform: 'web', appVersion: null },
      { userId: 7, platform: 'ios', deviceId: 'phone-\u{1F4F1}' }, // timestamp defaults to now
    ];
    // Act
    for (const b of bodies) {
      const res = await post(r.url, b);
      assert.equal(res.status, 202, JSON.stringify(res.json));
    }
    const flushed = await r.producer.flush(5_000);
    // Assess
    assert.equal(flushed.remaining, 0);
    const stored = await k.readAll();
    const events = new Map(stored.map((s) => [s.partitionKey, fromAvro(s.data)]));
    const expected: AppOpen[] = [
      { userId: 42n, platform: 'ios', timestamp: NOW - 10, appVersion: '7.1.0', deviceId: 'abc' },
      { userId: 9223372036854775807n, platform: 'android', timestamp: NOW - 5, appVersion: null, deviceId: null },
      { userId: 9007199254740993n, platform: 'web', timestamp: NOW, appVersion: null, deviceId: null },
      { userId: 7n, platform: 'ios', timestamp: NOW, appVersion: null, deviceId: 'phone-\u{1F4F1}' },
    ];
    assert.equal(stored.length, expected.length);
    for (const e of expected) assert.deepEqual(events.get(e.userId.toString()), e);
  });

  test('invalid bodies get 400 naming the field', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ platform: 'ios' }, 'userId', /userId is required/],
      [{ userId: 1 }, 'platform', /platform is required/],
      [{ userId: 1, platform: 'ios', extra: true }, 'extra', /unknown field "extra"/],
      [{ userId: 1, platform: 'iOS' }, 'platform', /platform must match/],
      [{ userId: 0, platform: 'ios' }, 'userId', /userId must be > 0/],
      [{ userId: '-5', platform: 'ios' }, 'userId', /userId must be > 0/],
      [{ userId: '99999999999999999999', platform: 'ios' }, 'userId', /64-bit/],
      [{ userId: 'abc', platform: 'ios' }, 'userId', /decimal string/],
      [{ userId: 1.5, platform: 'ios' }, 'userId', /decimal string/],
      [{ userId: true, platform: 'ios' }, 'userId', /decimal string/],
      [{ userId: 1, platform: 'ios', timestamp: 1.5 }, 'timestamp', /integer/],
      [{ userId: 1, platform: 'ios', timestamp: '1764000000' }, 'timestamp', /integer/],
      [{ userId: 1, platform: 'ios', timestamp: NOW + 2 * 86_400 }, 'timestamp', /future/],
      [{ userId: 1, platform: 'ios', timestamp: -1 }, 'timestamp', /> 0/],
      [{ userId: 1, platform: 'ios', deviceId: 5 }, 'deviceId', /string/],
      [{ userId: 1, platform: 'ios', deviceId: 'ab\ud800' }, 'deviceId', /lone surrogate/],
      [[1, 2], 'body', /object/],
    ];
    for (const [body, field, message] of cases) {
      const res = await post(r.url, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} -> ${res.status} ${JSON.stringify(res.json)}`);
      assert.equal(res.json.field, field, `${JSON.stringify(body)} -> ${JSON.stringify(res.json)}`);
      assert.match(String(res.json.message), message, JSON.stringify(body));
    }
  });

  test('a JSON number beyond 2^53 is refused, not rounded', async () => {
    // 9007199254740993 parses to 9007199254740992: accepting it would store the wrong user.
    const res = await post(r.url, '{"userId": 9007199254740993, "platform": "ios"}');
    assert.equal(res.status, 400);
    assert.equal(res.json.field, 'userId');
    assert.match(String(res.json.message), /string/);
  });

  test('malformed JSON is 400, a body over 16 KiB is 413, a non-JSON body is 415', async () => {
    assert.equal((await post(r.url, '{"userId": 1,')).status, 400);
    const big = await post(r.url, { userId: 1, platform: 'ios', deviceId: 'x'.repeat(17 * 1024) });
    assert.equal(big.status, 413);
    const text = await post(r.url, 'userId=1', { 'content-type': 'text/plain', 'x-api-key': KEY });
    assert.equal(text.status, 415);
  });

  test('GET /healthz answers 200; unknown routes 404', async () => {
    const res = await fetch(`${r.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { status: string }).status, 'ok');
    assert.equal((await fetch(`${r.url}/nope`)).status, 404);
  });
});

describe('POST /app_opens when the producer cannot take more', () => {
  test('a full buffer answers 503 with Retry-After; a stopped producer too', async () => {
    // Prepare: a producer that is never started, holding at most 2 events.
    const k = await startKinesalite({ shards: 1 });
    const producer = new BatchProducer({ client: k.client, streamName: k.streamName, whenFull: 'reject', maxBufferedRecords: 2 });
    const r = await serve(k, producer, () => Date.now() / 1000);
    try {
      // Act / Assess
      assert.equal((await post(r.url, { userId: 1, platform: 'ios' })).status, 202);
      assert.equal((await post(r.url, { userId: 2, platform: 'ios' })).status, 202);
      const res = await fetch(`${r.url}/app_opens`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, body: JSON.stringify({ userId: 3, platform: 'ios' }) });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.match(((await res.json()) as { message: string }).message, /buffer is full/);
      await producer.stop(0);
      assert.equal((await post(r.url, { userId: 4, platform: 'ios' })).status, 503);
    } finally {
      await r.app.close();
      await k.close();
    }
  });
});
