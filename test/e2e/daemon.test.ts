/**
 * End to end: the real Java KCL MultiLangDaemon (KCL 2.7.2) drives a worker over the multilang
 * protocol against the local stack (kinesis-local, dynalite, redis). Run by `make test-e2e`, not by
 * `make test` (needs java and the jars: `make jars`; takes a few minutes).
 *
 * The worker is chosen by E2E_WORKER (test/e2e/workers.ts): `lastopens` (default, bin/lastopens)
 * or `fixture` (test/fixtures/recording-worker.mjs). E2E_KEEP=1 keeps the logs folder.
 * Every process started here (stack, daemons, their workers) is killed when a test ends, passes
 * or fails, and when this process exits.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { startDaemon, type Daemon } from '../../scripts/daemon.js';
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
import { seenRecords, workerEvents, workerFromEnv, type RunContext } from './workers.js';

const worker = workerFromEnv();
const jarsPresent = existsSync(join(ROOT, 'vendor', 'kcl-jars'));
const skip = !jarsPresent
  ? 'no KCL jars (make jars; needs java and mvn)'
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
  });
  return app;
}

function daemonFor(
  app: App,
  tag: string,
  overrides: Record<string, string | number> = {},
  env: Record<string, string> = {},
): Daemon {
  const propertiesFile = writeProperties(
    join(ROOT, 'properties', 'lastopens.local.properties'),
    join(app.dir, `${tag}.properties`),
    {
      executableName: worker.executableName,
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
    env: { ...stackEnv(stack), ...worker.env(app, tag), ...env },
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

void describe(`KCL MultiLangDaemon end to end (worker: ${worker.name})`, { skip }, () => {
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
});
