/**
 * The stuck-batch watchdog of a KCL worker, and its health file. It watches the action in hand
 * (a `processRecords` batch, or a `shutdownRequested` / `shardEnded` waiting on its checkpoint):
 *
 * - past `stuckBatchMs` it logs ONE error line (shard, sequence number, how long, the last error),
 *   repeated at most once per `stuckBatchMs`, and emits `stuckBatch` on the instrumentation hook
 *   (the metrics write a `StuckBatches` line at once);
 * - past `stuckBatchExitMs` it calls `onExit`: the worker exits with ExitCode.STUCK_BATCH, nothing
 *   checkpointed past unhandled records, and the daemon's supervisor starts afresh from the last
 *   checkpoint;
 * - with `healthDir`, it keeps `<healthDir>/<shardId>.json` up to date (on each action, and every
 *   `healthIntervalMs`), which `bin/kcl-health` reads (see healthCheck.ts).
 *
 * Health files are written asynchronously (write to a temporary name, then rename; one write in
 * flight, the next one carries the latest state), so a slow disk never holds the protocol.
 */
import { readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../core/errors.js';
import type { Instrumentation } from './events.js';
import type { Logger } from '../core/types.js';
import type { LogDrops } from '../config/logDestination.js';

/** What the watchdog knows of the action in hand. */
interface InHand {
  action: string;
  startedAt: number;
  startedAtWallMs: number;
  /** First and last sequence numbers of the batch (processRecords), else null. */
  firstSequenceNumber: string | null;
  lastSequenceNumber: string | null;
  records: number;
}

/**
 * A stuck action, as logged, emitted and written to the health file.
 */
export interface StuckReport {
  action: string;
  /** The first record of the batch in hand: the shard resumes from here (or before) after a restart. */
  sequenceNumber: string | null;
  lastSequenceNumber: string | null;
  records: number;
  inHandMs: number;
  /** The last failed attempt's error since the batch started (null: nothing failed, the call hangs). */
  lastError: string | null;
  /** The last sequence number checkpointed (this process). */
  lastCheckpoint: string | null;
}

/** Options of {@link BatchWatchdog}. */
export interface WatchdogOptions {
  /** 0: off. */
  stuckBatchMs: number;
  /** 0: off. */
  stuckBatchExitMs: number;
  /** A folder for `<shardId>.json`; undefined: no health file. */
  healthDir: string | undefined;
  healthIntervalMs: number;
  instrumentation: Instrumentation;
  logger: () => Logger;
  /** Called once, past `stuckBatchExitMs`. */
  onExit: (report: StuckReport) => void;
  /** Log lines dropped so far (written to the health file). */
  logDrops?: (() => LogDrops) | undefined;
}

/**
 * A process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), or null when
 * it cannot be read (not Linux, the process gone).
 */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: field 3 first.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3]);
    return Number.isSafeInteger(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

const OWN_START_TICKS = processStartTicks(process.pid);

/**
 * The health file's content, one JSON object (see docs/guarantees.md, "Is a shard stuck?").
 */
export interface HealthFile {
  shardId: string;
  pid: number;
  /**
   * The process's start time as the kernel counts it (`/proc/<pid>/stat` field 22, clock ticks
   * since boot), so that a reader can tell the pid reused by another process; null off Linux.
   */
  pidStartTicks?: number | null;
  /** When this file was written, ms since the epoch; a live worker rewrites it every `heartbeatMs`. */
  updatedAtMs: number;
  heartbeatMs: number;
  /** The action in hand, or null when idle. */
  action: string | null;
  /** When the action in hand started, ms since the epoch, or null. */
  batchStartedAtMs: number | null;
  batchInHandMs: number;
  sequenceNumber: string | null;
  lastCheckpoint: string | null;
  lastError: string | null;
  /** 0: the worker does not judge. */
  stuckBatchMs: number;
  stuck: boolean;
  logLinesDropped: number;
  /** Set when the process is exiting with this code (the file is then left as a record). */
  exitCode?: number;
}

/**
 * Watches the action in hand; see the module comment.
 */
export class BatchWatchdog {
  private shardId: string | null = null;
  private inHand: InHand | null = null;
  private lastError: string | null = null;
  private lastCheckpoint: string | null = null;
  private lastReportAt: number | null = null;
  private exited = false;
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private writeAgain = false;
  private lastHealthAt = 0;
  private healthFailed = false;
  private stopped = false;

  constructor(private readonly o: WatchdogOptions) {
    o.instrumentation.on('retry', (e) => {
      if (this.inHand) this.lastError = e.error;
    });
    o.instrumentation.on('checkpoint', (e) => {
      if (e.error === null) this.lastCheckpoint = e.sequenceNumber;
      else if (this.inHand) this.lastError = `checkpoint: ${e.error}`;
    });
  }

  /** Starts the timer, if anything is to be watched or written (it does not keep the process alive). */
  start(): void {
    const periods = [this.o.stuckBatchMs, this.o.stuckBatchExitMs].filter((ms) => ms > 0).map((ms) => Math.min(5_000, Math.max(20, ms / 5)));
    if (this.o.healthDir !== undefined) periods.push(this.o.healthIntervalMs);
    if (periods.length === 0) return;
    this.timer = setInterval(() => this.tick(), Math.min(...periods));
    this.timer.unref();
  }

  /** The daemon named the shard (`initialize`). */
  shard(shardId: string): void {
    this.shardId = shardId;
    this.writeHealth();
  }

  /** An action is now in hand. */
  actionStarted(action: string, batch?: ReadonlyArray<{ sequenceNumber: string }>): void {
    this.inHand = {
      action,
      startedAt: performance.now(),
      startedAtWallMs: Date.now(),
      firstSequenceNumber: batch?.[0]?.sequenceNumber ?? null,
      lastSequenceNumber: batch?.[batch.length - 1]?.sequenceNumber ?? null,
      records: batch?.length ?? 0,
    };
    this.lastError = null;
    this.lastReportAt = null;
    this.writeHealth();
  }

  /** The action in hand was answered. */
  actionDone(): void {
    this.inHand = null;
    this.lastError = null;
    this.lastReportAt = null;
    this.writeHealth();
  }

  /** How long the action in hand has been in hand, ms (0 when idle). */
  inHandMs(): number {
    return this.inHand ? Math.round(performance.now() - this.inHand.startedAt) : 0;
  }

  private report(): StuckReport {
    const h = this.inHand!;
    return {
      action: h.action,
      sequenceNumber: h.firstSequenceNumber,
      lastSequenceNumber: h.lastSequenceNumber,
      records: h.records,
      inHandMs: this.inHandMs(),
      lastError: this.lastError,
      lastCheckpoint: this.lastCheckpoint,
    };
  }

  private stuck(): boolean {
    return this.o.stuckBatchMs > 0 && this.inHand !== null && this.inHandMs() >= this.o.stuckBatchMs;
  }

  /** Checks the action in hand now (the timer calls this). */
  tick(): void {
    if (this.stopped) return;
    const now = performance.now();
    if (this.inHand && this.stuck() && (this.lastReportAt === null || now - this.lastReportAt >= this.o.stuckBatchMs)) {
      this.lastReportAt = now;
      const r = this.report();
      this.o.logger().error(
        { ...r, stuckBatchMs: this.o.stuckBatchMs, exitAfterMs: this.o.stuckBatchExitMs || null },
        `stuck batch: ${r.action} in hand for ${Math.round(r.inHandMs / 1000)} s (shard ${this.shardId ?? 'uninitialized'}, sequence number ${r.sequenceNumber ?? 'n/a'}); last error: ${r.lastError ?? 'none (a call that never returns)'}`,
      );
      this.o.instrumentation.emit('stuckBatch', { shardId: this.shardId ?? 'uninitialized', ...r });
      this.writeHealth();
    }
    if (this.inHand && this.o.stuckBatchExitMs > 0 && this.inHandMs() >= this.o.stuckBatchExitMs && !this.exited) {
      this.exited = true;
      this.o.onExit(this.report());
      return;
    }
    if (this.o.healthDir !== undefined && Date.now() - this.lastHealthAt >= this.o.healthIntervalMs) this.writeHealth();
  }

  private health(exitCode?: number): HealthFile {
    const h = this.inHand;
    return {
      shardId: this.shardId!,
      pid: process.pid,
      pidStartTicks: OWN_START_TICKS,
      updatedAtMs: Date.now(),
      heartbeatMs: this.o.healthIntervalMs,
      action: h?.action ?? null,
      batchStartedAtMs: h?.startedAtWallMs ?? null,
      batchInHandMs: this.inHandMs(),
      sequenceNumber: h?.firstSequenceNumber ?? null,
      lastCheckpoint: this.lastCheckpoint,
      lastError: this.lastError,
      stuckBatchMs: this.o.stuckBatchMs,
      stuck: this.stuck(),
      logLinesDropped: this.o.logDrops?.().dropped ?? 0,
      ...(exitCode === undefined ? {} : { exitCode }),
    };
  }

  private path(): string {
    return join(this.o.healthDir!, `${this.shardId!.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
  }

  /** Rewrites the health file (asynchronously; coalesced while a write is in flight). */
  private writeHealth(): void {
    if (this.o.healthDir === undefined || this.shardId === null || this.stopped) return;
    this.lastHealthAt = Date.now();
    if (this.writing) {
      this.writeAgain = true;
      return;
    }
    this.writing = true;
    const path = this.path();
    const tmp = `${path}.${process.pid}.tmp`;
    writeFile(tmp, `${JSON.stringify(this.health())}\n`)
      .then(() => rename(tmp, path))
      .then(
        () => {
          this.healthFailed = false;
        },
        (err: unknown) => {
          if (!this.healthFailed) this.o.logger().warn({ err: errorMessage(err), path }, 'health file could not be written (the worker goes on)');
          this.healthFailed = true;
          void unlink(tmp).catch(() => undefined);
        },
      )
      .finally(() => {
        this.writing = false;
        if (this.writeAgain) {
          this.writeAgain = false;
          this.writeHealth();
        }
      });
  }

  /**
   * The process is exiting with `code`: stops the timer; a clean exit (0) removes the health file,
   * any other leaves it with `exitCode` (a record of why). Synchronous; never throws.
   */
  stop(code: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    this.stopped = true;
    if (this.o.healthDir === undefined || this.shardId === null) return;
    for (const step of [
      () => (code === 0 ? unlinkSync(this.path()) : writeFileSync(this.path(), `${JSON.stringify(this.health(code))}\n`)),
      // A write in flight is abandoned by the exit: no temporary file left behind.
      () => unlinkSync(`${this.path()}.${process.pid}.tmp`),
    ]) {
      try {
        step();
      } catch {
        // gone already, or the folder is: nothing to do at exit
      }
    }
  }
}
