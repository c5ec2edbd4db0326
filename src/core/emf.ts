/**
 * The metrics output of a collector, shared by the KCL worker and the Lambda handler: an
 * interval's figures as CloudWatch metrics (names and units), the Embedded Metric Format (EMF)
 * document that carries them, and the synchronous line write. No AWS SDK. The runtimes decide
 * when a document is written and where (a file or stderr under the KCL daemon, stdout on Lambda)
 * and with which dimensions.
 */
import { writeSync } from 'node:fs';
import { percentile, type Collector, type Interval, type IntervalFigures } from './collector.js';

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

const round = (v: number): number => Math.round(v * 1000) / 1000;

/**
 * An interval's figures as CloudWatch metrics: RecordsProcessed, RecordsDeadLettered,
 * DeadLettersDropped (older dead letters the sink deleted to stay inside its bounds),
 * ProcessingFailures, Batches, then the runtime's own counts (the KCL worker's Checkpoints,
 * CheckpointFailures) (Count); MillisBehindLatest (last seen) and MillisBehindLatestMax, when the
 * runtime knows the lag; BatchDurationP50 and BatchDurationP99 (Milliseconds), when a batch ran;
 * RecordsPerSecond (Count/Second, records handled over the interval's length); only in an
 * interval in which a batch was reported stuck (`stuckBatch`), StuckBatches (Count) and
 * StuckBatchInHandMaxMs (Milliseconds, the longest time in hand reported); and for each timing a
 * processor reported under `<name>`: `<name>Ms` (the sum), `<name>P99` and `<name>Count`.
 */
export function metricFigures(i: IntervalFigures): MetricFigures {
  const f: MetricFigures = new Map();
  const count = (name: string, value: number): void => void f.set(name, { value, unit: 'Count' });
  const ms = (name: string, value: number): void => void f.set(name, { value: round(value), unit: 'Milliseconds' });
  count('RecordsProcessed', i.processed);
  count('RecordsDeadLettered', i.deadLettered);
  count('DeadLettersDropped', i.deadLettersDropped);
  count('ProcessingFailures', i.failures);
  count('Batches', i.batches);
  for (const [name, value] of i.counts) count(name, value);
  if (i.millisBehindLatest !== null) ms('MillisBehindLatest', i.millisBehindLatest);
  if (i.millisBehindLatestMax !== null) ms('MillisBehindLatestMax', i.millisBehindLatestMax);
  if (i.batchDurations.count > 0) {
    ms('BatchDurationP50', percentile(i.batchDurations.sorted, 50));
    ms('BatchDurationP99', percentile(i.batchDurations.sorted, 99));
  }
  f.set('RecordsPerSecond', { value: round((i.processed + i.deadLettered) / i.seconds), unit: 'Count/Second' });
  if (i.stuckBatches > 0) {
    count('StuckBatches', i.stuckBatches);
    ms('StuckBatchInHandMaxMs', i.stuckBatchInHandMaxMs);
  }
  for (const [name, s] of i.timings) {
    ms(`${name}Ms`, s.sumMs);
    ms(`${name}P99`, percentile(s.sorted, 99));
    count(`${name}Count`, s.count);
  }
  return f;
}

/**
 * The metrics reader of a collector: its own interval (with the processor's timings), taken as
 * {@link MetricFigures}.
 */
export class EmfMetrics {
  private readonly interval: Interval;

  constructor(collector: Collector) {
    this.interval = collector.interval({ timings: true });
  }

  /**
   * Whether anything was counted since the last {@link EmfMetrics.take}.
   */
  hasData(): boolean {
    return this.interval.hasData();
  }

  /**
   * The interval's figures (see {@link metricFigures}); starts the next interval.
   */
  take(): MetricFigures {
    return metricFigures(this.interval.take());
  }
}

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
 * Where and how a runtime's EMF documents go: the namespace, the dimension sets, and the line
 * writer (synchronous; it may throw, the caller decides what a failed write means).
 */
export interface EmfOutput {
  namespace: string;
  dimensionSets: ReadonlyArray<readonly string[]>;
  write: (line: string) => void;
}

/**
 * The EMF writer both runtimes use: one document per {@link EmfWriter.write}, stamped now.
 */
export class EmfWriter {
  constructor(private readonly output: EmfOutput) {}

  /**
   * Writes `figures` with `dimensions` (and `properties` on the root) as one document. Throws
   * what the document or the write throws.
   */
  write(figures: MetricFigures, dimensions: EmfOptions['dimensions'], properties?: EmfOptions['properties']): void {
    const { namespace, dimensionSets } = this.output;
    this.output.write(emfDocument(figures, { namespace, dimensions, dimensionSets, timestamp: Date.now(), ...(properties ? { properties } : {}) }));
  }
}

/**
 * Writes `line` and a newline to `fd` synchronously, all of it (one document per write, so the
 * last one is out before the process exits or the Lambda container freezes). Throws what the
 * write throws.
 */
export function writeLineSync(fd: number, line: string): void {
  const bytes = Buffer.from(`${line}\n`, 'utf8');
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
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
