/**
 * The workers the end-to-end test can drive under the real daemon, behind one interface: what to
 * start (executableName and environment), what to produce, when the worker is done, and how to
 * check its effect. Pick one with E2E_WORKER: `lastopens` (default: bin/lastopens, the real worker;
 * needs `make build`) or `fixture` (test/fixtures/recording-worker.mjs, which records every record
 * and lifecycle event it sees, for checks on the protocol itself).
 */
import type { PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { Redis } from 'ioredis';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../scripts/stack.js';
import type { PutResult } from '../../scripts/kinesis.js';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';

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
  /**
   * Records at or before each shard's checkpoint that the worker has NOT applied (a checkpoint
   * that passed unapplied records). [] is good.
   */
  unappliedBelow(ctx: RunContext, produced: readonly PutResult[], checkpoints: ReadonlyMap<string, string>): Promise<string[]>;
  /** How the worker processes under daemon `tag` ended, as far as they recorded it. */
  exits(ctx: RunContext, tag: string): { pid: number; code: number }[];
  /**
   * Watches the worker's effect while a test runs; `stop` resolves with every regression seen
   * (a value that went backwards). Default: nothing to watch.
   */
  watch?(ctx: RunContext): { stop(): Promise<string[]> };
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

/** true when `p` is at or before its shard's checkpoint (a sequence number; sentinels never are). */
function isAtOrBefore(p: PutResult, checkpoints: ReadonlyMap<string, string>): boolean {
  const checkpoint = checkpoints.get(p.shardId);
  if (checkpoint === 'SHARD_END') return true;
  return checkpoint !== undefined && /^\d+$/.test(checkpoint) && BigInt(p.sequenceNumber) <= BigInt(checkpoint);
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
  async unappliedBelow(ctx, produced, checkpoints) {
    const seen = new Set(seenRecords(ctx.dir).map((r) => r.sequenceNumber));
    return produced
      .filter((p) => isAtOrBefore(p, checkpoints) && !seen.has(p.sequenceNumber))
      .map((p) => `${p.shardId} ${p.sequenceNumber}`);
  },
  exits(ctx, tag) {
    return workerEvents(ctx.dir)
      .filter((e) => e.event === 'exit' && e.tag === tag)
      .map((e) => ({ pid: e.pid, code: e.code ?? -1 }));
  },
};

/** Users, platforms and the share of bad records of the lastopens load. */
const USERS = 97;
const PLATFORMS = ['ios', 'android', 'web'] as const;
const BAD_EVERY = 25;
const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z
const userBases = new Map<string, bigint>();

function userBase(stream: string): bigint {
  let base = userBases.get(stream);
  if (base === undefined) {
    // Past 2^53 on purpose: ids must stay exact end to end.
    base = 2n ** 53n + BigInt(userBases.size + 1) * 1_000_000n;
    userBases.set(stream, base);
  }
  return base;
}

/** Record `i` of a lastopens load: an AppOpen, or (every BAD_EVERY-th) bytes it must dead-letter. */
function lastopensEvent(stream: string, i: number): { event?: AppOpen; bytes: Buffer; partitionKey: string } {
  const userId = userBase(stream) + BigInt(i % USERS);
  const partitionKey = `user-${userId}`;
  if (i % BAD_EVERY === BAD_EVERY - 1) {
    // Alternate undecodable bytes and a decodable event that fails validation.
    const bytes = (i / BAD_EVERY) % 2 < 1
      ? Buffer.from(`not avro ${i}`)
      : toAvro({ timestamp: T0 + i, userId, platform: 'Not A Platform', appVersion: null, deviceId: null });
    return { bytes, partitionKey };
  }
  // Timestamps wander (not monotonic in i), so the max-wins rule is exercised across batches.
  const timestamp = T0 + ((i * 7919) % 5000);
  const event: AppOpen = { timestamp, userId, platform: PLATFORMS[i % PLATFORMS.length] as string, appVersion: '1.2.3', deviceId: `d${i % 7}` };
  return { event, bytes: toAvro(event), partitionKey };
}

/** What the Redis hashes must hold after records [0, n): key -> field -> timestamp. */
function expectedHashes(stream: string, n: number): Map<string, Map<string, string>> {
  const want = new Map<string, Map<string, string>>();
  for (let i = 0; i < n; i++) {
    const { event } = lastopensEvent(stream, i);
    if (!event) continue;
    const key = `user:${event.userId}:checkpoint`;
    const fields = want.get(key) ?? new Map<string, string>();
    const field = `${event.platform}_app_open`;
    const current = fields.get(field);
    if (current === undefined || Number(current) < event.timestamp) fields.set(field, String(event.timestamp));
    want.set(key, fields);
  }
  return want;
}

function badCount(n: number): number {
  return Math.floor((n + 1) / BAD_EVERY);
}

/**
 * The dead letters of a stream, counted once per record (shard, sequence and sub-sequence number).
 * Delivery is at least once: a batch read again after a lease moved (its last checkpoint lost with
 * the lease) writes its poison records' letters again. Every letter is kept; tests count records.
 */
async function deadLetterRecords(redis: Redis, stream: string): Promise<{ entries: Array<Record<string, string>>; records: Set<string> }> {
  const entries = ((await redis.xrange(`deadletter:${stream}`, '-', '+')) as [string, string[]][]).map(([, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
    return fields;
  });
  return { entries, records: new Set(entries.map((f) => `${f.shardId}/${f.sequenceNumber}/${f.subSequenceNumber}`)) };
}

async function withRedis<T>(url: string, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

async function readHashes(redis: Redis, keys: readonly string[]): Promise<Map<string, Record<string, string>>> {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.hgetall(key);
  const results = (await pipeline.exec()) ?? [];
  return new Map(keys.map((key, i) => [key, (results[i]?.[1] ?? {}) as Record<string, string>]));
}

/** bin/lastopens, the real worker: its effect is in Redis. */
export const lastopensWorker: WorkerUnderTest = {
  name: 'lastopens',
  executableName: `${process.execPath} ${join(ROOT, 'bin', 'lastopens')}`,
  env: (ctx, tag) => ({
    RESULTS_REDIS_URL: ctx.redisUrl,
    STREAM_NAME: ctx.stream,
    LOG_PATH: join(ctx.dir, `lastopens-${tag}.log`),
    LOG_LEVEL: 'info',
  }),
  records: (ctx, from, count) =>
    Array.from({ length: count }, (_, k) => {
      const { bytes, partitionKey } = lastopensEvent(ctx.stream, from + k);
      return { Data: bytes, PartitionKey: partitionKey };
    }),
  async progress(ctx, produced) {
    const n = produced.length;
    const want = expectedHashes(ctx.stream, n);
    return withRedis(ctx.redisUrl, async (redis) => {
      const have = await readHashes(redis, [...want.keys()]);
      let matched = 0;
      let total = 0;
      for (const [key, fields] of want) {
        for (const [field, ts] of fields) {
          total++;
          if (have.get(key)?.[field] === ts) matched++;
        }
      }
      const dead = (await deadLetterRecords(redis, ctx.stream)).records.size;
      return matched === total && dead === badCount(n) ? n : Math.min(n - 1, Math.floor((matched / Math.max(total, 1)) * n));
    });
  },
  async verify(ctx, produced) {
    const n = produced.length;
    const want = expectedHashes(ctx.stream, n);
    await withRedis(ctx.redisUrl, async (redis) => {
      const have = await readHashes(redis, [...want.keys()]);
      for (const [key, fields] of want) {
        const got = have.get(key) ?? {};
        const wantObj = Object.fromEntries(fields);
        if (JSON.stringify(Object.entries(got).sort()) !== JSON.stringify(Object.entries(wantObj).sort())) {
          throw new Error(`${key}: have ${JSON.stringify(got)}, want ${JSON.stringify(wantObj)}`);
        }
      }
      const base = userBase(ctx.stream);
      const keys = await redis.keys('user:*:checkpoint');
      const extra = keys.filter((k) => {
        const id = BigInt(k.split(':')[1] ?? '0');
        return id >= base && id < base + 1_000_000n && !want.has(k);
      });
      if (extra.length > 0) throw new Error(`unexpected hashes: ${extra.slice(0, 3).join(', ')}`);
      const { entries, records } = await deadLetterRecords(redis, ctx.stream);
      if (records.size !== badCount(n)) throw new Error(`dead-lettered records: have ${records.size} (${entries.length} letters), want ${badCount(n)}`);
      const bySeq = new Map(produced.map((p) => [p.sequenceNumber, p]));
      for (const fields of entries) {
        const p = bySeq.get(fields.sequenceNumber ?? '');
        if (!p || p.shardId !== fields.shardId) throw new Error(`dead letter for an unknown record: ${JSON.stringify(fields)}`);
        if (!fields.reason) throw new Error(`dead letter without a reason: ${JSON.stringify(fields)}`);
      }
    });
  },
  async unappliedBelow(ctx, produced, checkpoints) {
    return withRedis(ctx.redisUrl, async (redis) => {
      const problems: string[] = [];
      const dead = new Set(
        ((await redis.xrange(`deadletter:${ctx.stream}`, '-', '+')) as [string, string[]][]).map(([, flat]) => {
          const i = flat.indexOf('sequenceNumber');
          return flat[i + 1] ?? '';
        }),
      );
      const below = produced.map((p, i) => ({ p, i })).filter(({ p }) => isAtOrBefore(p, checkpoints));
      const events = below.map(({ p, i }) => ({ p, ...lastopensEvent(ctx.stream, i) }));
      const keys = [...new Set(events.flatMap(({ event }) => (event ? [`user:${event.userId}:checkpoint`] : [])))];
      const have = await readHashes(redis, keys);
      for (const { p, event } of events) {
        if (!event) {
          if (!dead.has(p.sequenceNumber)) problems.push(`${p.shardId} ${p.sequenceNumber}: bad record not dead-lettered`);
          continue;
        }
        const stored = have.get(`user:${event.userId}:checkpoint`)?.[`${event.platform}_app_open`];
        if (stored === undefined || Number(stored) < event.timestamp) {
          problems.push(`${p.shardId} ${p.sequenceNumber}: user ${event.userId} ${event.platform} ${event.timestamp} not applied (have ${stored})`);
        }
      }
      return problems;
    });
  },
  exits(ctx, tag) {
    const file = join(ctx.dir, `lastopens-${tag}.log`);
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"worker exiting"'))
      .map((line) => JSON.parse(line) as { pid: number; code: number })
      .map(({ pid, code }) => ({ pid, code }));
  },
  watch(ctx) {
    const want = [...expectedHashes(ctx.stream, 20_000).keys()];
    const last = new Map<string, number>();
    const regressions: string[] = [];
    const redis = new Redis(ctx.redisUrl, { maxRetriesPerRequest: 1 });
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          for (const [key, fields] of await readHashes(redis, want)) {
            for (const [field, value] of Object.entries(fields)) {
              const id = `${key} ${field}`;
              const before = last.get(id);
              if (before !== undefined && Number(value) < before) regressions.push(`${id}: ${before} -> ${value}`);
              last.set(id, Number(value));
            }
          }
        } catch {
          // Redis busy or restarting: try again
        }
        await new Promise((ok) => setTimeout(ok, 250));
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
        redis.disconnect();
        return regressions;
      },
    };
  },
};

/**
 * The worker named by E2E_WORKER: `lastopens` (default) or `fixture`.
 * @example
 * const worker = workerFromEnv();
 */
export function workerFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerUnderTest {
  const name = env.E2E_WORKER ?? 'lastopens';
  if (name === 'fixture') return fixtureWorker;
  if (name === 'lastopens') return lastopensWorker;
  throw new RangeError(`Expected \`E2E_WORKER\` to be one of: fixture, lastopens; got "${name}".`);
}
