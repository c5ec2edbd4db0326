/**
 * The App Opens API attacked (issue 24): tokens whose claims survive jose but must not pass,
 * a `WWW-Authenticate` that must stay valid whatever the token holds, the per-IP limit over IPv6
 * and through garbage `X-Forwarded-For`, a JWKS outage (the IdP played by a local HTTP server that
 * counts its fetches), the limiter's key capacity, and HTTP timeouts against raw sockets. The API
 * listens on a real port and writes through a real BatchProducer into kinesalite; at the end the
 * stream must hold exactly the events answered "accepted".
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { buildApp, type AppOptions } from '../../../src/app-opens/api/app.js';
import { createAuthenticator, type AuthOptions } from '../../../src/app-opens/api/auth.js';
import { fromAvro } from '../../../src/app-opens/model/index.js';
import { BatchProducer } from '../../../src/producer/index.js';
import { startKinesalite, type Kinesalite } from '../../helpers/kinesalite.js';

const SECRET = 'hardening-test-secret-of-32-bytes-or-more';
const KEY = 'hardening-test-service-key-0123';
const NOW = Math.floor(Date.now() / 1000);

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}, path = '/app_opens'): Promise<Answer> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

/** An HS256 token over the exact JSON text given (numbers beyond 2^53, duplicate keys, 1e999...). */
function signRaw(payloadJson: string, headerJson = '{"alg":"HS256","typ":"JWT"}'): string {
  const input = `${b64url(headerJson)}.${b64url(payloadJson)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

/**
 * RFC 6750 section 3 / RFC 9110 section 11.6.1: `Bearer realm="app-opens"`, then for a bad token
 * `error="invalid_token"` and an `error_description` of printable ASCII without `"` or `\`.
 */
function assertChallenge(res: Answer, what: string): void {
  assert.equal(res.status, 401, `${what}: ${res.status} ${JSON.stringify(res.json)}`);
  const challenge = res.headers.get('www-authenticate');
  assert.ok(challenge !== null, `${what}: a 401 without WWW-Authenticate`);
  assert.match(challenge, /^Bearer realm="app-opens"(, error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*")?(, ApiKey realm="app-opens", header="x-api-key")?$/, what);
  assert.notEqual(res.json.message, 'internal error', what);
}

type Closed = { ms: number; received: string };

/** Opens a raw TCP connection; `closedAt` resolves with the ms from `t0` to its close, and what it received. */
async function rawSocket(port: number, t0: () => number, data?: string): Promise<{ socket: Socket; closed: Promise<{ ms: number; received: string }> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<{ ms: number; received: string }>((resolve) => socket.once('close', () => resolve({ ms: Date.now() - t0(), received })));
  if (data !== undefined) socket.write(data);
  return { socket, closed };
}

/** Every event answered "accepted", as `userId/platform/timestamp`. */
const acceptedEvents: string[] = [];

describe('the API under attack (issue 24)', () => {
  let k: Kinesalite;
  let producer: BatchProducer;
  const apps: FastifyInstance[] = [];
  let ts = NOW - 5000;

  async function serve(auth: AuthOptions | 'none', extra: Partial<AppOptions> = {}): Promise<{ url: string; port: number; app: FastifyInstance }> {
    const app = await buildApp({ producer, authenticator: auth === 'none' ? 'none' : createAuthenticator(auth), ...extra });
    apps.push(app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    return { url: `http://127.0.0.1:${port}`, port, app };
  }

  /** Posts one event with a token and records it when accepted (as the user it was accepted for). */
  async function postAs(url: string, token: string, asUser: string, body: Record<string, unknown> = {}): Promise<Answer> {
    const event = { platform: 'ios', timestamp: ts++, ...body };
    const res = await post(url, event, { authorization: `Bearer ${token}` });
    if (res.status === 202) acceptedEvents.push(`${asUser}/${event.platform}/${event.timestamp}`);
    return res;
  }

  before(async () => {
    k = await startKinesalite({ shards: 2, streamName: 'app-opens-hardening' });
    producer = new BatchProducer({ client: k.client, streamName: k.streamName, whenFull: 'reject', flushIntervalMs: 20 });
    producer.start();
  });

  after(async () => {
    for (const app of apps) await app.close();
    const flushed = await producer.flush(10_000);
    await producer.stop(1_000);
    const stored = (await k.readAll()).map((s) => {
      const e = fromAvro(s.data);
      assert.equal(s.partitionKey, e.userId.toString());
      return `${e.userId}/${e.platform}/${e.timestamp}`;
    });
    await k.close();
    assert.equal(flushed.remaining, 0);
    // Assess, for the whole file: nothing but what was answered "accepted" reached the stream
    // (in particular no event of user 9007199254740996 from a token for 9007199254740995).
    assert.deepEqual(stored.sort(), [...acceptedEvents].sort());
    assert.ok(acceptedEvents.length >= 4, `only ${acceptedEvents.length} events accepted: the file did not run`);
  });

  test('sub must be a JSON string of digits within int64: a number (even above 2^53), an array, an object is refused', async () => {
    const { url } = await serve({ jwtSecret: SECRET });
    const exp = NOW + 600;
    // 9007199254740995 as a JSON number parses to 9007199254740996: another user.
    const cases: Array<[string, string]> = [
      ['a number above 2^53', `{"sub":9007199254740995,"exp":${exp}}`],
      ['a small number', `{"sub":42,"exp":${exp}}`],
      ['an array', `{"sub":["42"],"exp":${exp}}`],
      ['nested JSON', `{"sub":{"id":"42"},"exp":${exp}}`],
      ['a string beyond int64', `{"sub":"9223372036854775808","exp":${exp}}`],
      ['a string with a sign', `{"sub":"+42","exp":${exp}}`],
      ['a string with leading zeros', `{"sub":"042","exp":${exp}}`],
      ['a string with a fraction', `{"sub":"42.0","exp":${exp}}`],
      ['a string with Unicode digits', `{"sub":"\\u0664\\u0662","exp":${exp}}`],
      ['null', `{"sub":null,"exp":${exp}}`],
    ];
    for (const [what, payload] of cases) {
      const res = await postAs(url, signRaw(payload), 'never');
      assertChallenge(res, what);
      assert.match(String(res.json.message), /sub/, what);
    }
    // The largest user id, as a string, is fine; so is a token whose JSON repeats sub (RFC 7519
    // section 4: the last one counts, as JSON.parse reads it; a 403 shows the first is ignored).
    assert.equal((await postAs(url, signRaw(`{"sub":"9223372036854775807","exp":${exp}}`), '9223372036854775807')).status, 202);
    const dup = signRaw(`{"sub":"1111","sub":"2222","exp":${exp}}`);
    assert.equal((await postAs(url, dup, 'never', { userId: '1111' })).status, 403);
    assert.equal((await postAs(url, dup, '2222')).status, 202);
  });

  test('a token lives at most the configured lifetime: exp 1e999, a far exp, a future or absurd iat, a non-finite nbf are refused', async () => {
    const { url } = await serve({ jwtSecret: SECRET });
    const cases: Array<[string, string]> = [
      ['exp 1e999 (Infinity)', '{"sub":"7","exp":1e999}'],
      ['exp 1e999 with iat', `{"sub":"7","iat":${NOW},"exp":1e999}`],
      ['exp 25 h after iat', `{"sub":"7","iat":${NOW},"exp":${NOW + 25 * 3600}}`],
      ['exp 25 h from now, no iat', `{"sub":"7","exp":${NOW + 25 * 3600}}`],
      ['iat in the future', `{"sub":"7","iat":${NOW + 3600},"exp":${NOW + 7200}}`],
      ['iat 1e999', `{"sub":"7","iat":1e999,"exp":${NOW + 60}}`],
      ['iat far in the past', `{"sub":"7","iat":-1e18,"exp":${NOW + 60}}`],
      ['nbf -1e999', `{"sub":"7","nbf":-1e999,"exp":${NOW + 60}}`],
      ['nbf 1e999', `{"sub":"7","nbf":1e999,"exp":${NOW + 60}}`],
      ['exp as a string', `{"sub":"7","exp":"${NOW + 60}"}`],
    ];
    for (const [what, payload] of cases) assertChallenge(await postAs(url, signRaw(payload), 'never'), what);
    // Within the lifetime: accepted (23 h from iat; 1 h without iat).
    assert.equal((await postAs(url, signRaw(`{"sub":"7","iat":${NOW},"exp":${NOW + 23 * 3600}}`), '7')).status, 202);
    assert.equal((await postAs(url, signRaw(`{"sub":"7","exp":${NOW + 3600}}`), '7')).status, 202);
    // The bound is configurable.
    const short = await serve({ jwtSecret: SECRET, maxTokenLifetimeSeconds: 300 });
    const long = await postAs(short.url, signRaw(`{"sub":"7","iat":${NOW},"exp":${NOW + 600}}`), 'never');
    assertChallenge(long, 'over a 300 s lifetime');
    assert.match(String(long.json.message), /lives longer than the 300 s accepted/);
  });

  test("every 401 carries a valid Bearer challenge; nothing of the token reaches a header", async () => {
    const { url } = await serve({ jwtSecret: SECRET, apiKeys: [KEY] });
    const payload = `{"sub":"8","exp":${NOW + 60}}`;
    const cases: Array<[string, string]> = [
      ['alg \\u0100', '{"alg":"\\u0100"}'],
      ['alg with CRLF and a header', '{"alg":"x\\r\\nSet-Cookie: pwned=1"}'],
      ['alg with a quote and a backslash', '{"alg":"a\\"b\\\\c"}'],
      ['alg as a number', '{"alg":256}'],
      ['alg none', '{"alg":"none"}'],
      ['a header that is not an object', '["HS256"]'],
    ];
    for (const [what, header] of cases) {
      const res = await postAs(url, signRaw(payload, header), 'never');
      assertChallenge(res, what);
      assert.equal(res.headers.get('set-cookie'), null, what);
      assert.doesNotMatch(res.headers.get('www-authenticate')!, /pwned|\\u0100/, what);
    }
    // A kid in Unicode (U+2028, an emoji) does not matter to HS256: the token is good.
    assert.equal((await postAs(url, signRaw(payload, '{"alg":"HS256","kid":"\\u2028\\ud83d\\ude00"}'), '8')).status, 202);
    // The iss claim in Unicode, a huge token, garbage: a valid challenge each.
    const iss = await serve({ jwtSecret: SECRET, issuer: 'https://id.example.test/' });
    assertChallenge(await postAs(iss.url, signRaw(`{"sub":"8","iss":"https://id.\\u0435xample.test/","exp":${NOW + 60}}`), 'never'), 'iss with a Cyrillic e');
    assertChallenge(await postAs(url, `${'a'.repeat(8000)}.${'b'.repeat(4000)}.c`, 'never'), 'a 12 KB garbage token');
    assertChallenge(await postAs(url, 'not-a-jwt', 'never'), 'not a JWT');
    // Two Authorization headers (Node would read the first, a proxy may read the last): refused.
    const two = await new Promise<string>((resolve) => {
      const body = `{"platform":"ios","timestamp":${ts++}}`;
      const s = connect((iss.app.server.address() as AddressInfo).port, '127.0.0.1');
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.write(
        `POST /app_opens HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer ${signRaw(`{"sub":"8","exp":${NOW + 60}}`)}\r\n` +
          `Authorization: Bearer ${signRaw(`{"sub":"9","exp":${NOW + 60}}`)}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    });
    assert.match(two, /^HTTP\/1\.1 401 /);
    assert.match(two, /\r\nwww-authenticate: Bearer realm="app-opens", error="invalid_token", error_description="the request has more than one Authorization header"\r\n/i);
  });

  test('the per-IP limit counts an IPv6 /64 once, and an IPv4-mapped address as its IPv4 address', async () => {
    const { url } = await serve({ apiKeys: [KEY] }, { rateLimit: { perMinute: 2 }, trustProxy: ['127.0.0.1'] });
    const from = (xff: string): Promise<Answer> => post(url, { userId: '1', platform: 'ios' }, { 'x-forwarded-for': xff });
    // Three addresses of one /64 share a count: the third request is over 2 per minute.
    assert.equal((await from('2001:db8:1:2::1')).status, 401);
    assert.equal((await from('2001:db8:1:2:ffff:ffff:ffff:fffe')).status, 401);
    assert.equal((await from('2001:0DB8:0001:0002:abcd:1:2:3')).status, 429);
    // The next /64 has its own.
    assert.equal((await from('2001:db8:1:3::1')).status, 401);
    // 203.0.113.9, ::ffff:203.0.113.9 and ::ffff:cb00:7109 are one client.
    assert.equal((await from('203.0.113.9')).status, 401);
    assert.equal((await from('::ffff:203.0.113.9')).status, 401);
    assert.equal((await from('::ffff:cb00:7109')).status, 429);
  });

  test('garbage in a trusted X-Forwarded-For is not a fresh count per value: it falls back to the TCP peer', async () => {
    const { url } = await serve({ apiKeys: [KEY] }, { rateLimit: { perMinute: 2 }, trustProxy: ['127.0.0.1'] });
    const from = (xff: string): Promise<Answer> => post(url, { userId: '1', platform: 'ios' }, { 'x-forwarded-for': xff });
    assert.equal((await from('garbage-1')).status, 401);
    assert.equal((await from('198.51.100.7, not-an-ip')).status, 401);
    assert.equal((await from('[2001:db8::1]:443')).status, 429);
    assert.equal((await from('')).status, 429);
    // A real address still has its own count.
    assert.equal((await from('198.51.100.8')).status, 401);
  });

  describe('a JWKS outage (the identity provider is a local HTTP server counting its fetches)', () => {
    let idp: Server;
    let mode: 'ok' | '500' | 'reset' | 'hang' = 'ok';
    let fetches = 0;
    const jwks: { keys: JWK[] } = { keys: [] };
    let signer: CryptoKey;
    let jwksUrl: string;

    before(async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      signer = pair.privateKey;
      jwks.keys = [{ ...(await exportJWK(pair.publicKey)), kid: 'e1', alg: 'ES256', use: 'sig' }];
      idp = createServer((req, res) => {
        fetches++;
        if (mode === 'ok') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
        else if (mode === '500') res.writeHead(500).end('oops');
        else if (mode === 'reset') req.socket.destroy();
        // 'hang': never answered
      });
      await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
      jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`;
    });
    after(async () => {
      idp.closeAllConnections();
      await new Promise<void>((resolve) => idp.close(() => resolve()));
    });

    const token = (sub: string): Promise<string> => new SignJWT({ sub, exp: NOW + 600 }).setProtectedHeader({ alg: 'ES256', kid: 'e1' }).sign(signer);

    for (const failure of ['500', 'reset', 'hang'] as const) {
      test(`the JWKS ${failure === '500' ? 'answers 500' : failure === 'reset' ? 'drops the connection' : 'never answers'}: 503 with Retry-After, then 429 over the limit, one fetch per cooldown for 40 requests`, async () => {
        // Prepare: 5 requests per minute per IP, a 4 s cooldown.
        mode = failure;
        fetches = 0;
        const cooldownMs = 4_000;
        const { url } = await serve({ jwksUrl, jwksCooldownMs: cooldownMs, jwksTimeoutMs: 300 }, { rateLimit: { perMinute: 5 } });
        const good = await token('601');
        const started = Date.now();
        // Act: 20 concurrent requests, then 20 more one by one, all within the cooldown.
        const burst = await Promise.all(Array.from({ length: 20 }, () => postAs(url, good, '601')));
        const serial: Answer[] = [];
        for (let i = 0; i < 20; i++) serial.push(await postAs(url, good, '601'));
        const elapsed = Date.now() - started;
        // Assess
        assert.ok(elapsed < cooldownMs, `the requests took ${elapsed} ms, longer than the cooldown: the count below says nothing`);
        assert.equal(fetches, 1, 'one JWKS fetch for 40 requests within one cooldown');
        const all = [...burst, ...serial];
        const statuses = all.map((r) => r.status);
        assert.equal(statuses.filter((s) => s === 503).length, 5, statuses.join(','));
        assert.equal(statuses.filter((s) => s === 429).length, 35, statuses.join(','));
        for (const r of all.filter((a) => a.status === 503)) {
          const retryAfter = Number(r.headers.get('retry-after'));
          assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= cooldownMs / 1000, `Retry-After ${r.headers.get('retry-after')}`);
          assert.match(String(r.json.message), /key set is unavailable/);
        }
        for (const r of all.filter((a) => a.status === 429)) assert.ok(Number(r.headers.get('retry-after')) > 0);
        // The IdP is back: after the cooldown the next request fetches again (once) and passes.
        mode = 'ok';
        const other = await serve({ jwksUrl, jwksCooldownMs: cooldownMs, jwksTimeoutMs: 300 }, { rateLimit: { perMinute: 0 } });
        fetches = 0;
        const down = await postAs(other.url, good, '601');
        assert.equal(down.status, 202, 'a fresh instance fetches and accepts');
        assert.equal(fetches, 1);
      });
    }

    test('the JWKS comes back: the same instance fetches again only after the cooldown, then accepts', async () => {
      mode = '500';
      fetches = 0;
      const cooldownMs = 1_500;
      const { url } = await serve({ jwksUrl, jwksCooldownMs: cooldownMs, jwksTimeoutMs: 300 }, { rateLimit: { perMinute: 0 } });
      const good = await token('602');
      assert.equal((await postAs(url, good, '602')).status, 503);
      const failedAt = Date.now(); // the failed fetch started before this answer: its cooldown ends by failedAt + cooldownMs
      mode = 'ok';
      // Within the cooldown: still 503, no new fetch.
      assert.equal((await postAs(url, good, '602')).status, 503);
      assert.equal(fetches, 1);
      while (Date.now() < failedAt + cooldownMs) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal((await postAs(url, good, '602')).status, 202);
      assert.equal(fetches, 2);
    });

    test('tokens with unknown kids (random, Unicode) while the set is cached: 401 each, at most one refetch per cooldown', async () => {
      mode = 'ok';
      fetches = 0;
      const { url } = await serve({ jwksUrl, jwksCooldownMs: 60_000 }, { rateLimit: { perMinute: 0 } });
      assert.equal((await postAs(url, await token('604'), '604')).status, 202);
      assert.equal(fetches, 1);
      const kids = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? `kid-${i}-${Math.random()}` : `\u2028\u{1F600}${i}`));
      const answers = await Promise.all(kids.map(async (kid) => postAs(url, await new SignJWT({ sub: '604', exp: NOW + 600 }).setProtectedHeader({ alg: 'ES256', kid }).sign(signer), 'never')));
      for (const r of answers) assertChallenge(r, 'an unknown kid');
      assert.ok(fetches <= 1, `${fetches} JWKS fetches for 30 unknown kids within one cooldown (the first fetch counted)`);
    });

    test('the JWKS port is closed (connection refused): 503 then 429, never 503 for everyone', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const { url } = await serve({ jwksUrl: `http://127.0.0.1:${port}/jwks.json`, jwksCooldownMs: 60_000 }, { rateLimit: { perMinute: 3 } });
      const good = await token('603');
      const statuses = (await Promise.all(Array.from({ length: 10 }, () => postAs(url, good, '603')))).map((r) => r.status);
      assert.deepEqual(statuses.sort(), [429, 429, 429, 429, 429, 429, 429, 503, 503, 503]);
    });
  });

  test("the in-memory limiter holds more callers than the plugin's default cache: a caller's count is not forgotten", async () => {
    // Prepare: @fastify/rate-limit's LocalStore keeps `cache` keys, 5000 unless told (read here
    // from the installed plugin, so the test follows it). One request per minute per IP.
    const require = createRequire(import.meta.url);
    const store = readFileSync(join(dirname(require.resolve('@fastify/rate-limit')), 'store', 'LocalStore.js'), 'utf8');
    const pluginDefault = Number(/function LocalStore \([^)]*cache = (\d+)\)/.exec(store)?.[1]);
    assert.ok(pluginDefault > 0, "the plugin's default cache size was found");
    const callers = pluginDefault + 1_000;
    const { url } = await serve({ apiKeys: [KEY] }, { rateLimit: { perMinute: 1 }, trustProxy: ['127.0.0.1'] });
    const from = (ip: string): Promise<Answer> => post(url, { userId: '1', platform: 'ios' }, { 'x-forwarded-for': ip });
    assert.equal((await from('198.51.100.1')).status, 401);
    // Act: `callers` other clients, 25 at a time.
    for (let i = 0; i < callers; i += 25) {
      await Promise.all(Array.from({ length: Math.min(25, callers - i) }, (_, j) => from(`10.${((i + j) >> 16) & 255}.${((i + j) >> 8) & 255}.${(i + j) & 255}`)));
    }
    // Assess: the first client is still over its limit.
    assert.equal((await from('198.51.100.1')).status, 429, `the first caller was forgotten after ${callers} others`);
    // The capacity is the option's: with 100, the same caller is forgotten after 200 others.
    const small = await serve({ apiKeys: [KEY] }, { rateLimit: { perMinute: 1, cacheSize: 100 }, trustProxy: ['127.0.0.1'] });
    const fromSmall = (ip: string): Promise<Answer> => post(small.url, { userId: '1', platform: 'ios' }, { 'x-forwarded-for': ip });
    assert.equal((await fromSmall('198.51.100.1')).status, 401);
    for (let i = 0; i < 200; i += 25) await Promise.all(Array.from({ length: 25 }, (_, j) => fromSmall(`10.0.${(i + j) >> 8}.${(i + j) & 255}`)));
    assert.equal((await fromSmall('198.51.100.1')).status, 401);
  });

  test('HTTP timeouts: a silent connection, slow headers, a stalled body, a dripping batch body; a kept-alive connection survives the body timeout', async () => {
    const timeouts = { headersMs: 600, requestMs: 2_000, bodyIdleMs: 600, keepAliveMs: 3_000 };
    const { port } = await serve({ apiKeys: [KEY] }, { timeouts });
    let t0 = Date.now();
    const since = (): number => t0;
    const head = (path: string, length: number): string => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-api-key: ${KEY}\r\nContent-Length: ${length}\r\n\r\n`;
    t0 = Date.now();
    const silent = await rawSocket(port, since);
    const slowHeaders = await rawSocket(port, since, 'POST /app_opens HTTP/1.1\r\nHost: x\r\n');
    const stalled = await rawSocket(port, since, `${head('/app_opens', 100)}{"userId":"1",`);
    const batch = `{"events":[${Array.from({ length: 50 }, () => '{"userId":"1","platform":"ios","timestamp":1764000000}').join(',')}]}`;
    const drip = await rawSocket(port, since, head('/app_opens/batch', Buffer.byteLength(batch)));
    let sent = 0;
    const dripper = setInterval(() => {
      if (sent < batch.length && !drip.socket.destroyed) drip.socket.write(batch[sent++]!);
    }, 200);
    const event = '{"userId":"9","platform":"ios","timestamp":1764000000}';
    const kept = await rawSocket(port, since, `${head('/app_opens', event.length)}${event}`);
    acceptedEvents.push('9/ios/1764000000');
    // Each socket closes by its timeout, or is reported open after 8 s (the test then fails, rather than hangs).
    const orOpen = (p: Promise<{ ms: number; received: string }>): Promise<{ ms: number; received: string }> =>
      Promise.race([p, new Promise<{ ms: number; received: string }>((resolve) => setTimeout(() => resolve({ ms: Infinity, received: '(still open)' }), 8_000).unref())]);
    const [s, h, st, d, ka] = (await Promise.all([silent, slowHeaders, stalled, drip, kept].map((c) => orOpen(c.closed)))) as [Closed, Closed, Closed, Closed, Closed];
    clearInterval(dripper);
    for (const c of [silent, slowHeaders, stalled, drip, kept]) c.socket.destroy();
    // The 408s come from Node's check, which runs every quarter of the shortest timeout.
    const within = (ms: number, lo: number, hi: number, what: string): void => assert.ok(ms >= lo && ms <= hi, `${what} closed after ${ms} ms (expected ${lo}-${hi})`);
    within(s.ms, 500, 1_800, 'a silent connection');
    assert.match(s.received, /^HTTP\/1\.1 408 /);
    within(h.ms, 500, 1_800, 'slow headers');
    assert.match(h.received, /^HTTP\/1\.1 408 /);
    within(st.ms, 500, 1_800, 'a stalled body');
    within(d.ms, 1_900, 3_200, 'a batch body dripping a byte every 200 ms');
    assert.ok(sent < batch.length, 'the dripping body was cut before it was complete');
    // The kept-alive connection got its 202 and stayed open past the body timeout, until the keep-alive timeout.
    assert.match(ka.received, /^HTTP\/1\.1 202 /);
    within(ka.ms, 2_900, 4_500, 'a kept-alive connection');
  });
});
