/**
 * The load check of a KCL jar folder: every dependency that the KCL jars' own poms
 * (META-INF/maven/.../pom.xml inside amazon-kinesis-client-*.jar and
 * amazon-kinesis-client-multilang-*.jar) declare with a version must be present at that version or
 * newer. The case that made it necessary: protobuf's generated code refuses a runtime older than
 * the protoc that generated it, so KCL 2.7.2 (generated with protobuf 4.31.1) beside
 * protobuf-java 4.27.5 (aws-kcl 2.3.2's list) dies at the first KPL-aggregated record.
 *
 * The same rules as scripts/check-kcl-jars.mjs (which `make jars` runs before the build); this is
 * the copy that ships. Versions come from the jar file names (artifactId-version.jar); a declared
 * version that names a property defined only in a parent pom is not checked.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/** The entries of a zip file whose names match `wanted`, as text (stored or deflated entries). */
function zipEntries(path: string, wanted: (name: string) => boolean): Map<string, string> {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const out = new Map<string, string>();
    const tailStart = Math.max(0, size - 22 - 65_535);
    const tail = readAt(fd, tailStart, size - tailStart);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error(`${path}: not a zip file (no end of central directory)`);
    const count = tail.readUInt16LE(eocd + 10);
    const zip = readAt(fd, tail.readUInt32LE(eocd + 16), tail.readUInt32LE(eocd + 12));
    let p = 0;
    for (let n = 0; n < count; n++) {
      if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`${path}: corrupt zip central directory`);
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
      else throw new Error(`${path}: zip entry ${name}: compression method ${method} not supported`);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

interface Declared {
  groupId: string | undefined;
  artifactId: string;
  version: string | null;
}

/** The compile/runtime dependencies a pom declares, versions resolved from its own properties. */
function declaredDependencies(pom: string): Declared[] {
  const props = new Map<string, string>();
  const propsBlock = /<properties>([\s\S]*?)<\/properties>/.exec(pom)?.[1] ?? '';
  for (const m of propsBlock.matchAll(/<([\w.-]+)>([^<]*)<\/\1>/g)) props.set(m[1] as string, (m[2] as string).trim());
  const withoutParent = pom.replace(/<parent>[\s\S]*?<\/parent>/, '');
  const projectVersion =
    /<version>([^<]+)<\/version>/.exec(withoutParent)?.[1] ?? /<parent>[\s\S]*?<version>([^<]+)<\/version>/.exec(pom)?.[1];
  if (projectVersion) props.set('project.version', projectVersion.trim());
  const block =
    /<dependencies>([\s\S]*?)<\/dependencies>/.exec(pom.replace(/<dependencyManagement>[\s\S]*?<\/dependencyManagement>/, ''))?.[1] ?? '';
  const deps: Declared[] = [];
  for (const m of block.matchAll(/<dependency>([\s\S]*?)<\/dependency>/g)) {
    const body = (m[1] as string).replace(/<exclusions>[\s\S]*?<\/exclusions>/g, '');
    const artifactId = /<artifactId>([^<]+)<\/artifactId>/.exec(body)?.[1]?.trim();
    const groupId = /<groupId>([^<]+)<\/groupId>/.exec(body)?.[1]?.trim();
    const scope = /<scope>([^<]+)<\/scope>/.exec(body)?.[1]?.trim() ?? 'compile';
    const optional = /<optional>\s*true\s*<\/optional>/.test(body);
    if (!artifactId || optional || !['compile', 'runtime'].includes(scope)) continue;
    let version = /<version>([^<]+)<\/version>/.exec(body)?.[1]?.trim() ?? null;
    if (version !== null) version = version.replace(/\$\{([^}]+)\}/g, (whole, name: string) => props.get(name) ?? whole);
    deps.push({ groupId, artifactId, version: version !== null && !version.includes('${') ? version : null });
  }
  return deps;
}

/**
 * Compares Maven-style versions (numbers numerically, qualifiers as text): <0, 0, >0.
 * @example
 * compareVersions('4.27.5', '4.31.1') < 0; // true
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    const c = /^\d+$/.test(x) && /^\d+$/.test(y) ? Number(x) - Number(y) : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * Problems that keep the jars of `dir` (only `files`, when given) from loading together, one string
 * each; [] when the set can load.
 * @example
 * checkKclJars('/home/me/.cache/kinesis-streams/kcl-2.7.2'); // [] when the set can load
 */
export function checkKclJars(dir: string, files?: readonly string[]): string[] {
  const jars = (files ?? readdirSync(dir)).filter((f) => f.endsWith('.jar'));
  // File names do not name the group and artifactIds collide (org.jetbrains:annotations,
  // software.amazon.awssdk:annotations): a candidate whose META-INF/maven names another group is not it.
  const versionOf = (artifactId: string, groupId?: string): string | undefined => {
    for (const jar of jars) {
      if (!(jar.startsWith(`${artifactId}-`) && /^\d/.test(jar.slice(artifactId.length + 1)))) continue;
      if (groupId !== undefined && !groupId.includes('${')) {
        const names = [...zipEntries(join(dir, jar), (n) => n.startsWith('META-INF/maven/') && n.endsWith('/pom.properties')).keys()];
        if (names.length > 0 && !names.includes(`META-INF/maven/${groupId}/${artifactId}/pom.properties`)) continue;
      }
      return jar.slice(artifactId.length + 1, -'.jar'.length);
    }
    return undefined;
  };
  const problems: string[] = [];
  const kcl = ['amazon-kinesis-client', 'amazon-kinesis-client-multilang'];
  for (const artifactId of kcl) {
    const version = versionOf(artifactId);
    if (version === undefined) {
      problems.push(`${artifactId} missing`);
      continue;
    }
    const jar = `${artifactId}-${version}.jar`;
    const pom = [...zipEntries(join(dir, jar), (n) => n === `META-INF/maven/software.amazon.kinesis/${artifactId}/pom.xml`).values()][0];
    if (pom === undefined) {
      problems.push(`${jar} holds no pom.xml to check against`);
      continue;
    }
    for (const dep of declaredDependencies(pom)) {
      if (dep.version === null) continue;
      const have = versionOf(dep.artifactId, dep.groupId);
      if (have === undefined) {
        // Absent matters only for what every daemon loads; the rest (e.g. the Glue schema
        // registry) is loaded only when configured.
        if (dep.artifactId === 'protobuf-java' || kcl.includes(dep.artifactId)) {
          problems.push(`${dep.artifactId} missing, KCL built against ${dep.version} (${jar})`);
        }
        continue;
      }
      if (compareVersions(have, dep.version) < 0) problems.push(`${dep.artifactId} ${have} present, KCL built against ${dep.version} (${jar})`);
    }
  }
  return problems;
}
