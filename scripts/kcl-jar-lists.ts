/**
 * Writes the pinned jar lists the launcher (bin/kinesis-streams-daemon) downloads from:
 * kcl/kcl-<version>.json, every jar with its coordinates, size and SHA-256. Run it when the KCL
 * version or aws-kcl's list changes, from jars Maven fetched:
 *
 *   node --import tsx scripts/kcl-jar-lists.ts 2 vendor/kcl-jars/.complete vendor/kcl-jars
 *       (KCL 2.7.2: the generated pom scripts/kcl-jars.sh leaves as its stamp: aws-kcl's list + overrides)
 *   node --import tsx scripts/kcl-jar-lists.ts 3 LIST.txt DIR
 *       (KCL 3.x: `mvn dependency:list -DoutputFile=LIST.txt` and `copy-dependencies` on the
 *        multilang artifact, as scripts/kcl-jars.sh KCL=3 resolves it)
 *
 * Each jar's SHA-1 is compared with the one Maven Central publishes beside it when the repository
 * serves it (MAVEN_REPO to use a mirror; a mirror that serves no .sha1 files is reported), and the
 * set must pass the load check, before the list is written.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkKclJars } from '../src/daemon/jarCheck.js';
import { jarFileName, repositoryPath, type JarList, type PinnedJar } from '../src/daemon/jarList.js';
import { ROOT } from './stack.js';

type Coordinates = Pick<PinnedJar, 'groupId' | 'artifactId' | 'version' | 'classifier'>;

function fromPom(pom: string): Coordinates[] {
  const props = new Map<string, string>();
  for (const m of (/<properties>([\s\S]*?)<\/properties>/.exec(pom)?.[1] ?? '').matchAll(/<([\w.-]+)>([^<]*)<\/\1>/g)) props.set(m[1]!, m[2]!.trim());
  return [...pom.matchAll(/<dependency>([\s\S]*?)<\/dependency>/g)].map((m) => {
    const tag = (name: string): string => {
      const raw = new RegExp(`<${name}>([^<]+)</${name}>`).exec(m[1]!)?.[1]?.trim();
      if (raw === undefined) throw new Error(`a dependency without ${name}: ${m[1]}`);
      return raw.replace(/\$\{([^}]+)\}/g, (whole, key: string) => props.get(key) ?? whole);
    };
    return { groupId: tag('groupId'), artifactId: tag('artifactId'), version: tag('version') };
  });
}

function fromMavenList(text: string): Coordinates[] {
  return text.split('\n').flatMap((line) => {
    const parts = line.trim().split(':');
    if (parts.length === 5) return [{ groupId: parts[0]!, artifactId: parts[1]!, version: parts[3]! }];
    if (parts.length === 6) return [{ groupId: parts[0]!, artifactId: parts[1]!, classifier: parts[3]!, version: parts[4]! }];
    return [];
  });
}

async function main(major: string | undefined, source: string | undefined, dir: string | undefined): Promise<number> {
  if ((major !== '2' && major !== '3') || !source || !dir) {
    process.stderr.write('usage: node --import tsx scripts/kcl-jar-lists.ts 2|3 POM|LIST DIR\n');
    return 2;
  }
  const repo = (process.env.MAVEN_REPO ?? 'https://repo.maven.apache.org/maven2/').replace(/\/?$/, '/');
  const coordinates = (major === '2' ? fromPom : fromMavenList)(readFileSync(source, 'utf8'));
  const kcl = coordinates.find((c) => c.artifactId === 'amazon-kinesis-client-multilang')?.version;
  if (!kcl) throw new Error('no amazon-kinesis-client-multilang in the list');
  const names = new Set<string>();
  const jars: PinnedJar[] = [];
  let verified = 0;
  for (const c of coordinates.sort((a, b) => jarFileName(a).localeCompare(jarFileName(b)))) {
    const name = jarFileName(c);
    if (names.has(name)) throw new Error(`two jars would be named ${name}`);
    names.add(name);
    const bytes = readFileSync(join(dir, name));
    const sha1 = createHash('sha1').update(bytes).digest('hex');
    const response = await fetch(`${repo}${repositoryPath(c)}.sha1`, { signal: AbortSignal.timeout(30_000) });
    if (response.ok) {
      const published = (await response.text()).trim().slice(0, 40);
      if (published !== sha1) throw new Error(`${name}: SHA-1 ${sha1} here, ${published} published at ${repo}`);
      verified++;
    } else {
      await response.body?.cancel();
    }
    jars.push({ ...c, sha256: createHash('sha256').update(bytes).digest('hex'), size: statSync(join(dir, name)).size });
  }
  const problems = checkKclJars(dir, [...names]);
  if (problems.length > 0) throw new Error(`the set cannot load: ${problems.join('; ')}`);
  const list: JarList = {
    kcl,
    source:
      major === '2'
        ? 'aws-kcl 2.3.2 pom.xml (what its kcl-bootstrap downloads) with protobuf-java 4.31.1 and schema-registry-serde 1.1.24, the versions KCL 2.7.2\'s own poms declare'
        : `Maven's resolution of software.amazon.kinesis:amazon-kinesis-client-multilang:${kcl} and its transitive closure`,
    jars,
  };
  const out = join(ROOT, 'kcl', `kcl-${kcl}.json`);
  writeFileSync(out, JSON.stringify(list, null, 1) + '\n');
  process.stdout.write(`${out}: ${jars.length} jars, ${(jars.reduce((n, j) => n + j.size, 0) / 1e6).toFixed(1)} MB; ${verified} SHA-1s matched the ones published at ${repo}, ${jars.length - verified} not published there\n`);
  return 0;
}

main(process.argv[2], process.argv[3], process.argv[4]).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`kcl-jar-lists: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
