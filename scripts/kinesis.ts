/**
 * Kinesis and lease-table chores against the local stack: a Kinesis client that works with
 * kinesis-local, stream creation, putting records (retrying partial failures), and reading the
 * KCL lease table from dynalite.
 *
 * The SDK's default HTTP/2 handler fails against kinesis-local (ERR_HTTP2_ERROR on larger
 * PutRecords), so the client uses NodeHttpHandler (HTTP/1.1).
 */
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { setTimeout as sleep } from 'node:timers/promises';
import { sdkNodeNotice } from '../src/config/nodeSupport.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, awsJson, waitFor } from './stack.js';

/**
 * A Kinesis client for a local endpoint (HTTP/1.1, dummy credentials).
 * @example
 * const kinesis = localKinesisClient(stack.kinesisEndpoint);
 */
export function localKinesisClient(endpoint: string): KinesisClient {
  sdkNodeNotice(); // local tooling: the README says it once, no stderr line per client
  return new KinesisClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: { ...LOCAL_CREDENTIALS },
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 30_000 }),
    maxAttempts: 5,
  });
}

/**
 * Creates a stream and resolves once it is ACTIVE, with its shard ids.
 * @example
 * const shards = await createStream(kinesis, 'app-opens', 2);
 */
export async function createStream(client: KinesisClient, name: string, shardCount: number): Promise<string[]> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
  await waitFor(`stream ${name} to be ACTIVE`, async () => {
    const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    return out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
  }, 30_000, 200);
  const shards = await client.send(new ListShardsCommand({ StreamName: name }));
  return (shards.Shards ?? []).map((shard) => shard.ShardId as string);
}

/** Where a put record landed. */
export interface PutResult {
  shardId: string;
  sequenceNumber: string;
}

/**
 * Puts records in PutRecords calls of up to 500, retrying the entries a call reports failed
 * (FailedRecordCount > 0 comes back as HTTP 200), and returns where each landed, in input order.
 * @example
 * const placed = await putAll(kinesis, 'app-opens', [{ Data: Buffer.from('x'), PartitionKey: 'u1' }]);
 */
export async function putAll(
  client: KinesisClient,
  stream: string,
  entries: readonly PutRecordsRequestEntry[],
  batchSize = 500,
): Promise<PutResult[]> {
  const results: PutResult[] = new Array<PutResult>(entries.length);
  for (let start = 0; start < entries.length; start += batchSize) {
    let pending = entries.slice(start, start + batchSize).map((entry, i) => ({ entry, index: start + i }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= 10) throw new Error(`PutRecords: ${pending.length} records still failing after 10 attempts`);
      if (attempt > 0) await sleep(Math.min(2000, 50 * 2 ** attempt));
      const out = await client.send(new PutRecordsCommand({ StreamName: stream, Records: pending.map((p) => p.entry) }));
      const failed: typeof pending = [];
      (out.Records ?? []).forEach((record, i) => {
        const item = pending[i];
        if (item === undefined) return;
        if (record.ErrorCode || !record.SequenceNumber || !record.ShardId) failed.push(item);
        else results[item.index] = { shardId: record.ShardId, sequenceNumber: record.SequenceNumber };
      });
      pending = failed;
    }
  }
  return results;
}

/**
 * The last sequence number put on each shard (compared as numbers: they are 56-digit decimals).
 * @example
 * lastSequenceByShard(placed).get('shardId-000000000000');
 */
export function lastSequenceByShard(placed: readonly PutResult[]): Map<string, string> {
  const last = new Map<string, string>();
  for (const { shardId, sequenceNumber } of placed) {
    const current = last.get(shardId);
    if (current === undefined || BigInt(sequenceNumber) > BigInt(current)) last.set(shardId, sequenceNumber);
  }
  return last;
}

/**
 * Reads every shard of a stream from the start and returns the last sequence number on each
 * (for records put by a producer that does not report them), and the record count.
 * @example
 * const { last, count } = await readShardEnds(kinesis, 'app-opens', shards);
 */
export async function readShardEnds(client: KinesisClient, stream: string, shards: readonly string[]): Promise<{ last: Map<string, string>; count: number }> {
  const last = new Map<string, string>();
  let count = 0;
  for (const shardId of shards) {
    const it = await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
    let iterator = it.ShardIterator;
    for (let calls = 0; iterator && calls < 1000; calls++) {
      const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      const records = out.Records ?? [];
      count += records.length;
      const tail = records[records.length - 1];
      if (tail?.SequenceNumber) last.set(shardId, tail.SequenceNumber);
      if (records.length === 0 && (out.MillisBehindLatest ?? 0) === 0) break;
      iterator = out.NextShardIterator;
    }
  }
  return { last, count };
}

/** One row of the KCL lease table (the fields the tests look at). */
export interface Lease {
  leaseKey: string;
  leaseOwner?: string;
  /** A sequence number, or TRIM_HORIZON / LATEST / SHARD_END. */
  checkpoint?: string;
  checkpointSubSequenceNumber?: number;
  leaseCounter?: number;
}

type AttributeValue = { S?: string; N?: string };

/**
 * Reads the KCL lease table (`applicationName` unless tableName was set) from a local DynamoDB.
 * Returns [] while the table does not exist.
 * @example
 * const leases = await readLeases(stack.dynamoEndpoint, 'lastopens-local');
 */
export async function readLeases(dynamoEndpoint: string, table: string): Promise<Lease[]> {
  const leases: Lease[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const res = await awsJson(
      dynamoEndpoint,
      'DynamoDB_20120810.Scan',
      { TableName: table, ConsistentRead: true, ...(startKey ? { ExclusiveStartKey: startKey } : {}) },
      '1.0',
    );
    const body = (await res.json()) as {
      __type?: string;
      Items?: Record<string, AttributeValue>[];
      LastEvaluatedKey?: Record<string, AttributeValue>;
    };
    if (!res.ok) {
      if (body.__type?.endsWith('ResourceNotFoundException')) return [];
      throw new Error(`Scan ${table}: HTTP ${res.status} ${JSON.stringify(body)}`);
    }
    for (const item of body.Items ?? []) {
      const lease: Lease = { leaseKey: item.leaseKey?.S ?? '' };
      if (item.leaseOwner?.S !== undefined) lease.leaseOwner = item.leaseOwner.S;
      if (item.checkpoint?.S !== undefined) lease.checkpoint = item.checkpoint.S;
      if (item.checkpointSubSequenceNumber?.N !== undefined) {
        lease.checkpointSubSequenceNumber = Number(item.checkpointSubSequenceNumber.N);
      }
      if (item.leaseCounter?.N !== undefined) lease.leaseCounter = Number(item.leaseCounter.N);
      leases.push(lease);
    }
    startKey = body.LastEvaluatedKey;
  } while (startKey);
  return leases.sort((a, b) => a.leaseKey.localeCompare(b.leaseKey));
}
