/**
 * The pinned jar lists of the KCL MultiLangDaemon, shipped in the package's `kcl/` folder: one
 * JSON file per KCL version, every jar with its Maven coordinates, size and SHA-256. KCL 2.7.2 is
 * aws-kcl 2.3.2's list with protobuf-java and schema-registry-serde raised to what KCL's own poms
 * declare; KCL 3.1.3 is Maven's resolution of the multilang artifact. `scripts/kcl-jar-lists.ts`
 * writes them (and checks each jar against Maven Central's own checksum).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One jar of a pinned list. */
export interface PinnedJar {
  groupId: string;
  artifactId: string;
  version: string;
  classifier?: string;
  /** Hex SHA-256 of the jar. */
  sha256: string;
  size: number;
}

/** A pinned list: the jars of one KCL version. */
export interface JarList {
  /** The KCL version, e.g. 2.7.2. */
  kcl: string;
  /** Where the list came from (a sentence). */
  source: string;
  jars: PinnedJar[];
}

/** The KCL versions the package ships lists for, by the major a user asks for. */
export const KCL_VERSIONS: Readonly<Record<'2' | '3', string>> = { '2': '2.7.2', '3': '3.1.3' };

/** The package's `kcl/` folder (beside dist/ and bin/, in the source tree and when installed). */
export const KCL_DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'kcl');

/**
 * The file name Maven gives a jar: artifactId-version[-classifier].jar.
 * @example
 * jarFileName({ artifactId: 'protobuf-java', version: '4.31.1' }); // 'protobuf-java-4.31.1.jar'
 */
export function jarFileName(jar: Pick<PinnedJar, 'artifactId' | 'version' | 'classifier'>): string {
  return `${jar.artifactId}-${jar.version}${jar.classifier ? `-${jar.classifier}` : ''}.jar`;
}

/**
 * The jar's path under a Maven repository root, e.g. `com/google/protobuf/protobuf-java/4.31.1/protobuf-java-4.31.1.jar`.
 */
export function repositoryPath(jar: Pick<PinnedJar, 'groupId' | 'artifactId' | 'version' | 'classifier'>): string {
  return `${jar.groupId.split('.').join('/')}/${jar.artifactId}/${jar.version}/${jarFileName(jar)}`;
}

/**
 * The pinned list of KCL `version` (e.g. '2.7.2'), read from the package's `kcl/` folder.
 * @example
 * const list = loadJarList(KCL_VERSIONS['2']);
 */
export function loadJarList(version: string, dataDir = KCL_DATA_DIR): JarList {
  const file = join(dataDir, `kcl-${version}.json`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`no pinned jar list for KCL ${version} (${file})`, { cause: error });
  }
  const list = JSON.parse(text) as JarList;
  if (list.kcl !== version || !Array.isArray(list.jars) || list.jars.length === 0) throw new Error(`${file} is not the jar list of KCL ${version}`);
  return list;
}
