#!/usr/bin/env node
/**
 * Refuses a KCL jar folder that cannot load: the repository's command-line face of the launcher's
 * load check (src/daemon/jarCheck.ts, checkKclJars: every dependency the KCL jars' own poms
 * declare with a version must be present at that version or newer; protobuf-java 4.27.5 beside
 * KCL 2.7.2, generated with 4.31.1, dies at the first KPL-aggregated record). One check, two
 * callers: `kinesis-streams-daemon check-jars` for users, this for make jars and
 * scripts/kcl-daemon.sh, which run before the build (hence tsx, a devDependency npm ci installs
 * before them).
 *
 * Usage: node scripts/check-kcl-jars.mjs DIR
 * Exit 0, silent, when consistent; exit 1 with ONE line on stderr naming each offending jar and the
 * two versions, e.g. "kcl-jars: vendor/kcl-jars cannot load: protobuf-java 4.27.5 present, KCL built
 * against 4.31.1 (amazon-kinesis-client-2.7.2.jar); run make jars".
 */
/* global process */
import { register } from 'tsx/esm/api';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node scripts/check-kcl-jars.mjs DIR\n');
  process.exit(2);
}
register();
const { checkKclJars } = await import('../src/daemon/jarCheck.ts');
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
