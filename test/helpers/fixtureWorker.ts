/**
 * Spawns test/fixtures/worker.ts as a real child process under the test daemon, with its files
 * in a fresh temporary folder.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestDaemon, type TestDaemonOptions } from '../../src/testing/index.js';
import { parseStrictJsonLines } from './strictJson.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/worker.ts', import.meta.url));

export interface FixtureWorker {
  daemon: TestDaemon;
  dir: string;
  /** Ids the worker applied, in order. */
  applied(): string[];
  /** The most records the processor had in flight at once (0 before any). */
  peak(): number;
  /** Dead letters the worker wrote. */
  deadLetters(): Array<{ sequenceNumber: string; reason: string; shardId: string }>;
  /** The worker's log lines, parsed strictly (a duplicate key in any line throws). */
  log(): Array<Record<string, unknown>>;
  cleanup(): Promise<void>;
}

const readLines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : []);

export function spawnFixture(env: Record<string, string> = {}, options: Omit<TestDaemonOptions, 'args' | 'env'> = {}): FixtureWorker {
  const dir = mkdtempSync(join(tmpdir(), 'kcl-worker-'));
  const paths = { LOG_PATH: join(dir, 'worker.log'), APPLIED_PATH: join(dir, 'applied'), DEADLETTER_PATH: join(dir, 'deadletters'), PEAK_PATH: join(dir, 'peak') };
  const daemon = TestDaemon.spawn(process.execPath, {
    ...options,
    args: ['--import', 'tsx', FIXTURE],
    env: { ...process.env, ...paths, ...env },
  });
  return {
    daemon,
    dir,
    applied: () => readLines(paths.APPLIED_PATH),
    peak: () => (existsSync(paths.PEAK_PATH) ? Number(readFileSync(paths.PEAK_PATH, 'utf8')) : 0),
    deadLetters: () => readLines(paths.DEADLETTER_PATH).map((l) => JSON.parse(l) as { sequenceNumber: string; reason: string; shardId: string }),
    log: () => (existsSync(paths.LOG_PATH) ? parseStrictJsonLines(readFileSync(paths.LOG_PATH, 'utf8'), paths.LOG_PATH) : []),
    async cleanup() {
      await daemon.stop();
      try {
        // Every line the worker wrote, whatever the test: a strict log pipeline must accept it.
        if (existsSync(paths.LOG_PATH)) parseStrictJsonLines(readFileSync(paths.LOG_PATH, 'utf8'), paths.LOG_PATH);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Payloads for the fixture. */
export const cmd = (id: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ id, ...extra });

/** Waits until `check` is true, polling; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
