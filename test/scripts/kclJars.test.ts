/**
 * scripts/kcl-jars.sh (make jars): without Java or Maven it says so in one line and lets setup go
 * on; with the jars already complete it does nothing. (Fetching itself is exercised by make setup
 * and the e2e test, which need the network and Maven.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../../scripts/stack.js';

const script = join(ROOT, 'scripts', 'kcl-jars.sh');

function which(command: string): string {
  const out = spawnSync('bash', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return out.stdout.trim();
}

test('without java on PATH: one line on stderr, nothing on stdout, exit 0', () => {
  // A PATH with only what the script needs before it looks for java.
  const bin = mkdtempSync(join(tmpdir(), 'kcl-jars-path-'));
  try {
    for (const tool of ['bash', 'dirname']) symlinkSync(which(tool), join(bin, tool));
    const run = spawnSync(join(bin, 'bash'), [script], { env: { PATH: bin }, encoding: 'utf8' });
    assert.equal(run.status, 0);
    assert.equal(run.stdout, '');
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /java not found/);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test('with the jars complete: a quiet no-op', { skip: !existsSync(join(ROOT, 'vendor', 'kcl-jars', '.complete')) && 'no jars fetched here' }, () => {
  const started = Date.now();
  const run = spawnSync('bash', [script], { encoding: 'utf8' });
  assert.equal(run.status, 0);
  assert.equal(run.stdout + run.stderr, '');
  assert.ok(Date.now() - started < 5000);
});

const jarsDir = join(ROOT, 'vendor', 'kcl-jars');
const haveJars = existsSync(join(jarsDir, '.complete'));
const checker = join(ROOT, 'scripts', 'check-kcl-jars.mjs');

/** A copy of the jar folder (symlinks) with protobuf-java swapped for 4.27.5, the version aws-kcl 2.3.2's list pins. */
function brokenCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kcl-jars-broken-'));
  for (const jar of readdirSync(jarsDir).filter((f) => f.endsWith('.jar'))) {
    if (jar.startsWith('protobuf-java-')) symlinkSync(join(jarsDir, jar), join(dir, 'protobuf-java-4.27.5.jar'));
    else symlinkSync(join(jarsDir, jar), join(dir, jar));
  }
  return dir;
}

test('the jar set make jars fetched passes the load check', { skip: !haveJars && 'no jars fetched here' }, () => {
  const run = spawnSync(process.execPath, [checker, jarsDir], { encoding: 'utf8' });
  assert.equal(run.stderr, '');
  assert.equal(run.status, 0);
});

test('a jar set with protobuf-java older than KCL was generated with is refused in one line naming the jar and both versions', { skip: !haveJars && 'no jars fetched here' }, () => {
  const dir = brokenCopy();
  try {
    const run = spawnSync(process.execPath, [checker, dir], { encoding: 'utf8' });
    assert.equal(run.status, 1);
    assert.equal(run.stdout, '');
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0] ?? '', /protobuf-java 4\.27\.5 present, KCL built against 4\.31\.1 \(amazon-kinesis-client-2\.7\.2\.jar\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the daemon launcher (scripts/kcl-daemon.sh) refuses that jar set before starting java: exit 2, one line', { skip: !haveJars && 'no jars fetched here' }, () => {
  const dir = brokenCopy();
  try {
    const props = join(dir, 'app.properties');
    writeFileSync(props, 'executableName = /bin/true\n');
    const run = spawnSync('bash', [join(ROOT, 'scripts', 'kcl-daemon.sh'), props], {
      encoding: 'utf8',
      env: { ...process.env, KCL_JARS_DIR: dir, JAVA: '/bin/false-java-must-not-start' },
      timeout: 30_000,
    });
    assert.equal(run.status, 2);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0] ?? '', /cannot load: protobuf-java 4\.27\.5 present, KCL built against 4\.31\.1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('make jars replaces a stale folder (fetched from aws-kcl 2.3.2 list as it was, stamp and all) with the checked set', { skip: (!haveJars || !which('mvn')) && 'needs the jars and Maven' }, () => {
  // Prepare: the folder an earlier `make setup` left: the plain list (protobuf 4.27.5) and its stamp.
  const dir = brokenCopy();
  try {
    copyFileSync(join(ROOT, 'node_modules', 'aws-kcl', 'pom.xml'), join(dir, '.complete'));
    assert.equal(spawnSync(process.execPath, [checker, dir]).status, 1);
    // Act: what make setup runs. Maven resolves from the local repository here (make jars filled it).
    const run = spawnSync('bash', [script], { encoding: 'utf8', env: { ...process.env, KCL_JARS_DIR: dir }, timeout: 240_000 });
    // Assess
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /not the current jar set; fetching it again/);
    assert.ok(existsSync(join(dir, 'protobuf-java-4.31.1.jar')));
    assert.ok(!existsSync(join(dir, 'protobuf-java-4.27.5.jar')));
    assert.equal(spawnSync(process.execPath, [checker, dir]).status, 0);
    // And a second run is a quiet no-op.
    const again = spawnSync('bash', [script], { encoding: 'utf8', env: { ...process.env, KCL_JARS_DIR: dir } });
    assert.equal(again.status, 0);
    assert.equal(again.stdout + again.stderr, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.partial`, { recursive: true, force: true });
  }
});
