/**
 * The local stand-ins for AWS that the KCL MultiLangDaemon runs against: kinesis-local (Kinesis,
 * HTTP/2 cleartext on its plain port, which the daemon's Kinesis client insists on), dynalite
 * (DynamoDB, in memory, for the lease table) and Redis (an existing server by URL, or a private
 * `redis-server`). Every port defaults to a free one. Used by `scripts/local-stack.ts` (the
 * command line) and by the end-to-end tests.
 *
 * Quirks handled here (see docs/local-stack.md): kinesis-local opens its TLS certificate
 * `server.json` relative to the working directory, so we pass KINESIS_MOCK_CERT_PATH; it listens on
 * every interface whatever we do; it is ready some seconds after its ports open, so readiness is a
 * real ListStreams call.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

// The stand-ins' credentials and region, the AWS JSON call and the liveness check are the launcher's
// own (src/daemon: kinesis-streams-daemon --local starts the same stand-ins).
import { LOCAL_CREDENTIALS, LOCAL_REGION, awsJson } from '../src/daemon/localStack.js';
import { isAlive } from '../src/daemon/processes.js';
export { LOCAL_CREDENTIALS, LOCAL_REGION, awsJson, isAlive };

/** The project root (this file lives in scripts/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Options of {@link startStack}. Every port is optional and defaults to a free one.
 * @example
 * const stack = await startStack({ dir: '.local', kinesisPort: 4568 });
 */
export interface StackOptions {
  /** Folder for stack.json and the services' logs. Default `.local` under the project root. */
  dir?: string;
  /** kinesis-local plain port (HTTP/1.1 and HTTP/2 cleartext). Default: a free port. */
  kinesisPort?: number;
  /** kinesis-local TLS port (self-signed). Default: a free port. */
  kinesisTlsPort?: number;
  /** dynalite port. Default: a free port. */
  dynamoPort?: number;
  /** Use this Redis instead of starting one (e.g. `redis://127.0.0.1:6380/0`). */
  redisUrl?: string;
  /** Port of the private redis-server when no redisUrl. Default: a free port. */
  redisPort?: number;
  /** Streams kinesis-local creates at start, its INITIALIZE_STREAMS syntax (`name:shards,...`). */
  initializeStreams?: string;
  /**
   * true: the services outlive this process (the `start` command); stop them with stopStack.
   * false (default): they are killed when this process exits, even on a crash.
   */
  detached?: boolean;
  /** How long to wait for every service to answer. Default 60000 ms. */
  readyTimeoutMs?: number;
}

/**
 * What a running stack is: its endpoints and the processes it started. Written to
 * `<dir>/stack.json` so `stop` (or another process) can find it.
 * @example
 * const { kinesisEndpoint, dynamoEndpoint, redisUrl } = readStackState('.local');
 */
export interface StackState {
  dir: string;
  kinesisPort: number;
  kinesisTlsPort: number;
  dynamoPort: number;
  /** http://127.0.0.1:<kinesisPort>: for the daemon (HTTP/2) and the SDK (HTTP/1.1). */
  kinesisEndpoint: string;
  dynamoEndpoint: string;
  redisUrl: string;
  region: string;
  /** Processes this stack started, by service; only these are ever killed. */
  pids: { kinesis: number; dynamo: number; redis?: number };
  startedAt: string;
}

/**
 * A running stack with its stop function (idempotent; kills only what it started).
 * @example
 * const stack = await startStack();
 * try { ... } finally { await stack.stop(); }
 */
export interface Stack extends StackState {
  stop(): Promise<void>;
}

/**
 * A free TCP port on 127.0.0.1 (the OS picks; the port is released before returning, so another
 * process could take it in between: rare, and start-up then fails loudly).
 * @example
 * const port = await freePort();
 */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

/**
 * Thrown by a {@link waitFor} check to stop waiting at once (e.g. the awaited process died).
 * @example
 * await waitFor('x', () => { if (dead) throw new GiveUp('x died'); return ready(); }, 5000);
 */
export class GiveUp extends Error {
  override name = 'GiveUp';
}

function withoutKey(env: NodeJS.ProcessEnv, key: string): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy[key];
  return copy;
}

/**
 * Resolves once `check` returns true, polling every `intervalMs`; rejects after `timeoutMs` with
 * `what` in the message. Errors thrown by `check` count as "not yet" (the last one is the cause),
 * except {@link GiveUp}, which is rethrown at once.
 * @example
 * await waitFor('redis to answer', () => ping(url), 10_000);
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}

/** Process groups started (non-detached) by this process: killed at exit, whatever happens. */
const owned = new Set<number>();
/** Pids we are stopping on purpose, and how the others exited (to fail start-up fast). */
const stopping = new Set<number>();
const exited = new Map<number, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of owned) killGroup(pid, 'SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const pid of owned) killGroup(pid, 'SIGKILL');
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

/**
 * Sends `signal` to the process group led by `pid` (every process we start leads its own group,
 * so its children go too), falling back to the process alone. Never throws.
 * @example
 * killGroup(daemon.pid, 'SIGTERM');
 */
export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}


/**
 * Starts `command` in its own process group with stdout and stderr appended to `logFile`. When
 * not detached, the group is killed when this process exits.
 * @example
 * const child = spawnService('node', ['x.js'], { logFile: '.local/x.log', env: {}, detached: false });
 */
export function spawnService(
  command: string,
  args: readonly string[],
  options: { logFile: string; env: NodeJS.ProcessEnv; detached: boolean; cwd?: string },
): ChildProcess {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const fd = openSync(options.logFile, 'a');
  try {
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env,
      stdio: ['ignore', fd, fd],
      detached: true, // own process group, always: killGroup reaches its children
    });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    if (options.detached) child.unref();
    else {
      installExitHook();
      // Kept after the leader exits: its group (e.g. a daemon's workers) may outlive it briefly.
      owned.add(child.pid);
    }
    return child;
  } finally {
    closeSync(fd);
  }
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      ok(true);
    });
    socket.once('error', () => ok(false));
  });
}


async function redisPing(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((ok) => {
    const socket = connect({ host: hostname || '127.0.0.1', port: Number(port || 6379) });
    let answer = '';
    socket.setTimeout(2000, () => {
      socket.destroy();
      ok(false);
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) {
        socket.destroy();
        // -NOAUTH also proves a Redis answers; the caller's URL carries the password.
        ok(answer.startsWith('+PONG') || answer.startsWith('-NOAUTH'));
      }
    });
    socket.once('error', () => ok(false));
  });
}

function portFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Expected \`${name}\` to be a TCP port (1-65535), got "${raw}".`);
  }
  return port;
}

/**
 * Options from the environment: LOCAL_KINESIS_PORT, LOCAL_KINESIS_TLS_PORT, LOCAL_DYNAMODB_PORT,
 * LOCAL_REDIS_PORT, REDIS_URL (use that Redis), INITIALIZE_STREAMS, LOCAL_STACK_DIR.
 * @example
 * const stack = await startStack({ ...stackOptionsFromEnv(), detached: true });
 */
export function stackOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): StackOptions {
  const options: StackOptions = {};
  const set = <K extends keyof StackOptions>(key: K, value: StackOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  set('kinesisPort', portFromEnv(env, 'LOCAL_KINESIS_PORT'));
  set('kinesisTlsPort', portFromEnv(env, 'LOCAL_KINESIS_TLS_PORT'));
  set('dynamoPort', portFromEnv(env, 'LOCAL_DYNAMODB_PORT'));
  set('redisPort', portFromEnv(env, 'LOCAL_REDIS_PORT'));
  set('redisUrl', env.REDIS_URL || undefined);
  set('initializeStreams', env.INITIALIZE_STREAMS || undefined);
  set('dir', env.LOCAL_STACK_DIR || undefined);
  return options;
}

/**
 * Starts kinesis-local, dynalite and (unless `redisUrl`) a private redis-server, waits until each
 * answers, and writes `<dir>/stack.json`. On any failure it stops what it started and rethrows.
 * @example
 * const stack = await startStack({ dir: mkdtempSync('/tmp/e2e-') });
 * t.after(() => stack.stop());
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = resolve(ROOT, options.dir ?? '.local');
  const detached = options.detached ?? false;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const [kinesisPort, kinesisTlsPort, dynamoPort] = [
    options.kinesisPort ?? (await freePort()),
    options.kinesisTlsPort ?? (await freePort()),
    options.dynamoPort ?? (await freePort()),
  ];
  const started: ChildProcess[] = [];
  const cleanup = async (): Promise<void> => {
    await Promise.all(started.map((child) => stopProcess(child.pid as number)));
  };
  try {
    const kinesisLocal = join(ROOT, 'node_modules', 'kinesis-local');
    const kinesis = spawnService(process.execPath, [join(kinesisLocal, 'main.js')], {
      logFile: join(dir, 'logs', 'kinesis-local.log'),
      detached,
      env: {
        ...withoutKey(process.env, 'INITIALIZE_STREAMS'),
        KINESIS_MOCK_PLAIN_PORT: String(kinesisPort),
        KINESIS_MOCK_TLS_PORT: String(kinesisTlsPort),
        KINESIS_MOCK_CERT_PATH: join(kinesisLocal, 'server.json'),
        AWS_REGION: LOCAL_REGION,
        LOG_LEVEL: process.env.KINESIS_MOCK_LOG_LEVEL ?? 'WARN',
        SHOULD_PERSIST_DATA: 'false',
        // An empty INITIALIZE_STREAMS is a fatal configuration error for kinesis-local: set or absent.
        ...(options.initializeStreams ? { INITIALIZE_STREAMS: options.initializeStreams } : {}),
      },
    });
    started.push(kinesis);
    const dynamo = spawnService(
      process.execPath,
      [join(ROOT, 'node_modules', 'dynalite', 'cli.js'), '--host', '127.0.0.1', '--port', String(dynamoPort), '--createTableMs', '0', '--deleteTableMs', '0', '--updateTableMs', '0'],
      { logFile: join(dir, 'logs', 'dynalite.log'), detached, env: process.env },
    );
    started.push(dynamo);
    let redisUrl = options.redisUrl;
    let redisPid: number | undefined;
    if (redisUrl === undefined) {
      const redisPort = options.redisPort ?? (await freePort());
      const redis = spawnService(
        'redis-server',
        ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        { logFile: join(dir, 'logs', 'redis.log'), detached, env: process.env },
      );
      started.push(redis);
      redisPid = redis.pid;
      redisUrl = `redis://127.0.0.1:${redisPort}`;
    }
    for (const child of started) {
      child.once('exit', (code, signal) => {
        if (!stopping.has(child.pid as number)) exited.set(child.pid as number, `${code ?? signal}`);
      });
    }
    const kinesisEndpoint = `http://127.0.0.1:${kinesisPort}`;
    const dynamoEndpoint = `http://127.0.0.1:${dynamoPort}`;
    const alive = (child: ChildProcess, name: string): void => {
      const how = exited.get(child.pid as number);
      if (how !== undefined) throw new GiveUp(`${name} exited (${how}) during start; see ${dir}/logs`);
    };
    const url = redisUrl;
    await Promise.all([
      waitFor(`kinesis-local on ${kinesisEndpoint}`, async () => {
        alive(kinesis, 'kinesis-local');
        return (await portOpen(kinesisPort)) && (await awsJson(kinesisEndpoint, 'Kinesis_20131202.ListStreams', {})).ok;
      }, readyTimeoutMs, 250),
      waitFor(`dynalite on ${dynamoEndpoint}`, async () => {
        alive(dynamo, 'dynalite');
        return (await portOpen(dynamoPort)) && (await awsJson(dynamoEndpoint, 'DynamoDB_20120810.ListTables', {}, '1.0')).ok;
      }, readyTimeoutMs),
      waitFor(`redis at ${url.replace(/\/\/[^@]*@/, '//***@')}`, () => redisPing(url), readyTimeoutMs),
    ]);
    const state: StackState = {
      dir,
      kinesisPort,
      kinesisTlsPort,
      dynamoPort,
      kinesisEndpoint,
      dynamoEndpoint,
      redisUrl,
      region: LOCAL_REGION,
      pids: { kinesis: kinesis.pid as number, dynamo: dynamo.pid as number, ...(redisPid ? { redis: redisPid } : {}) },
      startedAt: new Date().toISOString(),
    };
    writeFileSync(join(dir, 'stack.json'), JSON.stringify(state, null, 2) + '\n');
    let stopped: Promise<void> | undefined;
    return { ...state, stop: () => (stopped ??= stopStack(state)) };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/**
 * SIGTERM to the process group of `pid`, SIGKILL after `graceMs`; resolves when it is gone.
 * @example
 * await stopProcess(pid, 5000);
 */
export async function stopProcess(pid: number, graceMs = 3000): Promise<void> {
  stopping.add(pid);
  if (!isAlive(pid)) return;
  killGroup(pid, 'SIGTERM');
  try {
    await waitFor(`process ${pid} to exit`, () => !isAlive(pid), graceMs, 50);
  } catch {
    killGroup(pid, 'SIGKILL');
    await waitFor(`process ${pid} to die`, () => !isAlive(pid), 5000, 50).catch(() => undefined);
  }
}

/** true if `pid` runs a command line containing `needle` (guards against reused pids). */
function runs(pid: number, needle: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
  } catch {
    return false;
  }
}

/**
 * Stops every process a stack started (checking each pid still runs what we started) and removes
 * its stack.json.
 * @example
 * await stopStack(readStackState('.local'));
 */
export async function stopStack(state: StackState): Promise<void> {
  const expected: Record<string, string> = { kinesis: 'kinesis-local', dynamo: 'dynalite', redis: 'redis-server' };
  await Promise.all(
    Object.entries(state.pids).map(async ([name, pid]) => {
      if (pid !== undefined && runs(pid, expected[name] ?? '')) await stopProcess(pid);
    }),
  );
  const file = join(state.dir, 'stack.json');
  if (existsSync(file)) {
    const onDisk = JSON.parse(readFileSync(file, 'utf8')) as StackState;
    if (onDisk.startedAt === state.startedAt) rmSync(file);
  }
}

/**
 * The state a `start` wrote to `<dir>/stack.json`, or undefined when no stack is recorded there.
 * @example
 * const state = readStackState('.local');
 */
export function readStackState(dir = '.local'): StackState | undefined {
  const file = join(resolve(ROOT, dir), 'stack.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as StackState;
}

/**
 * Environment for programs using the stack: the daemon (credentials for
 * EnvironmentVariableCredentialsProvider), the SDK, and workers (RESULTS_REDIS_URL).
 * @example
 * spawn('scripts/kcl-daemon.sh', [props], { env: { ...process.env, ...stackEnv(stack) } });
 */
export function stackEnv(state: StackState): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REGION: state.region,
    KINESIS_ENDPOINT: state.kinesisEndpoint,
    DYNAMODB_ENDPOINT: state.dynamoEndpoint,
    REDIS_URL: state.redisUrl,
    RESULTS_REDIS_URL: state.redisUrl,
  };
}
