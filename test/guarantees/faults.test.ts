/**
 * The promises of docs/guarantees.md under real faults: the built bin/lastopens, a real child
 * process driven by the test daemon, against a private redis-server that is stopped, restarted,
 * paused or made to refuse commands for real. Every write Redis executes is watched (MONITOR) to
 * prove that no stored timestamp ever moves backwards, and the final state is compared with a
 * model of the stream (the max timestamp per user and platform).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, afterEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { KinesisRecord } from '../../src/core/types.js';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';
import {
  LastOpenModel,
  NOW,
  WriteWatcher,
  appOpenStream,
  randomOpen,
  rng,
  spawnLastopens,
  streamEntries,
  toRecords,
  until,
  type LastopensWorker,
} from '../helpers/lastopens.js';

const SHARD = 'shardId-000000000042';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
after(stopAllRedis);

async function setup(opts: { persistent?: boolean; password?: string } = {}): Promise<{ server: RedisServer; client: Redis; watcher: WriteWatcher }> {
  // AOF with fsync on every write: a restarted server keeps what it acknowledged, as a production
  // Redis with persistence does (without it, a restart would wipe the data, not the worker's fault).
  const args = opts.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : [];
  const server = await startRedis({ args, ...(opts.password === undefined ? {} : { password: opts.password }) });
  const client = new Redis(server.url, { maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  const watcher = await WriteWatcher.start(server.url);
  cleanups.push(async () => {
    watcher.stop();
    client.disconnect();
    await server.stop();
  });
  return { server, client, watcher };
}

function worker(url: string, env: Record<string, string> = {}, options: Parameters<typeof spawnLastopens>[2] = {}): LastopensWorker {
  const w = spawnLastopens(url, env, options);
  cleanups.push(async () => {
    await w.daemon.stop();
    rmSync(w.dir, { recursive: true, force: true });
  });
  return w;
}

const seqs = (checkpoints: Array<{ sequenceNumber: string | null }>): Array<string | null> => checkpoints.map((c) => c.sequenceNumber);
const lastSeq = (batch: KinesisRecord[]): string => batch.at(-1)!.sequenceNumber;

describe('Redis unavailable', () => {
  test('Redis down for several seconds mid-batch and back: the batch is retried, no checkpoint while down, everything applied after, nothing backwards', async () => {
    // Prepare: three batches over the same 300 users, so later batches carry older timestamps too.
    const { server, client, watcher } = await setup({ persistent: true });
    const { batches, model } = appOpenStream(1, 6_000, 2_000, 300);
    const w = worker(server.url);
    await w.daemon.initialize(SHARD);
    const first = await w.daemon.processRecords(batches[0]!);
    assert.deepEqual(seqs(first.checkpoints), [lastSeq(batches[0]!)]);

    // Act: the server goes away, a batch arrives, the server stays away for 4 s, then returns.
    await server.down();
    const downAt = Date.now();
    const pending = w.daemon.processRecords(batches[1]!);
    await until(() => w.logged('retriable processor failure').length >= 3, 'three failed attempts while Redis is down');
    await until(() => Date.now() - downAt >= 4_000, 'four seconds of outage');
    const checkpointsWhileDown = w.daemon.checkpoints.length;
    await server.up();
    await until(() => watcher.attached, 'MONITOR reattached', 10_000);
    const second = await pending;
    const third = await w.daemon.processRecords(batches[2]!);
    await w.daemon.shutdownRequested();
    const exit = await w.daemon.closeInput();

    // Assess
    assert.equal(checkpointsWhileDown, 1, 'nothing checkpointed while Redis was down');
    assert.deepEqual(seqs(second.checkpoints), [lastSeq(batches[1]!)]);
    assert.deepEqual(seqs(third.checkpoints), [lastSeq(batches[2]!)]);
    assert.deepEqual(await model.diff(client), [], 'Redis holds exactly the max timestamp of every (user, platform)');
    assert.deepEqual(watcher.backwards, [], 'no stored timestamp ever moved backwards');
    assert.ok(watcher.writes > 0);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.deepEqual(w.daemon.strayLines, []);
    assert.equal(w.daemon.stderr, '', 'a Redis outage is not worth a stderr line (the daemon logs those as ERROR)');
    const failures = w.logged('retriable processor failure');
    const batch1 = new Set(batches[1]!.map((r) => r.sequenceNumber));
    assert.ok(failures.every((l) => l.shardId === SHARD && batch1.has(String(l.sequenceNumber))), 'each failure names a record of the batch in hand');
    assert.ok(w.logged('redis connection error').length >= 1, 'the outage is logged');
  });

  test('CLIENT PAUSE WRITE longer than the command timeout (as during a failover): the timed-out write is retried, no checkpoint until it is applied, nothing backwards', async () => {
    // A real fault: FAILOVER and cluster manual failovers pause writes with CLIENT PAUSE WRITE.
    // The worker's script call outlives its 5 s timeout, is retried, and the original call still
    // runs when the pause ends: the effect must not mind running twice.
    const { server, client, watcher } = await setup();
    const { batches, model } = appOpenStream(2, 2_000, 1_000, 200);
    const w = worker(server.url);
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(batches[0]!);
    await client.call('CLIENT', 'PAUSE', '7500', 'WRITE');
    const pausedAt = Date.now();
    const pending = w.daemon.processRecords(batches[1]!);
    await until(() => w.logged('retriable processor failure').length >= 1, 'the first attempt timing out', 15_000);
    const checkpointsDuringPause = w.daemon.checkpoints.length;
    const pausedFor = Date.now() - pausedAt;
    const { checkpoints } = await pending;
    assert.equal(checkpointsDuringPause, 1, 'nothing checkpointed while writes were paused');
    assert.ok(pausedFor < 7_500, 'the timeout came while the pause lasted');
    assert.match(String(w.logged('retriable processor failure')[0]!.err), /timed out/i);
    assert.deepEqual(seqs(checkpoints), [lastSeq(batches[1]!)]);
    assert.deepEqual(await model.diff(client), []);
    assert.deepEqual(watcher.backwards, []);
    assert.deepEqual(w.daemon.strayLines, []);
  });
});

describe('Redis refusing some commands', () => {
  // A real fault: the worker's ACL user loses a permission (an operator's ACL change, a managed
  // Redis role edit). Redis then answers those commands, and only those, with NOPERM.
  async function aclSetup() {
    const env = await setup();
    await env.client.call('ACL', 'SETUSER', 'worker', 'on', '>worker-pass', '~*', '&*', '+@all');
    const url = `redis://worker:worker-pass@127.0.0.1:${env.server.port}`;
    return { ...env, url };
  }

  function mixedBatch(seed: number, count: number, start: number, poisonEvery: number): { batch: KinesisRecord[]; model: LastOpenModel; poison: string[] } {
    const next = rng(seed);
    const model = new LastOpenModel();
    const payloads: Buffer[] = [];
    const poisonIdx: number[] = [];
    for (let i = 0; i < count; i++) {
      if (i % poisonEvery === poisonEvery - 1) {
        payloads.push(Buffer.from(`not avro ${i}`));
        poisonIdx.push(i);
      } else {
        const e = randomOpen(next, 100);
        model.add(e);
        payloads.push(toAvro(e));
      }
    }
    const batch = toRecords(payloads, start);
    return { batch, model, poison: poisonIdx.map((i) => batch[i]!.sequenceNumber) };
  }

  test('NOPERM on EVALSHA/EVAL only: good records are retried, not dead-lettered; no checkpoint until the permission is back', async () => {
    const { client, url, watcher } = await aclSetup();
    const { batch, model, poison } = mixedBatch(3, 500, 0, 100);
    const w = worker(url);
    await w.daemon.initialize(SHARD);
    await client.call('ACL', 'SETUSER', 'worker', '-evalsha', '-eval');
    const pending = w.daemon.processRecords(batch);
    await until(() => w.logged('retriable processor failure').length >= 3, 'three refused attempts');
    assert.deepEqual(w.daemon.checkpoints, []);
    assert.equal(await client.xlen('deadletter:app-opens'), 0, 'no good record was dead-lettered, and no dead letter is written before the batch is processed');
    assert.match(String(w.logged('retriable processor failure')[0]!.err), /NOPERM/);
    await client.call('ACL', 'SETUSER', 'worker', '+evalsha', '+eval');
    const { checkpoints } = await pending;
    assert.deepEqual(seqs(checkpoints), [lastSeq(batch)]);
    assert.deepEqual(await model.diff(client), []);
    const letters = await streamEntries(client, 'deadletter:app-opens');
    assert.deepEqual(letters.map((l) => l.sequenceNumber).sort(), [...poison].sort(), 'exactly the poison records, once each');
    assert.deepEqual(watcher.backwards, []);
  });

  test('NOPERM on XADD only: the batch is applied, the dead letters are retried, and the checkpoint waits for them', async () => {
    const { client, url } = await aclSetup();
    const { batch, model, poison } = mixedBatch(4, 500, 0, 50);
    const w = worker(url);
    await w.daemon.initialize(SHARD);
    await client.call('ACL', 'SETUSER', 'worker', '-xadd');
    const pending = w.daemon.processRecords(batch);
    await until(() => w.logged('dead-letter write failed; retrying').length >= 3, 'three refused dead-letter writes');
    assert.deepEqual(w.daemon.checkpoints, [], 'no checkpoint past a record whose dead letter is not stored');
    assert.deepEqual(await model.diff(client), [], 'the good records were applied meanwhile');
    // The dead letters are written by a script: Redis names the refusal inside a script that way.
    assert.match(String(w.logged('dead-letter write failed; retrying')[0]!.err), /NOPERM|user executing the script can't run this command/);
    await client.call('ACL', 'SETUSER', 'worker', '+xadd');
    const { checkpoints } = await pending;
    assert.deepEqual(seqs(checkpoints), [lastSeq(batch)]);
    const letters = await streamEntries(client, 'deadletter:app-opens');
    assert.deepEqual(letters.map((l) => l.sequenceNumber).sort(), [...poison].sort());
    assert.ok(letters.every((l) => /DecodeError/.test(l.reason!) && l.shardId === SHARD));
  });
});

describe('worker crashes', () => {
  test('SIGKILL mid-batch, twice, and a new worker resumes from the last checkpoint: final state equals the model, no timestamp went backwards', async () => {
    // Prepare: 20 batches of 2,000 records over 500 users; replays re-send batches already
    // (partly) applied, exactly as KCL does after a crash.
    const { server, client, watcher } = await setup();
    const { batches, model } = appOpenStream(5, 40_000, 2_000, 500);
    // Kill 1: at the first write Redis executes for batch 6 (partly applied, not checkpointed).
    // Kill 2: while the daemon holds the checkpoint request of batch 14 (applied, not checkpointed;
    // the daemon dies with it and the checkpoint is not stored).
    const killAtWriteOf = 6;
    const killAtCheckpointOf = 14;
    let lastCheckpointed: string | null = null;
    let killedMidBatch = 0;
    let next = 0;
    let round = 0;
    while (next < batches.length) {
      assert.ok(++round <= 5, 'bounded number of restarts');
      let killInCheckpoint = false;
      const w = worker(server.url, {}, {
        onCheckpoint: () => {
          if (!killInCheckpoint) return null;
          w.daemon.kill('SIGKILL');
          return 'ShutdownException';
        },
      });
      await w.daemon.initialize(SHARD, lastCheckpointed ?? 'TRIM_HORIZON', lastCheckpointed === null ? null : 0);
      try {
        for (; next < batches.length; next++) {
          const batch = batches[next]!;
          if (round === 1 && next === killAtWriteOf) {
            killInCheckpoint = true; // should the write kill come late, the checkpoint is not taken either
            const before = watcher.writes;
            const pending = w.daemon.processRecords(batch);
            pending.catch(() => undefined);
            await until(() => watcher.writes > before, 'the first write of the batch', 10_000);
            w.daemon.kill('SIGKILL');
            await pending;
          } else {
            killInCheckpoint = round === 2 && next === killAtCheckpointOf;
            const { checkpoints } = await w.daemon.processRecords(batch);
            assert.deepEqual(seqs(checkpoints), [lastSeq(batch)]);
            lastCheckpointed = lastSeq(batch);
          }
        }
      } catch (err) {
        const exit = await w.daemon.exited;
        assert.equal(exit.signal, 'SIGKILL', `only the kills may stop a worker: ${String(err)}`);
        killedMidBatch++;
        // The daemon restarts the shard AT the last checkpoint: replay from the batch after it.
        next = lastCheckpointed === null ? 0 : batches.findIndex((b) => lastSeq(b) === lastCheckpointed) + 1;
        continue;
      }
      await w.daemon.shutdownRequested();
      assert.equal((await w.daemon.closeInput()).code, 0);
    }
    assert.equal(killedMidBatch, 2, 'both kills landed while a batch was in hand');
    assert.equal(lastCheckpointed, lastSeq(batches.at(-1)!), 'every batch ends up checkpointed');
    assert.deepEqual(await model.diff(client), []);
    assert.deepEqual(watcher.backwards, []);
    assert.ok(watcher.writes >= model.hashes.size, 'the watcher saw the writes');
  });
});

describe('poison records', () => {
  test('1% poison in 100,000 records (10 batches of 10,000): exactly the poison records are dead-lettered with reasons, all others applied, every batch checkpointed', async () => {
    // Prepare: 1,000 poison records of six kinds at random positions.
    const { client, server } = await setup();
    const next = rng(6);
    const model = new LastOpenModel();
    const kinds: Array<{ make: (i: number) => Buffer; reason: RegExp }> = [
      { make: (i) => Buffer.from(`garbage ${i}`), reason: /DecodeError/ },
      { make: () => Buffer.alloc(0), reason: /DecodeError: empty record/ },
      { make: (i) => toAvro({ ...open(i), platform: 'Bad-Platform' }), reason: /ValidationError.*platform/ },
      { make: (i) => toAvro({ ...open(i), userId: 0n }), reason: /ValidationError.*userId/ },
      { make: (i) => toAvro({ ...open(i), timestamp: NOW + 3 * 86_400 }), reason: /ValidationError.*timestamp/ },
      { make: (i) => toAvro(open(i)).subarray(0, 14), reason: /DecodeError: truncated/ },
    ];
    function open(i: number): AppOpen {
      return { userId: BigInt(1 + (i % 20_000)), platform: 'ios', timestamp: NOW - (i % 1000), appVersion: null, deviceId: null };
    }
    const total = 100_000;
    const poisonAt = new Set<number>();
    while (poisonAt.size < total / 100) poisonAt.add(Math.floor(next() * total));
    const payloads: Buffer[] = [];
    const expectedReason = new Map<number, RegExp>();
    for (let i = 0; i < total; i++) {
      if (poisonAt.has(i)) {
        const kind = kinds[i % kinds.length]!;
        payloads.push(kind.make(i));
        expectedReason.set(i, kind.reason);
      } else {
        const e = randomOpen(next, 20_000);
        model.add(e);
        payloads.push(toAvro(e));
      }
    }
    const batches: KinesisRecord[][] = [];
    for (let s = 0; s < total; s += 10_000) batches.push(toRecords(payloads.slice(s, s + 10_000), s));
    const w = worker(server.url);

    // Act
    await w.daemon.initialize(SHARD);
    const results = [];
    for (const b of batches) results.push(await w.daemon.processRecords(b));
    await w.daemon.shutdownRequested();
    const exit = await w.daemon.closeInput();

    // Assess
    assert.deepEqual(exit, { code: 0, signal: null });
    results.forEach((r, i) => assert.deepEqual(seqs(r.checkpoints), [lastSeq(batches[i]!)], `batch ${i} checkpointed at its last record`));
    const letters = await streamEntries(client, 'deadletter:app-opens');
    const all = batches.flat();
    const bySeq = new Map(all.map((r, i) => [r.sequenceNumber, i]));
    assert.equal(letters.length, poisonAt.size, 'one dead letter per poison record');
    assert.deepEqual(
      letters.map((l) => bySeq.get(l.sequenceNumber!)).sort((a, b) => a! - b!),
      [...poisonAt].sort((a, b) => a - b),
      'exactly the poison records, once each',
    );
    for (const l of letters) {
      const i = bySeq.get(l.sequenceNumber!)!;
      assert.match(l.reason!, expectedReason.get(i)!, `reason of record ${i}`);
      assert.equal(l.data, all[i]!.data);
      assert.equal(l.shardId, SHARD);
    }
    assert.deepEqual(await model.diff(client), [], 'every other record applied');
    assert.deepEqual(w.daemon.strayLines, []);
  });
});
