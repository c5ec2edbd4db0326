/**
 * Private Redis servers for tests: each on free loopback ports, in its own temp directory, with
 * persistence off. Never touches the server on 6379.
 *
 * Every server started here is tracked; `stopAllRedis()` (meant for `after()`) stops what is
 * left, and a process 'exit' hook SIGKILLs anything still running, so a failing test does not
 * leave redis-server processes behind.
 *
 * @example
 * import { after, before, test } from 'node:test';
 * import { startRedis, stopAllRedis } from './redis.js';
 * let redis: RedisServer;
 * before(async () => { redis = await startRedis(); });
 * after(stopAllRedis);
 * test('x', async () => { const client = new Redis(redis.url); ... });
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HOST = '127.0.0.1';
const FORBIDDEN_PORT = 6379;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** Require this password (`requirepass`). The URL then carries it. Default: none. */
  password?: string;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
  /** Use this port instead of a free one (e.g. to restart a server elsewhere). */
  port?: number;
  /**
   * Also listen with TLS on a second free port, with a fresh self-signed CA and a certificate for
   * 127.0.0.1/localhost (made with openssl). The server then has `tlsPort`, `tlsUrl` and `ca`.
   */
  tls?: boolean;
}

/** A running private redis-server. */
export interface RedisServer {
  host: string;
  port: number;
  /** `redis://[:password@]127.0.0.1:<port>` */
  url: string;
  /** Its working directory (removed by `stop()`). */
  dir: string;
  /** With `tls: true`: the TLS port, its `rediss://` URL, and the CA certificate (PEM) to trust. */
  tlsPort?: number;
  tlsUrl?: string;
  ca?: string;
  /** True while the process is running. */
  readonly running: boolean;
  /** Stops the process gracefully (SIGTERM, then SIGKILL after 5 s). Keeps the directory. */
  down(): Promise<void>;
  /** Kills the process at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory; resolves when it answers PING. */
  up(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open but nothing answers, like a hung host. */
  pause(): void;
  /** Thaws a paused process (SIGCONT). */
  resume(): void;
  /** Stops the process and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** A running Redis Cluster (three masters by default, optionally with replicas). */
export interface RedisClusterServer {
  /** The masters as created (the URL's seeds). Roles change after a failover. */
  nodes: Array<{ host: string; port: number }>;
  /** The seed list as a cluster URL: `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`. */
  url: string;
  /** The masters as created, then (with `replicas`) the replicas. */
  servers: RedisServer[];
  /** Stops every node and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Masters. Default 3. */
  masters?: number;
  /** Replicas per master (`--cluster-replicas`). Default 0. */
  replicas?: number;
  /** `cluster-node-timeout` in ms: how soon a lost master is failed over. Default 2,000. */
  nodeTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
const stoppers = new Set<() => Promise<void>>();

process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Stops every server and cluster this module started that is still running. Use in `after()`.
 *
 * @example
 * after(stopAllRedis);
 */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...stoppers].map((stop) => stop()));
}

/** True when nothing listens on `port` of 127.0.0.1 (and it can be bound). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1, never 6379. With `withBus`, port+10000 (the cluster bus) is free
 * too.
 *
 * @example
 * const port = await freePort();
 */
export async function freePort(withBus = false): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (port === FORBIDDEN_PORT || port + 10_000 === FORBIDDEN_PORT) continue;
    if (!(await portIsFree(port))) continue;
    if (withBus && !(await portIsFree(port + 10_000))) continue;
    return port;
  }
  throw new Error('no free port found');
}

/**
 * Sends one command in RESP to 127.0.0.1:port and resolves with the raw reply text. Used for
 * readiness checks without a client library.
 *
 * @example
 * await rawCommand(port, ['PING']); // '+PONG\r\n'
 */
export function rawCommand(port: number, args: string[], password?: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, HOST);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from ${HOST}:${port}`));
    }, timeoutMs);
    const encode = (a: string[]): string => `*${a.length}\r\n${a.map((s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`).join('')}`;
    const expected = password === undefined ? 1 : 2;
    socket.on('connect', () => {
      socket.write((password === undefined ? '' : encode(['AUTH', password])) + encode(args));
    });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      let pos = 0;
      let complete = 0;
      while (complete < expected) {
        const end = replyEnd(buf, pos);
        if (end < 0) return;
        pos = end;
        complete++;
      }
      clearTimeout(timer);
      socket.destroy();
      resolve(buf.toString('utf8'));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Index just past the simple or bulk reply starting at `pos`, or -1 when it is incomplete. */
function replyEnd(buf: Buffer, pos: number): number {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return -1;
  const type = String.fromCharCode(buf[pos] ?? 0);
  if (type === '$' || type === '=') {
    const len = Number(buf.toString('utf8', pos + 1, eol));
    if (len < 0) return eol + 2;
    const end = eol + 2 + len + 2;
    return buf.length >= end ? end : -1;
  }
  return eol + 2;
}

async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs: number, alive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  while (Date.now() < deadline) {
    if (alive && !alive()) throw new Error(`${what}: process exited`);
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Writes a throwaway CA and a server certificate for 127.0.0.1/localhost into `dir` (openssl).
 *
 * @example
 * const { ca } = makeTestCertificates(dir); // dir/ca.crt, dir/server.crt, dir/server.key
 */
export function makeTestCertificates(dir: string): { ca: string } {
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`openssl ${args[0] ?? ''} failed: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-ca']);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext']);
  return { ca: readFileSync(join(dir, 'ca.crt'), 'utf8') };
}

function spawnServer(port: number, dir: string, opts: StartRedisOptions, tlsPort?: number): ChildProcess {
  const args = [
    '--port', String(port),
    '--bind', HOST,
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--daemonize', 'no',
    '--protected-mode', 'yes',
    '--logfile', join(dir, 'redis.log'),
  ];
  if (opts.password !== undefined) args.push('--requirepass', opts.password);
  if (tlsPort !== undefined) {
    args.push(
      '--tls-port', String(tlsPort),
      '--tls-cert-file', join(dir, 'server.crt'),
      '--tls-key-file', join(dir, 'server.key'),
      '--tls-ca-cert-file', join(dir, 'ca.crt'),
      '--tls-auth-clients', 'no',
    );
  }
  if (opts.args) args.push(...opts.args);
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts a private redis-server on a free port of 127.0.0.1 (no persistence, own temp dir) and
 * resolves once it answers PING.
 *
 * @example
 * const server = await startRedis({ password: 's3cret' });
 * await server.down(); // Redis is unreachable now
 * await server.up();   // same port, answers again
 * await server.stop();
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  if (opts.port === FORBIDDEN_PORT) throw new Error('refusing to start a test server on 6379');
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort(opts.args?.includes('--cluster-enabled') ?? false));
    const dir = mkdtempSync(join(tmpdir(), `redis-${port}-`));
    try {
      return await launch(port, dir, opts);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      // Another process may have taken the port between the check and the bind: try another.
      if (attempt >= 5 || opts.port !== undefined) throw err;
    }
  }
}

async function launch(port: number, dir: string, opts: StartRedisOptions): Promise<RedisServer> {
  let child: ChildProcess | undefined;
  const tls = opts.tls ? { ...makeTestCertificates(dir), port: await freePort() } : undefined;
  let removed = false;
  const ping = async (): Promise<boolean> => (await rawCommand(port, ['PING'], opts.password)).includes('+PONG');

  const up = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    const c = spawnServer(port, dir, opts, tls?.port);
    child = c;
    try {
      await waitFor(ping, `redis-server on port ${port}`, START_TIMEOUT_MS, () => c.exitCode === null && c.signalCode === null);
    } catch (err) {
      c.kill('SIGKILL');
      await exited(c);
      throw err;
    }
  };
  const down = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited(c);
      clearTimeout(timer);
    }
  };
  const kill = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    c.kill('SIGKILL');
    await exited(c);
  };
  const pause = (): void => void child?.kill('SIGSTOP');
  const resume = (): void => void child?.kill('SIGCONT');
  const stop = async (): Promise<void> => {
    resume(); // a stopped process does not act on SIGTERM until continued
    await down();
    stoppers.delete(stop);
    if (!removed) {
      removed = true;
      rmSync(dir, { recursive: true, force: true });
    }
  };
  stoppers.add(stop);
  try {
    await up();
  } catch (err) {
    stoppers.delete(stop);
    throw err;
  }
  const auth = opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`;
  return {
    host: HOST,
    port,
    url: `redis://${auth}${HOST}:${port}`,
    dir,
    ...(tls === undefined ? {} : { tlsPort: tls.port, tlsUrl: `rediss://${auth}${HOST}:${tls.port}`, ca: tls.ca }),
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    up,
    down,
    kill,
    pause,
    resume,
    stop,
  };
}

/**
 * Starts cluster-enabled nodes on free ports (three masters by default, `replicas` per master),
 * joins them with `redis-cli --cluster create ... --cluster-replicas N`, and resolves when every
 * node reports `cluster_state:ok` and every replica's link to its master is up.
 *
 * @example
 * const cluster = await startRedisCluster();
 * const withReplicas = await startRedisCluster({ replicas: 1, nodeTimeoutMs: 1500 });
 * const client = new Cluster(cluster.nodes);
 * after(() => cluster.stop());
 */
export async function startRedisCluster(opts: StartRedisClusterOptions = {}): Promise<RedisClusterServer> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const count = masters * (1 + replicas);
  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    stoppers.delete(stop);
    await Promise.all(servers.map((s) => s.stop()));
  };
  stoppers.add(stop);
  try {
    for (let i = 0; i < count; i++) {
      servers.push(
        await startRedis({
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 2000)],
        }),
      );
    }
    await runRedisCli([
      '--cluster', 'create',
      ...servers.map((s) => `${HOST}:${s.port}`),
      '--cluster-replicas', String(replicas),
      '--cluster-yes',
    ]);
    for (const s of servers) {
      await waitFor(
        async () => (await rawCommand(s.port, ['CLUSTER', 'INFO'])).includes('cluster_state:ok'),
        `cluster_state:ok on ${s.port}`,
        START_TIMEOUT_MS * 2,
      );
    }
    for (const s of servers.slice(masters)) {
      await waitFor(
        async () => (await rawCommand(s.port, ['INFO', 'replication'])).includes('master_link_status:up'),
        `replica ${s.port} in sync`,
        START_TIMEOUT_MS * 2,
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const nodes = servers.slice(0, masters).map((s) => ({ host: HOST, port: s.port }));
  return {
    nodes,
    url: `redis+cluster://${nodes.map((n) => `${n.host}:${n.port}`).join(',')}`,
    servers,
    stop,
  };
}

function runRedisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      live.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`redis-cli ${args.join(' ')} exited ${code}: ${out}`));
    });
  });
}

/** A primary with replicas watched by sentinels, from {@link startRedisSentinel}. */
export interface RedisSentinelSetup {
  /** The master name the sentinels monitor. */
  name: string;
  /** The data nodes: [0] is the first primary, the rest its replicas. Roles change on failover. */
  servers: RedisServer[];
  /** The sentinels (`redis-server <conf> --sentinel`), each on a free port. */
  sentinels: Array<{ port: number; readonly running: boolean; kill(): Promise<void> }>;
  /** `redis+sentinel://127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/<name>` */
  url: string;
  /** The primary's port as the sentinel on `sentinels[i]` reports it, or undefined. */
  masterPort(i?: number): Promise<number | undefined>;
  /** Stops everything and removes the directories. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a primary, `replicas` replicas of it (default 2) and `sentinels` sentinels (default 3,
 * quorum 2, down-after 1000 ms), all on free ports, and resolves when every replica is in sync
 * and every sentinel knows the primary and the other sentinels. With `sentinelPassword` the
 * sentinels require it (`requirepass` in sentinel.conf); the data nodes stay without a password.
 *
 * @example
 * const s = await startRedisSentinel();
 * const client = new Redis({ sentinels: s.sentinels.map((x) => ({ host: '127.0.0.1', port: x.port })), name: s.name });
 * await s.stop();
 */
export async function startRedisSentinel(opts: { replicas?: number; sentinels?: number; name?: string; sentinelPassword?: string } = {}): Promise<RedisSentinelSetup> {
  const name = opts.name ?? 'mymaster';
  const servers: RedisServer[] = [];
  const sentinels: Array<{ port: number; child: ChildProcess | undefined; dir: string; readonly running: boolean; kill(): Promise<void> }> = [];
  const stop = async (): Promise<void> => {
    stoppers.delete(stop);
    await Promise.all(sentinels.map((s) => s.kill()));
    for (const s of sentinels) rmSync(s.dir, { recursive: true, force: true });
    await Promise.all(servers.map((s) => s.stop()));
  };
  stoppers.add(stop);
  const masterPort = async (i = 0): Promise<number | undefined> => {
    const s = sentinels[i];
    if (!s) return undefined;
    const raw = await rawCommand(s.port, ['SENTINEL', 'get-master-addr-by-name', name], opts.sentinelPassword);
    const m = /127\.0\.0\.1\r\n\$\d+\r\n(\d+)/.exec(raw);
    return m ? Number(m[1]) : undefined;
  };
  try {
    const primary = await startRedis();
    servers.push(primary);
    for (let i = 0; i < (opts.replicas ?? 2); i++) servers.push(await startRedis({ args: ['--replicaof', HOST, String(primary.port)] }));
    for (const r of servers.slice(1)) {
      await waitFor(async () => (await rawCommand(r.port, ['INFO', 'replication'])).includes('master_link_status:up'), `replica ${r.port} in sync`, START_TIMEOUT_MS * 2);
    }
    for (let i = 0; i < (opts.sentinels ?? 3); i++) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), `sentinel-${port}-`));
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          'daemonize no',
          `dir ${dir}`,
          `logfile ${join(dir, 'sentinel.log')}`,
          `sentinel monitor ${name} ${HOST} ${primary.port} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          // The sentinels' own password: clients must send it (REDIS_SENTINEL_PASSWORD), and so
          // must the sentinels among themselves.
          ...(opts.sentinelPassword === undefined ? [] : [`requirepass ${opts.sentinelPassword}`, `sentinel sentinel-pass ${opts.sentinelPassword}`]),
          '',
        ].join('\n'),
      );
      const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
      live.add(child);
      child.once('exit', () => live.delete(child));
      const s = {
        port,
        child: child as ChildProcess | undefined,
        dir,
        get running() {
          return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
        },
        async kill() {
          const c = this.child;
          if (!c || c.exitCode !== null || c.signalCode !== null) return;
          c.kill('SIGKILL');
          await exited(c);
        },
      };
      sentinels.push(s);
    }
    const others = (opts.sentinels ?? 3) - 1;
    for (const s of sentinels) {
      await waitFor(
        async () => {
          const info = await rawCommand(s.port, ['INFO', 'sentinel'], opts.sentinelPassword);
          return info.includes(`name=${name},status=ok`) && info.includes(`sentinels=${others + 1}`) && info.includes(`slaves=${servers.length - 1}`);
        },
        `sentinel ${s.port} ready`,
        START_TIMEOUT_MS * 3,
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name,
    servers,
    sentinels,
    url: `redis+sentinel://${sentinels.map((s) => `${HOST}:${s.port}`).join(',')}/${name}`,
    masterPort,
    stop,
  };
}
