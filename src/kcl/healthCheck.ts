/**
 * "Is any shard stuck?" without parsing logs: reads the health files KCL workers keep in
 * `KCL_HEALTH_DIR` (one `<shardId>.json` per worker process, see watchdog.ts) and judges each.
 * `bin/kcl-health <dir>` prints one line per shard and exits 0 when all are well, 1 when any is
 * stuck or silent, 2 when the folder cannot be read: a Kubernetes exec probe or a systemd timer
 * runs it as is (docs/guarantees.md).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { processStartTicks, type HealthFile } from './watchdog.js';

/** One shard's verdict. */
export interface ShardHealth {
  file: string;
  shardId: string;
  state: 'ok' | 'stuck' | 'silent' | 'gone' | 'unreadable';
  /** One line for a person. */
  detail: string;
}

/** Options of {@link checkHealthDir}. */
export interface HealthCheckOptions {
  /** The clock, ms since the epoch. Default Date.now. */
  now?: () => number;
  /**
   * Whether the process that wrote a file still runs. Default: `process.kill(pid, 0)` (EPERM
   * counts as running) and, when the file has `pidStartTicks`, the same start time in
   * `/proc/<pid>/stat` (a pid reused by another process is not the worker).
   */
  isAlive?: (pid: number, startTicks: number | null) => boolean;
}

const alive = (pid: number, startTicks: number | null): boolean => {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (startTicks === null) return true;
  const now = processStartTicks(pid);
  return now === null || now === startTicks;
};

/**
 * How long a running worker's file may go unwritten before the worker counts as silent (its
 * event loop is blocked, so it cannot even report itself stuck): 3 heartbeats and 5 s.
 */
export const silentAfterMs = (heartbeatMs: number): number => 3 * heartbeatMs + 5_000;

/**
 * Judges every `*.json` health file in `dir`. A file whose process is gone (or whose pid now
 * runs another process: a different start time) is `gone` (a clean
 * exit removes its file; a crashed worker's file stays, and its daemon is restarted by its
 * supervisor). A running worker is `stuck` when its file says so or its batch has been in hand
 * for `stuckBatchMs` by now, `silent` when its file is older than {@link silentAfterMs}.
 * Throws when `dir` cannot be read.
 *
 * @example
 * const shards = checkHealthDir('/run/lastopens/health');
 * const bad = shards.filter((s) => s.state === 'stuck' || s.state === 'silent');
 */
export function checkHealthDir(dir: string, options: HealthCheckOptions = {}): ShardHealth[] {
  const now = (options.now ?? Date.now)();
  const isAlive = options.isAlive ?? alive;
  const out: ShardHealth[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    let h: HealthFile;
    try {
      h = JSON.parse(readFileSync(join(dir, file), 'utf8')) as HealthFile;
      if (typeof h.shardId !== 'string' || typeof h.pid !== 'number' || typeof h.updatedAtMs !== 'number') throw new Error('not a health file');
    } catch (err) {
      out.push({ file, shardId: file.replace(/\.json$/, ''), state: 'unreadable', detail: `unreadable: ${(err as Error).message}` });
      continue;
    }
    const base = { file, shardId: h.shardId };
    if (!isAlive(h.pid, typeof h.pidStartTicks === 'number' ? h.pidStartTicks : null)) {
      out.push({ ...base, state: 'gone', detail: `gone: pid ${h.pid} is not running${h.exitCode === undefined ? '' : ` (it exited ${h.exitCode})`}` });
      continue;
    }
    const inHandMs = h.batchStartedAtMs === null ? 0 : Math.max(h.batchInHandMs, now - h.batchStartedAtMs);
    const ageMs = now - h.updatedAtMs;
    const at = `sequence number ${h.sequenceNumber ?? 'n/a'}, last checkpoint ${h.lastCheckpoint ?? 'none'}, last error: ${h.lastError ?? 'none'}`;
    if (h.stuck || (h.stuckBatchMs > 0 && h.batchStartedAtMs !== null && inHandMs >= h.stuckBatchMs)) {
      out.push({ ...base, state: 'stuck', detail: `stuck: ${h.action ?? 'a batch'} in hand for ${Math.round(inHandMs / 1000)} s (${at})` });
    } else if (ageMs > silentAfterMs(h.heartbeatMs)) {
      out.push({ ...base, state: 'silent', detail: `silent: pid ${h.pid} has not written its health for ${Math.round(ageMs / 1000)} s (heartbeat ${h.heartbeatMs} ms)` });
    } else {
      out.push({ ...base, state: 'ok', detail: h.action === null ? 'ok: idle' : `ok: ${h.action} in hand for ${Math.round(inHandMs / 1000)} s` });
    }
  }
  return out;
}

/**
 * The `bin/kcl-health` command: `kcl-health <dir>`. Writes one line per shard to stdout and
 * returns the exit code: 0 all well (or no worker has a shard yet), 1 a shard stuck or silent
 * (or a file unreadable), 2 usage error or a folder that cannot be read.
 */
export function runHealthCommand(args: readonly string[], write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): number {
  const dir = args[0];
  if (dir === undefined || args.length > 1 || dir.startsWith('-')) {
    write('usage: kcl-health <KCL_HEALTH_DIR>   (exit 0: every shard well; 1: a shard stuck or silent; 2: cannot read)');
    return 2;
  }
  let shards: ShardHealth[];
  try {
    shards = checkHealthDir(dir);
  } catch (err) {
    write(`kcl-health: cannot read ${dir}: ${(err as Error).message}`);
    return 2;
  }
  for (const s of shards) write(`${s.shardId}: ${s.detail}`);
  return shards.some((s) => s.state === 'stuck' || s.state === 'silent' || s.state === 'unreadable') ? 1 : 0;
}
