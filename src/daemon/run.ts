/**
 * Runs the KCL MultiLangDaemon in the foreground as a supervised child: java in its own process
 * group with the package's logging configuration and the workers' drain timeout; SIGTERM, SIGINT
 * and SIGHUP forwarded to the JVM alone (its shutdown hook asks every worker to checkpoint, then
 * closes their stdin) and its clean stop awaited; the launcher exits with the JVM's code. A second
 * signal, or a stop that outlasts `stopTimeoutMs`, SIGKILLs the JVM and its workers.
 */
import { accessSync, closeSync, constants as fsConstants, mkdirSync, openSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { constants } from 'node:os';
import type { JarSet } from './fetchJars.js';
import { KCL_DATA_DIR } from './jarList.js';
import { groupMembers, killGroup, spawnSupervised, waitFor } from './processes.js';

/** The daemon's main class. */
export const MULTILANG_DAEMON = 'software.amazon.kinesis.multilang.MultiLangDaemon';

/** Options of {@link runDaemon}. */
export interface RunDaemonOptions {
  /** The properties file (already checked). */
  propertiesFile: string;
  /** Its values (for the drain timeout). */
  properties: ReadonlyMap<string, string>;
  jars: JarSet;
  /** The java binary. Default: JAVA, else $JAVA_HOME/bin/java, else java on PATH. */
  java?: string;
  /** Added to the environment of java (and so of the workers). */
  env?: Record<string, string>;
  /** Append the daemon's log (its stderr) to this file. Default KCL_LOG_FILE, else stderr. */
  logFile?: string;
  /** Extra JVM options. Default JAVA_OPTS split on spaces. */
  javaOpts?: string[];
  /** After a forwarded signal, how long the clean stop may take before SIGKILL. Default: 2 x shutdownGraceMillis + 30 s. */
  stopTimeoutMs?: number;
  /** One line for the user (stderr). */
  say: (line: string) => void;
  /** Called with java's pid once it runs. */
  onStart?: (pid: number) => void;
}

/**
 * KCL_DRAIN_TIMEOUT_MS for the workers: how long a worker that got SIGTERM/SIGINT itself (a whole
 * process group signalled) keeps answering the daemon: shutdownGraceMillis less a tenth, at most
 * 1 s less; undefined when shutdownGraceMillis is unset or 0.
 * @example
 * drainTimeoutMs(new Map([['shutdownGraceMillis', '10000']])); // 9000
 */
export function drainTimeoutMs(properties: ReadonlyMap<string, string>): number | undefined {
  const grace = Number(properties.get('shutdownGraceMillis') ?? 0);
  if (!Number.isInteger(grace) || grace <= 0) return undefined;
  return grace - Math.min(Math.floor(grace / 10), 1000);
}

/** The java binary: JAVA, else $JAVA_HOME/bin/java, else `java` on PATH. */
export function defaultJava(env: NodeJS.ProcessEnv = process.env): string {
  return env.JAVA || (env.JAVA_HOME ? join(env.JAVA_HOME, 'bin', 'java') : 'java');
}

/** true when `command` (a path, or a name looked up on `path`) is an executable file. */
function findExecutable(command: string, path = ''): boolean {
  const candidates = command.includes('/') ? [command] : path.split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  return candidates.some((file) => {
    try {
      accessSync(file, fsConstants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * Runs the daemon until it exits; resolves with the exit code the launcher should exit with (the
 * JVM's; 128 + signal number if it was killed by a signal).
 * @example
 * process.exitCode = await runDaemon({ propertiesFile, properties, jars, say });
 */
export async function runDaemon(options: RunDaemonOptions): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  const drain = drainTimeoutMs(options.properties);
  if (!env.KCL_DRAIN_TIMEOUT_MS && drain !== undefined) env.KCL_DRAIN_TIMEOUT_MS = String(drain);
  const javaOpts = options.javaOpts ?? (process.env.JAVA_OPTS ?? '').split(/\s+/).filter((s) => s !== '');
  const classpath = options.jars.files.map((f) => join(resolve(options.jars.dir), f)).join(delimiter);
  const args = [
    ...javaOpts,
    '-cp',
    classpath,
    MULTILANG_DAEMON,
    '--properties-file',
    resolve(options.propertiesFile),
    '--log-configuration',
    join(KCL_DATA_DIR, 'kcl-logback.xml'),
  ];
  const logFile = options.logFile ?? (process.env.KCL_LOG_FILE || undefined);
  let logFd: number | undefined;
  if (logFile) {
    mkdirSync(dirname(logFile), { recursive: true });
    logFd = openSync(logFile, 'a');
  }
  const java = options.java ?? defaultJava();
  if (!findExecutable(java, env.PATH)) {
    options.say(`cannot find ${java}: install a JRE >= 8, or set JAVA / JAVA_HOME (or --java)`);
    return 127;
  }
  const child = spawnSupervised(java, args, {
    env,
    stdio: ['ignore', 'inherit', logFd ?? 'inherit'],
    parentDeathSignal: 'TERM',
  });
  if (logFd !== undefined) closeSync(logFd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((ok) => {
    child.once('error', (error) => ok({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => ok({ code, signal }));
  });
  const pid = child.pid;
  if (pid !== undefined) options.onStart?.(pid);
  let signalled = 0;
  let killTimer: NodeJS.Timeout | undefined;
  const grace = Number(options.properties.get('shutdownGraceMillis') ?? 0);
  const stopTimeoutMs = options.stopTimeoutMs ?? 2 * (Number.isFinite(grace) ? grace : 0) + 30_000;
  const forward = (signal: NodeJS.Signals): void => {
    if (pid === undefined) return;
    signalled++;
    if (signalled === 1) {
      options.say(`${signal}: asking the daemon (pid ${pid}) to stop; its workers checkpoint and exit (again to kill at once)`);
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
      killTimer = setTimeout(() => {
        options.say(`the daemon did not stop within ${stopTimeoutMs} ms: killing it and its workers`);
        killGroup(pid, 'SIGKILL');
      }, stopTimeoutMs);
      killTimer.unref();
    } else {
      options.say(`${signal} again: killing the daemon and its workers`);
      killGroup(pid, 'SIGKILL');
    }
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  for (const s of signals) process.on(s, forward);
  try {
    const how = await exited;
    if (how.error) {
      options.say(`cannot start ${java}: ${how.error.message} (install a JRE >= 8, or set JAVA / JAVA_HOME)`);
      return 127;
    }
    if (pid !== undefined) {
      // The workers see end of input when the JVM exits; give them a moment, then make sure.
      await waitFor('the workers to exit', () => groupMembers(pid).length === 0, 5000, 50).catch(() => killGroup(pid, 'SIGKILL'));
    }
    if (how.code !== null) return how.code;
    const number = how.signal ? (constants.signals as Record<string, number>)[how.signal] : undefined;
    return 128 + (number ?? 0);
  } finally {
    if (killTimer) clearTimeout(killTimer);
    for (const s of signals) process.off(s, forward);
  }
}
