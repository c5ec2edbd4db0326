/**
 * Failover scenarios for bin/lastopens: drive the real worker with the test daemon through batches
 * while the test takes a Redis primary away (SIGKILL, a planned failover, a role flip), and check
 * what the issue asks of every run:
 * - the worker answers the batch in flight within a bound after the servers are healthy again;
 * - every checkpoint it sends comes after the batch's records are in Redis (checked right after the
 *   checkpoint), and, with `strict`, still there at the end (what REDIS_WAIT_REPLICAS guarantees);
 * - every user ends with its newest timestamp.
 *
 * Also: cluster topology readers built on raw RESP (no client library between the test and what
 * the servers say).
 */
import assert from 'node:assert/strict';
import type { Cluster, Redis } from 'ioredis';
import { makeRecords } from '../../src/testing/index.js';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';
import { NOW, spawnLastopens, type LastopensWorker } from './lastopens.js';
import { rawCommand, type RedisServer } from './redis.js';

/** One line of CLUSTER NODES. */
export interface ClusterNode {
  id: string;
  port: number;
  master: boolean;
  failed: boolean;
  masterId: string | undefined;
  slots: number;
}

/** CLUSTER NODES as seen by the node on `port`. */
export async function clusterNodes(port: number): Promise<ClusterNode[]> {
  const raw = await rawCommand(port, ['CLUSTER', 'NODES'], undefined, 2000);
  const body = raw.slice(raw.indexOf('\r\n') + 2);
  return body
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[0-9a-f]{40} /.test(l))
    .map((line) => {
      const f = line.split(' ');
      const flags = (f[2] ?? '').split(',');
      let slots = 0;
      for (const r of f.slice(8)) {
        if (r.startsWith('[')) continue;
        const [a, b] = r.split('-').map(Number);
        slots += b === undefined ? 1 : b - (a ?? 0) + 1;
      }
      return {
        id: f[0] ?? '',
        port: Number((f[1] ?? '').split('@')[0]?.split(':').pop()),
        master: flags.includes('master'),
        failed: flags.includes('fail') || flags.includes('fail?'),
        masterId: f[3] === '-' ? undefined : f[3],
        slots,
      };
    });
}

/**
 * True when every running node says `cluster_state:ok` and sees the 16384 slots served by masters
 * that are running and not flagged failing.
 */
export async function clusterHealthy(servers: RedisServer[]): Promise<boolean> {
  const running = servers.filter((s) => s.running);
  const ports = new Set(running.map((s) => s.port));
  for (const s of running) {
    if (!(await rawCommand(s.port, ['CLUSTER', 'INFO'], undefined, 2000)).includes('cluster_state:ok')) return false;
    const owners = (await clusterNodes(s.port)).filter((n) => n.master && n.slots > 0);
    if (owners.reduce((a, n) => a + n.slots, 0) !== 16384) return false;
    if (owners.some((n) => n.failed || !ports.has(n.port))) return false;
  }
  return true;
}

/** The server that currently is the master with the most slots among `servers`, per CLUSTER NODES of `via`. */
export async function mastersBySlots(via: RedisServer, servers: RedisServer[]): Promise<RedisServer[]> {
  const nodes = (await clusterNodes(via.port)).filter((n) => n.master && n.slots > 0 && !n.failed);
  return nodes.map((n) => servers.find((s) => s.port === n.port)).filter((s): s is RedisServer => s !== undefined);
}

/** The replica of `master` among `servers`, per CLUSTER NODES of `via`. */
export async function replicaOf(via: RedisServer, master: RedisServer, servers: RedisServer[]): Promise<RedisServer> {
  const nodes = await clusterNodes(via.port);
  const m = nodes.find((n) => n.port === master.port);
  const r = nodes.find((n) => m && n.masterId === m.id && !n.failed);
  const s = servers.find((x) => x.port === r?.port);
  assert.ok(s, `no replica of ${master.port}`);
  return s;
}

/** Runs `fn` again while it fails with something other than an assertion (servers unreachable). */
async function retryTransport(fn: () => Promise<void>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof assert.AssertionError || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Polls `cond` every 100 ms until true; rejects after `timeoutMs`. Resolves with the time it became true. */
export async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A fault injected while batch `at` is in flight; resolves when it has been caused. */
export interface Fault {
  at: number;
  name: string;
  /** Wait this long after sending the batch before causing the fault (the worker is writing). Default 300. */
  delayMs?: number;
  cause: () => Promise<void>;
  /** True once the servers are healthy again (polled after `cause`, and after `repair`). */
  healthy: () => Promise<boolean>;
  /**
   * Run once `healthy` (e.g. bring the killed master back as a replica: with REDIS_WAIT_REPLICAS
   * a master without a replica cannot take a checkpointed write). The bound then counts from
   * healthy after the repair.
   */
  repair?: () => Promise<void>;
  /** True once the repair is done (polled after `repair`). */
  repaired?: () => Promise<boolean>;
}

export interface ScenarioOptions {
  url: string;
  /** Extra environment for the worker. */
  env?: Record<string, string>;
  /** A new client that reads what the primary (or the cluster) holds now; made for each check, then closed. */
  reader: () => Redis | Cluster;
  faults: Fault[];
  /** Batches in all. Default 8. */
  batches?: number;
  /** Users written by every batch (two platforms each). Default 1,000. */
  hotUsers?: number;
  /** Users written only by one batch. Default 1,000. */
  freshUsers?: number;
  /** Longest time from "servers healthy" to the worker answering the batch in flight. Default 20 s. */
  recoveryBoundMs?: number;
  /** Also require, at the end, every record of every checkpointed batch (REDIS_WAIT_REPLICAS on). */
  strict?: boolean;
}

export interface ScenarioResult {
  worker: LastopensWorker;
  /** Per fault: ms from healthy to the batch answered (negative: answered before healthy). */
  recoveries: Array<{ fault: string; healthyAfterMs: number; answeredAfterHealthyMs: number; sentToHealthyMs: number }>;
}

const open = (userId: number, platform: string, timestamp: number): AppOpen => ({
  userId: BigInt(userId),
  platform,
  timestamp,
  appVersion: null,
  deviceId: null,
});

/**
 * Runs the worker through the batches, causing each fault while its batch is in flight. Asserts
 * the checkpoints, the recovery bound and the final state; returns the measurements and the worker
 * (its log stays readable).
 */
export async function runFailoverScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const batches = o.batches ?? 8;
  const hot = o.hotUsers ?? 1000;
  const fresh = o.freshUsers ?? 1000;
  const bound = o.recoveryBoundMs ?? 20_000;
  const ts = (b: number): number => NOW - 10_000 + b;
  const freshId = (b: number, i: number): number => 1_000_000 + b * fresh + i;
  const worker = spawnLastopens(o.url, { STATS_INTERVAL_MS: '0', ...o.env }, { actionTimeoutMs: 120_000 });
  const recoveries: ScenarioResult['recoveries'] = [];
  const check = async (b: number, exact: boolean, what: string): Promise<void> => {
    const reader = o.reader();
    reader.on('error', () => undefined); // the test reader's connection errors are retried by retryTransport
    try {
      await checkWith(reader, b, exact, what);
    } finally {
      reader.disconnect();
    }
  };
  const checkWith = async (reader: Redis | Cluster, b: number, exact: boolean, what: string): Promise<void> => {
    const want = ts(b);
    const keys: Array<[number, string]> = [];
    for (let i = 0; i < fresh; i++) keys.push([freshId(b, i), 'ios']);
    if (!exact) for (let u = 1; u <= hot; u++) keys.push([u, 'ios'], [u, 'android']);
    for (let i = 0; i < keys.length; i += 500) {
      const part = keys.slice(i, i + 500);
      const got = await Promise.all(part.map(([u, p]) => reader.hget(`user:${u}:checkpoint`, `${p}_app_open`)));
      part.forEach(([u, p], k) => {
        const v = Number(got[k]);
        if (exact) assert.equal(v, want, `${what}: user ${u} ${p} holds ${got[k]}, want ${want}`);
        else assert.ok(v >= want, `${what}: user ${u} ${p} holds ${got[k]}, checkpointed batch ${b} wrote ${want}`);
      });
    }
  };
  // Batches go back to back (the worker is always writing); each fault runs alongside, from the
  // moment its batch is sent. `lost` collects, without REDIS_WAIT_REPLICAS, batches acknowledged
  // during a fault whose records the new primary does not have (asynchronous replication).
  const lost: string[] = [];
  const active = new Set<Fault>();
  const healthyAt = new Map<Fault, number>();
  const recovered = new Set<Fault>();
  const running: Array<Promise<void>> = [];
  const runFault = async (fault: Fault, sentAt: number): Promise<void> => {
    active.add(fault);
    await new Promise((r) => setTimeout(r, fault.delayMs ?? 300));
    const faultAt = Date.now();
    await fault.cause();
    let at = await until(fault.healthy, `healthy after ${fault.name}`, 90_000);
    if (fault.repair) {
      await fault.repair();
      const repaired = fault.repaired ?? fault.healthy;
      at = await until(async () => (await repaired()) && (await fault.healthy()), `repaired after ${fault.name}`, 90_000);
    }
    healthyAt.set(fault, at);
    active.delete(fault);
    recoveries.push({ fault: fault.name, healthyAfterMs: at - faultAt, answeredAfterHealthyMs: Number.NaN, sentToHealthyMs: at - sentAt });
  };
  let last = 0;
  try {
    await worker.daemon.initialize('shardId-000000000000');
    let start = 0;
    let sinceHealthy = 0;
    for (let b = 0; ; b++) {
      const settled = o.faults.every((f) => healthyAt.has(f));
      if (b >= batches && settled && sinceHealthy >= 2) break;
      last = b;
      assert.ok(b < batches + 200, 'the faults never settled');
      const events: AppOpen[] = [];
      for (let u = 1; u <= hot; u++) events.push(open(u, 'ios', ts(b)), open(u, 'android', ts(b)));
      for (let i = 0; i < fresh; i++) events.push(open(freshId(b, i), 'ios', ts(b)));
      const records = makeRecords(events.map(toAvro), { start });
      start += records.length;
      const sentAt = Date.now();
      const fault = o.faults.find((f) => f.at === b);
      if (fault) running.push(runFault(fault, sentAt));
      const duringFault = active.size > 0;
      const result = await worker.daemon.processRecords(records);
      const answeredAt = Date.now();
      for (const [f, h] of healthyAt) {
        if (recovered.has(f) || answeredAt < h) continue;
        recovered.add(f);
        const rec = recoveries.find((r) => r.fault === f.name);
        if (rec) rec.answeredAfterHealthyMs = answeredAt - h;
        assert.ok(answeredAt - h <= bound, `${f.name}: the worker answered ${answeredAt - h} ms after the servers were healthy (bound ${bound} ms)`);
      }
      sinceHealthy = settled ? sinceHealthy + 1 : 0;
      assert.deepEqual(result.checkpoints.map((c) => c.sequenceNumber), [records.at(-1)?.sequenceNumber], `batch ${b}: one checkpoint at its last record`);
      // The checkpoint came back: the batch must be in Redis now (read with retries while a fault
      // makes the servers unreachable; the values themselves are asserted).
      const verify = (): Promise<void> => check(b, false, `right after the checkpoint of batch ${b}`);
      if (o.strict || !(duringFault || active.size > 0)) await retryTransport(verify);
      else await retryTransport(verify).catch((e: unknown) => void lost.push(String(e).slice(0, 200)));
    }
    await Promise.all(running);
    if (lost.length > 0) console.log(`without REDIS_WAIT_REPLICAS, lost to asynchronous replication during a fault: ${lost.join(' | ')}`);
    await worker.daemon.shutdownRequested();
    assert.deepEqual(await worker.daemon.closeInput(), { code: 0, signal: null });
    assert.deepEqual(worker.daemon.strayLines, []);
    // Every user ends with its newest timestamp.
    await check(last, true, 'at the end');
    const reader = o.reader();
    try {
      for (let u = 1; u <= hot; u += 37) {
        assert.deepEqual(await reader.hgetall(`user:${u}:checkpoint`), { ios_app_open: String(ts(last)), android_app_open: String(ts(last)) });
      }
    } finally {
      reader.disconnect();
    }
    if (o.strict) for (let b = 0; b <= last; b++) await check(b, true, `at the end, checkpointed batch ${b}`);
  } finally {
    await worker.daemon.stop();
  }
  return { worker, recoveries };
}
