/**
 * The launcher's children: each in its own process group (a kill reaches the workers the JVM
 * started), started under `setpriv --pdeathsig` when the machine has it (Linux util-linux), so a
 * child is signalled even if the launcher is SIGKILLed, and killed at the launcher's exit
 * whatever else happens. Process listings read /proc (Linux).
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

interface ProcessEntry {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
}

function processTable(): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(entry), state: fields[0] ?? '', ppid: Number(fields[1]), pgrp: Number(fields[2]) });
    } catch {
      // gone while we looked
    }
  }
  return out;
}

/**
 * Live (not zombie) pids in process group `pgid`.
 * @example
 * groupMembers(java.pid); // the JVM and its workers
 */
export function groupMembers(pgid: number): number[] {
  return processTable()
    .filter((p) => p.pgrp === pgid && p.state !== 'Z')
    .map((p) => p.pid);
}

/** Live (not zombie) children of `pid`. */
export function childrenOf(pid: number): number[] {
  return processTable()
    .filter((p) => p.ppid === pid && p.state !== 'Z')
    .map((p) => p.pid);
}

/** true while `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** `signal` to the process group `pgid` (falling back to the process). Never throws. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    try {
      process.kill(pgid, signal);
    } catch {
      // gone
    }
  }
}

let setprivWorks: boolean | undefined;

/** true when `setpriv --pdeathsig` can wrap a command here (checked once). */
export function canSetParentDeathSignal(): boolean {
  if (setprivWorks === undefined) {
    const probe = spawnSync('setpriv', ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore', timeout: 5000 });
    setprivWorks = probe.status === 0;
  }
  return setprivWorks;
}

/** Process groups this launcher leads: killed when it exits, however it exits (short of SIGKILL). */
const owned = new Set<number>();
let exitHook = false;

/**
 * Kills every owned group now (SIGKILL). For the exit path.
 */
export function killOwned(): void {
  for (const pgid of owned) killGroup(pgid, 'SIGKILL');
}

/** Options of {@link spawnSupervised}. */
export interface SuperviseOptions {
  env: NodeJS.ProcessEnv;
  stdio: StdioOptions;
  cwd?: string;
  /** Signal the child gets when the launcher dies (setpriv): TERM lets the JVM stop cleanly. */
  parentDeathSignal: 'TERM' | 'KILL';
}

/**
 * Starts `command` as the leader of a new process group (session), under setpriv's parent-death
 * signal when available; the group is SIGKILLed at this process's exit.
 * @example
 * const java = spawnSupervised('java', args, { env, stdio: ['ignore', 'inherit', 'inherit'], parentDeathSignal: 'TERM' });
 */
export function spawnSupervised(command: string, args: readonly string[], options: SuperviseOptions): ChildProcess {
  const wrapped = canSetParentDeathSignal();
  const child = spawn(wrapped ? 'setpriv' : command, wrapped ? ['--pdeathsig', options.parentDeathSignal, '--', command, ...args] : args, {
    env: options.env,
    stdio: options.stdio,
    cwd: options.cwd,
    detached: true,
  });
  if (child.pid !== undefined) {
    owned.add(child.pid);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', killOwned);
    }
  }
  return child;
}

/**
 * Resolves once `check` is true, polling every `intervalMs`; rejects after `timeoutMs` naming `what`.
 */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Thrown by a {@link waitFor} check to stop waiting at once. */
export class GiveUp extends Error {
  override name = 'GiveUp';
}
