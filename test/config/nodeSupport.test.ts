/**
 * The Node versions the project supports: a binary that creates an AWS SDK client starts with
 * nothing on stderr on the machine's Node and on the current LTS (make test runs this file on
 * both), and on Node < 22 it says the SDK's Node 22 requirement once, in its log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SDK_MIN_NODE_MAJOR, sdkNodeNotice } from '../../src/config/nodeSupport.js';
import { startKinesalite, type Kinesalite } from '../helpers/kinesalite.js';

const BIN = fileURLToPath(new URL('../../bin/app-opens-api', import.meta.url));
const major = Number(process.versions.node.split('.')[0]);

describe('sdkNodeNotice', () => {
  test('on Node < 22 it returns the notice and sets the SDK switch; on 22+ nothing', () => {
    const saved = process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    try {
      delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
      assert.equal(sdkNodeNotice('v24.22.3'), undefined);
      assert.equal(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED, undefined);
      const notice = sdkNodeNotice('v20.20.2');
      assert.match(notice ?? '', new RegExp(`Node >= ${SDK_MIN_NODE_MAJOR}`));
      assert.equal(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED, 'true');
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'false'; // the user's own choice wins
      sdkNodeNotice('v20.20.2');
      assert.equal(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED, 'false');
    } finally {
      if (saved === undefined) delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
      else process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = saved;
    }
  });
});

describe(`bin/app-opens-api on Node ${process.version}`, () => {
  let k: Kinesalite;
  let dir: string;
  before(async () => {
    k = await startKinesalite({ shards: 1, streamName: 'node-support' });
    dir = mkdtempSync(join(tmpdir(), 'node-support-'));
  });
  after(async () => {
    await k.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('starts, takes an event and stops with nothing on stderr', async () => {
    // Prepare: the binary on the Node running this test, an AWS SDK client created at start.
    const child = spawn(process.execPath, [BIN], {
      cwd: dir,
      env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', STREAM_NAME: 'node-support', KINESIS_ENDPOINT: k.endpoint, AUTH_API_KEYS: 'node-support-test-key' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const lines: Array<Record<string, unknown>> = [];
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const obj = JSON.parse(line) as Record<string, unknown>;
        lines.push(obj);
        if (obj.msg === 'listening') resolve(obj.port as number);
      });
      void exited.then((code) => reject(new Error(`exited with ${code} before listening; stderr: ${stderr}`)));
    });
    // Act
    const res = await fetch(`http://127.0.0.1:${port}/app_opens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'node-support-test-key' },
      body: JSON.stringify({ userId: '7', platform: 'ios', timestamp: 1_764_000_000 }),
    });
    child.kill('SIGTERM');
    const code = await exited;
    // Assess
    assert.equal(res.status, 202);
    assert.equal(code, 0);
    assert.equal(stderr, '', 'a supported Node prints nothing on stderr');
    assert.equal((await k.readAll()).length, 1);
    const notices = lines.filter((l) => typeof l.msg === 'string' && l.msg.includes(`require Node >= ${SDK_MIN_NODE_MAJOR}`));
    assert.equal(notices.length, major < SDK_MIN_NODE_MAJOR ? 1 : 0, `the SDK notice is logged once on Node < ${SDK_MIN_NODE_MAJOR} only`);
  });
});
