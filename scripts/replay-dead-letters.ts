/**
 * Dead-letter replay: reads the Redis stream `deadletter:<STREAM_NAME>` and either prints each
 * entry as a JSON line, or puts the records back on a Kinesis stream (same data bytes, same
 * partition key) so that the fixed worker processes them again; `--delete` removes the entries
 * that were put back.
 *
 * Usage:
 *   node --import tsx scripts/replay-dead-letters.ts --redis URL --stream NAME            # print
 *   node --import tsx scripts/replay-dead-letters.ts --redis URL --stream NAME \
 *     --to-kinesis TARGET [--endpoint URL] [--region R] [--delete] [--from ID] [--to ID] [--limit N]
 *
 * The Redis URL may also come from RESULTS_REDIS_URL. Progress and errors go to stderr; the URL is
 * shown with its password redacted.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { sdkNodeNotice } from '../src/config/nodeSupport.js';
import { backoffDelay, resolveRetryOptions, sleep } from '../src/core/retry.js';
import { redactUrl } from '../src/config/redact.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../src/redis/connection.js';
import { deadLetterKey } from '../src/redis/deadLetterSink.js';

/** One dead-letter stream entry. */
export interface DeadLetterEntry {
  /** The Redis stream entry id (its time of writing, in ms, then a counter). */
  id: string;
  sequenceNumber: string;
  subSequenceNumber: number;
  shardId: string;
  partitionKey: string;
  reason: string;
  /** The record's bytes, base64, as received. */
  data: string;
}

/** Where to read. `from`/`to` are stream ids, inclusive; default the whole stream. */
export interface ReadOptions {
  from?: string;
  to?: string;
  /** Entries per XRANGE call. Default 500 (also the PutRecords limit). */
  pageSize?: number;
  /** Stop after this many entries. Default: no limit. */
  limit?: number;
}

function toEntry(id: string, fields: string[]): DeadLetterEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
  return {
    id,
    sequenceNumber: f.sequenceNumber ?? '',
    subSequenceNumber: Number(f.subSequenceNumber ?? 0),
    shardId: f.shardId ?? '',
    partitionKey: f.partitionKey ?? '',
    reason: f.reason ?? '',
    data: f.data ?? '',
  };
}

/**
 * Pages of entries of `deadletter:<streamName>`, oldest first.
 *
 * @example
 * for await (const page of readDeadLetters(redis, 'app-opens')) for (const e of page) console.log(e.reason);
 */
export async function* readDeadLetters(redis: RedisClient, streamName: string, options: ReadOptions = {}): AsyncGenerator<DeadLetterEntry[]> {
  const key = deadLetterKey(streamName);
  const pageSize = options.pageSize ?? 500;
  let start = options.from ?? '-';
  const end = options.to ?? '+';
  let left = options.limit ?? Number.POSITIVE_INFINITY;
  while (left > 0) {
    const raw = await redis.xrange(key, start, end, 'COUNT', Math.min(pageSize, left));
    if (raw.length === 0) return;
    const page = raw.map(([id, fields]) => toEntry(id, fields));
    left -= page.length;
    yield page;
    start = `(${(page[page.length - 1] as DeadLetterEntry).id}`;
  }
}

/** Options of {@link replayToKinesis}. */
export interface ReplayOptions extends ReadOptions {
  /** The Kinesis stream to put the records on. */
  targetStream: string;
  kinesis: KinesisClient;
  /** XDEL each entry once its record is on Kinesis. Default false. */
  delete?: boolean;
  /** PutRecords attempts for records Kinesis refuses (throttling). Default 8. */
  maxAttempts?: number;
  /** Told about each page done. */
  onProgress?: (info: { read: number; put: number; deleted: number }) => void;
}

/**
 * Puts every dead-lettered record back on `targetStream` (data and partition key as received),
 * retrying records Kinesis refuses; deletes the entries afterwards when asked. Throws when a
 * record still fails after `maxAttempts`; entries of that page are then kept.
 *
 * @example
 * await replayToKinesis(redis, 'app-opens', { targetStream: 'app-opens', kinesis, delete: true });
 */
export async function replayToKinesis(
  redis: RedisClient,
  streamName: string,
  options: ReplayOptions,
): Promise<{ read: number; put: number; deleted: number }> {
  const totals = { read: 0, put: 0, deleted: 0 };
  const retry = resolveRetryOptions({ maxAttempts: options.maxAttempts ?? 8, initialDelayMs: 100, maxDelayMs: 5_000 });
  for await (const page of readDeadLetters(redis, streamName, { ...options, pageSize: Math.min(options.pageSize ?? 500, 500) })) {
    totals.read += page.length;
    let pending: PutRecordsRequestEntry[] = page.map((e) => ({ Data: Buffer.from(e.data, 'base64'), PartitionKey: e.partitionKey }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      const out = await options.kinesis.send(new PutRecordsCommand({ StreamName: options.targetStream, Records: pending }));
      const failed = pending.filter((_, i) => out.Records?.[i]?.ErrorCode !== undefined);
      totals.put += pending.length - failed.length;
      pending = failed;
      if (pending.length === 0) break;
      if (attempt >= retry.maxAttempts) {
        throw new Error(`${pending.length} records still refused by Kinesis after ${attempt} attempts; their dead letters are kept`);
      }
      await sleep(backoffDelay(attempt, retry));
    }
    if (options.delete) totals.deleted += await redis.xdel(deadLetterKey(streamName), ...page.map((e) => e.id));
    options.onProgress?.({ ...totals });
  }
  return totals;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      redis: { type: 'string' },
      stream: { type: 'string' },
      'to-kinesis': { type: 'string' },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      delete: { type: 'boolean', default: false },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
    },
  });
  const url = values.redis ?? process.env.RESULTS_REDIS_URL;
  const stream = values.stream ?? process.env.STREAM_NAME;
  if (!url || !stream) {
    process.stderr.write('usage: replay-dead-letters --redis URL --stream NAME [--to-kinesis TARGET [--endpoint URL] [--region R] [--delete]] [--from ID] [--to ID] [--limit N]\n');
    process.exitCode = 2;
    return;
  }
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  const range = { from: values.from, to: values.to, limit };
  const redis = createRedisClient(url);
  try {
    const target = values['to-kinesis'];
    if (target === undefined) {
      let n = 0;
      for await (const page of readDeadLetters(redis, stream, range)) {
        for (const e of page) process.stdout.write(`${JSON.stringify(e)}\n`);
        n += page.length;
      }
      process.stderr.write(`${n} dead letters in ${deadLetterKey(stream)} on ${redactUrl(url)}\n`);
      return;
    }
    sdkNodeNotice(); // the README states the SDK's Node 22 requirement
    const kinesis = new KinesisClient({
      requestHandler: new NodeHttpHandler(),
      ...(values.endpoint === undefined ? {} : { endpoint: values.endpoint }),
      ...(values.region === undefined ? {} : { region: values.region }),
    });
    const totals = await replayToKinesis(redis, stream, {
      ...range,
      targetStream: target,
      kinesis,
      delete: values.delete,
      onProgress: (t) => process.stderr.write(`read ${t.read}, put ${t.put}, deleted ${t.deleted}\n`),
    });
    kinesis.destroy();
    process.stderr.write(`done: ${JSON.stringify(totals)}\n`);
  } finally {
    await closeRedisClient(redis);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`replay-dead-letters: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
