/**
 * Following a failover: what a client does after a write failed because the primary it wrote to
 * went away or stopped being the primary, so that the caller's retry reaches the new primary.
 *
 * - Redis Cluster: the slot map is re-read (CLUSTER SLOTS) from any node that answers, and the
 *   failing call waits for that before it rejects, so the retry is routed by the new map. The
 *   nodes tried are every node the client knows (masters and replicas), not only the URL's seeds:
 *   a dead seed does not stop discovery; after a full reconnect the seeds are the last known nodes
 *   plus the URL's. When the map moves slots from one master to another, one log line says so:
 *   old owner, new owner, slots, and the time since the first failed write. A cluster client still
 *   failing after {@link STUCK_AFTER_MS} reconnects from scratch (every connection and the map
 *   rebuilt), the remedy a restart of the worker used to be.
 * - A standalone or Sentinel primary: a `READONLY` reply means the connection reaches a node that
 *   is now a replica (a managed service's endpoint whose DNS moved, a demoted Sentinel master):
 *   the connection is dropped and made again (resolving the name again, asking the sentinels
 *   again) instead of retrying on it, which could never succeed.
 */
import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/types.js';

/** A cluster client still failing this long after its first failure is rebuilt from scratch. */
export const STUCK_AFTER_MS = 15_000;

/** Failures further apart than this belong to different episodes. */
const QUIET_MS = 30_000;

/** Longest wait, in ms, for a slot map refresh before a failing call rejects anyway. */
const REFRESH_WAIT_MS = 3_000;

/**
 * After `disconnect(true)`, how long ioredis gets to start its own reconnect before
 * {@link rebuildCluster} connects explicitly.
 */
export const RECONNECT_GRACE_MS = 500;

/** What {@link rebuildCluster} reaches inside ioredis' Cluster (6.x); none of it is public API. */
interface ClusterInternals {
  manuallyClosing?: boolean;
  offlineQueue?: { length: number };
  flushQueue?: (err: Error) => void;
}

interface ClusterState {
  where: string;
  logger: Logger | undefined;
  /** Master (host:port) of every slot as of the last refresh. */
  owners: Array<string | undefined>;
  /** When writes started failing (cleared once the map moved slots, or after a quiet spell). */
  firstFailureAt: number | undefined;
  /** The last failure seen. */
  lastFailureAt: number;
  /** Last time the client was rebuilt by {@link recoverAfterFailure}. */
  lastRebuildAt: number;
  /** Seeds of the URL, always kept among the reconnection seeds. */
  seeds: Array<{ host: string; port: number }>;
}

const clusters = new WeakMap<Cluster, ClusterState>();

/**
 * ioredis `reconnectOnError` for a standalone or Sentinel client: on `READONLY` (the node is a
 * replica now) drop the connection and make it again, instead of retrying on it. The failed
 * command is not resent by ioredis (1, not 2): the caller's retry sends it on the new connection.
 */
export function reconnectOnReadOnly(err: Error): 1 | false {
  return /^READONLY\b/.test(err.message) ? 1 : false;
}

/**
 * Starts watching a cluster client's slot map (call once, when the client is made): logs one line
 * per (old master, new master) pair whenever a refresh moves slots, with the time since the first
 * failed write. `seeds` are the URL's nodes.
 */
export function watchClusterFailover(cluster: Cluster, o: { logger?: Logger | undefined; where: string; seeds: Array<{ host: string; port: number }> }): void {
  const state: ClusterState = { where: o.where, logger: o.logger, owners: [], firstFailureAt: undefined, lastFailureAt: 0, lastRebuildAt: 0, seeds: o.seeds };
  clusters.set(cluster, state);
  cluster.on('refresh', () => onRefresh(cluster, state));
}

function currentOwners(cluster: Cluster): Array<string | undefined> {
  const owners = new Array<string | undefined>(cluster.slots.length);
  for (let i = 0; i < cluster.slots.length; i++) owners[i] = cluster.slots[i]?.[0];
  return owners;
}

function onRefresh(cluster: Cluster, state: ClusterState): void {
  const owners = currentOwners(cluster);
  const moved = new Map<string, number>();
  for (let i = 0; i < owners.length; i++) {
    const was = state.owners[i];
    const now = owners[i];
    if (was !== undefined && now !== undefined && was !== now) {
      const k = `${was}\n${now}`;
      moved.set(k, (moved.get(k) ?? 0) + 1);
    }
  }
  state.owners = owners;
  // Reconnection seeds: every node of the map plus the URL's, so a full reconnect does not depend
  // on seeds that may be the very nodes that died.
  const known = new Map<string, { host: string; port: number }>();
  for (const s of state.seeds) known.set(`${s.host}:${s.port}`, s);
  for (const node of cluster.nodes('all')) {
    const { host, port } = node.options;
    if (host !== undefined && port !== undefined) known.set(`${host}:${port}`, { host, port });
  }
  (cluster as unknown as { startupNodes: Array<{ host: string; port: number }> }).startupNodes = [...known.values()];
  if (moved.size === 0) return;
  const ms = state.firstFailureAt === undefined ? null : Date.now() - state.firstFailureAt;
  for (const [k, slots] of moved) {
    const [oldMaster, newMaster] = k.split('\n');
    state.logger?.warn({ redis: state.where, oldMaster, newMaster, slots, msSinceFirstFailure: ms }, 'redis failover: slots moved to a new master');
  }
  state.firstFailureAt = undefined;
}

/**
 * Call after a write failed, before rejecting: on a cluster client, re-reads the slot map from any
 * node that answers and resolves when that is done (at most 3 s), so the caller's retry is routed
 * by the new map; rebuilds the client when it has been failing for {@link STUCK_AFTER_MS}. Never
 * rejects. No-op for other clients (their `READONLY` handling is {@link reconnectOnReadOnly}).
 */
export async function recoverAfterFailure(client: Redis | Cluster): Promise<void> {
  if (!(client instanceof Cluster) || client.status === 'end') return;
  const state = clusters.get(client);
  const now = Date.now();
  // Not ready (reconnecting, or its ready check sees cluster_state:fail): ioredis parks every
  // command in its offline queue, where nothing ever removes it; the callers time out and send
  // new ones. Reject the parked ones so the queue stays bounded through an outage of any length.
  if (client.status !== 'ready') rejectParked(client, `redis cluster not ready (${client.status}); command not sent`);
  if (state) {
    // A failure long after the previous one starts a new episode.
    if (now - state.lastFailureAt > QUIET_MS) state.firstFailureAt = now;
    state.firstFailureAt ??= now;
    state.lastFailureAt = now;
    // Any status but 'wait' (never connected): a client stuck while reconnecting is rebuilt too.
    if (now - state.firstFailureAt >= STUCK_AFTER_MS && now - state.lastRebuildAt >= STUCK_AFTER_MS && client.status !== 'wait') {
      state.lastRebuildAt = now;
      state.logger?.warn(
        { redis: state.where, failingForMs: now - state.firstFailureAt, status: client.status, seeds: (client as unknown as { startupNodes: unknown[] }).startupNodes.length },
        'redis cluster: writes still failing; reconnecting from scratch',
      );
      rebuildCluster(client);
      return;
    }
  }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, REFRESH_WAIT_MS);
    client.refreshSlotsCache(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Reconnects a cluster client from scratch (every node connection and the slot map made again from
 * the seeds), on the same object, so the code writing through it needs no new reference.
 *
 * ioredis' `disconnect(true)` alone is not enough: it reconnects only once every node connection
 * of its pool has ended (the pool's `drain`, then `close`). A node connection made in between (a
 * MOVED or ASK reply to a command still in flight makes one for the node it names) keeps the pool
 * from draining, and the client then stays `disconnecting` for good, every command parked in its
 * offline queue until the caller's deadline: the worker stuck on "timed out: no reply" after the
 * rebuild (issue 23). So: commands parked in the offline queue are rejected first (their callers
 * retry them), and when the client is still `disconnecting` after {@link RECONNECT_GRACE_MS} it
 * is connected explicitly (ioredis' own reconnect, should it come later, is then a no-op).
 */
export function rebuildCluster(client: Cluster): void {
  const internals = client as unknown as ClusterInternals;
  rejectParked(client, 'redis cluster reconnecting from scratch; command not sent');
  client.disconnect(true);
  const timer = setTimeout(() => {
    // Not when the client is being closed for good (quit, disconnect()).
    if ((client.status === 'disconnecting' || client.status === 'close') && !internals.manuallyClosing) {
      client.connect().catch(() => undefined); // failures reach the 'error' listener; the caller's retries go on
    }
  }, RECONNECT_GRACE_MS);
  timer.unref();
}

/** Rejects the commands a cluster client holds in its offline queue (ioredis internals). */
function rejectParked(client: Cluster, message: string): void {
  const internals = client as unknown as ClusterInternals;
  if ((internals.offlineQueue?.length ?? 0) > 0) internals.flushQueue?.(new Error(message));
}
