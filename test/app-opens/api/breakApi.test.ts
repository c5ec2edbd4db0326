/**
 * bin/app-opens-api attacked after issue 24 (branch break-api): the built binary on a free port,
 * writing to kinesalite, with a local HTTP server playing the identity provider (its JWKS) and
 * tokens signed here with node:crypto.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fromAvro } from '../../../src/app-opens/model/index.js';
import { startFaultProxy } from '../../helpers/faultProxy.js';
import { startKinesalite, type Kinesalite } from '../../helpers/kinesalite.js';

const BIN = fileURLToPath(new URL('../../../bin/app-opens-api', import.meta.url));
const STREAM = 'app-opens-break';
const KEY = 'break-api-service-key-0123456789';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Api {
  child: ChildProcess;
  port: number;
  url: string;
  lines: Array<Record<string, unknown>>;
  raw: string[];
  exited: Promise<number | null>;
}

async function startApi(env: Record<string, string>): Promise<Api> {
  const child = spawn(process.execPath, [BIN], { env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', AUTH_API_KEYS: KEY, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr!.resume();
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      raw.push(line);
      const obj = JSON.parse(line) as Record<string, unknown>;
      lines.push(obj);
      if (obj.msg === 'listening') resolve(obj.port as number);
    });
    void exited.then((code) => reject(new Error(`app-opens-api exited with ${code} before listening`)));
    setTimeout(() => reject(new Error('app-opens-api did not listen within 20 s')), 20_000).unref();
  });
  return { child, port, url: `http://127.0.0.1:${port}`, lines, raw, exited };
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const JWKS = JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] });

/** An RS256 token for `sub`, signed with `key` (the IdP's), with `header` (kid k1 by default). */
function token(sub: string, key = rsa.privateKey, header: Record<string, unknown> = { alg: 'RS256', kid: 'k1' }): string {
  const now = Math.floor(Date.now() / 1000);
  const b64u = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64u(header)}.${b64u({ sub, iat: now, exp: now + 600 })}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
}

describe('bin/app-opens-api attacked (break-api)', () => {
  let k: Kinesalite;
  before(async () => {
    k = await startKinesalite({ shards: 1, streamName: STREAM });
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await k.close();
  });

  test('a JWKS URL with credentials: they are sent as HTTP Basic, the token is accepted, and the password never reaches the log', async () => {
    // Prepare: an identity provider that serves its JWKS only with the right Basic credentials.
    const password = 'idp-pass-never-logged-4242';
    const expected = `Basic ${Buffer.from(`jwks-reader:${password}`).toString('base64')}`;
    const seen: string[] = [];
    const idp: Server = createServer((req, res) => {
      seen.push(String(req.headers.authorization));
      if (req.headers.authorization !== expected) {
        res.statusCode = 401;
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JWKS);
    });
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    try {
      const idpPort = (idp.address() as AddressInfo).port;
      const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: k.endpoint, LOG_LEVEL: 'trace', AUTH_JWKS_URL: `http://jwks-reader:${password}@127.0.0.1:${idpPort}/jwks` });
      // Act
      const res = await fetch(`${api.url}/app_opens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token('4711')}` },
        body: JSON.stringify({ platform: 'ios', timestamp: 1_764_000_000 }),
      });
      const answer = await res.text();
      api.child.kill('SIGTERM');
      assert.equal(await api.exited, 0);
      // Assess: accepted (old code: 503, fetch refused such a URL without asking the IdP) ...
      assert.equal(res.status, 202, answer);
      assert.deepEqual(seen, [expected]);
      const stored = (await k.readAll()).map((s) => fromAvro(s.data).userId);
      assert.ok(stored.includes(4711n), 'the event reached the stream');
      // ... and the password is in no line, in any form (old code: in the "JWKS fetch failed" warning).
      const log = api.raw.join('\n');
      for (const form of [password, encodeURIComponent(password), Buffer.from(password).toString('base64').slice(0, 16), expected]) {
        assert.ok(!log.includes(form), `the log holds the JWKS password as ${form}`);
      }
    } finally {
      idp.close();
    }
  });

  test('a JWKS in which several keys fit the token (a kid used twice, or no kid at all): each is tried, a good token is accepted, a forged one is not', async () => {
    // Prepare: an IdP in the middle of a key rotation, publishing the old and the new key under one
    // kid, and also keys without a kid (both are allowed by RFC 7517: kid is only a hint).
    const rotated = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = (k: typeof rsa): Record<string, unknown> => ({ ...k.publicKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' });
    const idp: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [{ ...pub(rsa), kid: 'k1' }, { ...pub(rotated), kid: 'k1' }, pub(rsa), pub(rotated)] }));
    });
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    try {
      const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: k.endpoint, AUTH_JWKS_URL: `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks` });
      const post = async (jwt: string, ts: number): Promise<number> => {
        const res = await fetch(`${api.url}/app_opens`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}` }, body: JSON.stringify({ platform: 'ios', timestamp: ts }) });
        await res.arrayBuffer();
        return res.status;
      };
      // Act
      const answers = {
        sameKidSecondKey: await post(token('4801', rotated.privateKey), 1_764_000_001),
        sameKidFirstKey: await post(token('4802', rsa.privateKey), 1_764_000_002),
        noKidSecondKey: await post(token('4803', rotated.privateKey, { alg: 'RS256' }), 1_764_000_003),
        sameKidForged: await post(token('4804', foreign.privateKey), 1_764_000_004),
        noKidForged: await post(token('4805', foreign.privateKey, { alg: 'RS256' }), 1_764_000_005),
      };
      api.child.kill('SIGTERM');
      assert.equal(await api.exited, 0);
      // Assess (old code: 401 for all three good tokens, "the token signature or format is not valid")
      assert.deepEqual(answers, { sameKidSecondKey: 202, sameKidFirstKey: 202, noKidSecondKey: 202, sameKidForged: 401, noKidForged: 401 });
      const stored = new Set((await k.readAll()).map((s) => fromAvro(s.data).userId));
      for (const u of [4801n, 4802n, 4803n]) assert.ok(stored.has(u), `user ${u} in the stream`);
      for (const u of [4804n, 4805n]) assert.ok(!stored.has(u), `user ${u} (forged token) not in the stream`);
    } finally {
      idp.close();
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`a second ${signal} during the shutdown (an impatient operator, a supervisor that repeats it) does not kill the process before every buffered event is sent or logged`, async () => {
      // Prepare: every PutRecords answers 500 (fault proxy: Kinesis failing cannot be caused in
      // kinesalite itself), so the events stay buffered until the shutdown budget ends.
      const proxy = await startFaultProxy(k.endpoint, { failRequest: () => true });
      try {
        const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: proxy.endpoint, SHUTDOWN_TIMEOUT_MS: '1500' });
        const users = [7001, 7002, 7003, 7004, 7005];
        for (const u of users) {
          const res = await fetch(`${api.url}/app_opens`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-api-key': KEY },
            body: JSON.stringify({ userId: String(u), platform: 'ios', timestamp: 1_764_000_000 }),
          });
          assert.equal(res.status, 202);
        }
        // Act: the first signal starts the shutdown; the second comes once it has begun.
        const stopping = new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (api.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('stopping'))) {
              clearInterval(check);
              resolve();
            }
          }, 5);
        });
        api.child.kill(signal);
        await stopping;
        api.child.kill(signal);
        const code = await api.exited;
        // Assess: exit 1 after logging each event (old code: killed by the signal, exit code null, nothing logged).
        assert.equal(api.child.signalCode, null, `killed by ${api.child.signalCode}`);
        assert.equal(code, 1);
        const undelivered = api.lines.filter((l) => l.msg === 'event not delivered').map((l) => Number(fromAvro(Buffer.from(String(l.data), 'base64')).userId));
        assert.deepEqual(undelivered.sort(), users);
      } finally {
        await proxy.close();
      }
    });
  }
});
