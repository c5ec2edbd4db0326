#!/usr/bin/env node
/**
 * Refuses a KCL jar folder that cannot load: every dependency that the KCL jars' own poms
 * (META-INF/maven/.../pom.xml inside amazon-kinesis-client-*.jar and
 * amazon-kinesis-client-multilang-*.jar) declare with a version must be present at that version
 * or newer. The case that made this necessary: protobuf generated code refuses a runtime older than
 * the protoc that generated it, so KCL 2.7.2 (generated with protobuf 4.31.1) next to
 * protobuf-java 4.27.5 dies at the first KPL-aggregated record, and takes every shard with it.
 *
 * Plain Node (no build step, no dependencies): make jars and scripts/kcl-daemon.sh run it before
 * the daemon may start. Versions come from the jar file names Maven writes (artifactId-version.jar).
 * Declared versions that name a property defined only in a parent pom (the AWS SDK's) are not
 * checked: the jar does not say what they are.
 *
 * Usage: node scripts/check-kcl-jars.mjs DIR
 * Exit 0, silent, when consistent; exit 1 with ONE line on stderr naming each offending jar and the
 * two versions, e.g. "kcl-jars: vendor/kcl-jars cannot load: protobuf-java 4.27.5 present, KCL built
 * against 4.31.1 (amazon-kinesis-client-2.7.2.jar); run make jars".
 *
 * @example
 * // node scripts/check-kcl-jars.mjs vendor/kcl-jars && java -cp 'vendor/kcl-jars/*' ...
 */
/* global Buffer, process, URL */
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';

/** Reads `length` bytes at `position` of an open file. */
function readAt(fd, position, length) {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/**
 * The entries of a zip file whose names match `wanted`, as text (stored or deflated entries only,
 * which is what jars use). Reads only the central directory and the wanted entries, not the file.
 * @param {string} path
 * @param {(name: string) => boolean} wanted
 * @returns {Map<string, string>}
 */
function zipEntries(path, wanted) {
  const fd = openSync(path, 'r');
  try {
    return zipEntriesOf(fd, fstatSync(fd).size, wanted);
  } finally {
    closeSync(fd);
  }
}

function zipEntriesOf(fd, size, wanted) {
  const out = new Map();
  const tailStart = Math.max(0, size - 22 - 65_535);
  const tail = readAt(fd, tailStart, size - tailStart);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`not a zip file (no end of central directory)`);
  const count = tail.readUInt16LE(eocd + 10);
  const zip = readAt(fd, tail.readUInt32LE(eocd + 16), tail.readUInt32LE(eocd + 12));
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(p + 10);
    const compressed = zip.readUInt32LE(p + 20);
    const nameLength = zip.readUInt16LE(p + 28);
    const skip = nameLength + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLength);
    p += 46 + skip;
    if (!wanted(name)) continue;
    const header = readAt(fd, local, 30);
    const raw = readAt(fd, local + 30 + header.readUInt16LE(26) + header.readUInt16LE(28), compressed);
    if (method === 0) out.set(name, raw.toString('utf8'));
    else if (method === 8) out.set(name, inflateRawSync(raw).toString('utf8'));
    else throw new Error(`zip entry ${name}: compression method ${method} not supported`);
  }
  return out;
}

/**
 * The compile/runtime dependencies a pom declares, with versions resolved from its own properties
 * (null when the version is a property it does not define).
 * @param {string} pom
 * @returns {Array<{ groupId: string | undefined, artifactId: string, version: string | null }>}
 */
function declaredDependencies(pom) {
  const props = new Map();
  const propsBlock = /<properties>([\s\S]*?)<\/properties>/.exec(pom)?.[1] ?? '';
  for (const m of propsBlock.matchAll(/<([\w.-]+)>([^<]*)<\/\1>/g)) props.set(m[1], m[2].trim());
  const withoutParent = pom.replace(/<parent>[\s\S]*?<\/parent>/, '');
  const projectVersion = /<version>([^<]+)<\/version>/.exec(withoutParent)?.[1] ?? /<parent>[\s\S]*?<version>([^<]+)<\/version>/.exec(pom)?.[1];
  if (projectVersion) props.set('project.version', projectVersion.trim());
  const block = /<dependencies>([\s\S]*?)<\/dependencies>/.exec(pom.replace(/<dependencyManagement>[\s\S]*?<\/dependencyManagement>/, ''))?.[1] ?? '';
  const deps = [];
  for (const m of block.matchAll(/<dependency>([\s\S]*?)<\/dependency>/g)) {
    const body = m[1].replace(/<exclusions>[\s\S]*?<\/exclusions>/g, '');
    const artifactId = /<artifactId>([^<]+)<\/artifactId>/.exec(body)?.[1]?.trim();
    const groupId = /<groupId>([^<]+)<\/groupId>/.exec(body)?.[1]?.trim();
    const scope = /<scope>([^<]+)<\/scope>/.exec(body)?.[1]?.trim() ?? 'compile';
    const optional = /<optional>\s*true\s*<\/optional>/.test(body);
    if (!artifactId || optional || !['compile', 'runtime'].includes(scope)) continue;
    let version = /<version>([^<]+)<\/version>/.exec(body)?.[1]?.trim() ?? null;
    if (version !== null) version = version.replace(/\$\{([^}]+)\}/g, (whole, name) => props.get(name) ?? whole);
    deps.push({ groupId, artifactId, version: version !== null && !version.includes('${') ? version : null });
  }
  return deps;
}

/**
 * Compares Maven-style versions (numbers numerically, qualifiers as text): <0, 0, >0.
 * @param {string} a
 * @param {string} b
 * @example
 * compareVersions('4.27.5', '4.31.1') < 0; // true
 */
export function compareVersions(a, b) {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    const c = nx && ny ? Number(x) - Number(y) : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * Problems that keep the jars in `dir` from loading together, one string each (empty: consistent).
 * @param {string} dir
 * @returns {string[]}
 * @example
 * checkKclJars('vendor/kcl-jars'); // [] when the set can load
 */
export function checkKclJars(dir) {
  const jars = readdirSync(dir).filter((f) => f.endsWith('.jar'));
  const present = new Map(); // artifactId -> version, from artifactId-version.jar
  // The version of groupId:artifactId in the folder. File names (artifactId-version.jar) do not
  // name the group, and artifactIds collide (org.jetbrains:annotations, software.amazon.awssdk:
  // annotations): a candidate whose META-INF/maven names another group is not it.
  const versionOf = (artifactId, groupId) => {
    for (const jar of jars) {
      if (!(jar.startsWith(`${artifactId}-`) && /^\d/.test(jar.slice(artifactId.length + 1)))) continue;
      if (groupId !== undefined && !groupId.includes('${')) {
        const names = [...zipEntries(join(dir, jar), (name) => name.startsWith('META-INF/maven/') && name.endsWith('/pom.properties')).keys()];
        if (names.length > 0 && !names.includes(`META-INF/maven/${groupId}/${artifactId}/pom.properties`)) continue;
      }
      return jar.slice(artifactId.length + 1, -'.jar'.length);
    }
    return undefined;
  };
  const problems = [];
  const kcl = ['amazon-kinesis-client', 'amazon-kinesis-client-multilang'];
  for (const artifactId of kcl) {
    const version = versionOf(artifactId);
    if (version === undefined) {
      problems.push(`${artifactId} missing`);
      continue;
    }
    present.set(artifactId, version);
    const jar = `${artifactId}-${version}.jar`;
    const poms = zipEntries(join(dir, jar), (name) => name === `META-INF/maven/software.amazon.kinesis/${artifactId}/pom.xml`);
    const pom = [...poms.values()][0];
    if (pom === undefined) {
      problems.push(`${jar} holds no pom.xml to check against`);
      continue;
    }
    for (const dep of declaredDependencies(pom)) {
      if (dep.version === null) continue;
      const have = versionOf(dep.artifactId, dep.groupId);
      if (have === undefined) {
        // Absent is a problem only for what every daemon loads; the rest (e.g. Glue schema registry)
        // is loaded only when configured.
        if (dep.artifactId === 'protobuf-java' || kcl.includes(dep.artifactId)) problems.push(`${dep.artifactId} missing, KCL built against ${dep.version} (${jar})`);
        continue;
      }
      if (compareVersions(have, dep.version) < 0) problems.push(`${dep.artifactId} ${have} present, KCL built against ${dep.version} (${jar})`);
    }
  }
  return problems;
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node scripts/check-kcl-jars.mjs DIR\n');
    process.exit(2);
  }
  let problems;
  try {
    problems = checkKclJars(dir);
  } catch (err) {
    problems = [err instanceof Error ? err.message : String(err)];
  }
  if (problems.length > 0) {
    process.stderr.write(`kcl-jars: ${dir} cannot load: ${problems.join('; ')}; run make jars\n`);
    process.exit(1);
  }
}
