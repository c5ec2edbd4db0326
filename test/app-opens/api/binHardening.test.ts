/**
 * bin/app-opens-api hardened (issue 24), as users run it: the built binary in a child process on
 * a free port, writing to kinesalite (or to the fault proxy in front of it). A shutdown bounded
 * whatever the clients do (a silent TCP connection, a stalled body), every undelivered event
 * logged; no secret in the log at trace level, parser-refused requests included; configuration
 * mistakes refused in one stderr line; a warning for a JWKS over plain http.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fromAvro } from '../../../src/app-opens/model/index.js';
import { startFaultProxy } from '../../helpers/faultProxy.js';
import { startKinesalite, type Kinesalite } from '../../helpers/kinesalite.js';

const BIN = fileURLToPath(new URL('../../../bin/app-opens-api', import.meta.url));
const STREAM = 'app-opens';
const KEY = 'bin-hardening-service-key-0123456789';

interface Api {
  child: ChildProcess;
  port: number;
  url: string;
  lines: Array<Record<string, unknown>>;
  /** Every stdout line as written. */
  raw: string[];
  exited: Promise<number | null>;
}

/** Every child started, and every raw socket opened: nothing outlives the file, even when a test fails. */
const children: ChildProcess[] = [];
const sockets: Socket[] = [];
function killSurvivors(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of sockets) s.destroy();
}
after(killSurvivors);

/** Starts the binary with PORT=0 and waits for its "listening" line. */
async function startApi(env: Record<string, string>, cwd: string): Promise<Api> {
  const child = spawn(process.execPath, [BIN], { cwd, env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', AUTH_API_KEYS: KEY, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr!.resume();
  const rl = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    rl.on('line', (line) => {
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

async function postEvents(url: string, n: number, first: number): Promise<void> {
  for (let i = first; i < first + n; i++) {
    const res = await fetch(`${url}/app_opens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({ userId: String(i), platform: 'ios', timestamp: 1_764_000_000 + i }),
    });
    assert.equal(res.status, 202);
  }
}

/** A raw TCP connection to the API; `closed` resolves when the server closes it, with what it sent. */
async function rawSocket(port: number, data?: string): Promise<{ socket: Socket; closed: Promise<string>; received: () => string }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise((resolve) => socket.once('connect', resolve));
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  if (data !== undefined) socket.write(data);
  return { socket, closed, received: () => received };
}

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())]);
}

describe('bin/app-opens-api: configuration (issue 24)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'app-opens-api-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (env: Record<string, string>): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [BIN], { cwd: dir, env: { PATH: process.env.PATH, STREAM_NAME: STREAM, ...env }, encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });

  for (const value of [' , ', ',', ' ,, , ']) {
    test(`AUTH_API_KEYS=${JSON.stringify(value)} (no key in it): exit 78, one stderr line naming it, nothing on stdout`, () => {
      const r = run({ AUTH_API_KEYS: value });
      assert.equal(r.status, 78, String(r.stderr));
      assert.equal(r.stdout, '');
      assert.deepEqual(String(r.stderr).trim().split('\n'), ['app-opens-api: AUTH_API_KEYS is malformed: expected comma-separated keys, found none']);
    });
  }

  test('the new limits are checked: a zero token lifetime, a timeout that is not a number, a zero cache', () => {
    for (const [name, value] of [
      ['AUTH_JWT_MAX_LIFETIME_SECONDS', '0'],
      ['HTTP_HEADERS_TIMEOUT_MS', 'ten'],
      ['HTTP_BODY_TIMEOUT_MS', '0'],
      ['RATE_LIMIT_CACHE_SIZE', '0'],
    ] as const) {
      const r = run({ AUTH_API_KEYS: KEY, [name]: value });
      assert.equal(r.status, 78, `${name}=${value}: ${String(r.stderr)}`);
      const lines = String(r.stderr).trim().split('\n');
      assert.equal(lines.length, 1, String(r.stderr));
      assert.match(lines[0]!, new RegExp(`^app-opens-api: ${name} is malformed`));
    }
  });

  test('a JWKS URL over plain http outside loopback is warned about at start; loopback and https are not', async () => {
    const warned = async (jwksUrl: string): Promise<Array<Record<string, unknown>>> => {
      const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: 'http://127.0.0.1:9', AUTH_JWKS_URL: jwksUrl }, dir);
      api.child.kill('SIGTERM');
      await api.exited;
      return api.lines.filter((l) => l.level === 'warn' && /AUTH_JWKS_URL is plain http/.test(String(l.msg)));
    };
    const plain = await warned('http://id.example.test/.well-known/jwks.json');
    assert.equal(plain.length, 1);
    assert.equal(plain[0]!.jwksUrl, 'http://id.example.test/.well-known/jwks.json');
    assert.deepEqual(await warned('http://127.0.0.1:9/jwks.json'), []);
    assert.deepEqual(await warned('http://localhost:9/jwks.json'), []);
    assert.deepEqual(await warned('https://id.example.test/.well-known/jwks.json'), []);
  });
});

describe('bin/app-opens-api: shutdown and logs (issue 24)', () => {
  let k: Kinesalite;
  let dir: string;
  before(async () => {
    k = await startKinesalite({ shards: 1, streamName: STREAM });
    dir = mkdtempSync(join(tmpdir(), 'app-opens-api-'));
  });
  after(async () => {
    killSurvivors(); // a binary still running would hold kinesalite's close forever
    await k.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('SIGTERM with a silent TCP connection and a kept-alive one open: both closed at once, exit 0 in well under SHUTDOWN_TIMEOUT_MS', async () => {
    // Prepare: generous HTTP timeouts, so that only the shutdown can close the connections.
    const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: k.endpoint, SHUTDOWN_TIMEOUT_MS: '20000', HTTP_HEADERS_TIMEOUT_MS: '60000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '60000' }, dir);
    await postEvents(api.url, 10, 5000);
    const silent = await rawSocket(api.port);
    const body = '{"userId":"5100","platform":"ios","timestamp":1764000000}';
    const kept = await rawSocket(api.port, `POST /app_opens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-api-key: ${KEY}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    while (!kept.received().includes('\r\n\r\n{')) await new Promise((resolve) => setTimeout(resolve, 10)); // its 202 is in
    // Act
    const t0 = Date.now();
    api.child.kill('SIGTERM');
    const code = await within(api.exited, 15_000, 'exit after SIGTERM');
    const ms = Date.now() - t0;
    // Assess
    assert.equal(code, 0, JSON.stringify(api.lines.slice(-3)));
    assert.ok(ms < 3_000, `exited ${ms} ms after SIGTERM`);
    await within(silent.closed, 1_000, 'the silent connection closed');
    assert.match(await within(kept.closed, 1_000, 'the kept-alive connection closed'), /^HTTP\/1\.1 202 /);
    const ids = (await k.readAll()).map((s) => fromAvro(s.data).userId);
    for (let i = 5000; i < 5010; i++) assert.ok(ids.includes(BigInt(i)), `event ${i} in the stream`);
    assert.ok(ids.includes(5100n));
  });

  test('SIGTERM with a stalled body, a silent connection and Kinesis failing: exit 1 within SHUTDOWN_TIMEOUT_MS, every buffered event logged as not delivered', async () => {
    // Prepare: every PutRecords answers 500 (fault proxy: see its header for why it is a fake);
    // HTTP timeouts far longer than the shutdown budget.
    const proxy = await startFaultProxy(k.endpoint, { failRequest: () => true });
    try {
      const api = await startApi(
        { STREAM_NAME: STREAM, KINESIS_ENDPOINT: proxy.endpoint, SHUTDOWN_TIMEOUT_MS: '2000', HTTP_HEADERS_TIMEOUT_MS: '60000', HTTP_REQUEST_TIMEOUT_MS: '60000', HTTP_BODY_TIMEOUT_MS: '60000' },
        dir,
      );
      await postEvents(api.url, 5, 6000);
      const silent = await rawSocket(api.port);
      const stalled = await rawSocket(api.port, `POST /app_opens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-api-key: ${KEY}\r\nContent-Length: 100\r\n\r\n{"userId":"6100",`);
      await new Promise((resolve) => setTimeout(resolve, 100)); // the partial body reaches the server
      // Act
      const t0 = Date.now();
      api.child.kill('SIGTERM');
      const code = await within(api.exited, 15_000, 'exit after SIGTERM');
      const ms = Date.now() - t0;
      // Assess: the budget holds (2 s, and a margin for a loaded machine), nothing is lost silently.
      assert.equal(code, 1);
      assert.ok(ms >= 1_900 && ms < 5_000, `exited ${ms} ms after SIGTERM (SHUTDOWN_TIMEOUT_MS=2000)`);
      await within(silent.closed, 1_000, 'the silent connection closed');
      await within(stalled.closed, 1_000, 'the stalled connection closed');
      const undelivered = api.lines.filter((l) => l.msg === 'event not delivered');
      assert.deepEqual(undelivered.map((l) => fromAvro(Buffer.from(String(l.data), 'base64')).userId).sort(), [6000n, 6001n, 6002n, 6003n, 6004n]);
      const cut = api.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('connections still open at the shutdown timeout'));
      assert.equal(cut?.connections, 1, 'the stalled connection was cut at the deadline');
      // By the server's own clock (a loaded machine delays the signal and the exit, not this).
      const stopping = api.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('stopping'))!;
      const cutAfter = Date.parse(String(cut.time)) - Date.parse(String(stopping.time));
      assert.ok(cutAfter >= 1_950 && cutAfter < 2_600, `cut ${cutAfter} ms after the stopping line`);
      assert.equal(api.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('stopped with events undelivered'))?.remaining, 5);
    } finally {
      await proxy.close();
    }
  });

  test('at LOG_LEVEL=trace no line holds the API key or the token, in any encoding, requests the HTTP parser refused included', async () => {
    // Prepare
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.trace-token-never-logged';
    const wrongKey = 'wrong-key-never-to-be-logged-0042';
    const api = await startApi({ STREAM_NAME: STREAM, KINESIS_ENDPOINT: k.endpoint, LOG_LEVEL: 'trace', AUTH_JWT_SECRET: 'bin-hardening-jwt-secret-32-bytes-or-more' }, dir);
    const head = `POST /app_opens HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY}\r\nAuthorization: Bearer ${token}\r\n`;
    // Act: a header with a control character (400 from the parser), headers over 16 KiB (431),
    // a broken chunked body, a smuggling attempt, and ordinary refusals.
    const refused = [
      `${head}Bad\u0001Header: y\r\n\r\n`,
      `${head}x-filler: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
      `${head}Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      `${head}Content-Length: 2\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n{}`,
    ];
    const answers: string[] = [];
    for (const data of refused) {
      const s = await rawSocket(api.port, data);
      answers.push(await within(s.closed, 5_000, 'a refused request answered'));
    }
    const post = (headers: Record<string, string>): Promise<Response> =>
      fetch(`${api.url}/app_opens`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"userId":"1","platform":"ios"}' });
    assert.equal((await post({ 'x-api-key': wrongKey })).status, 401);
    assert.equal((await post({ authorization: `Bearer ${token}` })).status, 401);
    api.child.kill('SIGTERM');
    await api.exited;
    // Assess
    assert.match(answers[0]!, /^HTTP\/1\.1 400 /);
    assert.match(answers[1]!, /^HTTP\/1\.1 431 /);
    assert.ok(api.lines.some((l) => l.msg === 'client error'), 'the refused requests were logged (without their bytes)');
    const log = api.raw.join('\n');
    for (const secret of [KEY, wrongKey, token, 'trace-token-never-logged']) {
      const bytes = [...Buffer.from(secret)];
      for (const [form, text] of [
        ['plain', secret],
        ['base64', Buffer.from(secret).toString('base64').slice(0, 24)],
        ['hex', Buffer.from(secret).toString('hex').slice(0, 32)],
        ['a JSON byte array (a logged Buffer)', bytes.slice(0, 12).join(',')],
      ] as const) {
        assert.ok(!log.includes(text), `the log holds ${secret} as ${form}`);
      }
    }
  });
});
