/**
 * Property tests of the worker's protocol reader, on the real thing: the built bin/lastopens, a
 * child process over real pipes, against a private Redis. Each run sends one generated line, then
 * a probe (shutdownRequested) and waits, within a bound, for the probe's status or the exit.
 *
 * On every run, whatever the line:
 * - stdout carries only protocol messages: `status` with exactly {action, responseFor}, or
 *   `checkpoint` with exactly {action, sequenceNumber, subSequenceNumber} (digits or null);
 * - the worker answers the probe or exits, within 10 s (it never hangs);
 * - if it exits, it is exit code 2 with exactly one stderr line (as the daemon reads lines: \n, \r
 *   and \r\n all end one) naming the malformed line.
 * Lines that are valid actions (with hostile field values) must be answered; lines that are not
 * JSON objects, or name an unknown action, or have fields of the wrong type, must exit 2.
 *
 * Processes are reused while they live; a spare is started ahead so a run that ends one does not
 * wait for the next start-up.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';
import { BIN } from '../helpers/lastopens.js';

const RUN_BOUND_MS = 10_000;
const PROBE = JSON.stringify({ action: 'shutdownRequested' });

let redis: RedisServer;
let dir: string;
before(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'protocol-fuzz-'));
});
after(async () => {
  spare?.kill();
  current?.kill();
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

/** Lines as the Java daemon's BufferedReader.readLine splits them. */
const daemonLines = (text: string): string[] => text.split(/\r\n|\r|\n/).filter((l, i, all) => !(l === '' && i === all.length - 1));

/** Why a stdout line is not a protocol message the daemon accepts, or null when it is one. */
function protocolViolation(line: string): string | null {
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'not a JSON object';
  const o = m as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (o.action === 'status') {
    if (keys !== 'action,responseFor' || typeof o.responseFor !== 'string') return `bad status fields ${keys}`;
    return null;
  }
  if (o.action === 'checkpoint') {
    if (keys !== 'action,sequenceNumber,subSequenceNumber') return `bad checkpoint fields ${keys}`;
    if (!(o.sequenceNumber === null || (typeof o.sequenceNumber === 'string' && /^\d+$/.test(o.sequenceNumber)))) return 'bad checkpoint sequenceNumber';
    if (!(o.subSequenceNumber === null || typeof o.subSequenceNumber === 'number')) return 'bad checkpoint subSequenceNumber';
    return null;
  }
  return `unknown action ${JSON.stringify(o.action)}`;
}

/** A bin/lastopens process under a minimal daemon: every checkpoint request is answered with success. */
class RawWorker {
  readonly child: ChildProcessWithoutNullStreams;
  readonly statuses: string[] = [];
  readonly violations: string[] = [];
  stderr = '';
  exit: { code: number | null; signal: string | null } | null = null;
  private buffered = '';
  private readonly changed = new Set<() => void>();

  constructor() {
    this.child = spawn(BIN, [], {
      cwd: dir,
      env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'fuzz', LOG_PATH: join(dir, 'lastopens.log') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdin.on('error', () => undefined);
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d: string) => (this.stderr += d));
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => {
      this.buffered += d;
      let nl;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.onLine(line);
      }
    });
    this.child.once('exit', (code, signal) => {
      this.exit = { code, signal };
      this.notify();
    });
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    const why = protocolViolation(line);
    if (why) {
      this.violations.push(`${why}: ${line.slice(0, 200)}`);
    } else {
      const m = JSON.parse(line) as { action: string; responseFor?: string; sequenceNumber?: string | null; subSequenceNumber?: number | null };
      if (m.action === 'status') this.statuses.push(m.responseFor!);
      else this.child.stdin.write(`${JSON.stringify({ action: 'checkpoint', sequenceNumber: m.sequenceNumber, subSequenceNumber: m.subSequenceNumber, error: null })}\n`);
    }
    this.notify();
  }

  private notify(): void {
    for (const f of this.changed) f();
  }

  /** Sends `line` then the probe; resolves 'answered' or 'exited', rejects when neither comes within the bound. */
  send(line: string): Promise<'answered' | 'exited'> {
    const before = this.statuses.length;
    this.child.stdin.write(`${line}\n${PROBE}\n`);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.statuses.slice(before).includes('shutdownRequested')) done('answered');
        else if (this.exit) done('exited');
      };
      const timer = setTimeout(() => {
        this.changed.delete(check);
        reject(new Error(`no answer and no exit within ${RUN_BOUND_MS} ms (hang) after: ${JSON.stringify(line.slice(0, 300))}`));
      }, RUN_BOUND_MS);
      const done = (r: 'answered' | 'exited'): void => {
        clearTimeout(timer);
        this.changed.delete(check);
        resolve(r);
      };
      this.changed.add(check);
      check();
    });
  }

  kill(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }
}

let current: RawWorker | undefined;
let spare: RawWorker | undefined;
let spawned = 0;
function take(): RawWorker {
  if (!current || current.exit) {
    current = spare ?? new RawWorker();
    spare = new RawWorker();
    spawned++;
  }
  return current;
}

/** Sends one line and checks the invariants; returns what happened. */
async function run(line: string): Promise<'answered' | 'exited'> {
  const w = take();
  const outcome = await w.send(line);
  assert.deepEqual(w.violations, [], 'stdout carries protocol messages only');
  if (outcome === 'exited') {
    assert.equal(w.exit?.code, 2, `exit code 2 for a malformed line; stderr: ${w.stderr}`);
    const lines = daemonLines(w.stderr);
    assert.equal(lines.length, 1, `exactly one stderr line, got ${lines.length}: ${JSON.stringify(w.stderr.slice(0, 500))}`);
    assert.match(lines[0]!, /fatal: protocol error: (ProtocolError: )?malformed line from the daemon \(/);
    assert.ok(w.stderr.length < 2_000, 'the stderr line is short whatever the input');
  }
  return outcome;
}

// Generators ------------------------------------------------------------------------------------

const noNewline = (s: string): string => s.replaceAll('\n', '');
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.constantFrom('', '\u0000', '\r', '\u2028', '__proto__', 'constructor', '{"action":"status"}', '\u001b[31mred', 'x'.repeat(5_000), '😀'.repeat(50)),
);
const digits = fc.stringMatching(/^\d{1,60}$/);
const optNumber = fc.oneof(fc.constant(null), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
const extraFields = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });

const record = fc.record({
  data: fc.oneof(fc.base64String({ maxLength: 200 }), hostileString),
  partitionKey: hostileString,
  sequenceNumber: digits,
  subSequenceNumber: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 31 })),
  approximateArrivalTimestamp: optNumber,
  action: fc.constant('record'),
});

/** Valid actions whose field values are hostile, with unknown extra fields. */
const validAction = fc.oneof(
  fc.record({ action: fc.constant('initialize'), shardId: hostileString.filter((s) => s !== ''), sequenceNumber: fc.oneof(fc.constant(null), hostileString, digits), subSequenceNumber: optNumber }),
  fc.record({ action: fc.constant('processRecords'), millisBehindLatest: optNumber, records: fc.array(record, { maxLength: 20 }) }),
  fc.constantFrom({ action: 'leaseLost' }, { action: 'shardEnded' }, { action: 'shutdownRequested' }, { action: 'shutdown', reason: 'ZOMBIE' }),
  fc.record({ action: fc.constant('checkpoint'), sequenceNumber: fc.oneof(fc.constant(null), digits), subSequenceNumber: optNumber, error: fc.oneof(fc.constant(null), hostileString) }),
).chain((msg) => extraFields.map((extra) => JSON.stringify({ ...extra, ...msg })));

/** Lines the worker must refuse (exit 2). */
const malformed = fc.oneof(
  // Valid actions cut short: never a complete JSON object.
  fc.tuple(validAction, fc.nat()).map(([line, n]) => line.slice(0, 1 + (n % (line.length - 1)))),
  // JSON that is not an object.
  fc.oneof(fc.array(fc.jsonValue({ maxDepth: 1 })), fc.integer(), fc.string({ maxLength: 20 }), fc.constant(null), fc.boolean()).map((v) => JSON.stringify(v)),
  // Unknown actions.
  fc.string({ maxLength: 20 }).filter((a) => !['initialize', 'processRecords', 'checkpoint', 'leaseLost', 'shardEnded', 'shutdownRequested', 'shutdown'].includes(a)).map((action) => JSON.stringify({ action })),
  // Known actions with fields of the wrong type.
  fc.oneof(
    fc.record({ action: fc.constant('processRecords'), records: fc.oneof(fc.integer(), fc.string(), fc.constant({})) }),
    fc.record({ action: fc.constant('processRecords'), records: fc.tuple(record.map((r) => ({ ...r, sequenceNumber: Number(r.sequenceNumber.slice(0, 15)) }))) }),
    fc.record({ action: fc.constant('processRecords'), records: fc.tuple(record.map((r) => ({ ...r, sequenceNumber: `${r.sequenceNumber}x` }))) }),
    fc.record({ action: fc.constant('processRecords'), records: fc.constant([]), millisBehindLatest: fc.string() }),
    fc.record({ action: fc.constant('initialize'), shardId: fc.oneof(fc.constant(''), fc.integer()) }),
  ).map((m) => JSON.stringify(m)),
  // Garbage with NUL bytes and control characters around or inside JSON.
  fc.tuple(validAction, fc.constantFrom('\u0000', '\u0001', 'x', '\u001b')).map(([line, c]) => `${line.slice(0, -1)}${c}}`),
);

/** Anything at all on one line. */
const anyLine = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 200 }), fc.json({ maxDepth: 3 }), validAction, malformed).map(noNewline);

describe('exiting right after start-up', () => {
  test('a malformed first line sent at start-up: exit 2 at once, not seconds later (regression: the log file was not open yet)', async () => {
    // Before the fix, pino's exit hook threw "sonic boom is not ready yet" when the worker exited
    // before its log file was open (it is opened asynchronously): process.exit() was abandoned
    // and the process lingered until its event loop drained (7 s here), holding the daemon up.
    const w = new RawWorker();
    const started = Date.now();
    w.child.stdin.write('not json\n');
    await new Promise<void>((resolve) => (w.exit ? resolve() : w.child.once('exit', () => resolve())));
    const elapsed = Date.now() - started;
    assert.equal(w.exit?.code, 2);
    assert.equal(daemonLines(w.stderr).length, 1, w.stderr);
    assert.ok(elapsed < 4_000, `exited after ${elapsed} ms (start-up alone takes well under 1 s here)`);
  });

  test('control characters from the daemon (a shardId with CR, ESC and NUL in a malformed line) never split or colour the one stderr line', async () => {
    // The daemon reads the worker's stderr with BufferedReader.readLine: \r alone ends a line.
    const w = new RawWorker();
    w.child.stdin.write(`${JSON.stringify({ action: 'initialize', shardId: 'shard\r\u2028-1', sequenceNumber: null, subSequenceNumber: null })}\n`);
    w.child.stdin.write('{"action":\u001b[31m"leaseLost"\r\u0000\u0085}\n');
    await new Promise<void>((resolve) => (w.exit ? resolve() : w.child.once('exit', () => resolve())));
    assert.equal(w.exit?.code, 2);
    assert.deepEqual(w.statuses, ['initialize']);
    assert.equal(daemonLines(w.stderr).length, 1, JSON.stringify(w.stderr));
    const controls = [...w.stderr.slice(0, -1)].filter((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f) || c === '\u2028' || c === '\u2029');
    assert.deepEqual(controls, [], 'control characters are escaped');
    assert.match(w.stderr, /shard shard\\u000d\\u2028-1/);
  });

  test('a LOG_PATH that cannot be opened: exit 78 with one stderr line naming it, nothing on stdout', () => {
    const r = spawnSync(BIN, [], {
      env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'fuzz', LOG_PATH: join(BIN, 'under-a-file.log') },
      input: '',
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 78);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^lastopens: LOG_PATH cannot be opened: .*\n$/);
    assert.equal(daemonLines(r.stderr).length, 1);
  });
});

describe('the protocol reader on generated lines (bin/lastopens, real process)', () => {
  test('valid actions with hostile fields and unknown extra fields are answered; stdout stays protocol-only', async () => {
    await fc.assert(
      fc.asyncProperty(validAction, async (line) => {
        assert.equal(await run(line), 'answered');
      }),
      { numRuns: 60, seed: 4242, endOnFailure: true, includeErrorInReport: true },
    );
  });

  test('malformed lines (cut short, not objects, unknown actions, wrong types, NUL and control bytes): exit 2 with one stderr line, never a hang', async () => {
    await fc.assert(
      fc.asyncProperty(malformed, async (line) => {
        assert.equal(await run(line), 'exited');
      }),
      { numRuns: 25, seed: 4243, endOnFailure: true, includeErrorInReport: true },
    );
  });

  test('arbitrary lines (binary, unicode, JSON, mixed): answered or exit 2 with one stderr line, stdout protocol-only, never a hang', async () => {
    const outcomes = { answered: 0, exited: 0 };
    await fc.assert(
      fc.asyncProperty(anyLine, async (line) => {
        outcomes[await run(line)]++;
      }),
      { numRuns: 40, seed: 4244, endOnFailure: true, includeErrorInReport: true },
    );
    assert.ok(outcomes.answered > 0 && outcomes.exited > 0, `both outcomes exercised: ${JSON.stringify(outcomes)}`);
  });

  test('edge lines: empty and blank lines are ignored, a 5 MB garbage line exits 2 with a short line, an 8 MB valid batch of 10,000 records is answered', async () => {
    assert.equal(await run(''), 'answered');
    assert.equal(await run(' \t '), 'answered');
    assert.equal(await run('\r'), 'answered', 'a lone CR is a blank line (CRLF endings are tolerated)');
    const big = JSON.stringify({
      action: 'processRecords',
      millisBehindLatest: 0,
      records: Array.from({ length: 10_000 }, (_, i) => ({ data: 'AAAA', partitionKey: `é${'k'.repeat(700)}${i}`, sequenceNumber: String(10n ** 40n + BigInt(i)), subSequenceNumber: 0, approximateArrivalTimestamp: null, action: 'record' })),
    });
    assert.ok(big.length > 7_000_000);
    const w = take();
    const checkpointsBefore = w.statuses.filter((s) => s === 'processRecords').length;
    assert.equal(await run(big), 'answered');
    assert.equal(w.statuses.filter((s) => s === 'processRecords').length, checkpointsBefore + 1);
    assert.equal(await run(`{"action":"processRecords","records":[${'x'.repeat(5 * 1024 * 1024)}`), 'exited');
    assert.ok(spawned >= 1);
  });
});
