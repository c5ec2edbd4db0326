/**
 * App Opens API benchmark, all in one run (`make bench-api`), loopback only:
 *   1. base single: `POST /app_opens` of the API as it was at BASE (default b597528, before
 *      authentication and rate limits), built from `git archive` into a temporary directory;
 *   2. single:      `POST /app_opens` of this tree's API, with an API key and the rate limiter on;
 *   3. batch:       `POST /app_opens/batch` of this tree's API, `--batch` events per request.
 * Each server is the real binary in a child process, writing through its BatchProducer to one
 * kinesalite in another child process (each server its own stream). autocannon (in this process)
 * sends a bounded number of requests over `--connections` connections; every run waits until
 * the server's producer has sent everything before the next run starts. The three runs are
 * repeated `--runs` times, rotating their order, so that the runs compared see the same load.
 * Reported per kind: events/s and requests/s (medians), p99 latency, and the server's CPU time
 * (user + system, from /proc) per 1,000 events: the cost of an event whatever the machine's load.
 * Prints a table, then one JSON line; exits 1 when the single-event endpoint is under 90% of the
 * base's (median of the paired ratios) or any request was not answered 202.
 *
 * Usage: node --import tsx bench/api.ts [--runs 5] [--requests 20000] [--batch 100] [--batch-requests 400] [--connections 50] [--base b597528] [--base-dir DIR]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateStreamCommand, DescribeStreamCommand } from '@aws-sdk/client-kinesis';
import { createKinesisClient } from '../src/producer/index.js';
import { startKinesaliteProcess } from './kinesaliteProcess.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    requests: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '100' },
    'batch-requests': { type: 'string', default: '400' },
    connections: { type: 'string', default: '50' },
    base: { type: 'string', default: 'b597528' },
    'base-dir': { type: 'string' },
    shards: { type: 'string', default: '4' },
  },
});
const RUNS = Number(args.runs);
const REQUESTS = Number(args.requests);
const BATCH = Number(args.batch);
const BATCH_REQUESTS = Number(args['batch-requests']);
const CONNECTIONS = Number(args.connections);
const SHARDS = Number(args.shards);
const RUN_TIMEOUT_MS = 120_000;
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const KEY = 'bench-service-key-0123456789abcdef';
const CLK_TCK = 100; // /proc/<pid>/stat clock ticks per second on Linux

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p99: number };
  duration: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, res: AutocannonResult) => void) => { stop(): void };
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** Builds the API as it was at `commit` into a directory of its own (once; reused after). */
function buildBase(commit: string): string {
  if (args['base-dir'] !== undefined) return resolve(args['base-dir']);
  const sha = execFileSync('git', ['rev-parse', '--short=12', commit], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dir = join(tmpdir(), `kinesis-streams-api-base-${sha}`);
  // bin/app-opens-api imports the build: dist/app-opens/bin/ now, dist/bin/ before the app moved.
  if (['dist/app-opens/bin/app-opens-api.js', 'dist/bin/app-opens-api.js'].some((p) => existsSync(join(dir, p)))) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`building the API of ${sha} in ${dir}\n`);
  execFileSync('sh', ['-c', `git archive ${sha} | tar -x -C "${dir}"`], { cwd: ROOT, stdio: 'inherit' });
  // Its dependencies are a subset of this tree's (fastify, pino, the AWS SDK, avsc, dotenv).
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.build.json')], { cwd: dir, stdio: 'inherit' });
  return dir;
}

interface Server {
  name: string;
  child: ChildProcess;
  url: string;
}

async function startServer(name: string, dir: string, env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, [join(dir, 'bin/app-opens-api')], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.resume();
  // Both versions log a "listening" line with the port (PORT=0 picks a free one).
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not listen within 30 s`)), 30_000);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const obj = JSON.parse(line) as { msg?: string; port?: number };
      if (obj.msg === 'listening') {
        clearTimeout(timer);
        resolvePort(obj.port!);
      }
    });
  });
  return { name, child, url: `http://127.0.0.1:${port}` };
}

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // utime, stime
}

async function drained(url: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const h = (await (await fetch(`${url}/healthz`)).json()) as { buffered: number };
    if (h.buffered === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url}: the producer did not drain within 60 s`);
}

interface Run {
  eventsPerSec: number;
  requestsPerSec: number;
  p99Ms: number;
  cpuMsPer1k: number;
  non202: number;
}

async function measure(server: Server, path: string, body: string, requests: number, eventsPerRequest: number): Promise<Run> {
  await drained(server.url);
  const c0 = cpuMs(server.child.pid!);
  const t0 = performance.now();
  const result = await new Promise<AutocannonResult>((resolveRun, reject) => {
    const instance = autocannon(
      {
        url: `${server.url}${path}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': KEY },
        body,
        connections: Math.min(CONNECTIONS, requests),
        amount: requests,
        timeout: 30,
      },
      (err, res) => (err ? reject(err) : resolveRun(res)),
    );
    setTimeout(() => instance.stop(), RUN_TIMEOUT_MS).unref();
  });
  const cpu = cpuMs(server.child.pid!) - c0;
  const ok = result.statusCodeStats['202']?.count ?? 0;
  // autocannon's own duration is rounded to 10 ms steps, too coarse for short runs.
  const seconds = (performance.now() - t0) / 1000;
  return {
    eventsPerSec: (ok * eventsPerRequest) / seconds,
    requestsPerSec: ok / seconds,
    p99Ms: result.latency.p99,
    cpuMsPer1k: cpu / ((ok * eventsPerRequest) / 1000),
    non202: result.requests.total - ok + result.errors,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const baseDir = buildBase(args.base!);
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const { endpoint, child: kinesalite } = await startKinesaliteProcess();
  const client = createKinesisClient({ endpoint, region: 'us-east-1' });
  const stream = async (name: string): Promise<string> => {
    await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: SHARDS }));
    for (let i = 0; i < 500; i++) {
      if ((await client.send(new DescribeStreamCommand({ StreamName: name }))).StreamDescription?.StreamStatus === 'ACTIVE') return name;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`stream ${name} not ACTIVE`);
  };
  const common = { KINESIS_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' };
  const servers: Server[] = [];
  try {
    const base = await startServer('base', baseDir, { ...common, STREAM_NAME: await stream('bench-base') });
    servers.push(base);
    const current = await startServer('current', ROOT, {
      ...common,
      STREAM_NAME: await stream('bench-current'),
      AUTH_API_KEYS: KEY,
      // The limiter counts every request, as in production; the budget is above what a run sends.
      RATE_LIMIT_PER_KEY_PER_MINUTE: String(100 * (REQUESTS + BATCH_REQUESTS) * RUNS),
      MAX_BUFFERED_EVENTS: String(Math.max(20_000, 2 * BATCH * BATCH_REQUESTS)),
    });
    servers.push(current);

    const single = JSON.stringify({ userId: '4242', platform: 'ios', timestamp: 1_764_000_000, appVersion: '7.1.0' });
    const batch = JSON.stringify({ events: Array.from({ length: BATCH }, (_, i) => ({ userId: String(4242 + i), platform: 'ios', timestamp: 1_764_000_000, appVersion: '7.1.0' })) });
    const kinds = {
      'base single': () => measure(base, '/app_opens', single, REQUESTS, 1),
      single: () => measure(current, '/app_opens', single, REQUESTS, 1),
      batch: () => measure(current, '/app_opens/batch', batch, BATCH_REQUESTS, BATCH),
    } as const;
    type Kind = keyof typeof kinds;
    const order = Object.keys(kinds) as Kind[];
    // Warm-up (JIT, connections, streams), not measured.
    await measure(base, '/app_opens', single, 2_000, 1);
    await measure(current, '/app_opens', single, 2_000, 1);
    await measure(current, '/app_opens/batch', batch, 40, BATCH);

    const runs: Record<Kind, Run[]> = { 'base single': [], single: [], batch: [] };
    const paired: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const rotated = order.map((_, i) => order[(i + r) % order.length]!);
      for (const kind of rotated) runs[kind].push(await kinds[kind]());
      paired.push(runs.single[r]!.eventsPerSec / runs['base single'][r]!.eventsPerSec);
      process.stderr.write(`run ${r + 1}/${RUNS}: ${rotated.map((k) => `${k} ${runs[k][r]!.eventsPerSec.toFixed(0)}/s`).join(', ')}\n`);
    }

    const med = (k: Kind, f: keyof Run): number => median(runs[k].map((x) => x[f]));
    const rows = order.map(
      (k) =>
        `| ${k.padEnd(12)} | ${med(k, 'eventsPerSec').toFixed(0).padStart(9)} | ${med(k, 'requestsPerSec').toFixed(0).padStart(10)} | ${med(k, 'p99Ms').toFixed(0).padStart(7)} | ${med(k, 'cpuMsPer1k').toFixed(1).padStart(12)} | ${runs[k].map((x) => x.eventsPerSec.toFixed(0)).join(', ')} |`,
    );
    const singleVsBase = median(paired);
    const cpuSingleVsBase = med('single', 'cpuMsPer1k') / med('base single', 'cpuMsPer1k');
    const batchVsSingle = med('batch', 'eventsPerSec') / med('single', 'eventsPerSec');
    const non202 = order.reduce((n, k) => n + runs[k].reduce((m, x) => m + x.non202, 0), 0);
    const pass = singleVsBase >= 0.9 && non202 === 0;
    process.stdout.write(
      [
        `App Opens API, ${CONNECTIONS} connections, single: ${REQUESTS} requests, batch: ${BATCH_REQUESTS} requests of ${BATCH} events; ${RUNS} runs; base ${args.base}`,
        `${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
        '',
        '| endpoint     | events/s  | requests/s | p99 ms  | server CPU ms/1k events | runs (events/s) |',
        '|--------------|----------:|-----------:|--------:|-------------:|------|',
        ...rows,
        '',
        `single / base single: ${(100 * singleVsBase).toFixed(1)}% (median of paired runs: ${paired.map((x) => (100 * x).toFixed(0) + '%').join(', ')}); server CPU per event: ${(100 * cpuSingleVsBase).toFixed(1)}% of base`,
        `batch / single: ${batchVsSingle.toFixed(1)} x the events/s`,
        '',
      ].join('\n'),
    );
    process.stdout.write(
      JSON.stringify({
        bench: 'api',
        runs: RUNS,
        connections: CONNECTIONS,
        batchSize: BATCH,
        base: args.base,
        eventsPerSec: { baseSingle: Math.round(med('base single', 'eventsPerSec')), single: Math.round(med('single', 'eventsPerSec')), batch: Math.round(med('batch', 'eventsPerSec')) },
        cpuMsPer1k: { baseSingle: +med('base single', 'cpuMsPer1k').toFixed(2), single: +med('single', 'cpuMsPer1k').toFixed(2), batch: +med('batch', 'cpuMsPer1k').toFixed(2) },
        p99Ms: { baseSingle: med('base single', 'p99Ms'), single: med('single', 'p99Ms'), batch: med('batch', 'p99Ms') },
        singleVsBasePaired: +singleVsBase.toFixed(3),
        cpuSingleVsBase: +cpuSingleVsBase.toFixed(3),
        batchVsSingle: +batchVsSingle.toFixed(2),
        non202,
        cpus: cpus().length,
        loadAvg1m: +loadavg()[0]!.toFixed(2),
        pass,
      }) + '\n',
    );
    process.exitCode = pass ? 0 : 1;
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))));
    client.destroy();
    kinesalite.kill();
  }
}

await main();
