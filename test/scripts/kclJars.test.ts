/**
 * scripts/kcl-jars.sh (make jars): without Java or Maven it says so in one line and lets setup go
 * on; with the jars already complete it does nothing. (Fetching itself is exercised by make setup
 * and the e2e test, which need the network and Maven.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
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
