/**
 * bin/lastopens with METRICS_PATH, as a real child process under the test daemon, against a
 * private redis-server that really goes down and comes back: every metrics line is valid EMF
 * (the published schema), and the totals across lines equal what the pipeline did in a run with
 * poison records, a Redis outage and throttled checkpoints, each counted independently (the Redis
 * state, the dead-letter stream, the daemon's own record of checkpoint replies, the worker's log).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { KinesisRecord } from '../../../src/core/types.js';
import { toAvro } from '../../../src/app-opens/model/index.js';
import { parseEmfLines, total } from '../../helpers/emf.js';
import { LastOpenModel, randomOpen, rng, spawnLastopens, toRecords, until, type LastopensWorker } from '../../helpers/lastopens.js';
import { startRedis, stopAllRedis } from '../../helpers/redis.js';

const SHARD = 'shardId-000000000013';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
after(stopAllRedis);

/** Batches of valid AppOpens with `poison[b]` undecodable records mixed into batch b. */
function stream(sizes: number[], poison: number[]): { batches: KinesisRecord[][]; model: LastOpenModel; valid: number; poisoned: number } {
  const next = rng(13);
  const model = new LastOpenModel();
  const batches: KinesisRecord[][] = [];
  let n = 0;
  let valid = 0;
  let poisoned = 0;
  sizes.forEach((size, b) => {
    const payloads: Buffer[] = [];
    for (let i = 0; i < size; i++) {
      if (i % 97 === 5 && poisoned < poison.slice(0, b + 1).reduce((a, c) => a + c, 0)) {
        payloads.push(Buffer.from(`not an app open ${i}`));
        poisoned++;
        continue;
      }
      const e = randomOpen(next, 300);
      model.add(e);
      payloads.push(toAvro(e));
      valid++;
    }
    batches.push(toRecords(payloads, n));
    n += size;
  });
  return { batches, model, valid, poisoned };
}

describe('bin/lastopens metrics (METRICS_PATH)', () => {
  test('poison records, a Redis outage and throttled checkpoints: every line valid EMF, totals equal what happened', async () => {
    // Prepare: persistent Redis (a restart keeps what it acknowledged), three batches, the last
    // one's checkpoint throttled twice before it takes.
    const server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const client = new Redis(server.url, { maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    cleanups.push(async () => {
      client.disconnect();
      await server.stop();
    });
    const { batches, model, valid, poisoned } = stream([1_000, 1_000, 1_000], [4, 0, 0]);
    const throttleAt = batches[2]!.at(-1)!.sequenceNumber;
    let throttled = 0;
    const w: LastopensWorker = spawnLastopens(
      server.url,
      { METRICS_PATH: 'metrics.emf', METRICS_NAMESPACE: 'LastOpensTest', METRICS_INTERVAL_MS: '250', STATS_INTERVAL_MS: '0' },
      { onCheckpoint: (r) => (r.sequenceNumber === throttleAt && throttled < 2 ? (throttled++, 'ThrottlingException') : null) },
    );
    cleanups.push(async () => {
      await w.daemon.stop();
      rmSync(w.dir, { recursive: true, force: true });
    });
    const metricsPath = join(w.dir, 'metrics.emf');
    const lines = (): Array<Record<string, unknown>> => (existsSync(metricsPath) ? parseEmfLines(readFileSync(metricsPath, 'utf8')) : []);

    // Act
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(batches[0]!, 3_000);
    await until(() => lines().some((l) => l.reason === 'interval' && (l.RecordsProcessed as number) > 0), 'an interval line with the first batch', 30_000);
    await server.down();
    const pending = w.daemon.processRecords(batches[1]!, 2_000);
    await until(() => w.logged('retriable processor failure').length >= 3, 'three failed attempts while Redis is down', 60_000);
    await server.up();
    await pending;
    await w.daemon.processRecords(batches[2]!, 1_000);
    await w.daemon.shutdownRequested();
    const exit = await w.daemon.closeInput();

    // Assess: what really happened, each from its own witness.
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.deepEqual(w.daemon.strayLines, [], 'nothing but the protocol on stdout');
    assert.deepEqual(await model.diff(client), [], 'every valid record applied');
    const deadLetters = await client.xlen('deadletter:app-opens');
    const acks = w.daemon.checkpoints.filter((c) => c.error === null).length;
    const refusals = w.daemon.checkpoints.filter((c) => c.error !== null).length;
    const retries = w.logged('retriable processor failure').length + w.logged('dead-letter write failed').length;
    assert.equal(deadLetters, poisoned);
    assert.equal(refusals, 2);
    assert.ok(retries >= 3);

    const docs = lines(); // parseEmfLines has validated every line against the EMF schema
    assert.ok(docs.length >= 2, `several lines (${docs.length})`);
    for (const d of docs) {
      const directive = (d._aws as { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> }).CloudWatchMetrics[0]!;
      assert.equal(directive.Namespace, 'LastOpensTest');
      assert.deepEqual(directive.Dimensions, [['StreamName', 'ShardId'], ['StreamName']]);
      assert.deepEqual([d.StreamName, d.ShardId], ['app-opens', SHARD]);
    }
    assert.equal(total(docs, 'RecordsProcessed'), valid, 'RecordsProcessed = valid records applied');
    assert.equal(total(docs, 'RecordsDeadLettered'), deadLetters, 'RecordsDeadLettered = entries in the dead-letter stream');
    assert.equal(total(docs, 'ProcessingFailures'), retries, 'ProcessingFailures = retried attempts logged');
    assert.equal(total(docs, 'Checkpoints'), acks, 'Checkpoints = checkpoints the daemon accepted');
    assert.equal(total(docs, 'CheckpointFailures'), refusals, 'CheckpointFailures = checkpoints the daemon refused');
    assert.equal(total(docs, 'Batches'), 3);
    assert.equal(total(docs, 'RedisWriteCount'), 3, 'one successful Redis write per batch (CHUNK_SIZE 2000 > batch)');
    assert.ok(total(docs, 'RedisWriteMs') > 0);
    assert.equal(Math.max(...docs.map((d) => (d.MillisBehindLatestMax as number | undefined) ?? 0)), 3_000);
    assert.equal(docs.filter((d) => d.MillisBehindLatest !== undefined).at(-1)!.MillisBehindLatest, 1_000, 'the last lag seen');
    assert.ok(docs.some((d) => d.reason === 'shutdownRequested'), 'a line at shutdownRequested');
    assert.ok(docs.some((d) => typeof d.BatchDurationP99 === 'number' && (d.BatchDurationP99 as number) >= (d.BatchDurationP50 as number)));
  });

  test('a long interval and the daemon closing stdin mid-run: what was counted reaches the file at exit', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const { batches, valid, poisoned } = stream([500, 500], [2, 1]);
    const w = spawnLastopens(server.url, { METRICS_PATH: 'metrics.emf', METRICS_INTERVAL_MS: '3600000' });
    cleanups.push(async () => {
      await w.daemon.stop();
      rmSync(w.dir, { recursive: true, force: true });
    });
    await w.daemon.initialize(SHARD);
    for (const b of batches) await w.daemon.processRecords(b, 0);
    const exit = await w.daemon.closeInput();
    assert.deepEqual(exit, { code: 0, signal: null });
    const docs = parseEmfLines(readFileSync(join(w.dir, 'metrics.emf'), 'utf8'));
    assert.deepEqual(
      docs.map((d) => [d.reason, d.RecordsProcessed, d.RecordsDeadLettered, d.Checkpoints, d._aws && (d._aws as { CloudWatchMetrics: Array<{ Namespace: string }> }).CloudWatchMetrics[0]!.Namespace]),
      [['exit', valid, poisoned, 2, 'KinesisStreams']],
      'one line, written at exit, with everything; the default namespace',
    );
  });

  test('METRICS_PATH naming stdout is a configuration error (exit 78, one stderr line), never a write to stdout', async () => {
    const w = spawnLastopens('redis://127.0.0.1:1', { METRICS_PATH: '/dev/stdout' });
    cleanups.push(async () => {
      await w.daemon.stop();
      rmSync(w.dir, { recursive: true, force: true });
    });
    const exit = await w.daemon.exited;
    assert.deepEqual(exit, { code: 78, signal: null });
    assert.match(w.daemon.stderr, /^lastopens: METRICS_PATH is malformed: .*stdout/);
    assert.equal(w.daemon.stderr.trim().split('\n').length, 1);
    assert.deepEqual(w.daemon.strayLines, []);
  });
});
