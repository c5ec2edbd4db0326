/**
 * Where a worker's log lines go: a file (or stderr) that can fill up, fail or hang without ever
 * stopping the worker. A line that cannot be written is dropped and counted; the first failure,
 * then at most one line per `reportIntervalMs`, and the recovery, are told on stderr in one line
 * each. Nothing here throws at a caller, and nothing waits on the destination: file writes are
 * asynchronous (one in flight at a time; what comes meanwhile is buffered, bounded once the
 * destination has stopped answering), and the synchronous flush at exit is skipped when it has.
 */
import { constants, mkdirSync, openSync, statSync, write, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage } from '../core/errors.js';

/** What a destination dropped, for the stats line and the metrics. */
export interface LogDrops {
  /** Lines dropped since the start (a write failed, or the buffer was full). */
  dropped: number;
  /** The last write error (`ENOSPC: no space left on device, write`), or null if none yet. */
  lastError: string | null;
}

/** Options of {@link LogDestination}. */
export interface LogDestinationOptions {
  /** Who writes, for the stderr lines: `lastopens (pid 123)`. */
  label: string;
  /** At most one stderr line about dropped lines per this many ms. Default 60,000. */
  reportIntervalMs?: number;
  /** Bytes kept behind a write in flight longer than `hungAfterMs`; past this, lines are dropped. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** After a failed write, lines are dropped without trying for this long, ms. Default 1,000. */
  retryAfterMs?: number;
  /** A write in flight longer than this means the destination hangs: no sync flush at exit, and the buffer is bounded. Default 1,000. */
  hungAfterMs?: number;
  /** Where the report lines go. Default: fd 2, synchronously, errors ignored. */
  report?: (line: string) => void;
  /** The clock, ms. Default Date.now. */
  now?: () => number;
}

const writeStderr = (line: string): void => {
  try {
    writeSync(2, `${line}\n`);
  } catch {
    // stderr itself is gone: nothing left to tell.
  }
};

/**
 * Creates the folders of `dir` one by one (`mkdir -p`). Not Node's `recursive: true`: on Node 20
 * that loops forever under /proc (`/proc/nope/x.log` hung the worker at start-up).
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let d = dir;
  for (;;) {
    try {
      statSync(d);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    missing.push(d);
    const parent = dirname(d);
    if (parent === d || missing.length > 4096) break;
    d = parent;
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/**
 * Opens (creating it and its folders) a file for appending, synchronously, so that a path that
 * cannot be opened is known at start-up. A FIFO is opened read-write and non-blocking, so that
 * no reader is waited for, neither at the start nor at exit. Throws the system error (`EACCES: permission denied,
 * open '/var/log/x.log'`).
 */
export function openLogFile(path: string): number {
  makeDirs(dirname(path));
  // A FIFO (a log shipper's named pipe) opened for writing only blocks until a reader opens it:
  // a shipper that is down would hold the worker before it answers `initialize`. Opened
  // read-write it never waits. Non-blocking too: a write to a full pipe would block a libuv
  // thread, and Node's exit waits for those threads, so a reader that stops reading would hold
  // the worker's exit for ever; instead a full pipe answers EAGAIN and the destination waits
  // (bounded, as for any destination that stops answering).
  let fifo = false;
  try {
    fifo = statSync(path).isFIFO();
  } catch {
    // missing: created as a file below
  }
  return fifo ? openSync(path, constants.O_RDWR | constants.O_NONBLOCK) : openSync(path, 'a');
}

/** Destinations still open, flushed when the process exits (held weakly: a dropped logger is collected). */
const openDestinations = new Set<WeakRef<LogDestination>>();
let exitHooked = false;

/** At exit, every destination still open writes out what it buffered (never throws). */
function flushAllAtExit(): void {
  for (const ref of openDestinations) ref.deref()?.flushSync();
}

/**
 * A pino destination (anything with `write(line)`) that never throws and never blocks: see the
 * module comment. `fd` 2 (stderr) is written synchronously, a file asynchronously.
 */
export class LogDestination {
  private readonly o: Required<Omit<LogDestinationOptions, 'label'>> & { label: string };
  private buffered: string[] = [];
  private bufferedBytes = 0;
  /** Lines in the write in flight, and when it started (ms); null when none. */
  private inFlight: { lines: number; since: number } | null = null;
  /** The in-flight write's bytes not yet written, while it waits to be tried again after EAGAIN (a full pipe). */
  private again: { bytes: Buffer; offset: number } | null = null;
  private failingSince: number | null = null;
  private retryAt = 0;
  /** When the last stderr line was written (null: never). */
  private lastReportAt: number | null = null;
  private droppedTotal = 0;
  private droppedSinceReport = 0;
  private lastError: string | null = null;
  private closed = false;

  constructor(
    private readonly fd: number,
    options: LogDestinationOptions,
    /** The path, for the stderr lines (`stderr` for fd 2). */
    private readonly where: string = fd === 2 ? 'stderr' : `fd ${fd}`,
  ) {
    this.o = {
      reportIntervalMs: 60_000,
      maxBufferedBytes: 64 * 1024 * 1024,
      retryAfterMs: 1_000,
      hungAfterMs: 1_000,
      report: writeStderr,
      now: Date.now,
      ...options,
    };
    if (fd !== 2) {
      // As pino's own file destinations do: what is buffered reaches the file at exit even if no
      // one calls flushSync (this flush never throws, so it can never hold the exit).
      openDestinations.add(new WeakRef(this));
      if (!exitHooked) {
        exitHooked = true;
        process.on('exit', flushAllAtExit);
      }
    }
  }

  /** Lines dropped so far and the last error. */
  drops(): LogDrops {
    return { dropped: this.droppedTotal, lastError: this.lastError };
  }

  /** Takes one line (pino calls this). Never throws; returns true (no back-pressure). */
  write(line: string): boolean {
    if (this.closed) return true;
    const now = this.o.now();
    if (this.failingSince !== null && now < this.retryAt) {
      this.drop(1, null, now);
      return true;
    }
    if (this.fd === 2) {
      this.writeNowSync([line], now);
      return true;
    }
    // A burst (thousands of dead letters logged in one tick) is kept whole; only a destination
    // that has stopped answering, with this much waiting behind it, drops lines.
    if (this.bufferedBytes + line.length > this.o.maxBufferedBytes && this.inFlight !== null && now - this.inFlight.since > this.o.hungAfterMs) {
      this.drop(1, `the log destination has not finished a write for ${now - this.inFlight.since} ms (over ${this.o.maxBufferedBytes} bytes waiting)`, now);
      return true;
    }
    this.buffered.push(line);
    this.bufferedBytes += line.length;
    if (this.inFlight === null) this.writeNext();
    return true;
  }

  private writeNext(): void {
    if (this.buffered.length === 0 || this.closed) return;
    const lines = this.buffered.length;
    const bytes = Buffer.from(this.buffered.join(''), 'utf8');
    this.buffered = [];
    this.bufferedBytes = 0;
    this.inFlight = { lines, since: this.o.now() };
    this.writeBytes(bytes, 0, lines);
  }

  private writeBytes(bytes: Buffer, offset: number, lines: number): void {
    write(this.fd, bytes, offset, bytes.length - offset, null, (err, n) => {
      if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN' && !this.closed) {
        // A full pipe (a FIFO opened non-blocking): try again shortly; the write stays in flight,
        // so a reader that has stopped is bounded like any destination that stops answering.
        this.again = { bytes, offset };
        setTimeout(() => {
          if (this.again === null) return;
          this.again = null;
          this.writeBytes(bytes, offset, lines);
        }, 20).unref();
        return;
      }
      if (err) {
        this.inFlight = null;
        this.failed(err, lines + this.buffered.length);
        this.buffered = [];
        this.bufferedBytes = 0;
        return;
      }
      if (offset + n < bytes.length) {
        this.writeBytes(bytes, offset + n, lines);
        return;
      }
      this.inFlight = null;
      this.succeeded();
      this.writeNext();
    });
  }

  /** Writes `lines` now, synchronously; a failure drops them. */
  private writeNowSync(lines: string[], now: number): void {
    const bytes = Buffer.from(lines.join(''), 'utf8');
    try {
      for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off);
      this.succeeded();
    } catch (err) {
      this.failed(err, lines.length, now);
    }
  }

  private failed(err: unknown, lines: number, now = this.o.now()): void {
    this.retryAt = now + this.o.retryAfterMs;
    const newEpisode = this.failingSince === null;
    if (newEpisode) this.failingSince = now;
    this.drop(lines, errorMessage(err), now, newEpisode);
  }

  private succeeded(): void {
    if (this.failingSince === null) return;
    this.failingSince = null;
    if (this.fd !== 2) {
      this.o.report(`${this.o.label}: log ${this.where} written again; ${this.droppedSinceReport} more log lines were dropped, ${this.droppedTotal} in all (last error: ${this.lastError ?? 'none'})`);
    }
    this.droppedSinceReport = 0;
    this.lastReportAt = this.o.now();
  }

  private drop(lines: number, error: string | null, now: number, first = false): void {
    if (lines <= 0) return;
    this.droppedTotal += lines;
    this.droppedSinceReport += lines;
    if (error !== null) this.lastError = error;
    if (this.fd === 2) return; // stderr is the report channel itself: only counted
    if (first || this.lastReportAt === null || now - this.lastReportAt >= this.o.reportIntervalMs) this.reportDrops(now, first || this.lastReportAt === null);
  }

  private reportDrops(now: number, first: boolean): void {
    const what = first ? 'cannot be written' : 'still failing';
    const since = first || this.lastReportAt === null ? '' : ` in the last ${Math.round((now - this.lastReportAt) / 1000)} s`;
    this.o.report(
      `${this.o.label}: log ${this.where} ${what} (${this.lastError ?? 'unknown error'}): ${this.droppedSinceReport} log lines dropped` +
        `${since}, ${this.droppedTotal} in all; the worker goes on` +
        ` (at most one such line per ${Math.round(this.o.reportIntervalMs / 1000)} s)`,
    );
    this.droppedSinceReport = 0;
    this.lastReportAt = now;
  }

  /**
   * Writes out what is buffered, synchronously, before the process exits. Skipped (the lines are
   * counted as dropped) when a write has been in flight longer than `hungAfterMs`: a hung
   * destination must not hold the exit. Reports lines dropped since the last report. Never throws.
   */
  flushSync(): void {
    if (this.closed) return;
    const now = this.o.now();
    if (this.again !== null && this.inFlight !== null) {
      // Non-blocking: what waits for the pipe, then the rest, tried once (EAGAIN drops them).
      const waiting = this.again;
      this.again = null;
      const lines = this.inFlight.lines + this.buffered.length;
      try {
        for (let off = waiting.offset; off < waiting.bytes.length; ) off += writeSync(this.fd, waiting.bytes, off);
        this.inFlight = null;
        if (this.buffered.length > 0) this.writeNowSync(this.buffered, now);
      } catch (err) {
        this.inFlight = null;
        this.failed(err, lines, now);
      }
    } else if (this.inFlight !== null && now - this.inFlight.since > this.o.hungAfterMs) {
      this.drop(this.buffered.length, `a write has been in flight for ${now - this.inFlight.since} ms`, now);
    } else if (this.buffered.length > 0) {
      if (this.failingSince !== null && now < this.retryAt) this.drop(this.buffered.length, null, now);
      else this.writeNowSync(this.buffered, now);
    }
    this.buffered = [];
    this.bufferedBytes = 0;
    if (this.droppedSinceReport > 0 && this.fd !== 2) this.reportDrops(now, false);
  }

  /** Flushes, then ignores every later line. */
  close(): void {
    this.flushSync();
    this.closed = true;
  }
}
