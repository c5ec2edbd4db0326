/**
 * Metrics a person can graph and alarm on: a collector that sums what the instrumentation hook
 * reports over an interval, and the CloudWatch Embedded Metric Format (EMF) document that carries
 * one interval's figures. Pure: no I/O, no AWS SDK. The runtimes decide where the lines go (a file
 * or stderr under the KCL daemon, stdout on Lambda).
 */
import type { Instrumentation } from './instrumentation.js';

/**
 * The CloudWatch units this module uses (a subset of the units EMF accepts).
 */
export type MetricUnit = 'Count' | 'Milliseconds' | 'Count/Second';

/**
 * One figure of an interval.
 */
export interface MetricFigure {
  value: number;
  unit: MetricUnit;
}

/**
 * An interval's figures by metric name, in the order they were added.
 */
export type MetricFigures = Map<string, MetricFigure>;

/** Samples kept per interval for a percentile; past this, a uniform random sample of them. */
const MAX_SAMPLES = 10_000;

/**
 * Nearest-rank percentile of an ascending array (0 for an empty one).
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Durations of one interval, bounded in memory (reservoir sampling past {@link MAX_SAMPLES}). */
class Samples {
  values: number[] = [];
  seen = 0;
  sum = 0;

  add(v: number): void {
    this.seen++;
    this.sum += v;
    if (this.values.length < MAX_SAMPLES) this.values.push(v);
    else {
      const i = Math.floor(Math.random() * this.seen);
      if (i < MAX_SAMPLES) this.values[i] = v;
    }
  }

  sorted(): number[] {
    return this.values.sort((a, b) => a - b);
  }
}

/**
 * Sums one shard's (or one invocation's) figures from the instrumentation hook, per interval.
 * {@link MetricsCollector.take} returns the interval's figures and starts the next interval.
 *
 * Figures: RecordsProcessed, RecordsDeadLettered, DeadLettersDropped (older dead letters the
 * sink deleted to stay inside its bounds), ProcessingFailures, Batches, Checkpoints,
 * CheckpointFailures (Count); MillisBehindLatest (last seen) and MillisBehindLatestMax, when the
 * runtime knows the lag; BatchDurationP50 and BatchDurationP99 (Milliseconds), when a batch ran;
 * RecordsPerSecond (Count/Second, records handled over the interval's length); and for each timing
 * a processor reported under `<name>`: `<name>Ms` (the sum), `<name>P99` and `<name>Count`; and,
 * only in an interval in which a batch was reported stuck (`stuckBatch`), StuckBatches (Count) and
 * StuckBatchInHandMaxMs (Milliseconds, the longest time in hand reported).
 *
 * @example
 * const collector = new MetricsCollector();
 * collector.subscribe(instrumentation);
 * // ... later, every interval:
 * const figures = collector.take();
 */
export class MetricsCollector {
  private processed = 0;
  private deadLettered = 0;
  private deadLettersDropped = 0;
  private failures = 0;
  private batches = 0;
  private checkpoints = 0;
  private checkpointFailures = 0;
  private lag: number | null = null;
  private lagMax: number | null = null;
  private durations = new Samples();
  private timings = new Map<string, Samples>();
  private startedAt: number;
  private events = 0;
  private stuck = 0;
  private stuckInHandMax = 0;

  constructor(
    private readonly options: {
      /** Include Checkpoints and CheckpointFailures (the KCL runtime checkpoints; Lambda does not). Default true. */
      checkpoints?: boolean;
      /** The clock, ms. Default performance.now. */
      now?: () => number;
    } = {},
  ) {
    this.startedAt = this.now();
  }

  private now(): number {
    return (this.options.now ?? performance.now.bind(performance))();
  }

  /**
   * Listens to `instrumentation`'s batchStarted, batchDone, deadLetter, checkpoint and timing events; returns
   * a function that stops listening.
   */
  subscribe(instrumentation: Instrumentation): () => void {
    const offs = [
      instrumentation.on('batchStarted', (e) => this.observeLag(e.millisBehindLatest)),
      instrumentation.on('batchDone', (e) => {
        this.events++;
        this.batches++;
        this.processed += e.processed;
        this.deadLettered += e.deadLettered;
        this.failures += e.failures;
        this.durations.add(e.durationMs);
        this.observeLag(e.millisBehindLatest);
      }),
      instrumentation.on('deadLetter', (e) => {
        if (!e.dropped) return;
        this.events++;
        this.deadLettersDropped += e.dropped;
      }),
      instrumentation.on('checkpoint', (e) => {
        this.events++;
        if (e.error === null) this.checkpoints++;
        else this.checkpointFailures++;
      }),
      instrumentation.on('stuckBatch', (e) => {
        this.events++;
        this.stuck++;
        this.stuckInHandMax = Math.max(this.stuckInHandMax, e.inHandMs);
      }),
      instrumentation.on('timing', (e) => {
        if (!(Number.isFinite(e.durationMs) && e.durationMs >= 0)) return;
        this.events++;
        let s = this.timings.get(e.name);
        if (!s) {
          if (!/^[A-Za-z][A-Za-z0-9]{0,200}$/.test(e.name)) return;
          this.timings.set(e.name, (s = new Samples()));
        }
        s.add(e.durationMs);
      }),
    ];
    return () => {
      for (const off of offs) off();
    };
  }

  private observeLag(ms: number | null): void {
    if (ms === null || !Number.isFinite(ms)) return;
    this.lag = ms;
    this.lagMax = this.lagMax === null ? ms : Math.max(this.lagMax, ms);
  }

  /**
   * Whether anything was counted since the last {@link MetricsCollector.take} (a batch, a
   * checkpoint, a timing).
   */
  hasData(): boolean {
    return this.events > 0;
  }

  /**
   * The interval's figures; starts the next interval (counts back to zero).
   */
  take(): MetricFigures {
    const now = this.now();
    const seconds = Math.max(0.001, (now - this.startedAt) / 1000);
    const f: MetricFigures = new Map();
    const count = (name: string, value: number): void => void f.set(name, { value, unit: 'Count' });
    const ms = (name: string, value: number): void => void f.set(name, { value: round(value), unit: 'Milliseconds' });
    count('RecordsProcessed', this.processed);
    count('RecordsDeadLettered', this.deadLettered);
    count('DeadLettersDropped', this.deadLettersDropped);
    count('ProcessingFailures', this.failures);
    count('Batches', this.batches);
    if (this.options.checkpoints ?? true) {
      count('Checkpoints', this.checkpoints);
      count('CheckpointFailures', this.checkpointFailures);
    }
    if (this.lag !== null) ms('MillisBehindLatest', this.lag);
    if (this.lagMax !== null) ms('MillisBehindLatestMax', this.lagMax);
    if (this.durations.seen > 0) {
      const sorted = this.durations.sorted();
      ms('BatchDurationP50', percentile(sorted, 50));
      ms('BatchDurationP99', percentile(sorted, 99));
    }
    f.set('RecordsPerSecond', { value: round((this.processed + this.deadLettered) / seconds), unit: 'Count/Second' });
    if (this.stuck > 0) {
      count('StuckBatches', this.stuck);
      ms('StuckBatchInHandMaxMs', this.stuckInHandMax);
    }
    for (const [name, s] of this.timings) {
      ms(`${name}Ms`, s.sum);
      ms(`${name}P99`, percentile(s.sorted(), 99));
      count(`${name}Count`, s.seen);
    }
    this.processed = 0;
    this.deadLettered = 0;
    this.deadLettersDropped = 0;
    this.failures = 0;
    this.batches = 0;
    this.checkpoints = 0;
    this.checkpointFailures = 0;
    this.lag = null;
    this.lagMax = null;
    this.durations = new Samples();
    this.timings = new Map();
    this.stuck = 0;
    this.stuckInHandMax = 0;
    this.events = 0;
    this.startedAt = now;
    return f;
  }
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

/**
 * What {@link emfDocument} needs besides the figures.
 */
export interface EmfOptions {
  /** CloudWatch namespace, e.g. `KinesisStreams`. */
  namespace: string;
  /** Dimension names and values, e.g. `{ StreamName: 'app-opens', ShardId: 'shardId-000000000000' }`. */
  dimensions: Readonly<Record<string, string>>;
  /** Which combinations of the dimensions each metric is published under, e.g. `[['StreamName', 'ShardId'], ['StreamName']]`. */
  dimensionSets: ReadonlyArray<readonly string[]>;
  /** Milliseconds since the epoch. */
  timestamp: number;
  /** More members for the root node (not metrics), e.g. `{ reason: 'interval' }`. */
  properties?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * One EMF document (a JSON object as one line, without the newline): `_aws.CloudWatchMetrics`
 * with the namespace, dimension sets and each metric's unit, and the values as root members.
 * CloudWatch Logs turns such a log event into metrics with no API call.
 *
 * @example
 * const collector = new MetricsCollector();
 * collector.subscribe(instrumentation);
 * emfDocument(collector.take(), { namespace: 'KinesisStreams', dimensions: { StreamName: 's' }, dimensionSets: [['StreamName']], timestamp: Date.now() });
 * // '{"_aws":{"Timestamp":...,"CloudWatchMetrics":[{"Namespace":"KinesisStreams","Dimensions":[["StreamName"]],"Metrics":[...]}]},"StreamName":"s",...}'
 */
export function emfDocument(figures: MetricFigures, options: EmfOptions): string {
  for (const set of options.dimensionSets) {
    for (const d of set) if (typeof options.dimensions[d] !== 'string') throw new TypeError(`Expected dimension \`${d}\` to have a string value.`);
  }
  const metrics: Array<{ Name: string; Unit: MetricUnit }> = [];
  const doc: Record<string, unknown> = {
    _aws: {
      Timestamp: Math.round(options.timestamp),
      CloudWatchMetrics: [{ Namespace: options.namespace, Dimensions: options.dimensionSets.map((s) => [...s]), Metrics: metrics }],
    },
    ...options.properties,
    ...options.dimensions,
  };
  for (const [name, { value, unit }] of figures) {
    metrics.push({ Name: name, Unit: unit });
    doc[name] = value;
  }
  return JSON.stringify(doc);
}

/**
 * The default CloudWatch namespace of the metrics.
 */
export const DEFAULT_METRICS_NAMESPACE = 'KinesisStreams';

/**
 * Checks a CloudWatch namespace as the metrics options take it (1-255 characters, no leading
 * colon, none of the characters CloudWatch rejects); throws a TypeError naming `option`.
 */
export function checkNamespace(value: unknown, option: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9._\-/#:]{1,255}$/.test(value) || value.startsWith(':')) {
    throw new TypeError(`Expected \`${option}\` to be a CloudWatch namespace (1-255 of letters, digits and . _ - / # :), got ${JSON.stringify(value)}.`);
  }
  return value;
}
