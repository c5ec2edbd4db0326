/**
 * The main job without Java or AWS: bin/lastopens, driven by the test daemon exactly as the KCL
 * MultiLangDaemon drives it, applies a few thousand app-open events (some invalid) to a private
 * Redis, then prints what happened. Run with `make demo-local`.
 */
import { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toAvro, type AppOpen } from '../src/app-opens/model/index.js';
import { TestDaemon, makeRecords } from '../src/testing/index.js';
import { startRedis, stopAllRedis } from '../test/helpers/redis.js';

const BIN = fileURLToPath(new URL('../bin/lastopens', import.meta.url));
const PLATFORMS = ['ios', 'android', 'web'];
const EVENTS = Number(process.env.DEMO_EVENTS ?? 5000);
const BATCH = 1000;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  const dir = mkdtempSync(join(tmpdir(), 'lastopens-demo-'));
  const now = Math.floor(Date.now() / 1000);
  say(`private Redis at ${redis.url}; worker log in ${dir}/lastopens.log`);

  // Events: mostly valid, 1% with a bad platform, a few bytes of garbage every 500.
  const payloads: Buffer[] = [];
  const expected = new Map<string, number>();
  let invalid = 0;
  for (let i = 0; i < EVENTS; i++) {
    if (i % 500 === 499) {
      payloads.push(Buffer.from('not an app open'));
      invalid++;
      continue;
    }
    const event: AppOpen = {
      userId: BigInt(1 + (i % 700)),
      platform: i % 100 === 42 ? 'Not Valid' : PLATFORMS[i % 3]!,
      timestamp: now - 3600 + (i % 3600),
      appVersion: '4.2.0',
      deviceId: null,
    };
    if (event.platform === 'Not Valid') invalid++;
    else {
      const key = `user:${event.userId}:checkpoint ${event.platform}_app_open`;
      expected.set(key, Math.max(expected.get(key) ?? 0, event.timestamp));
    }
    payloads.push(toAvro(event));
  }
  const records = makeRecords(payloads, { partitionKey: (i) => String(1 + (i % 700)) });

  const daemon = TestDaemon.spawn(BIN, {
    env: { ...process.env, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'app-opens-demo', LOG_PATH: join(dir, 'lastopens.log') },
  });
  const started = performance.now();
  try {
    await daemon.initialize('shardId-000000000000');
    for (let i = 0; i < records.length; i += BATCH) {
      const batch = records.slice(i, i + BATCH);
      const { checkpoints } = await daemon.processRecords(batch, (records.length - i - batch.length) * 10);
      say(`batch ${i / BATCH + 1}: ${batch.length} records, checkpointed at ...${checkpoints.at(-1)?.sequenceNumber?.slice(-8) ?? 'nothing'}`);
    }
    await daemon.shutdownRequested();
    const exit = await daemon.closeInput();
    const seconds = (performance.now() - started) / 1000;

    let matching = 0;
    const perPlatform = new Map<string, number>();
    for (const [k, ts] of expected) {
      const [key, field] = k.split(' ') as [string, string];
      if ((await client.hget(key, field)) === String(ts)) matching++;
      const platform = field.replace(/_app_open$/, '');
      perPlatform.set(platform, (perPlatform.get(platform) ?? 0) + 1);
    }
    const deadLettered = await client.xlen('deadletter:app-opens-demo');
    say('');
    say(`records sent:        ${records.length} in ${seconds.toFixed(2)} s`);
    say(`fields expected:     ${expected.size}, matching in Redis: ${matching}`);
    say(`per platform:        ${[...perPlatform].map(([p, n]) => `${p}=${n}`).join(' ')}`);
    say(`dead-lettered:       ${deadLettered} (invalid sent: ${invalid})`);
    say(`last checkpoint:     ${daemon.checkpointedSequence}`);
    say(`non-protocol stdout: ${daemon.strayLines.length} lines; worker exit code ${exit.code}`);
    if (matching !== expected.size || deadLettered !== invalid || exit.code !== 0 || daemon.strayLines.length > 0) {
      throw new Error('the demo did not come out as expected');
    }
  } finally {
    await daemon.stop();
    client.disconnect();
    await stopAllRedis();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
