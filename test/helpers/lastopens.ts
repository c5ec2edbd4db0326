/**
 * Helpers for tests that drive the built bin/lastopens under the test daemon against a private
 * Redis: spawning it, reading its log, building AppOpen streams with the state they must leave in
 * Redis (the model), and watching every write Redis executes (MONITOR) to check monotonicity.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { KinesisRecord } from '../../src/core/types.js';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';
import { TestDaemon, sequenceNumber, type TestDaemonOptions } from '../../src/testing/index.js';
import { rng } from './prng.js';

export const BIN = fileURLToPath(new URL('../../bin/lastopens', import.meta.url));
export const NOW = Math.floor(Date.now() / 1000);
export const PLATFORMS = ['ios', 'android', 'web'] as const;

/** A worker started by {@link spawnLastopens}. */
export interface LastopensWorker {
  daemon: TestDaemon;
  dir: string;
  logPath: string;
  /** The log, parsed, one object per line (empty before the first flush). */
  log(): Array<Record<string, unknown>>;
  /** Log lines whose message starts with `prefix`. */
  logged(prefix: string): Array<Record<string, unknown>>;
}

/**
 * Spawns bin/lastopens with a clean environment (PATH, the Redis URL, STREAM_NAME=app-opens,
 * LOG_PATH in a fresh temp folder, which is also the working directory) plus `env`.
 */
export function spawnLastopens(redisUrl: string, env: Record<string, string> = {}, options: Omit<TestDaemonOptions, 'env' | 'cwd'> = {}, dir?: string): LastopensWorker {
  const cwd = dir ?? mkdtempSync(join(tmpdir(), 'guarantees-'));
  const logPath = join(cwd, 'lastopens.log');
  const daemon = TestDaemon.spawn(BIN, {
    ...options,
    cwd,
    env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redisUrl, STREAM_NAME: 'app-opens', LOG_PATH: logPath, ...env },
  });
  const log = (): Array<Record<string, unknown>> => readLog(logPath);
  return { daemon, dir: cwd, logPath, log, logged: (prefix) => log().filter((l) => String(l.msg).startsWith(prefix)) };
}

/** A JSON-lines log file, parsed; a partly written last line is skipped. */
export function readLog(path: string): Array<Record<string, unknown>> {
  if (!existsSync(path)) return [];
  const out: Array<Record<string, unknown>> = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // the writer is mid-line
    }
  }
  return out;
}

/** Polls `check` every 20 ms; throws naming `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export { rng };

/** The state the worker must leave in Redis: per `user:<id>:checkpoint` hash, per field, the max timestamp. */
export class LastOpenModel {
  readonly hashes = new Map<string, Map<string, number>>();

  add(event: AppOpen): void {
    const key = `user:${event.userId}:checkpoint`;
    const field = `${event.platform}_app_open`;
    let h = this.hashes.get(key);
    if (!h) this.hashes.set(key, (h = new Map()));
    const cur = h.get(field);
    if (cur === undefined || event.timestamp > cur) h.set(field, event.timestamp);
  }

  /** Compares Redis with the model: returns the differences (empty when equal), at most 20. */
  async diff(client: Redis): Promise<string[]> {
    const problems: string[] = [];
    const keys = await client.keys('user:*');
    const expected = new Set(this.hashes.keys());
    for (const k of keys) if (!expected.has(k)) problems.push(`unexpected key ${k}`);
    const names = [...this.hashes.keys()];
    for (let i = 0; i < names.length; i += 1000) {
      const chunk = names.slice(i, i + 1000);
      const pipe = client.pipeline();
      for (const k of chunk) pipe.hgetall(k);
      const replies = (await pipe.exec()) ?? [];
      chunk.forEach((k, j) => {
        const got = (replies[j]?.[1] ?? {}) as Record<string, string>;
        const want = this.hashes.get(k)!;
        for (const [f, ts] of want) if (got[f] !== String(ts)) problems.push(`${k} ${f}: want ${ts}, got ${got[f]}`);
        for (const f of Object.keys(got)) if (!want.has(f)) problems.push(`${k} ${f}: unexpected field`);
      });
    }
    return problems.slice(0, 20);
  }
}

/** A random valid AppOpen among `users` users, with a timestamp in the last `spread` seconds. */
export function randomOpen(next: () => number, users: number, spread = 86_400): AppOpen {
  return {
    userId: BigInt(1 + Math.floor(next() * users)),
    platform: PLATFORMS[Math.floor(next() * PLATFORMS.length)]!,
    timestamp: NOW - Math.floor(next() * spread),
    appVersion: '4.2.0',
    deviceId: null,
  };
}

/** Records for the payloads, numbered from `start` (sequence numbers increase with the number). */
export function toRecords(payloads: readonly Buffer[], start: number): KinesisRecord[] {
  return payloads.map((p, k) => ({
    data: p.toString('base64'),
    partitionKey: `pk-${(start + k) % 97}`,
    sequenceNumber: sequenceNumber(start + k),
    subSequenceNumber: 0,
    approximateArrivalTimestamp: 1_700_000_000_000 + start + k,
  }));
}

/** A stream of `count` valid AppOpen records cut in batches of `batchSize`, and its model. */
export function appOpenStream(seed: number, count: number, batchSize: number, users: number): { batches: KinesisRecord[][]; model: LastOpenModel } {
  const next = rng(seed);
  const model = new LastOpenModel();
  const batches: KinesisRecord[][] = [];
  for (let start = 0; start < count; start += batchSize) {
    const payloads: Buffer[] = [];
    for (let i = start; i < Math.min(count, start + batchSize); i++) {
      const e = randomOpen(next, users);
      model.add(e);
      payloads.push(toAvro(e));
    }
    batches.push(toRecords(payloads, start));
  }
  return { batches, model };
}

/**
 * Watches every HSET Redis executes (MONITOR, which also shows commands run inside Lua scripts)
 * and records, per key and field, whether a write ever set a value at or below the previous one.
 * Reconnects by itself after a server restart (writes made before it is back are not seen).
 */
export class WriteWatcher {
  readonly last = new Map<string, number>();
  readonly backwards: string[] = [];
  writes = 0;
  private monitor: Redis | undefined;
  private closed = false;

  private constructor(private readonly url: string) {}

  static async start(url: string): Promise<WriteWatcher> {
    const w = new WriteWatcher(url);
    await w.attach();
    return w;
  }

  private async attach(): Promise<void> {
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    const monitor = await client.monitor();
    client.disconnect();
    monitor.on('error', () => undefined);
    monitor.on('monitor', (_time: string, args: string[]) => this.observe(args));
    monitor.on('end', () => {
      if (!this.closed) void this.reattach();
    });
    this.monitor = monitor;
  }

  private async reattach(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!this.closed && Date.now() < deadline) {
      try {
        await this.attach();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private observe(args: string[]): void {
    if (args[0]?.toUpperCase() !== 'HSET' || args.length < 4) return;
    const key = args[1]!;
    for (let i = 2; i + 1 < args.length; i += 2) {
      const id = `${key} ${args[i]}`;
      const ts = Number(args[i + 1]);
      const prev = this.last.get(id);
      this.writes++;
      if (prev !== undefined && !(ts > prev)) this.backwards.push(`${id}: ${prev} -> ${ts}`);
      this.last.set(id, ts);
    }
  }

  /** Whether MONITOR is attached right now. */
  get attached(): boolean {
    // ioredis reconnects a monitor by itself and re-enters MONITOR, with status 'monitoring'.
    const status: string | undefined = this.monitor?.status;
    return status === 'ready' || status === 'monitoring';
  }

  stop(): void {
    this.closed = true;
    this.monitor?.disconnect();
  }
}

/** The fields of every entry of a Redis stream, as objects. */
export async function streamEntries(client: Redis, key: string): Promise<Array<Record<string, string>>> {
  const entries = await client.xrange(key, '-', '+');
  return entries.map(([, fields]) => {
    const o: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
    return o;
  });
}
