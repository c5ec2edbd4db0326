/**
 * Dead-letter replay: reads the Redis stream `deadletter:<STREAM_NAME>` and either prints each
 * entry as a JSON line, or puts the records back on a Kinesis stream (same data bytes, same
 * partition key) so that the fixed worker processes them again; `--delete` removes the entries
 * that were put back.
 *
 * A letter whose record was larger than the sink's cap (`truncated`) holds only the first bytes:
 * its full record is read again from the source Kinesis stream (`--source-stream`, default
 * `--stream`) by shard and sequence number (GetShardIterator AT_SEQUENCE_NUMBER), taken out of its
 * KPL aggregate by subsequence number, and checked against the letter's size and SHA-256. A letter
 * that cannot be recovered (the stream no longer retains the record, or what it holds does not
 * match) is named on stderr, one line each, and is neither put back nor deleted; the exit code is
 * then 3. `--recover` does the same in print mode (each line then carries the full data).
 *
 * Usage:
 *   node --import tsx scripts/replay-dead-letters.ts --redis URL --stream NAME [--recover [--endpoint URL] [--region R]]
 *   node --import tsx scripts/replay-dead-letters.ts --redis URL --stream NAME \
 *     --to-kinesis TARGET [--source-stream NAME] [--endpoint URL] [--region R] [--delete] [--from ID] [--to ID] [--limit N]
 *
 * The Redis URL may also come from RESULTS_REDIS_URL. Progress and errors go to stderr; the URL is
 * shown with its password redacted.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { sdkNodeNotice } from '../src/config/nodeSupport.js';
import { backoffDelay, resolveRetryOptions, sleep } from '../src/core/retry.js';
import { redactUrl } from '../src/config/redact.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../src/redis/connection.js';
import { deadLetterKey, deleteDeadLetters } from '../src/redis/deadLetterSink.js';
import { parseAggregate } from '../src/lambda/deaggregate.js';

/** One dead-letter stream entry. */
export interface DeadLetterEntry {
  /** The Redis stream entry id (its time of writing, in ms, then a counter). */
  id: string;
  sequenceNumber: string;
  subSequenceNumber: number;
  shardId: string;
  partitionKey: string;
  reason: string;
  /** The record's bytes, base64, as received; only the first of them when `truncated`. */
  data: string;
  /** Present (true) when the sink kept only the first bytes of a larger record. */
  truncated?: true;
  /** With `truncated`: the record's full size, bytes. */
  dataBytes?: number;
  /** With `truncated`: the SHA-256 (hex) of the record's full bytes. */
  dataSha256?: string;
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
  const entry: DeadLetterEntry = {
    id,
    sequenceNumber: f.sequenceNumber ?? '',
    subSequenceNumber: Number(f.subSequenceNumber ?? 0),
    shardId: f.shardId ?? '',
    partitionKey: f.partitionKey ?? '',
    reason: f.reason ?? '',
    data: f.data ?? '',
  };
  // Any of the three fields marks a cut letter: one that lost `truncated` (edited by hand, or
  // copied by a tool that kept only some fields) must be read again, never replayed as its prefix.
  if (f.truncated !== undefined || f.dataBytes !== undefined || f.dataSha256 !== undefined) {
    entry.truncated = true;
    entry.dataBytes = Number(f.dataBytes);
    entry.dataSha256 = f.dataSha256 ?? '';
  }
  return entry;
}

/** What became of a truncated letter's record: its full bytes, or why they could not be had. */
export type Recovery = { ok: true; data: Buffer } | { ok: false; why: string };

/** How many GetRecords calls to make past empty answers before giving up on a record. */
const EMPTY_READS = 5;

/**
 * Reads a truncated letter's full record again from `sourceStream`: the record at its sequence
 * number in its shard (GetShardIterator AT_SEQUENCE_NUMBER), the user record at its subsequence
 * number when that is a KPL aggregate, checked against the letter's size and SHA-256.
 *
 * @example
 * const r = await recoverRecord(kinesis, 'app-opens', entry);
 * if (!r.ok) console.error(`${entry.id}: ${r.why}`);
 */
export async function recoverRecord(kinesis: KinesisClient, sourceStream: string, entry: DeadLetterEntry): Promise<Recovery> {
  let iterator: string | undefined;
  try {
    const it = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: sourceStream, ShardId: entry.shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: entry.sequenceNumber }),
    );
    iterator = it.ShardIterator;
  } catch (err) {
    const name = (err as { name?: string }).name ?? 'Error';
    const message = err instanceof Error ? err.message : String(err);
    // A sequence number the shard no longer holds: kinesis-local answers ResourceNotFound naming
    // it, Kinesis InvalidArgument (or an iterator at the trim horizon, caught below).
    if (name === 'InvalidArgumentException' || (name === 'ResourceNotFoundException' && /sequence ?number/i.test(message))) {
      return { ok: false, why: `${trimmed(entry, sourceStream)} (${message})` };
    }
    if (name === 'ResourceNotFoundException') {
      return { ok: false, why: `${sourceStream} has no shard ${entry.shardId} (the stream was deleted, or the shard expired after a reshard): ${message}` };
    }
    throw err;
  }
  let record: { SequenceNumber?: string; Data?: Uint8Array } | undefined;
  for (let i = 0; iterator !== undefined && record === undefined && i < EMPTY_READS; i++) {
    const got = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1 }));
    record = got.Records?.[0];
    iterator = got.NextShardIterator;
    if (record === undefined && got.MillisBehindLatest === 0) break;
  }
  if (record === undefined || record.SequenceNumber !== entry.sequenceNumber) {
    return { ok: false, why: trimmed(entry, sourceStream) };
  }
  let data: Buffer = Buffer.from(record.Data ?? new Uint8Array());
  const users = parseAggregate(data);
  if (users !== undefined) {
    const user = users[entry.subSequenceNumber];
    if (user === undefined) return { ok: false, why: `the KPL aggregate at ${entry.sequenceNumber} has ${users.length} user records, none at subsequence number ${entry.subSequenceNumber}` };
    data = user.data;
  } else if (entry.subSequenceNumber !== 0) {
    return { ok: false, why: `subsequence number ${entry.subSequenceNumber}, but the record at ${entry.sequenceNumber} is no KPL aggregate` };
  }
  const sha = createHash('sha256').update(data).digest('hex');
  if (data.length !== entry.dataBytes || sha !== entry.dataSha256) {
    return { ok: false, why: `hash mismatch: the stream holds ${data.length} bytes with SHA-256 ${sha}, the letter says ${entry.dataBytes} bytes with ${entry.dataSha256}` };
  }
  return { ok: true, data };
}

const trimmed = (entry: DeadLetterEntry, stream: string): string =>
  `trimmed from the stream: ${entry.shardId} of ${stream} no longer holds sequence number ${entry.sequenceNumber} (past the stream's retention period, or never there)`;

/** A letter whose record could not be recovered, and why. */
export interface UnrecoveredLetter {
  id: string;
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber: number;
  why: string;
}

/** One line naming an unrecovered letter, as the CLI prints it on stderr. */
export function describeUnrecovered(u: UnrecoveredLetter): string {
  return `not recovered: ${u.id} (${u.shardId}, sequence number ${u.sequenceNumber}, subsequence ${u.subSequenceNumber}): ${u.why}`;
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
  /** The stream truncated letters' records are read again from. Default: the dead-letter stream's name. */
  sourceStream?: string;
  /** Delete each entry once its record is on Kinesis. Default false. */
  delete?: boolean;
  /** PutRecords attempts for records Kinesis refuses (throttling). Default 8. */
  maxAttempts?: number;
  /** Told about each page done. */
  onProgress?: (info: { read: number; put: number; deleted: number; recovered: number; unrecovered: number }) => void;
  /** Told about each letter whose record could not be recovered (it is kept, not put back). */
  onUnrecovered?: (letter: UnrecoveredLetter) => void;
}

/** What {@link replayToKinesis} did. */
export interface ReplayTotals {
  read: number;
  put: number;
  deleted: number;
  /** Truncated letters whose full record was read again from the source stream and matched. */
  recovered: number;
  /** Truncated letters whose record could not be recovered: kept, not put back. */
  unrecovered: UnrecoveredLetter[];
}

/**
 * Puts every dead-lettered record back on `targetStream` (data and partition key as received),
 * retrying records Kinesis refuses; deletes the entries afterwards when asked. A truncated letter's
 * record is first read again from the source stream and checked ({@link recoverRecord}); one that
 * cannot be recovered is listed in `unrecovered`, not put and not deleted. Throws when a record
 * still fails after `maxAttempts`; entries of that page are then kept.
 *
 * @example
 * const totals = await replayToKinesis(redis, 'app-opens', { targetStream: 'app-opens', kinesis, delete: true });
 * for (const u of totals.unrecovered) console.error(describeUnrecovered(u));
 */
export async function replayToKinesis(redis: RedisClient, streamName: string, options: ReplayOptions): Promise<ReplayTotals> {
  const totals: ReplayTotals = { read: 0, put: 0, deleted: 0, recovered: 0, unrecovered: [] };
  const retry = resolveRetryOptions({ maxAttempts: options.maxAttempts ?? 8, initialDelayMs: 100, maxDelayMs: 5_000 });
  const source = options.sourceStream ?? streamName;
  for await (const page of readDeadLetters(redis, streamName, { ...options, pageSize: Math.min(options.pageSize ?? 500, 500) })) {
    totals.read += page.length;
    const ready: Array<{ entry: DeadLetterEntry; data: Buffer }> = [];
    for (const e of page) {
      if (!e.truncated) {
        ready.push({ entry: e, data: Buffer.from(e.data, 'base64') });
        continue;
      }
      const r = await recoverRecord(options.kinesis, source, e);
      if (r.ok) {
        totals.recovered++;
        ready.push({ entry: e, data: r.data });
      } else {
        const u = { id: e.id, shardId: e.shardId, sequenceNumber: e.sequenceNumber, subSequenceNumber: e.subSequenceNumber, why: r.why };
        totals.unrecovered.push(u);
        options.onUnrecovered?.(u);
      }
    }
    let pending: PutRecordsRequestEntry[] = ready.map((r) => ({ Data: r.data, PartitionKey: r.entry.partitionKey }));
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
    if (options.delete) totals.deleted += await deleteDeadLetters(redis, streamName, ready.map((r) => r.entry.id));
    options.onProgress?.({ read: totals.read, put: totals.put, deleted: totals.deleted, recovered: totals.recovered, unrecovered: totals.unrecovered.length });
  }
  return totals;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      redis: { type: 'string' },
      stream: { type: 'string' },
      'to-kinesis': { type: 'string' },
      'source-stream': { type: 'string' },
      recover: { type: 'boolean', default: false },
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
    process.stderr.write(
      'usage: replay-dead-letters --redis URL --stream NAME [--recover] [--to-kinesis TARGET [--source-stream NAME] [--delete]] [--endpoint URL] [--region R] [--from ID] [--to ID] [--limit N]\n',
    );
    process.exitCode = 2;
    return;
  }
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  const range = { from: values.from, to: values.to, limit };
  const source = values['source-stream'] ?? stream;
  const target = values['to-kinesis'];
  const redis = createRedisClient(url);
  let kinesis: KinesisClient | undefined;
  const kinesisClient = (): KinesisClient => {
    sdkNodeNotice(); // the README states the SDK's Node 22 requirement
    kinesis ??= new KinesisClient({
      requestHandler: new NodeHttpHandler(),
      ...(values.endpoint === undefined ? {} : { endpoint: values.endpoint }),
      ...(values.region === undefined ? {} : { region: values.region }),
    });
    return kinesis;
  };
  const unrecovered = (u: UnrecoveredLetter): void => {
    process.stderr.write(`${describeUnrecovered(u)}\n`);
  };
  try {
    if (target === undefined) {
      let n = 0;
      let missed = 0;
      for await (const page of readDeadLetters(redis, stream, range)) {
        for (const e of page) {
          if (values.recover && e.truncated) {
            const r = await recoverRecord(kinesisClient(), source, e);
            if (!r.ok) {
              missed++;
              unrecovered({ id: e.id, shardId: e.shardId, sequenceNumber: e.sequenceNumber, subSequenceNumber: e.subSequenceNumber, why: r.why });
              continue;
            }
            const { truncated: _t, ...full } = e;
            process.stdout.write(`${JSON.stringify({ ...full, data: r.data.toString('base64'), recovered: true })}\n`);
            continue;
          }
          process.stdout.write(`${JSON.stringify(e)}\n`);
        }
        n += page.length;
      }
      process.stderr.write(`${n} dead letters in ${deadLetterKey(stream)} on ${redactUrl(url)}${missed > 0 ? `; ${missed} could not be recovered` : ''}\n`);
      if (missed > 0) process.exitCode = 3;
      return;
    }
    const totals = await replayToKinesis(redis, stream, {
      ...range,
      targetStream: target,
      sourceStream: source,
      kinesis: kinesisClient(),
      delete: values.delete,
      onUnrecovered: unrecovered,
      onProgress: (t) => process.stderr.write(`read ${t.read}, put ${t.put}, deleted ${t.deleted}, recovered ${t.recovered}, not recovered ${t.unrecovered}\n`),
    });
    process.stderr.write(`done: ${JSON.stringify({ ...totals, unrecovered: totals.unrecovered.length })}\n`);
    if (totals.unrecovered.length > 0) {
      process.stderr.write(`${totals.unrecovered.length} dead letters could not be recovered (listed above); they are kept in ${deadLetterKey(stream)}\n`);
      process.exitCode = 3;
    }
  } finally {
    kinesis?.destroy();
    await closeRedisClient(redis);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`replay-dead-letters: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
