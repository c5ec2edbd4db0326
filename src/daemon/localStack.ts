/**
 * `run --local`: the stand-ins for AWS the daemon runs against on a laptop or in CI, started the
 * way the repository's demo starts them: kinesis-local (Kinesis; its plain port speaks the HTTP/2
 * cleartext the daemon's client insists on) and dynalite (DynamoDB in memory, for the lease table),
 * on free loopback ports, each in its own process group, both resolved from the user's project
 * (they are its devDependencies, not this package's). Then the stream named in the properties is
 * created and the properties are pointed at them.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { GiveUp, isAlive, killGroup, spawnSupervised, waitFor } from './processes.js';

/** Credentials the stand-ins accept (any non-empty pair; they only check that a signature is there). */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
/** The region the stand-ins pretend to be in. */
export const LOCAL_REGION = 'us-east-1';

/** Thrown when kinesis-local or dynalite cannot be found from the user's project. */
export class StandInsMissing extends Error {
  override name = 'StandInsMissing';
}

/** A running local stack. */
export interface LocalStack {
  kinesisEndpoint: string;
  dynamoEndpoint: string;
  pids: { kinesis: number; dynamo: number };
  /** The properties every local run sets (endpoints, env credentials, no metrics, polling). */
  properties: Record<string, string>;
  /** Environment for the daemon and its workers (credentials, region, endpoints). */
  env: Record<string, string>;
  /** Stops both (SIGTERM, SIGKILL after 3 s); idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startLocalStack}. */
export interface LocalStackOptions {
  /** Where kinesis-local and dynalite are resolved from (the user's project). Default: cwd. */
  projectDir?: string;
  /** Folder for the stand-ins' logs. */
  logDir: string;
  /** The stream to create, and its shard count. */
  streamName: string;
  shards: number;
  /** Fixed ports (LOCAL_KINESIS_PORT, LOCAL_DYNAMODB_PORT); default free ones. */
  kinesisPort?: number;
  dynamoPort?: number;
  readyTimeoutMs?: number;
}

async function freePort(): Promise<number> {
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

/** The package folders of kinesis-local and dynalite, resolved from `projectDir`. */
export function resolveStandIns(projectDir: string): { kinesisLocal: string; dynalite: string } {
  const require = createRequire(join(resolve(projectDir), 'package.json'));
  const find = (name: string): string | undefined => {
    try {
      return dirname(require.resolve(`${name}/package.json`));
    } catch {
      return undefined;
    }
  };
  const kinesisLocal = find('kinesis-local');
  const dynalite = find('dynalite');
  if (!kinesisLocal || !dynalite) {
    const missing = [kinesisLocal ? undefined : 'kinesis-local', dynalite ? undefined : 'dynalite'].filter(Boolean).join(' and ');
    throw new StandInsMissing(
      `--local needs ${missing} in your project (not found from ${resolve(projectDir)}): npm install --save-dev kinesis-local dynalite`,
    );
  }
  return { kinesisLocal, dynalite };
}

/**
 * One AWS JSON-protocol call with a signature-shaped Authorization header (the stand-ins check that
 * it is there, not what it says).
 */
export async function awsJson(endpoint: string, target: string, body: unknown, version = '1.1'): Promise<Response> {
  return fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': `application/x-amz-json-${version}`,
      'x-amz-target': target,
      'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''),
      authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_CREDENTIALS.accessKeyId}/20200101/${LOCAL_REGION}/x/aws4_request, SignedHeaders=host;x-amz-date, Signature=0`,
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
}

function start(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv, cwd: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawnSupervised(command, args, { env, stdio: ['ignore', fd, fd], cwd, parentDeathSignal: 'KILL' });
  } finally {
    closeSync(fd);
  }
}

async function stopProcess(pid: number): Promise<void> {
  if (!isAlive(pid)) return;
  killGroup(pid, 'SIGTERM');
  try {
    await waitFor(`process ${pid} to exit`, () => !isAlive(pid), 3000, 50);
  } catch {
    killGroup(pid, 'SIGKILL');
    await waitFor(`process ${pid} to die`, () => !isAlive(pid), 5000, 50).catch(() => undefined);
  }
}

/**
 * Starts kinesis-local and dynalite, waits until both answer, creates the stream and waits until
 * it is ACTIVE. On failure it stops what it started and rethrows.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const { kinesisLocal, dynalite } = resolveStandIns(options.projectDir ?? process.cwd());
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  mkdirSync(options.logDir, { recursive: true });
  const kinesisPort = options.kinesisPort ?? (await freePort());
  const kinesisTlsPort = await freePort();
  const dynamoPort = options.dynamoPort ?? (await freePort());
  const started: ChildProcess[] = [];
  const exits = new Map<number, string>();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= Promise.all(started.map((c) => stopProcess(c.pid as number))).then(() => undefined));
  try {
    const env = { ...process.env };
    delete env.INITIALIZE_STREAMS; // an empty value is fatal to kinesis-local; we create the stream ourselves
    const kinesis = start(process.execPath, [join(kinesisLocal, 'main.js')], join(options.logDir, 'kinesis-local.log'), {
      ...env,
      KINESIS_MOCK_PLAIN_PORT: String(kinesisPort),
      KINESIS_MOCK_TLS_PORT: String(kinesisTlsPort),
      // It opens its TLS certificate relative to the working directory otherwise.
      KINESIS_MOCK_CERT_PATH: join(kinesisLocal, 'server.json'),
      AWS_REGION: LOCAL_REGION,
      LOG_LEVEL: process.env.KINESIS_MOCK_LOG_LEVEL ?? 'WARN',
      SHOULD_PERSIST_DATA: 'false',
    }, kinesisLocal);
    started.push(kinesis);
    const dynamo = start(
      process.execPath,
      // In memory; a new table ACTIVE at once (KCL polls for it every 10 s otherwise).
      [join(dynalite, 'cli.js'), '--host', '127.0.0.1', '--port', String(dynamoPort), '--createTableMs', '0', '--deleteTableMs', '0', '--updateTableMs', '0'],
      join(options.logDir, 'dynalite.log'),
      env,
      dynalite,
    );
    started.push(dynamo);
    for (const child of started) child.once('exit', (code, signal) => exits.set(child.pid as number, `${code ?? signal}`));
    const alive = (child: ChildProcess, name: string): void => {
      const how = exits.get(child.pid as number);
      if (how !== undefined) throw new GiveUp(`${name} exited (${how}) during start; see ${options.logDir}`);
    };
    const kinesisEndpoint = `http://127.0.0.1:${kinesisPort}`;
    const dynamoEndpoint = `http://127.0.0.1:${dynamoPort}`;
    await Promise.all([
      waitFor(`kinesis-local on ${kinesisEndpoint}`, async () => {
        alive(kinesis, 'kinesis-local');
        return (await awsJson(kinesisEndpoint, 'Kinesis_20131202.ListStreams', {})).ok;
      }, readyTimeoutMs, 250),
      waitFor(`dynalite on ${dynamoEndpoint}`, async () => {
        alive(dynamo, 'dynalite');
        return (await awsJson(dynamoEndpoint, 'DynamoDB_20120810.ListTables', {}, '1.0')).ok;
      }, readyTimeoutMs),
    ]);
    const created = await awsJson(kinesisEndpoint, 'Kinesis_20131202.CreateStream', { StreamName: options.streamName, ShardCount: options.shards });
    if (!created.ok) throw new Error(`CreateStream ${options.streamName}: HTTP ${created.status} ${await created.text()}`);
    await waitFor(`stream ${options.streamName} to be ACTIVE`, async () => {
      const res = await awsJson(kinesisEndpoint, 'Kinesis_20131202.DescribeStreamSummary', { StreamName: options.streamName });
      const body = (await res.json()) as { StreamDescriptionSummary?: { StreamStatus?: string } };
      return body.StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
    }, 30_000, 200);
    return {
      kinesisEndpoint,
      dynamoEndpoint,
      pids: { kinesis: kinesis.pid as number, dynamo: dynamo.pid as number },
      properties: {
        kinesisEndpoint,
        dynamoDBEndpoint: dynamoEndpoint,
        regionName: LOCAL_REGION,
        AwsCredentialsProvider: 'EnvironmentVariableCredentialsProvider',
        // No CloudWatch locally; kinesis-local has no SubscribeToShard.
        metricsLevel: 'NONE',
        retrievalMode: 'POLLING',
      },
      env: {
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_REGION: LOCAL_REGION,
        KINESIS_ENDPOINT: kinesisEndpoint,
        DYNAMODB_ENDPOINT: dynamoEndpoint,
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
