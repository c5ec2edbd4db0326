/**
 * Runs the Java KCL MultiLangDaemon (scripts/kcl-daemon.sh) as a supervised child: its own process
 * group (so a kill reaches the workers it spawned), its log in a file, its worker children listed
 * from /proc, and a kill at exit of this process whatever happens.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, killGroup, spawnService, waitFor } from './stack.js';
import { childrenOf, groupMembers } from '../src/daemon/processes.js';

/**
 * Options of {@link startDaemon}.
 * @example
 * startDaemon({ propertiesFile: '.local/app.properties', logFile: '.local/logs/daemon.log', env: stackEnv(stack) });
 */
export interface DaemonOptions {
  /** The daemon's properties file. */
  propertiesFile: string;
  /** Where the daemon's own log goes (appended). */
  logFile: string;
  /** Added to this process's environment; the workers inherit it. */
  env?: Record<string, string>;
  /** Working directory: relative executableName paths resolve against it. Default: project root. */
  cwd?: string;
  /** Extra JVM options (JAVA_OPTS). Default: a small heap and a fast start for tests. */
  javaOpts?: string;
}

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A running daemon.
 * @example
 * const daemon = startDaemon(options);
 * await daemon.waitForChildren(2, 120_000);
 * const exit = await daemon.stop();
 */
export interface Daemon {
  /** The JVM's pid (kcl-daemon.sh execs java), also its process group id. */
  readonly pid: number;
  /** Resolves when the JVM exits. */
  readonly exited: Promise<Exit>;
  /** true until the JVM has exited. */
  readonly running: boolean;
  /** Pids of the worker processes the daemon started (direct children of the JVM). */
  children(): number[];
  /** Resolves once at least `count` workers run; rejects after `timeoutMs` or if the JVM exits. */
  waitForChildren(count: number, timeoutMs: number): Promise<number[]>;
  /**
   * Sends `signal` (default SIGTERM: graceful shutdown) to the JVM only; after `timeoutMs`
   * SIGKILLs the whole group (JVM and workers). Resolves with how the JVM ended.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
  /** SIGKILL to the JVM and every worker, at once. */
  kill(): Promise<Exit>;
}

/** Live (not zombie) child pids of `pid`, read from /proc: the launcher's own (src/daemon/processes.ts). */
export const childPids = childrenOf;

/** Whether `pid` runs java now (kcl-daemon.sh execs it after its checks). */
function isJava(pid: number): boolean {
  try {
    return readFileSync(join('/proc', String(pid), 'comm'), 'utf8').trim() === 'java';
  } catch {
    return false;
  }
}

/**
 * Starts scripts/kcl-daemon.sh on a properties file.
 * @example
 * const daemon = startDaemon({ propertiesFile, logFile, env: { ...stackEnv(stack), RECORDING_DIR: dir } });
 */
export function startDaemon(options: DaemonOptions): Daemon {
  const child = spawnService(join(ROOT, 'scripts', 'kcl-daemon.sh'), [options.propertiesFile], {
    logFile: options.logFile,
    detached: false,
    cwd: options.cwd ?? ROOT,
    env: {
      ...process.env,
      // A small heap, C1 only, serial GC: the daemon is I/O bound; this spares the 2 cores of a CI box.
      JAVA_OPTS: options.javaOpts ?? '-Xmx384m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC',
      ...options.env,
    },
  });
  const pid = child.pid as number;
  let running = true;
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  const daemon: Daemon = {
    pid,
    exited,
    get running() {
      return running;
    },
    // Until kcl-daemon.sh has exec'd java, its children are the jar check (node), not workers.
    children: () => (isJava(pid) ? childPids(pid) : []),
    async waitForChildren(count, timeoutMs) {
      await waitFor(`${count} worker(s) under daemon ${pid}`, () => {
        if (!running) throw new Error(`daemon ${pid} exited`);
        return childPids(pid).length >= count;
      }, timeoutMs, 200);
      return childPids(pid);
    },
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (running) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
        // Workers of a JVM that died abruptly see end of input; give them a moment, then make sure.
        await waitFor('workers to exit', () => childPidsOfGroup(pid).length === 0, 5000, 100).catch(() =>
          killGroup(pid, 'SIGKILL'),
        );
      }
    },
    async kill() {
      killGroup(pid, 'SIGKILL');
      return exited;
    },
  };
  return daemon;
}

/** Live pids whose process group is `pgid` (the JVM's workers outlive it for a moment). */
export const childPidsOfGroup = groupMembers;
