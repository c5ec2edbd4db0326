/**
 * The workers the end-to-end test can drive under the real daemon, behind one interface: what to
 * start (executableName and environment), what to produce, when the worker is done, and how to
 * check its effect. Pick one with E2E_WORKER (default `fixture`).
 */
import type { PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../scripts/stack.js';
import type { PutResult } from '../../scripts/kinesis.js';

/** What a test run gives a worker adapter. */
export interface RunContext {
  /** A folder private to this test. */
  dir: string;
  stream: string;
  redisUrl: string;
}

/** One record as the fixture worker wrote it to records.jsonl. */
export interface SeenRecord {
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber: number;
  partitionKey: string;
  data: string;
  tag: string | null;
  pid: number;
}

/** One lifecycle line of the fixture worker's events.jsonl. */
export interface WorkerEvent {
  event: string;
  shardId: string | null;
  tag: string | null;
  pid: number;
  at: number;
  code?: number;
  sequenceNumber?: string | null;
  during?: string;
  error?: string;
}

/** A worker under test. */
export interface WorkerUnderTest {
  name: string;
  /** The properties file's executableName (split on spaces by the daemon; absolute paths). */
  executableName: string;
  /** Environment for the daemon (its workers inherit it). `tag` names the daemon. */
  env(ctx: RunContext, tag: string): Record<string, string>;
  /** `count` records to put, numbered from `from` (so a test can produce in waves). */
  records(ctx: RunContext, from: number, count: number): PutRecordsRequestEntry[];
  /** How far along the worker is with what was produced: a number of records applied. */
  progress(ctx: RunContext, produced: readonly PutResult[]): Promise<number>;
  /** Throws (assert) unless the worker's effect is exactly what `produced` implies. */
  verify(ctx: RunContext, produced: readonly PutResult[]): Promise<void>;
}

function readJsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as T);
}

/**
 * Records the fixture worker has written so far.
 * @example
 * const seen = seenRecords(ctx.dir);
 */
export function seenRecords(dir: string): SeenRecord[] {
  return readJsonLines<SeenRecord>(join(dir, 'records.jsonl'));
}

/**
 * Lifecycle events the fixture workers have written so far.
 * @example
 * workerEvents(ctx.dir).filter((e) => e.event === 'exit');
 */
export function workerEvents(dir: string): WorkerEvent[] {
  return readJsonLines<WorkerEvent>(join(dir, 'events.jsonl'));
}

/** The recording fixture: test/fixtures/recording-worker.mjs. */
export const fixtureWorker: WorkerUnderTest = {
  name: 'fixture',
  executableName: `${process.execPath} ${join(ROOT, 'test', 'fixtures', 'recording-worker.mjs')}`,
  env: (ctx, tag) => ({ RECORDING_DIR: ctx.dir, RECORDING_TAG: tag }),
  records: (_ctx, from, count) =>
    Array.from({ length: count }, (_, i) => ({
      Data: Buffer.from(`record-${from + i}`),
      PartitionKey: `key-${from + i}`,
    })),
  async progress(ctx, produced) {
    const wanted = new Set(produced.map((p) => p.sequenceNumber));
    const seen = new Set(seenRecords(ctx.dir).map((r) => r.sequenceNumber));
    let n = 0;
    for (const seq of wanted) if (seen.has(seq)) n++;
    return n;
  },
  async verify(ctx, produced) {
    const seen = seenRecords(ctx.dir);
    const bySeq = new Map(seen.map((r) => [r.sequenceNumber, r]));
    const missing = produced.filter((p) => !bySeq.has(p.sequenceNumber));
    if (missing.length > 0) {
      throw new Error(`${missing.length} of ${produced.length} records never reached a worker, e.g. ${JSON.stringify(missing[0])}`);
    }
    const producedSeqs = new Set(produced.map((p) => p.sequenceNumber));
    const unexpected = seen.filter((r) => !producedSeqs.has(r.sequenceNumber));
    if (unexpected.length > 0) throw new Error(`workers saw ${unexpected.length} records nobody produced`);
    for (const p of produced) {
      const r = bySeq.get(p.sequenceNumber);
      if (r && r.shardId !== p.shardId) throw new Error(`record ${p.sequenceNumber} seen on ${r.shardId}, put on ${p.shardId}`);
    }
  },
};

/**
 * The worker named by E2E_WORKER: `fixture` (default).
 * @example
 * const worker = workerFromEnv();
 */
export function workerFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerUnderTest {
  const name = env.E2E_WORKER ?? 'fixture';
  if (name === 'fixture') return fixtureWorker;
  throw new RangeError(`Expected \`E2E_WORKER\` to be one of: fixture; got "${name}".`);
}
