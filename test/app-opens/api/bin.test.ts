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

const BIN = fileURLToPath(new URL('../../../bin/app-opens-api', import.meta.url));
const STREAM = 'app-opens';

interface Api {
  child: ChildProcess;
  url: string;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Starts the binary with PORT=0 and waits for its "listening" line. */
async function startApi(env: Record<string, string>, cwd: string): Promise<Api> {
  const child = spawn(process.execPath, [BIN], { cwd, env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
      headers: { 'content-type': 'application/json' },
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
