/**
 * Who may post, and how fast: the App Opens API listening on a real port, with real JWTs (signed
 * here with jose), a JWKS served by a local HTTP server, API keys, and the rate limiter; events go
 * through a real BatchProducer into an in-process kinesalite, and at the end the stream must hold
 * exactly the events that were answered "accepted".
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { buildApp, type AppOptions } from '../../../src/app-opens/api/app.js';
import { createAuthenticator, type AuthOptions } from '../../../src/app-opens/api/auth.js';
import { fromAvro } from '../../../src/app-opens/model/index.js';
import { BatchProducer } from '../../../src/producer/index.js';
import { startKinesalite, type Kinesalite } from '../../helpers/kinesalite.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes-long';
const KEY = 'service-key-0123456789abcdef';
const NOW = Math.floor(Date.now() / 1000);

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function call(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function hs256(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
}

/** A bearer header for user `sub`, valid for an hour unless `exp` says otherwise. */
async function bearer(sub: string, extra: Record<string, unknown> = {}, secret = SECRET): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await hs256({ sub, iat: NOW, exp: NOW + 3600, ...extra }, secret)}` };
}

/** Every event the test was told was accepted, as `userId/platform/timestamp`. */
const acceptedEvents: string[] = [];

describe('the API with users (HS256 and JWKS) and services (API keys)', () => {
  let k: Kinesalite;
  let producer: BatchProducer;
  const apps: FastifyInstance[] = [];
  const jwks: { keys: JWK[] } = { keys: [] };
  let jwksServer: Server;
  let jwksFetches = 0;

  async function serve(auth: AuthOptions, extra: Partial<AppOptions> = {}): Promise<string> {
    const app = await buildApp({ producer, authenticator: createAuthenticator(auth), ...extra });
    apps.push(app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }

  /** Posts one event and records it when the API says it was accepted. */
  async function postEvent(url: string, event: { userId?: string; platform: string; timestamp: number }, headers: Record<string, string>, asUser?: string): Promise<Answer> {
    const res = await call(url, '/app_opens', event, headers);
    if (res.status === 202) acceptedEvents.push(`${event.userId ?? asUser}/${event.platform}/${event.timestamp}`);
    return res;
  }

  let url: string; // HS256 + API key, iss/aud checked, generous limits
  let ts = NOW - 1000;

  before(async () => {
    k = await startKinesalite({ shards: 2, streamName: 'app-opens' });
    producer = new BatchProducer({ client: k.client, streamName: k.streamName, whenFull: 'reject', flushIntervalMs: 20 });
    producer.start();
    jwksServer = createServer((req, res) => {
      jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    url = await serve({ jwtSecret: SECRET, apiKeys: [KEY], issuer: 'https://id.example.test/', audience: 'app-opens' });
  });

  after(async () => {
    for (const app of apps) await app.close();
    await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
    // Assess, for the whole file: the stream holds exactly what was answered "accepted".
    const flushed = await producer.flush(10_000);
    await producer.stop(1_000);
    const stored = (await k.readAll()).map((s) => {
      const e = fromAvro(s.data);
      assert.equal(s.partitionKey, e.userId.toString());
      return `${e.userId}/${e.platform}/${e.timestamp}`;
    });
    await k.close();
    assert.equal(flushed.remaining, 0);
    assert.deepEqual(stored.sort(), [...acceptedEvents].sort());
    assert.ok(acceptedEvents.length >= 10, `only ${acceptedEvents.length} events accepted: the file did not run`);
  });

  const claims = { iss: 'https://id.example.test/', aud: 'app-opens' };

  test('no credential: 401 with a WWW-Authenticate challenge for each scheme; nothing reaches the stream', async () => {
    const res = await postEvent(url, { userId: '1', platform: 'ios', timestamp: ts++ }, {});
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="app-opens", ApiKey realm="app-opens", header="x-api-key"');
    assert.match(String(res.json.message), /credential is required/);
  });

  test('a token signed with a wrong secret, a malformed header, a wrong API key: 401 invalid_token', async () => {
    const wrong = await postEvent(url, { platform: 'ios', timestamp: ts++ }, await bearer('5', claims, 'a-stranger-secret-of-at-least-32-bytes!!'));
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Bearer realm="app-opens", error="invalid_token"/);
    assert.match(String(wrong.json.message), /signature/);
    const basic = await postEvent(url, { userId: '5', platform: 'ios', timestamp: ts++ }, { authorization: 'Basic dXNlcjpwYXNz' });
    assert.equal(basic.status, 401);
    const badKey = await postEvent(url, { userId: '5', platform: 'ios', timestamp: ts++ }, { 'x-api-key': KEY.slice(0, -1) + 'X' });
    assert.equal(badKey.status, 401);
    assert.match(String(badKey.json.message), /API key is not valid/);
    // An unsigned token ("alg": "none") is refused.
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b64({ alg: 'none' })}.${b64({ sub: '5', exp: NOW + 60, ...claims })}.`;
    const none = await postEvent(url, { platform: 'ios', timestamp: ts++ }, { authorization: `Bearer ${unsigned}` });
    assert.equal(none.status, 401);
  });

  test('an expired token: 401 saying it expired', async () => {
    const res = await postEvent(url, { platform: 'ios', timestamp: ts++ }, await bearer('6', { ...claims, iat: NOW - 7200, exp: NOW - 3600 }));
    assert.equal(res.status, 401);
    assert.match(String(res.json.message), /expired/);
    assert.match(res.headers.get('www-authenticate') ?? '', /error_description="the token has expired"/);
  });

  test('iss and aud are checked; a token without exp or with a sub that is not a user id is refused', async () => {
    assert.equal((await postEvent(url, { platform: 'ios', timestamp: ts++ }, await bearer('7', { ...claims, iss: 'https://evil.test/' }))).status, 401);
    assert.equal((await postEvent(url, { platform: 'ios', timestamp: ts++ }, await bearer('7', { ...claims, aud: 'other-api' }))).status, 401);
    const noExp = { authorization: `Bearer ${await hs256({ sub: '7', ...claims })}` };
    assert.equal((await postEvent(url, { platform: 'ios', timestamp: ts++ }, noExp)).status, 401);
    const notUser = await postEvent(url, { platform: 'ios', timestamp: ts++ }, await bearer('alice', claims));
    assert.equal(notUser.status, 401);
    assert.match(String(notUser.json.message), /not a user id/);
  });

  test("a user's token: userId taken from sub, or equal to it; another user's is 403", async () => {
    const h = await bearer('9223372036854775807', claims);
    assert.equal((await postEvent(url, { platform: 'ios', timestamp: ts++ }, h, '9223372036854775807')).status, 202);
    assert.equal((await postEvent(url, { userId: '9223372036854775807', platform: 'android', timestamp: ts++ }, h)).status, 202);
    const other = await postEvent(url, { userId: '42', platform: 'ios', timestamp: ts++ }, h);
    assert.equal(other.status, 403);
    assert.equal(other.json.field, 'userId');
    assert.match(String(other.json.message), /not the token's user/);
  });

  test('an API key posts for any user, and must name the user', async () => {
    assert.equal((await postEvent(url, { userId: '1001', platform: 'ios', timestamp: ts++ }, { 'x-api-key': KEY })).status, 202);
    assert.equal((await postEvent(url, { userId: '1002', platform: 'web', timestamp: ts++ }, { 'x-api-key': KEY })).status, 202);
    const anonymous = await postEvent(url, { platform: 'ios', timestamp: ts++ }, { 'x-api-key': KEY });
    assert.equal(anonymous.status, 400);
    assert.equal(anonymous.json.field, 'userId');
  });

  test('a mixed batch: each event answered in its place; only the accepted ones reach the stream', async () => {
    // Prepare
    const h = await bearer('77', claims);
    const events = [
      { platform: 'ios', timestamp: ts++ }, // accepted, user from the token
      { userId: '77', platform: 'android', timestamp: ts++ }, // accepted
      { userId: '78', platform: 'ios', timestamp: ts++ }, // another user: 403
      { platform: 'iOS', timestamp: ts++ }, // model rule: 400 platform
      { platform: 'ios', timestamp: NOW + 5 * 86_400 }, // future: 400 timestamp
      { platform: 'ios', colour: 'red' }, // schema: 400 unknown field
      'not an object', // schema: 400 body
      { platform: 'web', timestamp: ts++, appVersion: '1.0' }, // accepted
    ];
    // Act
    const res = await call(url, '/app_opens/batch', { events }, h);
    // Assess
    assert.equal(res.status, 207, JSON.stringify(res.json));
    const results = res.json.results as Array<{ index: number; status: string; statusCode?: number; field?: string; retriable?: boolean }>;
    assert.deepEqual(
      results.map((r) => [r.index, r.status, r.statusCode ?? null, r.field ?? null]),
      [
        [0, 'accepted', null, null],
        [1, 'accepted', null, null],
        [2, 'rejected', 403, 'userId'],
        [3, 'rejected', 400, 'platform'],
        [4, 'rejected', 400, 'timestamp'],
        [5, 'rejected', 400, 'colour'],
        [6, 'rejected', 400, 'body'],
        [7, 'accepted', null, null],
      ],
    );
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => r.retriable === false));
    assert.equal(res.json.accepted, 3);
    assert.equal(res.json.rejected, 5);
    for (const i of [0, 1, 7]) {
      const e = events[i] as { platform: string; timestamp: number };
      acceptedEvents.push(`77/${e.platform}/${e.timestamp}`);
    }
    // A batch all good is 202; an empty one, or one over 500 events, is refused as a whole.
    const all = await call(url, '/app_opens/batch', { events: [{ platform: 'ios', timestamp: ts }] }, h);
    assert.equal(all.status, 202);
    acceptedEvents.push(`77/ios/${ts++}`);
    assert.equal((await call(url, '/app_opens/batch', { events: [] }, h)).status, 400);
    const tooMany = await call(url, '/app_opens/batch', { events: Array.from({ length: 501 }, () => ({ platform: 'ios' })) }, h);
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.json.field, 'events');
    // 500 events of about 1.5 KiB each fit the batch body limit.
    const big = Array.from({ length: 500 }, (_, i) => ({ platform: 'ios', timestamp: ts + i, deviceId: 'd'.repeat(256), appVersion: 'v'.repeat(256) }));
    const bigRes = await call(url, '/app_opens/batch', { events: big }, h);
    assert.equal(bigRes.status, 202, JSON.stringify(bigRes.json).slice(0, 300));
    for (const e of big) acceptedEvents.push(`77/ios/${e.timestamp}`);
    ts += 500;
    // Without a credential the batch is refused whole.
    assert.equal((await call(url, '/app_opens/batch', { events: [{ userId: '1', platform: 'ios' }] })).status, 401);
  });

  test('a full producer: the events that did not fit are 503 and retriable, the others accepted', async () => {
    const small = new BatchProducer({ client: k.client, streamName: k.streamName, whenFull: 'reject', maxBufferedRecords: 3 });
    const app = await buildApp({ producer: small, authenticator: createAuthenticator({ apiKeys: [KEY] }) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const u = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const events = Array.from({ length: 5 }, (_, i) => ({ userId: String(2000 + i), platform: 'ios', timestamp: ts + i }));
      ts += 5;
      const res = await call(u, '/app_opens/batch', { events }, { 'x-api-key': KEY });
      assert.equal(res.status, 207);
      const results = res.json.results as Array<{ status: string; statusCode?: number; retriable?: boolean }>;
      assert.deepEqual(results.map((r) => r.statusCode ?? 202), [202, 202, 202, 503, 503]);
      assert.deepEqual(results.map((r) => r.retriable ?? null), [null, null, null, true, true]);
      for (const e of events.slice(0, 3)) acceptedEvents.push(`${e.userId}/ios/${e.timestamp}`);
      small.start();
      assert.equal((await small.flush(10_000)).remaining, 0);
    } finally {
      await app.close();
      await small.stop(1_000);
    }
  });

  test('JWKS: RS256 and ES256 tokens; after a key rotation a token signed with the new key is accepted, the old key is refused', async () => {
    // Prepare: the JWKS holds key k1 (RS256) and e1 (ES256).
    const k1 = await generateKeyPair('RS256', { extractable: true });
    const e1 = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = async (key: CryptoKey, kid: string, alg: string): Promise<JWK> => ({ ...(await exportJWK(key)), kid, alg, use: 'sig' });
    jwks.keys = [await publicJwk(k1.publicKey, 'k1', 'RS256'), await publicJwk(e1.publicKey, 'e1', 'ES256')];
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
    const u = await serve({ jwksUrl, jwksCooldownMs: 0 });
    const sign = (key: CryptoKey, kid: string, alg: string, sub: string): Promise<string> =>
      new SignJWT({ sub, exp: NOW + 3600 }).setProtectedHeader({ alg, kid }).sign(key);
    const before = jwksFetches;
    // Act / Assess
    assert.equal((await postEvent(u, { platform: 'ios', timestamp: ts++ }, { authorization: `Bearer ${await sign(k1.privateKey, 'k1', 'RS256', '301')}` }, '301')).status, 202);
    assert.equal((await postEvent(u, { platform: 'web', timestamp: ts++ }, { authorization: `Bearer ${await sign(e1.privateKey, 'e1', 'ES256', '302')}` }, '302')).status, 202);
    assert.equal((await postEvent(u, { platform: 'ios', timestamp: ts++ }, { authorization: `Bearer ${await sign(k1.privateKey, 'k1', 'RS256', '301')}` }, '301')).status, 202);
    assert.equal(jwksFetches - before, 1, 'the JWKS is cached between requests');
    // An HS256 token is not accepted when only the JWKS is configured (no algorithm confusion).
    assert.equal((await postEvent(u, { platform: 'ios', timestamp: ts++ }, await bearer('303'))).status, 401);
    // Rotate: the JWKS now holds only k2.
    const k2 = await generateKeyPair('RS256', { extractable: true });
    jwks.keys = [await publicJwk(k2.publicKey, 'k2', 'RS256')];
    const res = await postEvent(u, { platform: 'android', timestamp: ts++ }, { authorization: `Bearer ${await sign(k2.privateKey, 'k2', 'RS256', '304')}` }, '304');
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.equal(jwksFetches - before, 2, 'an unknown kid fetched the JWKS again');
    const old = await postEvent(u, { platform: 'ios', timestamp: ts++ }, { authorization: `Bearer ${await sign(k1.privateKey, 'k1', 'RS256', '301')}` }, '301');
    assert.equal(old.status, 401);
    assert.match(String(old.json.message), /no key of the JWKS/);
  });

  test('JWKS unreachable: 503 with Retry-After (the credential may be good), not 401', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const u = await serve({ jwksUrl: `http://127.0.0.1:${port}/jwks.json` });
    const key = await generateKeyPair('ES256');
    const token = await new SignJWT({ sub: '9', exp: NOW + 60 }).setProtectedHeader({ alg: 'ES256', kid: 'x' }).sign(key.privateKey);
    const res = await postEvent(u, { platform: 'ios', timestamp: ts++ }, { authorization: `Bearer ${token}` }, '9');
    assert.equal(res.status, 503);
    // Retry-After: until the next fetch may be tried (the 30 s cooldown by default).
    const retryAfter = Number(res.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 30, `Retry-After ${res.headers.get('retry-after')}`);
  });

  test('rate limits: per user, per key, and per IP for bad credentials; 429 with Retry-After', async () => {
    // Prepare: 3 requests per minute per user and per IP, 4 per key.
    const u = await serve({ jwtSecret: SECRET, apiKeys: [KEY] }, { rateLimit: { perMinute: 3, perKeyPerMinute: 4 } });
    const alice = await bearer('501');
    const bob = await bearer('502');
    // Act / Assess: alice's 4th request is refused, bob is not affected.
    for (let i = 0; i < 3; i++) {
      const ok = await postEvent(u, { platform: 'ios', timestamp: ts++ }, alice, '501');
      assert.equal(ok.status, 202);
      assert.equal(ok.headers.get('x-ratelimit-remaining'), String(2 - i));
    }
    const limited = await postEvent(u, { platform: 'ios', timestamp: ts++ }, alice, '501');
    assert.equal(limited.status, 429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `Retry-After ${limited.headers.get('retry-after')}`);
    assert.match(String(limited.json.message), /rate limit exceeded \(3 requests per minute\)/);
    assert.equal((await call(u, '/app_opens/batch', { events: [{ platform: 'ios' }] }, alice)).status, 429, 'a batch counts too');
    assert.equal((await postEvent(u, { platform: 'ios', timestamp: ts++ }, bob, '502')).status, 202);
    // The key has its own, larger budget.
    for (let i = 0; i < 4; i++) assert.equal((await postEvent(u, { userId: '503', platform: 'ios', timestamp: ts++ }, { 'x-api-key': KEY })).status, 202);
    assert.equal((await postEvent(u, { userId: '503', platform: 'ios', timestamp: ts++ }, { 'x-api-key': KEY })).status, 429);
    // Bad credentials count against the client's IP: the 4th is 429 instead of 401, whatever
    // X-Forwarded-For says (the proxy is not trusted by default).
    for (let i = 0; i < 3; i++) {
      assert.equal((await postEvent(u, { platform: 'ios', timestamp: ts++ }, { ...(await bearer('504', {}, 'x'.repeat(40))), 'x-forwarded-for': `10.0.0.${i}` })).status, 401);
    }
    assert.equal((await postEvent(u, { platform: 'ios', timestamp: ts++ }, { 'x-forwarded-for': '10.0.0.99' })).status, 429);
  });

  test('TRUST_PROXY: X-Forwarded-For names the client only when the proxy is trusted', async () => {
    const u = await serve({ apiKeys: [KEY] }, { rateLimit: { perMinute: 1 }, trustProxy: ['127.0.0.1'] });
    assert.equal((await postEvent(u, { platform: 'ios', timestamp: ts++ }, { 'x-forwarded-for': '203.0.113.1' })).status, 401);
    assert.equal((await postEvent(u, { platform: 'ios', timestamp: ts++ }, { 'x-forwarded-for': '203.0.113.1' })).status, 429);
    // Another client behind the same (trusted) proxy has its own count.
    assert.equal((await postEvent(u, { platform: 'ios', timestamp: ts++ }, { 'x-forwarded-for': '203.0.113.2' })).status, 401);
  });

  test('CORS: off by default; on for the listed origins only', async () => {
    const preflight = (u: string, origin: string): Promise<Response> =>
      fetch(`${u}/app_opens`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    const off = await preflight(url, 'https://app.example.test');
    assert.equal(off.headers.get('access-control-allow-origin'), null);
    const u = await serve({ jwtSecret: SECRET }, { corsOrigins: ['https://app.example.test'] });
    const on = await preflight(u, 'https://app.example.test');
    assert.equal(on.status, 204);
    assert.equal(on.headers.get('access-control-allow-origin'), 'https://app.example.test');
    assert.match(on.headers.get('access-control-allow-headers') ?? '', /authorization/);
    const stranger = await preflight(u, 'https://evil.example.test');
    assert.equal(stranger.headers.get('access-control-allow-origin'), null);
    // A 401 carries the CORS headers too, so the web app can read why.
    const res = await fetch(`${u}/app_opens`, { method: 'POST', headers: { origin: 'https://app.example.test', 'content-type': 'application/json' }, body: '{"platform":"web"}' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.test');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /www-authenticate/);
  });
});

describe('buildApp and createAuthenticator refuse unsafe configurations', () => {
  test('no authenticator, no scheme, a short secret, a short key', async () => {
    const producer = { add: () => Promise.resolve(), buffered: 0 };
    await assert.rejects(buildApp({ producer } as unknown as AppOptions), /authenticator/);
    assert.throws(() => createAuthenticator({}), /at least one of/);
    assert.throws(() => createAuthenticator({ jwtSecret: 'short' }), /32 bytes/);
    assert.throws(() => createAuthenticator({ apiKeys: ['short'] }), /16 characters/);
  });
});
