/**
 * The launcher's jar download (src/daemon/fetchJars.ts) against a private Maven-layout mirror on
 * loopback that serves the jars of vendor/kcl-jars (no network): the pinned list is fetched once,
 * a second start downloads nothing, a jar removed from the cache is fetched again, and a jar whose
 * bytes differ from the pinned SHA-256 is refused and never kept.
 */
import assert from 'node:assert/strict';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureJars, JarSetRefused, defaultRepository } from '../../src/daemon/fetchJars.js';
import { jarFileName, loadJarList, repositoryPath, KCL_VERSIONS } from '../../src/daemon/jarList.js';
import { checkProperties } from '../../src/daemon/properties.js';
import { ROOT } from '../../scripts/stack.js';

const JARS = join(ROOT, 'vendor', 'kcl-jars');
const list = loadJarList(KCL_VERSIONS['2']);
const haveJars = list.jars.every((j) => existsSync(join(JARS, jarFileName(j))));

void describe('ensureJars from a Maven-layout mirror', { skip: !haveJars && 'no vendor/kcl-jars (make jars)' }, () => {
  let server: Server;
  let repository: string;
  const requests: string[] = [];
  let tamper: string | undefined;
  const byPath = new Map(list.jars.map((j) => [`/maven2/${repositoryPath(j)}`, join(JARS, jarFileName(j))]));
  let cache: string;

  before(async () => {
    cache = mkdtempSync(join(tmpdir(), 'kcl-cache-'));
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const file = byPath.get(req.url ?? '');
      if (!file) return void res.writeHead(404).end();
      if (req.url?.endsWith(`/${tamper}`)) return void res.writeHead(200).end(Buffer.concat([readFileSync(file), Buffer.from('x')]));
      res.writeHead(200);
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    repository = `http://127.0.0.1:${(server.address() as AddressInfo).port}/maven2`;
  });

  after(() => {
    server.close();
    rmSync(cache, { recursive: true, force: true });
  });

  test('fetches every pinned jar once, then none; a removed jar comes back', async () => {
    // Act
    const first = await ensureJars({ kcl: list.kcl, cacheRoot: cache, repository });
    const firstRequests = requests.splice(0);
    const second = await ensureJars({ kcl: list.kcl, cacheRoot: cache, repository });
    const secondRequests = requests.splice(0);
    rmSync(join(first.dir, 'protobuf-java-4.31.1.jar'));
    await ensureJars({ kcl: list.kcl, cacheRoot: cache, repository });
    // Assess
    assert.equal(firstRequests.length, list.jars.length);
    assert.deepEqual(second.files, list.jars.map(jarFileName));
    assert.deepEqual(secondRequests, []);
    assert.deepEqual(requests.splice(0), ['/maven2/com/google/protobuf/protobuf-java/4.31.1/protobuf-java-4.31.1.jar']);
  });

  test('a jar that does not match its pinned SHA-256 is refused and not kept', async () => {
    // Prepare
    const dir = join(cache, `kcl-${list.kcl}`);
    rmSync(join(dir, 'protobuf-java-4.31.1.jar'), { force: true });
    tamper = 'protobuf-java-4.31.1.jar';
    try {
      // Act / Assess
      await assert.rejects(ensureJars({ kcl: list.kcl, cacheRoot: cache, repository }), (error: Error) => {
        assert.ok(error instanceof JarSetRefused);
        assert.match(error.message, /protobuf-java-4\.31\.1\.jar: SHA-256 [0-9a-f]{64}, the pinned list says [0-9a-f]{64}; not kept/);
        return true;
      });
      assert.ok(!existsSync(join(dir, 'protobuf-java-4.31.1.jar')));
    } finally {
      tamper = undefined;
    }
  });
});

void describe('the pinned lists', () => {
  for (const version of Object.values(KCL_VERSIONS)) {
    test(`KCL ${version}: protobuf-java is not older than the one KCL was generated with; every jar has a SHA-256`, () => {
      const pinned = loadJarList(version);
      const protobuf = pinned.jars.find((j) => j.artifactId === 'protobuf-java');
      assert.ok(protobuf);
      assert.notEqual(protobuf.version, version === '2.7.2' ? '4.27.5' : '', 'aws-kcl 2.3.2 pins 4.27.5, which KCL 2.7.2 cannot load');
      assert.ok(pinned.jars.every((j) => /^[0-9a-f]{64}$/.test(j.sha256) && j.size > 0));
      assert.equal(new Set(pinned.jars.map(jarFileName)).size, pinned.jars.length);
    });
  }

  test('the repository: KINESIS_STREAMS_MAVEN_REPO, else Maven Central', () => {
    assert.equal(defaultRepository({ KINESIS_STREAMS_MAVEN_REPO: 'https://mirror.example/m2', HOME: '/nonexistent' }), 'https://mirror.example/m2/');
    assert.equal(defaultRepository({ HOME: '/nonexistent' }), 'https://repo.maven.apache.org/maven2/');
  });
});

void describe('checkProperties', () => {
  const base = 'executableName = bin/w\nstreamName = s\napplicationName = a\n';
  test('a complete file passes; the shipped templates pass', () => {
    assert.deepEqual(checkProperties(base), []);
    for (const name of ['lastopens.properties', 'lastopens.local.properties', 'dailyactives.properties']) {
      assert.deepEqual(checkProperties(readFileSync(join(ROOT, 'properties', name), 'utf8')), [], name);
    }
  });

  test('names each problem: an ignored key, a non-number, a missing key, a grace the failover time cuts short', () => {
    assert.deepEqual(checkProperties('idleTimeBetweenReadsMillis = 5\nmaxRecords = many\nshutdownGraceMillis = 5000\nfailoverTimeMillis = 10000\n'), [
      'unknown key `idleTimeBetweenReadsMillis` (the daemon would ignore it)',
      '`maxRecords` must be a whole number, got "many"',
      '`executableName` is not set (the worker to start)',
      'neither `streamName` nor `streamArn` is set',
      '`applicationName` is not set (it names the lease table)',
      '`shutdownGraceMillis` (5000) must exceed `failoverTimeMillis` (10000), or a SIGTERM\'s graceful shutdown is cut short',
    ]);
  });

  test('KCL 3 keys pass only under --kcl 3', () => {
    assert.deepEqual(checkProperties(`${base}leaseAssignmentIntervalMillis = 2000\n`, '3'), []);
    assert.match(checkProperties(`${base}leaseAssignmentIntervalMillis = 2000\n`, '2')[0] ?? '', /unknown key `leaseAssignmentIntervalMillis`/);
  });
});
