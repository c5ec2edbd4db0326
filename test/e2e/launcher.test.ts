/**
 * End to end: bin/kinesis-streams-daemon, the launcher that ships in the package, with the real
 * Java daemon (KCL 2.7.2, the jars of vendor/kcl-jars) and its --local stand-ins (kinesis-local and
 * dynalite, resolved from this project as a user's devDependencies). Run by `make test-e2e`.
 *
 * It checks what kcl-bootstrap (aws-kcl's launcher) gets wrong: SIGTERM to the launcher stops the
 * JVM cleanly (workers checkpoint and exit 0) and leaves nothing running, the launcher exits with
 * the daemon's code; a SIGKILLed launcher leaves no JVM behind (setpriv's parent-death signal); a
 * jar set with protobuf-java 4.27.5 is refused before java starts. Plus the one-line refusals of a
 * missing or wrong properties file and of --local without the stand-ins.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localKinesisClient, putAll } from '../../scripts/kinesis.js';
import { ROOT, waitFor } from '../../scripts/stack.js';
import { seenRecords, workerEvents } from './workers.js';

const BIN = join(ROOT, 'bin', 'kinesis-streams-daemon');
const JARS = join(ROOT, 'vendor', 'kcl-jars');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'recording-worker.mjs');
const skip = !existsSync(join(JARS, '.complete'))
  ? 'no KCL jars (make jars; needs java and mvn)'
  : !existsSync(join(ROOT, 'dist', 'daemon', 'cli.js'))
    ? 'the launcher is not built (make build)'
    : false;
const hasSetpriv = spawnSync('setpriv', ['--pdeathsig', 'TERM', '--', 'true']).status === 0;
/** Two JVMs' worth of start-up on a shared 2-core machine; the first lease sync waits up to 30 s. */
const START_TIMEOUT_MS = 150_000;
const JAVA_OPTS = '-Xmx384m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC';

let root: string;
const launched: ChildProcess[] = [];

function log(message: string): void {
  process.stderr.write(`# [launcher ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
}

/** A live, non-zombie process: /proc/<pid>/stat exists and its state is not Z. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .flatMap((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(fields[1]) === pid && fields[0] !== 'Z' ? [Number(e)] : [];
      } catch {
        return [];
      }
    });
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};

/** The launcher, as a user runs it; stderr collected. */
function launch(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, JAVA_OPTS, ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  launched.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const exited = new Promise<number | null>((ok) => child.once('exit', (code, signal) => ok(code ?? (signal ? -1 : null))));
  return { child, stderr: () => stderr, exited };
}

/** The launcher run to completion (for the refusals). */
function launchSync(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): { status: number | null; stderr: string; stdout: string } {
  const out = spawnSync(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, encoding: 'utf8', timeout: 60_000 });
  return { status: out.status, stderr: out.stderr, stdout: out.stdout };
}

function propertiesFor(dir: string, name: string, extra = ''): string {
  const file = join(dir, `${name}.properties`);
  writeFileSync(
    file,
    [
      `executableName = ${process.execPath} ${FIXTURE}`,
      `streamName = launcher-${name}`,
      `applicationName = launcher-${name}-app`,
      `workerId = ${name}`,
      'initialPositionInStream = TRIM_HORIZON',
      'idleTimeBetweenReadsInMillis = 250',
      'failoverTimeMillis = 4000',
      'shardSyncIntervalMillis = 5000',
      'parentShardPollIntervalMillis = 1000',
      'shutdownGraceMillis = 8000',
      extra,
    ].join('\n') + '\n',
  );
  return file;
}

/** A copy of the jar folder (symlinks) with protobuf-java as aws-kcl 2.3.2's list pins it, 4.27.5. */
function brokenJars(): string {
  const dir = mkdtempSync(join(root, 'jars-4.27.5-'));
  for (const jar of readdirSync(JARS).filter((f) => f.endsWith('.jar'))) {
    symlinkSync(join(JARS, jar), join(dir, jar.startsWith('protobuf-java-') ? 'protobuf-java-4.27.5.jar' : jar));
  }
  return dir;
}

interface LocalJson {
  kinesisEndpoint: string;
  dynamoEndpoint: string;
  pids: { kinesis: number; dynamo: number };
}

/** Starts `run --local`, waits for the stack and for `workers` workers under the JVM. */
async function startLocal(name: string, shards: number, workers: number): Promise<{ run: ReturnType<typeof launch>; dir: string; state: LocalJson; java: number }> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const properties = propertiesFor(dir, name);
  const run = launch(['run', properties, '--local', '--shards', String(shards), '--jars', JARS, '--state-dir', join(dir, 'state')], {
    env: { RECORDING_DIR: dir, RECORDING_TAG: name },
  });
  const stateFile = join(dir, 'state', 'local.json');
  const dead = async (): Promise<boolean> => run.child.exitCode !== null || run.child.signalCode !== null;
  await waitFor(`${name}: the local stack (${stateFile})`, async () => {
    if (await dead()) throw new Error(`the launcher exited: ${run.stderr()}`);
    return existsSync(stateFile);
  }, 90_000, 200);
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as LocalJson;
  let java = 0;
  await waitFor(`${name}: the JVM and ${workers} worker(s)`, async () => {
    if (await dead()) throw new Error(`the launcher exited: ${run.stderr()}`);
    java = childrenOf(run.child.pid as number).find((p) => cmdline(p).includes('MultiLangDaemon')) ?? 0;
    return java > 0 && childrenOf(java).length >= workers;
  }, START_TIMEOUT_MS, 250);
  log(`${name}: launcher ${run.child.pid}, java ${java}, workers ${childrenOf(java).join(' ')}, stand-ins ${state.pids.kinesis} ${state.pids.dynamo}`);
  return { run, dir, state, java };
}

void describe('kinesis-streams-daemon (the installed launcher) on the real KCL 2.7.2 daemon', { skip }, () => {
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'kcl-launcher-'));
  });

  after(() => {
    for (const child of launched) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (process.env.E2E_KEEP === '1') log(`logs kept in ${root}`);
    else rmSync(root, { recursive: true, force: true });
  });

  void it('--local: records reach the fixture worker; SIGTERM to the launcher stops the JVM cleanly, every process is gone, and it exits with the daemon\'s code', async () => {
    // Prepare
    const { run, dir, state, java } = await startLocal('term', 2, 2);
    const kinesis = localKinesisClient(state.kinesisEndpoint);
    const placed = await putAll(kinesis, 'launcher-term', Array.from({ length: 60 }, (_, i) => ({ Data: Buffer.from(`r${i}`), PartitionKey: `k${i}` })));
    kinesis.destroy();
    const wanted = new Set(placed.map((p) => p.sequenceNumber));
    await waitFor('every record at the fixture worker', () => seenRecords(dir).filter((r) => wanted.has(r.sequenceNumber)).length === wanted.size, START_TIMEOUT_MS, 250);
    const workers = childrenOf(java);
    const all = [java, ...workers, state.pids.kinesis, state.pids.dynamo];

    // Act
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    const code = await run.exited;
    log(`term: the launcher exited ${code} ${Date.now() - t0} ms after SIGTERM`);

    // Assess
    assert.equal(code, 143, `the JVM's code after a clean SIGTERM stop; stderr:\n${run.stderr().slice(-2000)}`);
    assert.match(run.stderr(), /daemon exited with 143/);
    assert.doesNotMatch(run.stderr(), / ERROR /, 'no ERROR from the daemon during the stop');
    await waitFor('every process of the run to be gone', () => all.every((p) => !running(p)), 5000, 100).catch(() => undefined);
    assert.deepEqual(all.filter(running).map((p) => `${p} ${cmdline(p)}`), [], 'still running after the launcher exited');
    const exits = workerEvents(dir).filter((e) => e.event === 'exit');
    assert.deepEqual(exits.map((e) => e.code), workers.map(() => 0), 'each worker exited 0 after the daemon let it go');
    assert.ok(workerEvents(dir).some((e) => e.event === 'shutdownRequested'), 'the workers were asked to checkpoint before the stop');
  });

  void it('a SIGKILLed launcher leaves no JVM, worker or stand-in behind (parent-death signal)', { skip: !hasSetpriv && 'no setpriv --pdeathsig here: a SIGKILLed launcher orphans java (docs/daemon.md)' }, async () => {
    // Prepare
    const { run, state, java } = await startLocal('kill', 1, 1);
    const all = [java, ...childrenOf(java), state.pids.kinesis, state.pids.dynamo];

    // Act
    run.child.kill('SIGKILL');
    await run.exited;

    // Assess: java got SIGTERM (its clean stop), the stand-ins SIGKILL.
    await waitFor('the JVM, its workers and the stand-ins to be gone', () => all.every((p) => !running(p)), 60_000, 200).catch(() => undefined);
    assert.deepEqual(all.filter(running).map((p) => `${p} ${cmdline(p)}`), [], 'orphaned after the launcher was SIGKILLed');
  });

  void it('refuses a jar set with protobuf-java 4.27.5 (aws-kcl 2.3.2\'s list) in one line, exit 2, before java starts', () => {
    // Prepare
    const dir = brokenJars();
    const properties = propertiesFor(root, 'jars');
    // Act
    const check = launchSync(['check-jars', dir]);
    const run = launchSync(['run', properties, '--jars', dir], { env: { JAVA: '/bin/false-java-must-not-start' } });
    // Assess
    for (const out of [check, run]) {
      assert.equal(out.status, 2);
      const lines = out.stderr.trim().split('\n');
      assert.equal(lines.length, 1, out.stderr);
      assert.match(lines[0] ?? '', /cannot load: protobuf-java 4\.27\.5 present, KCL built against 4\.31\.1 \(amazon-kinesis-client-2\.7\.2\.jar\)/);
    }
    assert.equal(launchSync(['check-jars', JARS]).status, 0, 'the checked set passes');
  });

  void it('a missing properties file, a key the daemon would ignore, a missing stream: one line each, exit 2', () => {
    const missing = launchSync(['run', join(root, 'nope.properties'), '--jars', JARS]);
    const typo = launchSync(['run', propertiesFor(root, 'typo', 'idleTimeBetweenReadsMillis = 100'), '--jars', JARS]);
    const nostream = join(root, 'nostream.properties');
    writeFileSync(nostream, `executableName = ${process.execPath} ${FIXTURE}\napplicationName = a\n`);
    const noStream = launchSync(['check-properties', nostream]);
    for (const [out, pattern] of [
      [missing, /nope\.properties: cannot read the properties file \(ENOENT\)/],
      [typo, /unknown key `idleTimeBetweenReadsMillis` \(the daemon would ignore it\)/],
      [noStream, /neither `streamName` nor `streamArn` is set/],
    ] as const) {
      assert.equal(out.status, 2, out.stderr);
      const lines = out.stderr.trim().split('\n');
      assert.equal(lines.length, 1, out.stderr);
      assert.match(lines[0] ?? '', pattern);
    }
  });

  void it('--local in a project without kinesis-local and dynalite: one line saying what to install, exit 2, nothing started', () => {
    const project = mkdtempSync(join(root, 'project-'));
    const out = launchSync(['run', propertiesFor(project, 'bare'), '--local', '--jars', JARS], { cwd: project });
    assert.equal(out.status, 2, out.stderr);
    const lines = out.stderr.trim().split('\n');
    assert.equal(lines.length, 1, out.stderr);
    assert.match(lines[0] ?? '', /--local needs kinesis-local and dynalite in your project .*npm install --save-dev kinesis-local dynalite/);
  });
});
