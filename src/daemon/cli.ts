/**
 * `kinesis-streams-daemon`: runs the KCL MultiLangDaemon from the installed package.
 *
 *   kinesis-streams-daemon jars [--kcl 2|3]                       fetch, verify and check the jars; print their folder
 *   kinesis-streams-daemon check-jars DIR                         the load check on a jar folder
 *   kinesis-streams-daemon check-properties FILE [--kcl 2|3]      the properties check
 *   kinesis-streams-daemon run FILE [--kcl 2|3] [--jars DIR] [--local [--shards N] [--state-dir DIR]]
 *
 * Exit codes: 0 done; 2 a usage error or something refused (a jar set that cannot load, a
 * properties file with a problem, --local without the stand-ins); 1 another failure (a download);
 * `run` exits with the daemon's own code (143 after a SIGTERM it forwarded, 130 after SIGINT).
 * Every refusal is one line on stderr.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { defaultCacheRoot, defaultRepository, ensureJars, JarSetRefused, userJars, type JarSet } from './fetchJars.js';
import { KCL_VERSIONS } from './jarList.js';
import { StandInsMissing, startLocalStack, type LocalStack } from './localStack.js';
import { killOwned } from './processes.js';
import { readCheckedProperties, renderProperties } from './properties.js';
import { runDaemon } from './run.js';

const NAME = 'kinesis-streams-daemon';

export const USAGE = `usage:
  ${NAME} run FILE.properties [--kcl 2|3] [--jars DIR] [--java PATH] [--local [--shards N] [--state-dir DIR]]
  ${NAME} jars [--kcl 2|3]            download and check the daemon's jars; prints their folder
  ${NAME} check-jars DIR              refuse a jar folder that cannot load (exit 2)
  ${NAME} check-properties FILE [--kcl 2|3]
env: KCL_JARS_DIR (a jar folder used as is), KINESIS_STREAMS_CACHE (default ~/.cache/kinesis-streams),
  KINESIS_STREAMS_MAVEN_REPO (default: ~/.m2 mirror of central, else Maven Central), JAVA, JAVA_HOME,
  JAVA_OPTS, KCL_LOG_FILE, KCL_DRAIN_TIMEOUT_MS, LOCAL_KINESIS_PORT, LOCAL_DYNAMODB_PORT`;

/** A refusal: one line on stderr, exit 2. */
class Refused extends Error {
  override name = 'Refused';
}

interface Parsed {
  command: string | undefined;
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUED = new Set(['--kcl', '--jars', '--java', '--shards', '--state-dir']);
const BOOLEAN = new Set(['--local', '--help', '-h']);

function parse(argv: readonly string[]): Parsed {
  const [first, ...others] = argv;
  const [command, rest] = first?.startsWith('-') ? [undefined, [...argv]] : [first, others];
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (VALUED.has(name)) {
      const value = inline ?? rest[++i];
      if (value === undefined) throw new Refused(`${name} needs a value`);
      flags.set(name, value);
    } else if (BOOLEAN.has(name)) flags.set(name, true);
    else if (name.startsWith('-')) throw new Refused(`unknown option ${name}`);
    else positional.push(arg);
  }
  return { command, positional, flags };
}

function major(flags: Parsed['flags']): '2' | '3' {
  const value = flags.get('--kcl') ?? '2';
  if (value === '2' || value === '3') return value;
  if (value === KCL_VERSIONS['2']) return '2';
  if (value === KCL_VERSIONS['3']) return '3';
  throw new Refused(`--kcl must be 2 (KCL ${KCL_VERSIONS['2']}) or 3 (KCL ${KCL_VERSIONS['3']}), got "${String(value)}"`);
}

const say = (line: string): void => void process.stderr.write(`${NAME}: ${line}\n`);

async function jarsFor(flags: Parsed['flags'], kclMajor: '2' | '3'): Promise<JarSet> {
  const dir = (flags.get('--jars') as string | undefined) ?? process.env.KCL_JARS_DIR;
  if (dir) return userJars(dir);
  return ensureJars({ kcl: KCL_VERSIONS[kclMajor], onProgress: say });
}

async function run(parsed: Parsed): Promise<number> {
  const kclMajor = major(parsed.flags);
  const [file, extra] = parsed.positional;
  if (!file || extra !== undefined) throw new Refused(`run takes one properties file\n${USAGE}`);
  const properties = readCheckedPropertiesOrRefuse(file, kclMajor);
  // Until java runs, a signal just cleans up (the stand-ins) and exits.
  const early = (signal: NodeJS.Signals): void => {
    killOwned();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, early);
  const local = parsed.flags.get('--local') === true;
  let stack: LocalStack | undefined;
  let stateDir: string | undefined;
  const keepState = parsed.flags.has('--state-dir');
  try {
    const jars = await jarsFor(parsed.flags, kclMajor);
    let propertiesFile = file;
    let env: Record<string, string> = {};
    if (local) {
      const streamName = properties.get('streamName');
      if (!streamName) throw new Refused(`${file}: --local needs streamName (it creates that stream)`);
      const shards = Number(parsed.flags.get('--shards') ?? 1);
      if (!Number.isInteger(shards) || shards < 1 || shards > 50) throw new Refused(`--shards must be a whole number from 1 to 50, got "${String(parsed.flags.get('--shards'))}"`);
      stateDir = keepState ? resolve(parsed.flags.get('--state-dir') as string) : mkdtempSync(join(tmpdir(), `${NAME}-local-`));
      mkdirSync(stateDir, { recursive: true });
      const port = (name: string): number | undefined => {
        const raw = process.env[name];
        if (!raw) return undefined;
        const n = Number(raw);
        if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Refused(`${name} must be a TCP port, got "${raw}"`);
        return n;
      };
      stack = await startLocalStack({
        logDir: join(stateDir, 'logs'),
        streamName,
        shards,
        kinesisPort: port('LOCAL_KINESIS_PORT'),
        dynamoPort: port('LOCAL_DYNAMODB_PORT'),
      });
      propertiesFile = join(stateDir, basename(file));
      writeFileSync(propertiesFile, renderProperties(readFileSync(file, 'utf8'), stack.properties, kclMajor));
      env = stack.env;
      writeFileSync(
        join(stateDir, 'local.json'),
        JSON.stringify({ kinesisEndpoint: stack.kinesisEndpoint, dynamoEndpoint: stack.dynamoEndpoint, streamName, shards, pids: stack.pids, properties: propertiesFile, launcherPid: process.pid }, null, 2) + '\n',
      );
      say(`local stack: kinesis ${stack.kinesisEndpoint} (stream ${streamName}, ${shards} shard${shards === 1 ? '' : 's'}), dynamodb ${stack.dynamoEndpoint}; properties and logs in ${stateDir}`);
      if (kclMajor === '3') say('KCL 3 needs dynalite to create a global secondary index, which dynalite 4 does not: see docs/daemon.md');
    }
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.off(s, early);
    let started = false;
    const code = await runDaemon({
      propertiesFile,
      properties,
      jars,
      env,
      say,
      ...(parsed.flags.has('--java') ? { java: parsed.flags.get('--java') as string } : {}),
      onStart: (pid) => {
        started = true;
        say(`daemon started (pid ${pid}, KCL ${jars.kcl ?? `jars of ${jars.dir}`}); SIGTERM or Ctrl-C stops it cleanly`);
      },
    });
    if (started) say(`daemon exited with ${code}`);
    return code;
  } finally {
    await stack?.stop();
    if (stateDir && !keepState) rmSync(stateDir, { recursive: true, force: true });
  }
}

function readCheckedPropertiesOrRefuse(file: string, kclMajor: '2' | '3'): Map<string, string> {
  try {
    return readCheckedProperties(file, kclMajor);
  } catch (error) {
    throw new Refused((error as Error).message);
  }
}

/**
 * Runs the command line `argv` (without node and the script); resolves with the exit code.
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const parsed = parse(argv);
    if (parsed.flags.has('--help') || parsed.flags.has('-h') || parsed.command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    switch (parsed.command) {
      case 'run':
        return await run(parsed);
      case 'jars': {
        if (parsed.positional.length > 0) throw new Refused(`jars takes no file\n${USAGE}`);
        const kclMajor = major(parsed.flags);
        const jars = parsed.flags.has('--jars') ? userJars(parsed.flags.get('--jars') as string) : await ensureJars({ kcl: KCL_VERSIONS[kclMajor], onProgress: say });
        process.stdout.write(`${jars.dir}\n`);
        return 0;
      }
      case 'check-jars': {
        const [dir] = parsed.positional;
        if (!dir || parsed.positional.length > 1) throw new Refused(`check-jars takes one folder\n${USAGE}`);
        userJars(dir);
        return 0;
      }
      case 'check-properties': {
        const [file] = parsed.positional;
        if (!file || parsed.positional.length > 1) throw new Refused(`check-properties takes one file\n${USAGE}`);
        readCheckedPropertiesOrRefuse(file, major(parsed.flags));
        return 0;
      }
      case 'where':
        // Where jars would go and come from: for a user debugging a download.
        process.stdout.write(`cache ${defaultCacheRoot()}\nrepository ${defaultRepository()}\n`);
        return 0;
      default:
        throw new Refused(parsed.command === undefined ? USAGE : `unknown command "${parsed.command}"\n${USAGE}`);
    }
  } catch (error) {
    if (error instanceof Refused || error instanceof JarSetRefused || error instanceof StandInsMissing) {
      say(error.message);
      return 2;
    }
    const err = error as Error;
    say(`${err.message}${err.cause ? ` (${String((err.cause as Error).message ?? err.cause)})` : ''}`);
    return 1;
  }
}
