/**
 * The daemon's jars on a user's machine: downloaded over HTTPS from Maven Central (or the mirror
 * the user configured) into a cache folder, each one checked against the SHA-256 pinned in the
 * package's list before it is kept, then the whole set through the load check. No Maven needed,
 * and nothing but the listed jars is ever fetched or put on the classpath.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { checkKclJars } from './jarCheck.js';
import { jarFileName, loadJarList, repositoryPath, type JarList, type PinnedJar } from './jarList.js';

/** Maven Central. */
export const MAVEN_CENTRAL = 'https://repo.maven.apache.org/maven2/';

/** A jar set the daemon can load, ready for the classpath. */
export interface JarSet {
  /** The folder the jars are in. */
  dir: string;
  /** The jar file names to put on the classpath (the pinned list, or every jar of a user folder). */
  files: string[];
  /** The KCL version, when known (the pinned list's). */
  kcl?: string;
}

/** Thrown when a jar set cannot load (the launcher exits 2 on it). */
export class JarSetRefused extends Error {
  override name = 'JarSetRefused';
}

/**
 * The cache root: KINESIS_STREAMS_CACHE, else $XDG_CACHE_HOME/kinesis-streams, else
 * ~/.cache/kinesis-streams.
 */
export function defaultCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KINESIS_STREAMS_CACHE) return env.KINESIS_STREAMS_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kinesis-streams');
}

/**
 * The repository to download from: KINESIS_STREAMS_MAVEN_REPO, else the mirror of `central` (or
 * `*`) in ~/.m2/settings.xml, else Maven Central. Every jar is checked against the pinned
 * SHA-256 whatever serves it.
 */
export function defaultRepository(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KINESIS_STREAMS_MAVEN_REPO) return withSlash(env.KINESIS_STREAMS_MAVEN_REPO);
  const settings = join(env.HOME || homedir(), '.m2', 'settings.xml');
  if (existsSync(settings)) {
    const text = readFileSync(settings, 'utf8').replace(/<!--[\s\S]*?-->/g, '');
    for (const m of text.matchAll(/<mirror>([\s\S]*?)<\/mirror>/g)) {
      const body = m[1] ?? '';
      const of = (/<mirrorOf>([^<]+)<\/mirrorOf>/.exec(body)?.[1] ?? '').split(',').map((s) => s.trim());
      const url = /<url>([^<]+)<\/url>/.exec(body)?.[1]?.trim();
      if (url && /^https?:\/\//.test(url) && !/<blocked>\s*true/.test(body) && (of.includes('central') || of.includes('*'))) return withSlash(url);
    }
  }
  return MAVEN_CENTRAL;
}

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function download(repo: string, jar: PinnedJar, target: string): Promise<void> {
  const url = `${repo}${repositoryPath(jar)}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`${url}: HTTP ${response.status}`);
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== jar.sha256) throw new JarSetRefused(`${url}: SHA-256 ${sha256}, the pinned list says ${jar.sha256}; not kept`);
  const partial = `${target}.partial-${process.pid}`;
  writeFileSync(partial, bytes);
  renameSync(partial, target);
}

/** Options of {@link ensureJars}. */
export interface EnsureJarsOptions {
  /** The KCL version whose pinned list to use (e.g. 2.7.2). */
  kcl: string;
  /** Cache root; the jars go to <root>/kcl-<version>. Default {@link defaultCacheRoot}. */
  cacheRoot?: string;
  /** Repository URL. Default {@link defaultRepository}. */
  repository?: string;
  /** Called with one line per event worth telling a user (a download). */
  onProgress?: (line: string) => void;
  /** Parallel downloads. Default 6. */
  concurrency?: number;
}

/**
 * The pinned jars of KCL `kcl` in the cache, downloading what is missing or does not match its
 * SHA-256, then checked to load together. Throws {@link JarSetRefused} when a download does not
 * match or the set cannot load, another Error when a download fails.
 * @example
 * const jars = await ensureJars({ kcl: '2.7.2', onProgress: (l) => process.stderr.write(l + '\n') });
 */
export async function ensureJars(options: EnsureJarsOptions): Promise<JarSet> {
  const list: JarList = loadJarList(options.kcl);
  const dir = join(options.cacheRoot ?? defaultCacheRoot(), `kcl-${list.kcl}`);
  const repo = withSlash(options.repository ?? defaultRepository());
  mkdirSync(dir, { recursive: true });
  cleanPartials(dir);
  const missing: PinnedJar[] = [];
  for (const jar of list.jars) {
    const file = join(dir, jarFileName(jar));
    if (!existsSync(file) || statSync(file).size !== jar.size || (await sha256Of(file)) !== jar.sha256) missing.push(jar);
  }
  if (missing.length > 0) {
    const bytes = missing.reduce((n, j) => n + j.size, 0);
    options.onProgress?.(`downloading ${missing.length} of ${list.jars.length} KCL ${list.kcl} jars (${(bytes / 1e6).toFixed(1)} MB) from ${repo} into ${dir}`);
    const queue = [...missing];
    const failures: Error[] = [];
    await Promise.all(
      Array.from({ length: Math.min(options.concurrency ?? 6, queue.length) }, async () => {
        for (let jar = queue.shift(); jar !== undefined; jar = queue.shift()) {
          try {
            await download(repo, jar, join(dir, jarFileName(jar)));
          } catch (error) {
            failures.push(error instanceof Error ? error : new Error(String(error)));
          }
        }
      }),
    );
    const refused = failures.find((f) => f instanceof JarSetRefused);
    if (refused) throw refused;
    if (failures.length > 0) {
      const first = failures[0] as Error;
      throw new Error(`${failures.length} of ${missing.length} downloads failed, first: ${first.message}${first.cause ? ` (${String(first.cause)})` : ''}`);
    }
  }
  const files = list.jars.map(jarFileName);
  const problems = checkKclJars(dir, files);
  if (problems.length > 0) throw new JarSetRefused(`${dir} cannot load: ${problems.join('; ')}`);
  return { dir, files, kcl: list.kcl };
}

/**
 * A jar folder the user manages (e.g. fetched with Maven), used as it is: every jar in it goes on
 * the classpath, after the load check. Throws {@link JarSetRefused} when it cannot load.
 * @example
 * const jars = userJars('vendor/kcl-jars');
 */
export function userJars(dir: string): JarSet {
  let files: string[];
  try {
    files = checkableFiles(dir);
  } catch (error) {
    throw new JarSetRefused(`${dir}: not a readable folder (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const problems = checkKclJars(dir, files);
  if (problems.length > 0) throw new JarSetRefused(`${dir} cannot load: ${problems.join('; ')}`);
  return { dir, files };
}

function checkableFiles(dir: string): string[] {
  if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
  return readdirSync(dir).filter((f) => f.endsWith('.jar')).sort();
}

/** Removes partial downloads a killed launcher left (`*.partial-<pid>`). Never throws. */
function cleanPartials(dir: string): void {
  try {
    for (const f of readdirSync(dir)) if (/\.partial-\d+$/.test(f)) rmSync(join(dir, f), { force: true });
  } catch {
    // nothing to clean
  }
}
