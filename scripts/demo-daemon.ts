/**
 * The main job on the real thing, locally: the Java KCL MultiLangDaemon drives bin/lastopens
 * against the local stack. Starts the stack (private ports), creates a 2-shard stream, puts a few
 * thousand app-open events (some invalid), starts the daemon, shows progress while the workers
 * apply them, prints a summary (applied, dead-lettered, per platform, lag, checkpoints) and shuts
 * everything down. Run with `make demo-daemon` (needs `make setup` with Java present).
 *
 * DEMO_EVENTS (default 3000), DEMO_SHARDS (default 2), DEMO_KEEP=1 keeps the logs folder.
 */
import { Redis } from 'ioredis';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon } from './daemon.js';
import { createStream, localKinesisClient, readLeases, readShardEnds } from './kinesis.js';
import { BatchProducer } from '../src/producer/index.js';
import { writeProperties } from './properties.js';
import { ROOT, stackEnv, startStack, waitFor, type Stack } from './stack.js';
import { toAvro, type AppOpen } from '../src/app-opens/model/index.js';

const EVENTS = Number(process.env.DEMO_EVENTS ?? 3000);
const SHARDS = Number(process.env.DEMO_SHARDS ?? 2);
const STREAM = 'app-opens';
const APP = 'lastopens-demo';
const PLATFORMS = ['ios', 'android', 'web'] as const;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

function events(now: number): { payloads: { Data: Buffer; PartitionKey: string }[]; expected: Map<string, number>; invalid: number; perPlatform: Map<string, number> } {
  const payloads: { Data: Buffer; PartitionKey: string }[] = [];
  const expected = new Map<string, number>();
  const perPlatform = new Map<string, number>();
  let invalid = 0;
  for (let i = 0; i < EVENTS; i++) {
    const userId = BigInt(1 + (i % 500));
    if (i % 250 === 249) {
      payloads.push({ Data: Buffer.from('not an app open'), PartitionKey: String(userId) });
      invalid++;
      continue;
    }
    const platform = i % 100 === 42 ? 'Not Valid' : (PLATFORMS[i % 3] as string);
    const event: AppOpen = { userId, platform, timestamp: now - 3600 + ((i * 7919) % 3600), appVersion: '4.2.0', deviceId: null };
    payloads.push({ Data: toAvro(event), PartitionKey: String(userId) });
    if (platform === 'Not Valid') {
      invalid++;
      continue;
    }
    perPlatform.set(platform, (perPlatform.get(platform) ?? 0) + 1);
    const key = `user:${userId}:checkpoint ${platform}_app_open`;
    expected.set(key, Math.max(expected.get(key) ?? 0, event.timestamp));
  }
  return { payloads, expected, invalid, perPlatform };
}

async function applied(redis: Redis, expected: Map<string, number>): Promise<number> {
  const pipeline = redis.pipeline();
  const entries = [...expected];
  for (const [id] of entries) {
    const [key, field] = id.split(' ') as [string, string];
    pipeline.hget(key, field);
  }
  const results = (await pipeline.exec()) ?? [];
  return entries.filter(([, ts], i) => Number(results[i]?.[1] ?? 0) === ts).length;
}

async function main(): Promise<number> {
  if (!existsSync(join(ROOT, 'vendor', 'kcl-jars'))) {
    say('no KCL jars: run make setup (or make jars) with Java and Maven installed');
    return 1;
  }
  if (!existsSync(join(ROOT, 'dist', 'app-opens', 'bin', 'lastopens.js'))) {
    say('bin/lastopens is not built: run make setup');
    return 1;
  }
  const dir = mkdtempSync(join(tmpdir(), 'lastopens-daemon-demo-'));
  let stack: Stack | undefined;
  let daemon: Daemon | undefined;
  let redis: Redis | undefined;
  const t0 = Date.now();
  try {
    stack = await startStack({ dir: join(dir, 'stack') });
    say(`stack up in ${Date.now() - t0} ms: kinesis ${stack.kinesisEndpoint}, dynamodb ${stack.dynamoEndpoint}, redis ${stack.redisUrl}`);
    const kinesis = localKinesisClient(stack.kinesisEndpoint);
    const shards = await createStream(kinesis, STREAM, SHARDS);
    const { payloads, expected, invalid, perPlatform } = events(Math.floor(Date.now() / 1000));
    const tPut = Date.now();
    // Through the project's producer, as the App Opens API sends them.
    const dropped: string[] = [];
    const producer = new BatchProducer({
      client: kinesis,
      streamName: STREAM,
      whenFull: 'wait',
      onDropped: (record, error) => void dropped.push(`${record.partitionKey}: ${error.message}`),
    });
    producer.start();
    for (const p of payloads) await producer.add(p.Data as Uint8Array, p.PartitionKey!);
    const flushed = await producer.stop(60_000);
    const tPutDone = Date.now();
    if (flushed.remaining > 0 || dropped.length > 0) throw new Error(`the producer could not deliver everything: ${JSON.stringify(flushed)}; ${dropped.slice(0, 3).join('; ')}`);
    const { last, count: placedCount } = await readShardEnds(kinesis, STREAM, shards);
    kinesis.destroy();
    if (placedCount !== payloads.length) throw new Error(`the stream holds ${placedCount} records, ${payloads.length} were sent`);
    say(`put ${placedCount} events (${invalid} invalid) on ${shards.length} shards through BatchProducer in ${tPutDone - tPut} ms`);

    const properties = writeProperties(join(ROOT, 'properties', 'lastopens.local.properties'), join(dir, 'lastopens.properties'), {
      executableName: `${process.execPath} ${join(ROOT, 'bin', 'lastopens')}`,
      streamName: STREAM,
      applicationName: APP,
      kinesisEndpoint: stack.kinesisEndpoint,
      dynamoDBEndpoint: stack.dynamoEndpoint,
      workerId: 'demo',
    });
    const tDaemon = Date.now();
    daemon = startDaemon({
      propertiesFile: properties,
      logFile: join(dir, 'daemon.log'),
      env: { ...stackEnv(stack), STREAM_NAME: STREAM, LOG_PATH: join(dir, 'lastopens.log') },
    });
    say(`daemon started (pid ${daemon.pid}); its log: ${join(dir, 'daemon.log')}; worker log: ${join(dir, 'lastopens.log')}`);
    say('(a first start on an empty lease table waits 1-30 s before it lists the shards)');

    redis = new Redis(stack.redisUrl);
    const client = redis;
    const running = daemon;
    let firstAt = 0;
    let lastLine = '';
    await waitFor('every event applied', async () => {
      if (!running.running) throw new Error(`the daemon exited: ${JSON.stringify(await running.exited)}`);
      const [done, dead] = await Promise.all([applied(client, expected), client.xlen(`deadletter:${STREAM}`)]);
      if (firstAt === 0 && running.children().length > 0) firstAt = Date.now();
      const line = `  ${Math.round((Date.now() - tDaemon) / 1000)}s: ${done}/${expected.size} user/platform values final, ${dead}/${invalid} dead letters, ${running.children().length} workers`;
      if (line.replace(/^ +\d+s/, '') !== lastLine) say(line);
      lastLine = line.replace(/^ +\d+s/, '');
      return done === expected.size && dead === invalid;
    }, 240_000, 1000);
    const tDone = Date.now();

    await waitFor('checkpoints at the end of each shard', async () => {
      const leases = await readLeases(stack!.dynamoEndpoint, APP);
      return [...last].every(([shard, seq]) => leases.find((l) => l.leaseKey === shard)?.checkpoint === seq);
    }, 30_000, 500);
    const leases = await readLeases(stack.dynamoEndpoint, APP);

    say('');
    say('summary');
    say(`  events put             ${placedCount}`);
    say(`  applied (valid)        ${placedCount - invalid}  -> ${expected.size} user/platform values in Redis, all equal to the latest open`);
    say(`  dead-lettered          ${await redis.xlen(`deadletter:${STREAM}`)}  (stream deadletter:${STREAM})`);
    say(`  per platform           ${[...perPlatform].map(([p, n]) => `${p} ${n}`).join(', ')}`);
    say(`  timing                 daemon start -> workers up ${((firstAt - tDaemon) / 1000).toFixed(1)} s (JVM, lease table, shard sync); workers up -> all applied ${((tDone - firstAt) / 1000).toFixed(1)} s`);
    say(`  lag                    last event put -> applied ${((tDone - tPutDone) / 1000).toFixed(1)} s (includes the daemon start)`);
    for (const lease of leases) {
      say(`  ${lease.leaseKey}  checkpoint ${lease.checkpoint} (= last record: ${lease.checkpoint === last.get(lease.leaseKey) ? 'yes' : 'no'}), owner ${lease.leaseOwner}`);
    }
    const tStop = Date.now();
    const exit = await daemon.stop('SIGTERM', 60_000);
    say(`daemon stopped with SIGTERM in ${Date.now() - tStop} ms (exit ${exit.code ?? exit.signal}); total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
    redis?.disconnect();
    if (daemon?.running) await daemon.kill();
    await stack?.stop();
    if (process.env.DEMO_KEEP === '1') say(`logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
