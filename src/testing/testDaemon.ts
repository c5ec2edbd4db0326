/**
 * A stand-in for the Java MultiLangDaemon, for tests: spawns a worker command and plays the
 * daemon's side of the protocol exactly (one action at a time, reads lines until the matching
 * status, answers each checkpoint before reading on), with injectable checkpoint errors and a
 * record of anything the worker wrote to stdout that is not a protocol message.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { KinesisRecord } from '../core/types.js';

/** A checkpoint request as the worker sent it. */
export interface ObservedCheckpoint {
  sequenceNumber: string | null;
  subSequenceNumber: number | null;
  /** The action during which it was sent. */
  during: string;
  /** The error the test daemon answered with (null = success). */
  error: string | null;
}

/** What one action produced. */
export interface ActionResult {
  /** Checkpoint requests received while the action was in hand, in order. */
  checkpoints: ObservedCheckpoint[];
}

/**
 * Decides the reply to a checkpoint request: return an exception's simple name
 * (`ThrottlingException`, `ShutdownException`, `InvalidStateException`, ...) or null for success.
 */
export type CheckpointResponder = (request: { sequenceNumber: string | null; subSequenceNumber: number | null; during: string; index: number }) => string | null;

export interface TestDaemonOptions {
  /** Arguments for the command. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Reply to checkpoint requests. Default: success, after the same range checks the daemon makes. */
  onCheckpoint?: CheckpointResponder;
  /** Fail an action (reject) when the worker writes a non-protocol line to stdout. Default true. */
  failOnStray?: boolean;
  /** Longest wait for a status, ms. Default 30,000. */
  actionTimeoutMs?: number;
}

/** How a worker process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A processRecords action serialized ahead of time, so a benchmark can build every line before it
 * starts the clock. Make one with {@link TestDaemon.prepareProcessRecords}.
 */
export interface PreparedProcessRecords {
  /** The action as one JSON line (without the newline). */
  readonly line: string;
  /** The line and its newline as UTF-8, written as is (no encoding per send). */
  readonly bytes: Buffer;
  /** The last record's sequence number (what the worker may checkpoint at most), or null. */
  readonly lastSequenceNumber: string | null;
  /** Records in the batch. */
  readonly count: number;
}

type Waiter = { action: string; resolve: (r: ActionResult) => void; reject: (e: Error) => void; checkpoints: ObservedCheckpoint[]; timer: NodeJS.Timeout };

/** Compares two decimal sequence numbers. */
function compareSeq(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Spawns `command` and drives it like the KCL daemon would.
 *
 * @example
 * import assert from 'node:assert/strict';
 * const daemon = TestDaemon.spawn('bin/lastopens', { env: { ...process.env, STREAM_NAME: 's', RESULTS_REDIS_URL: url } });
 * await daemon.initialize('shardId-000000000000');
 * const { checkpoints } = await daemon.processRecords(makeRecords([toAvro(event), Buffer.from('not avro')]));
 * await daemon.shutdownRequested();
 * await daemon.closeInput();
 * assert.deepEqual(await daemon.exited, { code: 0, signal: null });
 * assert.deepEqual(daemon.strayLines, []);
 */
export class TestDaemon {
  /** Lines the worker wrote to stdout that are not protocol messages. */
  readonly strayLines: string[] = [];
  /** Every checkpoint request, in order. */
  readonly checkpoints: ObservedCheckpoint[] = [];
  /** Everything the worker wrote to stderr. */
  stderr = '';
  /** Resolves when the worker process exits. */
  readonly exited: Promise<ExitInfo>;

  private readonly child: ChildProcessWithoutNullStreams;
  private waiter: Waiter | null = null;
  private exitInfo: ExitInfo | null = null;
  private buffered = '';
  private lastCheckpointed: string | null = null;
  private lastDelivered: string | null = null;
  private checkpointIndex = 0;
  private readonly onCheckpoint: CheckpointResponder;
  private readonly failOnStray: boolean;
  private readonly actionTimeoutMs: number;

  private constructor(command: string, options: TestDaemonOptions) {
    this.onCheckpoint = options.onCheckpoint ?? (() => null);
    this.failOnStray = options.failOnStray ?? true;
    this.actionTimeoutMs = options.actionTimeoutMs ?? 30_000;
    this.child = spawn(command, options.args ?? [], { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    // A worker that exits early closes its stdin pipe; writing then raises EPIPE, which is
    // reported through the exit instead.
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        const w = this.waiter;
        this.waiter = null;
        if (w) {
          clearTimeout(w.timer);
          w.reject(new Error(`worker exited (code ${code}, signal ${signal}) while ${w.action} was in hand; stderr: ${this.stderr.trim()}`));
        }
        resolve({ code, signal });
      });
    });
  }

  /** Starts `command` (no shell) as a worker. */
  static spawn(command: string, options: TestDaemonOptions = {}): TestDaemon {
    return new TestDaemon(command, options);
  }

  /** The worker's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends initialize and waits for its status. */
  initialize(shardId: string, sequenceNumber: string | null = 'TRIM_HORIZON', subSequenceNumber: number | null = null): Promise<ActionResult> {
    if (sequenceNumber !== null && /^\d+$/.test(sequenceNumber)) this.lastCheckpointed = sequenceNumber;
    return this.act('initialize', { action: 'initialize', shardId, sequenceNumber, subSequenceNumber });
  }

  /** Sends a batch and waits for its status; the result lists the checkpoints sent meanwhile. */
  processRecords(records: readonly KinesisRecord[], millisBehindLatest: number | null = 0): Promise<ActionResult> {
    return this.sendPrepared(TestDaemon.prepareProcessRecords(records, millisBehindLatest));
  }

  /**
   * Serializes a processRecords action once, exactly as {@link TestDaemon.processRecords} sends
   * it, for {@link TestDaemon.sendPrepared}. The same prepared batch can be sent to many workers.
   *
   * @example
   * const daemon = TestDaemon.spawn('bin/lastopens');
   * const batches = [makeRecords([toAvro(event)]), makeRecords([Buffer.from('not avro')])];
   * const prepared = batches.map((b) => TestDaemon.prepareProcessRecords(b));
   * for (const p of prepared) await daemon.sendPrepared(p);
   */
  static prepareProcessRecords(records: readonly KinesisRecord[], millisBehindLatest: number | null = 0): PreparedProcessRecords {
    const message = { action: 'processRecords', millisBehindLatest, records: records.map((r) => ({ ...r, action: 'record' })) };
    const line = JSON.stringify(message);
    return { line, bytes: Buffer.from(`${line}\n`, 'utf8'), lastSequenceNumber: records[records.length - 1]?.sequenceNumber ?? null, count: records.length };
  }

  /** Sends a batch made by {@link TestDaemon.prepareProcessRecords} and waits for its status. */
  sendPrepared(prepared: PreparedProcessRecords): Promise<ActionResult> {
    if (prepared.lastSequenceNumber !== null) this.lastDelivered = prepared.lastSequenceNumber;
    return this.actLine('processRecords', prepared.bytes);
  }

  leaseLost(): Promise<ActionResult> {
    return this.act('leaseLost', { action: 'leaseLost' });
  }

  shardEnded(): Promise<ActionResult> {
    return this.act('shardEnded', { action: 'shardEnded' });
  }

  shutdownRequested(): Promise<ActionResult> {
    return this.act('shutdownRequested', { action: 'shutdownRequested' });
  }

  /** Writes a raw line to the worker's stdin (for malformed-input tests). */
  sendRaw(line: string): void {
    this.child.stdin.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  /** Closes the worker's stdin, as the daemon does when it shuts down; resolves on exit. */
  closeInput(): Promise<ExitInfo> {
    this.child.stdin.end();
    return this.exited;
  }

  /** Sends a signal to the worker. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitInfo === null) this.child.kill(signal);
  }

  /** Kills the worker if it still runs and waits for it; for test cleanup. */
  async stop(): Promise<ExitInfo> {
    if (this.exitInfo === null) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** The last sequence number the worker checkpointed successfully. */
  get checkpointedSequence(): string | null {
    return this.lastCheckpointed;
  }

  private act(action: string, message: object): Promise<ActionResult> {
    return this.actLine(action, `${JSON.stringify(message)}\n`);
  }

  /** Sends one line (with its newline) and waits for the action's status. */
  private actLine(action: string, line: string | Buffer): Promise<ActionResult> {
    if (this.exitInfo) return Promise.reject(new Error(`worker already exited (code ${this.exitInfo.code}); stderr: ${this.stderr.trim()}`));
    if (this.waiter) return Promise.reject(new Error(`${action} sent while ${this.waiter.action} is still in hand`));
    return new Promise<ActionResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.waiter?.action === action) this.waiter = null;
        reject(new Error(`no status for ${action} within ${this.actionTimeoutMs} ms`));
      }, this.actionTimeoutMs);
      this.waiter = { action, resolve, reject, checkpoints: [], timer };
      this.child.stdin.write(line);
    });
  }

  private onStdout(chunk: string): void {
    this.buffered += chunk;
    let nl = this.buffered.indexOf('\n');
    while (nl !== -1) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      this.onLine(line);
      nl = this.buffered.indexOf('\n');
    }
  }

  private stray(line: string, why: string): void {
    this.strayLines.push(line);
    if (this.failOnStray && this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      clearTimeout(w.timer);
      w.reject(new Error(`worker wrote a non-protocol line to stdout (${why}): ${line.slice(0, 200)}`));
    }
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.stray(line, 'not JSON');
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.stray(line, 'not a JSON object');
      return;
    }
    const m = msg as Record<string, unknown>;
    if (m.action === 'status') {
      const keys = Object.keys(m).sort().join(',');
      if (keys !== 'action,responseFor') {
        this.stray(line, 'a status with fields the daemon does not know');
        return;
      }
      const w = this.waiter;
      if (!w) {
        this.stray(line, 'a status with no action in hand');
        return;
      }
      this.waiter = null;
      clearTimeout(w.timer);
      if (m.responseFor !== w.action) {
        w.reject(new Error(`status for ${String(m.responseFor)} while ${w.action} was in hand`));
        return;
      }
      w.resolve({ checkpoints: w.checkpoints });
      return;
    }
    if (m.action === 'checkpoint') {
      const extra = Object.keys(m).filter((k) => !['action', 'sequenceNumber', 'subSequenceNumber'].includes(k));
      if (extra.length > 0) {
        this.stray(line, `a checkpoint with unknown fields ${extra.join(',')}`);
        return;
      }
      this.answerCheckpoint(m);
      return;
    }
    this.stray(line, `unknown action ${JSON.stringify(m.action)}`);
  }

  private answerCheckpoint(m: Record<string, unknown>): void {
    const sequenceNumber = typeof m.sequenceNumber === 'string' ? m.sequenceNumber : null;
    const subSequenceNumber = typeof m.subSequenceNumber === 'number' ? m.subSequenceNumber : null;
    const during = this.waiter?.action ?? 'none';
    let error: string | null;
    if (during === 'initialize' || during === 'leaseLost' || during === 'none') {
      error = 'InvalidStateException';
    } else if (
      sequenceNumber !== null &&
      (!/^\d+$/.test(sequenceNumber) ||
        (this.lastCheckpointed !== null && compareSeq(sequenceNumber, this.lastCheckpointed) < 0) ||
        this.lastDelivered === null ||
        compareSeq(sequenceNumber, this.lastDelivered) > 0)
    ) {
      error = 'IllegalArgumentException';
    } else {
      error = this.onCheckpoint({ sequenceNumber, subSequenceNumber, during, index: this.checkpointIndex });
    }
    this.checkpointIndex++;
    const observed: ObservedCheckpoint = { sequenceNumber, subSequenceNumber, during, error };
    this.checkpoints.push(observed);
    this.waiter?.checkpoints.push(observed);
    if (error === null) this.lastCheckpointed = sequenceNumber ?? this.lastDelivered ?? 'SHARD_END';
    this.child.stdin.write(`${JSON.stringify({ action: 'checkpoint', sequenceNumber, subSequenceNumber, error })}\n`);
  }
}
