/**
 * End to end: the real Java KCL MultiLangDaemon (KCL 2.7.2) drives a worker over the multilang
 * protocol against the local stack (kinesis-local, dynalite, redis). Run by `make test-e2e`, not by
 * `make test` (needs java and the jars: `make jars`; takes a few minutes).
 *
 * The worker is chosen by E2E_WORKER (test/e2e/workers.ts): `lastopens` (default, bin/lastopens)
 * or `fixture` (test/fixtures/recording-worker.mjs). E2E_KEEP=1 keeps the logs folder.
 * E2E_KCL=3 runs the same tests under KCL 3.x (vendor/kcl3-jars: `make jars KCL=3`; dynalite
 * patched by scripts/patch-dynalite.mjs): `make test-e2e-kcl3`.
 * Every process started here (stack, daemons, their workers) is killed when a test ends, passes
 * or fails, and when this process exits.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ListShardsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';
import { kplAggregate } from '../helpers/kplAggregate.js';
import { parseStrictJsonLines } from '../helpers/strictJson.js';
import { childPidsOfGroup, startDaemon, type Daemon } from '../../scripts/daemon.js';
import {
  createStream,
  lastSequenceByShard,
  localKinesisClient,
  putAll,
  readLeases,
  type Lease,
  type PutResult,
} from '../../scripts/kinesis.js';
import { writeProperties } from '../../scripts/properties.js';
import { GiveUp, ROOT, stackEnv, startStack, waitFor, type Stack } from '../../scripts/stack.js';
import { lastopensWorker, seenRecords, workerEvents, workerFromEnv, type RunContext } from './workers.js';

const worker = workerFromEnv();
const kclMajor = process.env.E2E_KCL ?? '2';
if (kclMajor !== '2' && kclMajor !== '3') throw new RangeError(`Expected \`E2E_KCL\` to be 2 or 3; got "${kclMajor}".`);
const jarsDir = join(ROOT, 'vendor', kclMajor === '3' ? 'kcl3-jars' : 'kcl-jars');
const jarsPresent = existsSync(join(jarsDir, '.complete'));
const skip = !jarsPresent
  ? `no KCL ${kclMajor} jars (make jars${kclMajor === '3' ? ' KCL=3' : ''}; needs java and mvn)`
  : worker.name === 'lastopens' && !existsSync(join(ROOT, 'dist', 'app-opens', 'bin', 'lastopens.js'))
    ? 'bin/lastopens is not built (make build)'
    : false;
/** Generous: two JVMs, kinesis-local and the workers share 2 cores with other jobs. */
const PROCESS_TIMEOUT_MS = 150_000;

let stack: Stack;
let kinesis: KinesisClient;
let root: string;

function log(message: string): void {
  process.stderr.write(`# [e2e ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
}

/** A test's own stream, lease table and folder. */
interface App extends RunContext {
  applicationName: string;
  shards: string[];
  produced: PutResult[];
  daemons: Daemon[];
}

async function newApp(t: TestContext, name: string, shardCount: number): Promise<App> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const stream = `e2e-${name}`;
  const shards = await createStream(kinesis, stream, shardCount);
  const app: App = { dir, stream, redisUrl: stack.redisUrl, applicationName: `e2e-${name}-app`, shards, produced: [], daemons: [] };
  t.after(async () => {
    await Promise.all(app.daemons.map((d) => d.stop('SIGKILL', 1000)));
    // Every line a worker wrote must pass a log pipeline that rejects duplicate JSON keys.
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.log') && !f.startsWith('daemon-'))) {
      parseStrictJsonLines(readFileSync(join(dir, file), 'utf8'), join(dir, file));
    }
  });
  return app;
}

function daemonFor(
  app: App,
  tag: string,
  overrides: Record<string, string | number> = {},
  env: Record<string, string> = {},
  under: Pick<typeof worker, 'executableName' | 'env'> = worker,
): Daemon {
  const propertiesFile = writeProperties(
    join(ROOT, 'properties', 'lastopens.local.properties'),
    join(app.dir, `${tag}.properties`),
    {
      executableName: under.executableName,
      streamName: app.stream,
      applicationName: app.applicationName,
      kinesisEndpoint: stack.kinesisEndpoint,
      dynamoDBEndpoint: stack.dynamoEndpoint,
      workerId: tag,
      ...overrides,
    },
  );
  const daemon = startDaemon({
    propertiesFile,
    logFile: join(app.dir, `daemon-${tag}.log`),
    env: { ...stackEnv(stack), KCL_JARS_DIR: jarsDir, ...under.env(app, tag), ...env },
  });
  app.daemons.push(daemon);
  log(`${app.stream}: daemon ${tag} started (pid ${daemon.pid})`);
  return daemon;
}

async function produce(app: App, count: number): Promise<PutResult[]> {
  const t0 = Date.now();
  const placed = await putAll(kinesis, app.stream, worker.records(app, app.produced.length, count));
  app.produced.push(...placed);
  log(`${app.stream}: put ${count} records in ${Date.now() - t0} ms (total ${app.produced.length})`);
  return placed;
}

async function waitApplied(app: App, timeoutMs = PROCESS_TIMEOUT_MS): Promise<void> {
  const t0 = Date.now();
  const last = lastSequenceByShard(app.produced);
  let stalled: { progress: number; since: number } | undefined;
  await waitFor(`${worker.name} to apply ${app.produced.length} records of ${app.stream}`, async () => {
    const latest = app.daemons.at(-1);
    if (latest && !latest.running) throw new GiveUp(`daemon ${latest.pid} exited: ${JSON.stringify(await latest.exited)}; see ${app.dir}`);
    const progress = await worker.progress(app, app.produced);
    if (progress === app.produced.length) return true;
    // Every shard checkpointed at its end, yet records missing and nothing moving: they are lost.
    const leases = await readLeases(stack.dynamoEndpoint, app.applicationName);
    const atEnd = [...last].every(([shard, seq]) => leases.find((l) => l.leaseKey === shard)?.checkpoint === seq);
    if (!atEnd || stalled?.progress !== progress) stalled = { progress, since: Date.now() };
    else if (Date.now() - stalled.since > 10_000) {
      throw new GiveUp(`every shard is checkpointed at its last record but only ${progress} of ${app.produced.length} records were applied`);
    }
    return false;
  }, timeoutMs, 500);
  log(`${app.stream}: all ${app.produced.length} records applied (waited ${Date.now() - t0} ms)`);
}

/** Resolves with the leases once every shard's checkpoint is the last sequence number put on it. */
async function waitCheckpointsAtEnd(app: App, timeoutMs = 60_000): Promise<Lease[]> {
  const last = lastSequenceByShard(app.produced);
  let leases: Lease[] = [];
  await waitFor(`checkpoints of ${app.applicationName} at each shard's last record`, async () => {
    leases = await readLeases(stack.dynamoEndpoint, app.applicationName);
    return [...last].every(([shard, seq]) => leases.find((l) => l.leaseKey === shard)?.checkpoint === seq);
  }, timeoutMs, 500);
  return leases;
}

async function waitOwners(app: App, check: (owners: Map<string, number>) => boolean, what: string, timeoutMs: number): Promise<Lease[]> {
  let leases: Lease[] = [];
  await waitFor(what, async () => {
    leases = await readLeases(stack.dynamoEndpoint, app.applicationName);
    const owners = new Map<string, number>();
    for (const l of leases) if (l.leaseOwner) owners.set(l.leaseOwner, (owners.get(l.leaseOwner) ?? 0) + 1);
    return leases.length === app.shards.length && check(owners);
  }, timeoutMs, 500);
  return leases;
}

const lastopensSkip = !existsSync(join(ROOT, 'dist', 'app-opens', 'bin', 'lastopens.js')) ? 'bin/lastopens is not built (make build)' : false;
const T0 = 1_767_225_600;

/** The framework's own fixture worker (test/fixtures/worker.ts, run with tsx), for protocol-level checks. */
const frameworkFixture = {
  executableName: `${process.execPath} --import tsx ${join(ROOT, 'test', 'fixtures', 'worker.ts')}`,
  env: (ctx: RunContext, tag: string): Record<string, string> => ({ LOG_PATH: join(ctx.dir, `fixture-${tag}.log`) }),
};

const readLinesOf = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);
const sleepThen = <T>(ms: number, value: T): Promise<T> => new Promise((ok) => setTimeout(() => ok(value), ms).unref());
const chunkPairs = (flat: string[]): Array<[string, string]> => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!, flat[2 * i + 1]!]);

/** Each shard's hash key range. */
async function shardRanges(stream: string): Promise<Array<{ shardId: string; start: bigint; end: bigint }>> {
  const out = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  return (out.Shards ?? []).map((s) => ({ shardId: s.ShardId!, start: BigInt(s.HashKeyRange!.StartingHashKey!), end: BigInt(s.HashKeyRange!.EndingHashKey!) }));
}

async function redisDo<T>(use: (redis: import('ioredis').Redis) => Promise<T>): Promise<T> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(stack.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

/** How many "user:id:checkpoint platform_app_open" -> newest timestamp entries Redis holds exactly. */
async function appliedCount(redis: import('ioredis').Redis, want: ReadonlyMap<string, number>): Promise<number> {
  const entries = [...want];
  const pipeline = redis.pipeline();
  for (const [k] of entries) {
    const [key, field] = k.split(' ');
    pipeline.hget(key!, field!);
  }
  const got = (await pipeline.exec()) ?? [];
  return entries.filter(([, ts], i) => got[i]?.[1] === String(ts)).length;
}

/** ERROR lines of a daemon's own log. */
function daemonErrors(app: App, tag: string): string[] {
  return readLinesOf(join(app.dir, `daemon-${tag}.log`)).filter((l) => /\bERROR\b/.test(l));
}

async function produceWith(app: App, under: typeof worker, count: number): Promise<void> {
  const placed = await putAll(kinesis, app.stream, under.records(app, app.produced.length, count));
  app.produced.push(...placed);
}

async function waitAppliedBy(app: App, under: typeof worker, daemon: Daemon): Promise<void> {
  await waitFor(`${under.name} to apply ${app.produced.length} records of ${app.stream}`, async () => {
    if (!daemon.running) throw new GiveUp(`daemon ${daemon.pid} exited: ${JSON.stringify(await daemon.exited)}; see ${app.dir}`);
    return (await under.progress(app, app.produced)) === app.produced.length;
  }, PROCESS_TIMEOUT_MS, 500);
}

void describe(`KCL ${kclMajor} MultiLangDaemon end to end (worker: ${worker.name})`, { skip }, () => {
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'kcl-e2e-'));
    const t0 = Date.now();
    stack = await startStack({ dir: join(root, 'stack') });
    kinesis = localKinesisClient(stack.kinesisEndpoint);
    log(`stack up in ${Date.now() - t0} ms: kinesis ${stack.kinesisEndpoint}, dynamo ${stack.dynamoEndpoint}, redis ${stack.redisUrl}; logs in ${root}`);
  });

  after(async () => {
    kinesis?.destroy();
    await stack?.stop();
    if (process.env.E2E_KEEP !== '1') rmSync(root, { recursive: true, force: true });
  });

  void it('applies every record of a 2-shard stream and checkpoints each shard at its last record; SIGTERM mid-stream checkpoints nothing unapplied, and workers exit 0', async (t) => {
    const app = await newApp(t, 'basic', 2);
    const watch = worker.watch?.(app);
    await produce(app, 600);
    const settings = { maxRecords: 100 }; // more batches, more checkpoints: the SIGTERM lands between them
    const daemon = daemonFor(app, 'solo', settings);
    await daemon.waitForChildren(2, PROCESS_TIMEOUT_MS);
    await produce(app, 600); // while the daemon reads
    await waitApplied(app);
    const leases = await waitCheckpointsAtEnd(app);
    await worker.verify(app, app.produced);
    assert.deepEqual(leases.map((l) => l.leaseOwner), ['solo', 'solo']);

    // SIGTERM while the next wave is being applied.
    const children = daemon.children();
    const done = app.produced.length;
    await produce(app, 1200);
    await waitFor('the workers to start on the next wave', async () => (await worker.progress(app, app.produced)) > done, 60_000, 100);
    const t0 = Date.now();
    const exit = await daemon.stop('SIGTERM', 60_000);
    log(`basic: SIGTERM -> daemon exit ${JSON.stringify(exit)} in ${Date.now() - t0} ms`);
    assert.equal(exit.code, 143, 'the JVM ran its shutdown hook (graceful shutdown) and exited 128+SIGTERM');
    await waitFor('every worker to record its exit', () => worker.exits(app, 'solo').length >= children.length, 10_000);
    const exits = worker.exits(app, 'solo').filter((e) => children.includes(e.pid));
    assert.deepEqual(exits.map((e) => e.code), children.map(() => 0), 'every worker exits 0 at end of input');
    const atStop = await readLeases(stack.dynamoEndpoint, app.applicationName);
    const checkpoints = new Map(atStop.map((l) => [l.leaseKey, l.checkpoint ?? '']));
    const applied = await worker.progress(app, app.produced);
    log(`basic: at the stop ${applied} of ${app.produced.length} applied; checkpoints ${JSON.stringify([...checkpoints])}`);
    assert.deepEqual(await worker.unappliedBelow(app, app.produced, checkpoints), [], 'no checkpoint passes an unapplied record');

    // A restart (same workerId) picks up from the checkpoints and finishes the stream.
    daemonFor(app, 'solo', settings);
    await waitApplied(app);
    await waitCheckpointsAtEnd(app);
    await worker.verify(app, app.produced);
    assert.deepEqual((await watch?.stop()) ?? [], [], 'no stored value ever went backwards');
  });

  void it('loses nothing when a worker is killed with SIGKILL mid-stream and the daemon is restarted', async (t) => {
    const app = await newApp(t, 'kill9', 2);
    const watch = worker.watch?.(app);
    await produce(app, 2000);
    // Small batches (and, for the fixture, a slow worker) so the kill lands mid-stream.
    const settings = { maxRecords: 100 };
    const slow: Record<string, string> = worker.name === 'fixture' ? { RECORDING_BATCH_DELAY_MS: '300' } : {};
    const first = daemonFor(app, 'crashy', settings, slow);
    await first.waitForChildren(2, PROCESS_TIMEOUT_MS);
    await waitFor('some records applied', async () => (await worker.progress(app, app.produced)) >= 1, PROCESS_TIMEOUT_MS, 100);
    const [victim] = first.children();
    assert.ok(victim !== undefined);
    process.kill(victim, 'SIGKILL');
    const before = await worker.progress(app, app.produced);
    log(`kill9: SIGKILL worker ${victim} with ${before} of ${app.produced.length} records applied`);
    assert.ok(before < app.produced.length, 'the kill landed before the end of the stream');
    const t0 = Date.now();
    const exit = await Promise.race([
      first.exited,
      new Promise<'still running'>((ok) => setTimeout(() => ok('still running'), 60_000).unref()),
    ]);
    log(`kill9: daemon after the kill: ${JSON.stringify(exit)} in ${Date.now() - t0} ms`);
    assert.notEqual(exit, 'still running', 'the daemon exits when one of its workers dies');
    assert.equal((exit as { code: number }).code, 1);
    await first.stop('SIGKILL', 1000); // its other worker saw end of input; make sure it is gone

    const atCrash = await readLeases(stack.dynamoEndpoint, app.applicationName);
    const checkpoints = new Map(atCrash.map((l) => [l.leaseKey, l.checkpoint ?? '']));
    assert.deepEqual(await worker.unappliedBelow(app, app.produced, checkpoints), [], 'no checkpoint passed an unapplied record');
    const firstPids = new Set(worker.name === 'fixture' ? workerEvents(app.dir).map((e) => e.pid) : []);
    const second = daemonFor(app, 'crashy', settings, slow); // the supervisor's restart, same workerId
    await waitApplied(app);
    await waitCheckpointsAtEnd(app);
    await worker.verify(app, app.produced);
    assert.deepEqual((await watch?.stop()) ?? [], [], 'no stored value ever went backwards');
    if (worker.name === 'fixture') {
      const seen = seenRecords(app.dir);
      const redelivered = seen.length - new Set(seen.map((r) => r.sequenceNumber)).size;
      log(`kill9: ${redelivered} records delivered twice (after the last checkpoint before the kill)`);
      for (const lease of atCrash) {
        // The restart resumed each shard right after its checkpoint.
        const resumed = seen.find((r) => r.shardId === lease.leaseKey && !firstPids.has(r.pid));
        if (resumed === undefined || lease.checkpoint === undefined || !/^\d+$/.test(lease.checkpoint)) continue;
        assert.ok(BigInt(resumed.sequenceNumber) > BigInt(lease.checkpoint), `${lease.leaseKey} resumed after its checkpoint`);
      }
    }
    await second.stop('SIGTERM', 60_000);
  });

  void it('scales out on KCL leases: two daemons share 4 shards, and one takes over when the other stops', async (t) => {
    const app = await newApp(t, 'scale', 4);
    const watch = worker.watch?.(app);
    await produce(app, 400);
    const settings = { failoverTimeMillis: 4000 };
    // Started together, as a fleet would be: whichever syncs the shards first takes every lease,
    // and the other steals its share (one lease per pass).
    const a = daemonFor(app, 'daemon-a', settings);
    const b = daemonFor(app, 'daemon-b', settings);
    const shared = await waitOwners(app, (o) => (o.get('daemon-a') ?? 0) >= 1 && (o.get('daemon-b') ?? 0) >= 1, 'both daemons to hold leases', PROCESS_TIMEOUT_MS);
    log(`scale: shared leases ${JSON.stringify(shared.map((l) => [l.leaseKey, l.leaseOwner]))}`);
    await produce(app, 400);
    await waitApplied(app);
    const ownedByA = new Set((await readLeases(stack.dynamoEndpoint, app.applicationName)).filter((l) => l.leaseOwner === 'daemon-a').map((l) => l.leaseKey));
    assert.ok(ownedByA.size >= 1 && ownedByA.size < 4, `daemon-a holds some, not all, leases (${ownedByA.size})`);

    const t0 = Date.now();
    const exitA = await a.stop('SIGTERM', 60_000);
    log(`scale: daemon-a stopped ${JSON.stringify(exitA)} in ${Date.now() - t0} ms`);
    const afterStop = await produce(app, 400);
    await waitOwners(app, (o) => o.get('daemon-b') === 4, 'daemon-b to hold all 4 leases', 90_000);
    log(`scale: daemon-b holds every lease ${Date.now() - t0} ms after daemon-a was stopped`);
    await waitApplied(app);
    await waitCheckpointsAtEnd(app);
    await worker.verify(app, app.produced);
    assert.deepEqual((await watch?.stop()) ?? [], [], 'no stored value ever went backwards');
    assert.ok(afterStop.some((p) => ownedByA.has(p.shardId)), 'records were put on the shards daemon-b took over');
    if (worker.name === 'fixture') {
      const seen = seenRecords(app.dir);
      const late = new Set(afterStop.map((p) => p.sequenceNumber));
      assert.equal(seen.filter((r) => late.has(r.sequenceNumber) && r.tag === 'daemon-a').length, 0, 'nothing put after daemon-a stopped is applied by it');
      const tagsBefore = new Set(seen.filter((r) => !late.has(r.sequenceNumber)).map((r) => r.tag));
      assert.deepEqual([...tagsBefore].sort(), ['daemon-a', 'daemon-b'], 'both daemons applied records while sharing');
    }
    await b.stop('SIGTERM', 60_000);
  });

  void it('KPL-aggregated records (the KPL way: one shard per aggregate), plain and poison records: every user record applied with its newest timestamp, every poison record dead-lettered', { skip: lastopensSkip }, async (t) => {
    // Prepare: 2 shards; per shard 8 aggregates of 30 user records (1 in 10 poison), and plain records.
    const app = await newApp(t, 'kpl', 2);
    const ranges = await shardRanges(app.stream);
    const base = 2n ** 53n + 77_000_000n;
    const want = new Map<string, number>(); // user:platform -> newest timestamp
    const poison = new Set<string>(); // partition keys of poison user records
    let n = 0;
    const userRecord = (): { partitionKey: string; data: Buffer } => {
      const i = n++;
      const userId = base + BigInt(i % 61);
      const partitionKey = `user-${userId}-${i}`;
      if (i % 10 === 7) {
        poison.add(partitionKey);
        return { partitionKey, data: Buffer.from(`not avro ${i}`) };
      }
      const event: AppOpen = { timestamp: T0 + ((i * 7919) % 5000), userId, platform: ['ios', 'android', 'web'][i % 3]!, appVersion: null, deviceId: null };
      const k = `user:${userId}:checkpoint ${event.platform}_app_open`;
      want.set(k, Math.max(want.get(k) ?? 0, event.timestamp));
      return { partitionKey, data: toAvro(event) };
    };
    const entries: PutRecordsRequestEntry[] = [];
    for (let a = 0; a < 8; a++) {
      for (const range of ranges) {
        // ExplicitHashKey inside the shard's range, on every user record: the KPL only aggregates
        // records bound for one shard, and KCL drops the whole aggregate otherwise.
        const ehk = (range.start + BigInt(a + 1)).toString();
        const users = Array.from({ length: 30 }, () => ({ ...userRecord(), explicitHashKey: ehk }));
        entries.push({ Data: kplAggregate(users), PartitionKey: users[0]!.partitionKey, ExplicitHashKey: ehk });
        for (let k = 0; k < 5; k++) {
          const plain = userRecord();
          entries.push({ Data: plain.data, PartitionKey: plain.partitionKey });
        }
      }
    }
    app.produced.push(...(await putAll(kinesis, app.stream, entries)));
    log(`kpl: put ${entries.length} Kinesis records holding ${n} user records (${poison.size} poison)`);
    // Act
    const daemon = daemonFor(app, 'kpl', { maxRecords: 7 }, {}, lastopensWorker);
    const deadKey = `deadletter:${app.stream}`;
    await waitFor(`all ${n} user records of ${app.stream} applied or dead-lettered`, async () => {
      if (!daemon.running) throw new GiveUp(`daemon exited: ${JSON.stringify(await daemon.exited)}; see ${app.dir}`);
      return (await redisDo(async (r) => (await r.xlen(deadKey)) === poison.size && (await appliedCount(r, want)) === want.size));
    }, PROCESS_TIMEOUT_MS, 500);
    // Assess: exact effect, exact dead letters (each with the sub-sequence number it had in its aggregate).
    await redisDo(async (r) => {
      assert.equal(await appliedCount(r, want), want.size);
      const letters = (await r.xrange(deadKey, '-', '+')).map(([, flat]) => Object.fromEntries(chunkPairs(flat)));
      assert.deepEqual(letters.map((l) => l.partitionKey).sort(), [...poison].sort());
      assert.ok(letters.some((l) => Number(l.subSequenceNumber) > 0), 'poison inside aggregates keeps its sub-sequence number');
    });
    const leases = await waitCheckpointsAtEnd(app);
    log(`kpl: checkpoints ${JSON.stringify(leases.map((l) => [l.leaseKey, l.checkpoint, l.checkpointSubSequenceNumber]))}`);
    assert.equal(daemonErrors(app, 'kpl').filter((l) => /Protobuf|ExceptionInInitializerError/.test(l)).length, 0);
    await daemon.stop('SIGTERM', 60_000);
  });

  void it('a checkpoint in the middle of an aggregate (with its subSequenceNumber), then a restart resumes right after it: nothing applied twice, nothing skipped', async (t) => {
    // The framework's fixture worker (test/fixtures/worker.ts): record "u" fails retriably until a
    // file exists, and retries are capped, so the worker checkpoints the handled prefix of the
    // aggregate (a1, a2: sub-sequence 1) and exits 3; the daemon exits with it.
    const app = await newApp(t, 'midagg', 1);
    const [range] = await shardRanges(app.stream);
    const gate = join(app.dir, 'gate');
    const ehk = (range!.start + 1n).toString();
    const cmd = (id: string, extra: Record<string, unknown> = {}): Buffer => Buffer.from(JSON.stringify({ id, ...extra }));
    const aggregate = ['a1', 'a2', 'u3', 'a4', 'a5'].map((id) => ({
      partitionKey: `pk-${id}`,
      explicitHashKey: ehk,
      data: id === 'u3' ? cmd(id, { op: 'until', path: gate }) : cmd(id),
    }));
    app.produced.push(...(await putAll(kinesis, app.stream, [
      { Data: cmd('p0'), PartitionKey: 'pk-p0' },
      { Data: kplAggregate(aggregate), PartitionKey: 'pk-a1', ExplicitHashKey: ehk },
      { Data: cmd('p6'), PartitionKey: 'pk-p6' },
    ])));
    const aggregateSeq = app.produced[1]!.sequenceNumber;
    const applied = join(app.dir, 'applied');
    // CONCURRENCY 1: strict shard order, so the applied list is exactly the checkpointed prefix (by
    // default records of other partition keys, a4 a5 p6, run beside the failing u3 and are applied
    // again after the restart: at least once; the checkpoint is the same).
    const env = { MODE: 'single', CONCURRENCY: '1', APPLIED_PATH: applied, DEADLETTER_PATH: join(app.dir, 'deadletters'), MAX_ATTEMPTS: '3' };
    const first = daemonFor(app, 'midagg', {}, env, frameworkFixture);
    const exit = await Promise.race([first.exited, sleepThen(PROCESS_TIMEOUT_MS, 'still running' as const)]);
    assert.notEqual(exit, 'still running', 'the worker exits 3 when retries run out, and the daemon with it');
    await first.stop('SIGKILL', 1000);
    const [lease] = await readLeases(stack.dynamoEndpoint, app.applicationName);
    log(`midagg: after the first run: applied ${JSON.stringify(readLinesOf(applied))}, lease ${JSON.stringify(lease)}`);
    assert.deepEqual(readLinesOf(applied), ['p0', 'a1', 'a2']);
    assert.deepEqual([lease?.checkpoint, lease?.checkpointSubSequenceNumber], [aggregateSeq, 1], 'checkpointed in the middle of the aggregate, after a2');
    // Act: the fault is gone; the supervisor restarts the daemon.
    writeFileSync(gate, '');
    daemonFor(app, 'midagg', {}, env, frameworkFixture);
    await waitFor('the rest of the stream applied', () => readLinesOf(applied).length >= 7, PROCESS_TIMEOUT_MS, 200);
    await waitCheckpointsAtEnd(app);
    // Assess
    assert.deepEqual(readLinesOf(applied), ['p0', 'a1', 'a2', 'u3', 'a4', 'a5', 'p6'], 'resumed right after (aggregate, 1): a1 and a2 not applied again, u3 not skipped');
    const log2 = parseStrictJsonLines(readFileSync(join(app.dir, 'fixture-midagg.log'), 'utf8'));
    assert.ok(log2.some((l) => l.msg === 'initialize' && l.sequenceNumber === aggregateSeq && l.subSequenceNumber === 1), 'the daemon initialized the restart at the sub-sequence checkpoint');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    void it(`${signal} to the whole process group (${signal === 'SIGINT' ? 'Ctrl-C' : 'systemd KillMode=control-group'}): the workers drain and answer the daemon, no ERROR from the daemon, every process gone within 30 s, and a restart reads only what follows the last checkpoint`, { skip: lastopensSkip }, async (t) => {
      // Prepare
      const app = await newApp(t, `group-${signal.toLowerCase()}`, 2);
      const settings = { maxRecords: 100, shutdownGraceMillis: 10_000 };
      const env = { LOG_BATCH_TIMINGS: '1' }; // one line per batch with its record count
      await produceWith(app, lastopensWorker, 800);
      const daemon = daemonFor(app, 'grp', settings, env, lastopensWorker);
      const firstPids = await daemon.waitForChildren(2, PROCESS_TIMEOUT_MS);
      await waitFor('some records applied', async () => (await lastopensWorker.progress(app, app.produced)) > 0, PROCESS_TIMEOUT_MS, 100);
      // Act: the signal reaches the JVM and every worker at the same moment.
      const t0 = Date.now();
      process.kill(-daemon.pid, signal);
      const exit = await daemon.exited;
      await waitFor('every process of the group to be gone', () => childPidsOfGroup(daemon.pid).length === 0, 30_000, 100);
      const gone = Date.now() - t0;
      log(`${signal}: daemon exit ${JSON.stringify(exit)}, all gone in ${gone} ms`);
      // Assess
      assert.ok(gone <= 30_000, `every process gone within 30 s (${gone} ms)`);
      assert.deepEqual(daemonErrors(app, 'grp'), [], 'no ERROR line from the daemon');
      const exits = lastopensWorker.exits(app, 'grp').filter((e) => firstPids.includes(e.pid));
      assert.deepEqual(exits.map((e) => e.code).sort(), [0, 0], 'both workers exit 0');
      const atStop = new Map((await readLeases(stack.dynamoEndpoint, app.applicationName)).map((l) => [l.leaseKey, l.checkpoint ?? '']));
      assert.deepEqual(await lastopensWorker.unappliedBelow(app, app.produced, atStop), [], 'no checkpoint passes an unapplied record');
      const after = app.produced.filter((p) => { const c = atStop.get(p.shardId) ?? ''; return !/^\d+$/.test(c) || BigInt(p.sequenceNumber) > BigInt(c); }).length;
      log(`${signal}: ${app.produced.length - after} records at or before the checkpoints, ${after} after`);
      // A restart (same workerId) reads exactly the records after the checkpoints.
      await produceWith(app, lastopensWorker, 100);
      const restart = daemonFor(app, 'grp', settings, env, lastopensWorker);
      await waitAppliedBy(app, lastopensWorker, restart);
      await waitCheckpointsAtEnd(app);
      await lastopensWorker.verify(app, app.produced);
      const read = parseStrictJsonLines(readFileSync(join(app.dir, 'lastopens-grp.log'), 'utf8'))
        .filter((l) => l.msg === 'batch timings' && !firstPids.includes(l.pid as number))
        .reduce((sum, l) => sum + ((l.timings as { records: number }).records), 0);
      assert.equal(read, after + 100, 'the restart read only the records after the last checkpoint');
      await restart.stop('SIGTERM', 60_000);
    });
  }
});
