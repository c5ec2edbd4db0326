/**
 * The one collector of a runtime's figures: it listens to the pipeline's and the runtime's events
 * and keeps the totals, what is in hand now, and, per reader, an interval's figures. The KCL stats
 * line and the EMF metrics are two readers of one collector (each with its own interval), so they
 * count the same things the same way. Pure: no I/O.
 */
import type { TypedEmitter } from './events.js';
import type { RuntimeEvents } from './pipelineEvents.js';

/**
 * Totals of what the pipeline did, summed from its `batchDone` events.
 */
export interface PipelineCounters {
  /** Records that went through the pipeline. */
  records: number;
  /** Records handled successfully by the processor. */
  processed: number;
  /** Records sent to the dead-letter sink. */
  deadLettered: number;
  /** Failed attempts (each retried failure counts once). */
  failures: number;
}

/**
 * Creates zeroed counters.
 */
export function newCounters(): PipelineCounters {
  return { records: 0, processed: 0, deadLettered: 0, failures: 0 };
}

/**
 * Nearest-rank percentile of an ascending array (0 for an empty one).
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Samples kept per interval for a percentile; past this, a uniform random sample of them. */
const MAX_SAMPLES = 10_000;

/** Durations of one interval, bounded in memory (reservoir sampling past {@link MAX_SAMPLES}). */
class Samples {
  values: number[] = [];
  seen = 0;
  sum = 0;
  max = 0;

  add(v: number): void {
    this.seen++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (this.values.length < MAX_SAMPLES) this.values.push(v);
    else {
      const i = Math.floor(Math.random() * this.seen);
      if (i < MAX_SAMPLES) this.values[i] = v;
    }
  }

  summary(): DurationSummary {
    return { sorted: this.values.sort((a, b) => a - b), count: this.seen, sumMs: this.sum, maxMs: this.max };
  }
}

/**
 * Durations of an interval: the samples ascending (all of them up to 10,000, past that a uniform
 * sample), how many there were, their sum and the largest.
 */
export interface DurationSummary {
  sorted: number[];
  count: number;
  sumMs: number;
  maxMs: number;
}

/**
 * One interval's figures, as {@link Interval.take} returns them.
 */
export interface IntervalFigures {
  /** The interval's length, s (at least 0.001). */
  seconds: number;
  /** Counts of the batches that ended in the interval. */
  records: number;
  processed: number;
  deadLettered: number;
  /** Failed attempts: each retry as it happens, the rest (non-retriable failures) when their batch ends. */
  failures: number;
  batches: number;
  /** Older dead letters the sink dropped to stay inside its bounds. */
  deadLettersDropped: number;
  /** The runtime's own counts (see `CollectorOptions.counts`), in their declared order, zeros included. */
  counts: ReadonlyMap<string, number>;
  /** The last and the largest lag seen in the interval; null when none was. */
  millisBehindLatest: number | null;
  millisBehindLatestMax: number | null;
  batchDurations: DurationSummary;
  /** Stuck-batch reports, and the longest time in hand they reported. */
  stuckBatches: number;
  stuckBatchInHandMaxMs: number;
  /** The processor's reported timings by name (only for an interval opened with `timings`). */
  timings: ReadonlyMap<string, DurationSummary>;
}

/** A timing name the metrics can carry (`<name>Ms` must be a valid, short metric name). */
const TIMING_NAME = /^[A-Za-z][A-Za-z0-9]{0,200}$/;

/**
 * One reader's interval of a {@link Collector}: figures since its last {@link Interval.take}.
 * Readers take at their own pace (the stats line every minute, the metrics every interval or on
 * a lifecycle step); taking one starts its next interval and leaves the others alone.
 */
export class Interval {
  private startedAt: number;
  private events = 0;
  private records = 0;
  private processed = 0;
  private deadLettered = 0;
  private failures = 0;
  private batches = 0;
  private deadLettersDropped = 0;
  private counts = new Map<string, number>();
  private lag: number | null = null;
  private lagMax: number | null = null;
  private durations = new Samples();
  private stuck = 0;
  private stuckInHandMax = 0;
  private timings = new Map<string, Samples>();

  /** @internal Made by {@link Collector.interval}. */
  constructor(
    private readonly names: readonly string[],
    private readonly withTimings: boolean,
    private readonly now: () => number,
  ) {
    this.startedAt = now();
    for (const n of names) this.counts.set(n, 0);
  }

  /**
   * Whether anything was counted since the last {@link Interval.take} (a batch, a retry, a dead
   * letter dropped, a stuck batch, a timing, a runtime count).
   */
  hasData(): boolean {
    return this.events > 0;
  }

  /**
   * The interval's figures; starts the next interval (counts back to zero).
   */
  take(): IntervalFigures {
    const now = this.now();
    const timings = new Map<string, DurationSummary>();
    for (const [name, s] of this.timings) timings.set(name, s.summary());
    const f: IntervalFigures = {
      seconds: Math.max(0.001, (now - this.startedAt) / 1000),
      records: this.records,
      processed: this.processed,
      deadLettered: this.deadLettered,
      failures: this.failures,
      batches: this.batches,
      deadLettersDropped: this.deadLettersDropped,
      counts: this.counts,
      millisBehindLatest: this.lag,
      millisBehindLatestMax: this.lagMax,
      batchDurations: this.durations.summary(),
      stuckBatches: this.stuck,
      stuckBatchInHandMaxMs: this.stuckInHandMax,
      timings,
    };
    this.startedAt = now;
    this.events = 0;
    this.records = 0;
    this.processed = 0;
    this.deadLettered = 0;
    this.failures = 0;
    this.batches = 0;
    this.deadLettersDropped = 0;
    this.counts = new Map();
    for (const n of this.names) this.counts.set(n, 0);
    this.lag = null;
    this.lagMax = null;
    this.durations = new Samples();
    this.stuck = 0;
    this.stuckInHandMax = 0;
    this.timings = new Map();
    return f;
  }

  /** @internal `failures`: the batch's failures not already counted as retries. */
  batchDone(e: RuntimeEvents['batchDone'], failures: number): void {
    this.events++;
    this.batches++;
    this.records += e.records;
    this.processed += e.processed;
    this.deadLettered += e.deadLettered;
    this.failures += failures;
    this.durations.add(e.durationMs);
  }

  /** @internal */
  retried(): void {
    this.events++;
    this.failures++;
  }

  /** @internal */
  lagSeen(ms: number): void {
    this.lag = ms;
    this.lagMax = this.lagMax === null ? ms : Math.max(this.lagMax, ms);
  }

  /** @internal */
  dropped(n: number): void {
    this.events++;
    this.deadLettersDropped += n;
  }

  /** @internal */
  stuckBatch(inHandMs: number): void {
    this.events++;
    this.stuck++;
    this.stuckInHandMax = Math.max(this.stuckInHandMax, inHandMs);
  }

  /** @internal */
  timing(name: string, durationMs: number): void {
    if (!this.withTimings) return;
    this.events++;
    let s = this.timings.get(name);
    if (!s) this.timings.set(name, (s = new Samples()));
    s.add(durationMs);
  }

  /** @internal */
  count(name: string, n: number): void {
    this.events++;
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }
}

/**
 * Options of a {@link Collector}.
 */
export interface CollectorOptions {
  /**
   * Names of counts the runtime adds with {@link Collector.count} from its own events (the KCL
   * worker's checkpoints); every interval carries each of them, 0 when nothing was counted.
   * Default none.
   */
  counts?: readonly string[];
  /** The totals to add to (say, cumulative across Lambda invocations). Default: fresh ones. */
  totals?: PipelineCounters;
  /** The clock, ms. Default performance.now. */
  now?: () => number;
}

/**
 * Listens to a runtime's events and keeps its figures: the totals, the lag and the batch in hand
 * now, and one {@link Interval} per reader.
 */
export class Collector {
  /** Totals since the collector started (or of the `totals` it was given). */
  readonly totals: PipelineCounters;
  private readonly intervals: Interval[] = [];
  private readonly names: readonly string[];
  private readonly now: () => number;
  private lastLag: number | null = null;
  private batchStartedAt: number | null = null;
  /** Retries counted since the batch in hand started (its `batchDone.failures` includes them). */
  private retriesInBatch = 0;

  constructor(events: Pick<TypedEmitter<RuntimeEvents>, 'on'>, options: CollectorOptions = {}) {
    this.totals = options.totals ?? newCounters();
    this.names = options.counts ?? [];
    this.now = options.now ?? performance.now.bind(performance);
    events.on('batchStarted', (e) => {
      this.batchStartedAt = this.now();
      this.retriesInBatch = 0;
      this.lagSeen(e.millisBehindLatest);
    });
    // A retry counts as a failure at once (an outage shows while the batch is still in hand);
    // the batch's other failures when it ends. One batch at a time per emitter, as both runtimes run.
    events.on('retry', () => {
      this.retriesInBatch++;
      this.totals.failures++;
      for (const i of this.intervals) i.retried();
    });
    events.on('batchDone', (e) => {
      this.batchStartedAt = null;
      const rest = Math.max(0, e.failures - this.retriesInBatch);
      this.retriesInBatch = 0;
      const t = this.totals;
      t.records += e.records;
      t.processed += e.processed;
      t.deadLettered += e.deadLettered;
      t.failures += rest;
      for (const i of this.intervals) i.batchDone(e, rest);
      this.lagSeen(e.millisBehindLatest);
    });
    events.on('deadLetter', (e) => {
      if (!e.dropped) return;
      for (const i of this.intervals) i.dropped(e.dropped);
    });
    events.on('stuckBatch', (e) => {
      for (const i of this.intervals) i.stuckBatch(e.inHandMs);
    });
    events.on('timing', (e) => {
      if (!(Number.isFinite(e.durationMs) && e.durationMs >= 0) || !TIMING_NAME.test(e.name)) return;
      for (const i of this.intervals) i.timing(e.name, e.durationMs);
    });
  }

  /**
   * Opens an interval for one reader. With `timings`, it also keeps the processor's reported
   * timings (samples per name; the stats line does without them).
   */
  interval(options: { timings?: boolean } = {}): Interval {
    const i = new Interval(this.names, options.timings ?? false, this.now);
    this.intervals.push(i);
    return i;
  }

  /**
   * Adds `n` to the runtime's count `name` (one of `CollectorOptions.counts`) in every interval.
   */
  count(name: string, n = 1): void {
    if (!this.names.includes(name)) throw new RangeError(`Expected \`${name}\` to be one of the collector's counts (${this.names.join(', ') || 'none'}).`);
    for (const i of this.intervals) i.count(name, n);
  }

  /** The last lag reported (kept across intervals; null until one was). */
  get millisBehindLatest(): number | null {
    return this.lastLag;
  }

  /**
   * How long the batch in hand has been running, ms (0 when none is).
   */
  batchInHandMs(): number {
    return this.batchStartedAt === null ? 0 : this.now() - this.batchStartedAt;
  }

  private lagSeen(ms: number | null): void {
    if (ms === null || !Number.isFinite(ms)) return;
    this.lastLag = ms;
    for (const i of this.intervals) i.lagSeen(ms);
  }
}
