/**
 * A private kinesalite (Kinesis on memdown) started in this process on a free port, with a
 * stream created and ACTIVE, and a way to read back everything in it.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const require = createRequire(import.meta.url);
const kinesalite = require('kinesalite') as (options?: { createStreamMs?: number; shardLimit?: number }) => Server;

/** A record read back from the stream. */
export interface StoredRecord {
  shardId: string;
  data: Buffer;
  partitionKey: string;
  sequenceNumber: string;
}

export interface Kinesalite {
  endpoint: string;
  streamName: string;
  /** A client for the stand-in (HTTP/1.1, dummy credentials, SDK retries off). */
  client: KinesisClient;
  /** Every record in the stream, shard by shard, each shard in sequence order. */
  readAll(): Promise<StoredRecord[]>;
  close(): Promise<void>;
}

/** Makes a client for a local endpoint: HTTP/1.1 (kinesalite has no HTTP/2) and dummy credentials. */
export function localClient(endpoint: string): KinesisClient {
  return new KinesisClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 50 } }),
  });
}

/** Starts kinesalite on 127.0.0.1:0 and creates `streamName` with `shards` shards. */
export async function startKinesalite(options: { shards?: number; streamName?: string } = {}): Promise<Kinesalite> {
  const server = kinesalite({ createStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const streamName = options.streamName ?? 'test-stream';
  const client = localClient(endpoint);
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: options.shards ?? 2 }));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const d = await client.send(new DescribeStreamCommand({ StreamName: streamName }));
    if (d.StreamDescription?.StreamStatus === 'ACTIVE') break;
    if (Date.now() > deadline) throw new Error(`stream ${streamName} not ACTIVE after 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    endpoint,
    streamName,
    client,
    readAll: () => readAll(client, streamName),
    close: async () => {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readAll(client: KinesisClient, streamName: string): Promise<StoredRecord[]> {
  const shards = (await client.send(new ListShardsCommand({ StreamName: streamName }))).Shards ?? [];
  const out: StoredRecord[] = [];
  for (const shard of shards) {
    const shardId = shard.ShardId!;
    let iterator = (
      await client.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))
    ).ShardIterator;
    // An open shard always hands back a next iterator: stop at the first empty read.
    for (let i = 0; iterator !== undefined && i < 10_000; i++) {
      const r = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      const records = r.Records ?? [];
      for (const rec of records) {
        out.push({ shardId, data: Buffer.from(rec.Data!), partitionKey: rec.PartitionKey!, sequenceNumber: rec.SequenceNumber! });
      }
      if (records.length === 0) break;
      iterator = r.NextShardIterator;
    }
  }
  return out;
}
