/**
 * The Lua script lives in its own file, read when the module loads. tsc does not copy .lua files,
 * so the build must: these tests fail when dist/ lacks the script or holds another version of it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RECORD_LAST_OPEN_MAX_LUA, RECORD_LAST_OPEN_MAX_SHA } from '../../../src/app-opens/tasks/recordLastOpenMax.js';

const DIST_MODULE = fileURLToPath(new URL('../../../dist/app-opens/tasks/recordLastOpenMax.js', import.meta.url));

test('the script is read from src/ and its SHA1 is that of its text', () => {
  assert.match(RECORD_LAST_OPEN_MAX_LUA, /redis\.pcall\('HGET'/);
  assert.equal(RECORD_LAST_OPEN_MAX_SHA, createHash('sha1').update(RECORD_LAST_OPEN_MAX_LUA).digest('hex'));
});

test('the built module in dist/ finds its script, the same script as src/', async () => {
  assert.ok(existsSync(DIST_MODULE), `${DIST_MODULE} is missing: run \`npm run build\` (or make build) first`);
  const built = (await import(pathToFileURL(DIST_MODULE).href)) as { RECORD_LAST_OPEN_MAX_SHA: string };
  assert.equal(built.RECORD_LAST_OPEN_MAX_SHA, RECORD_LAST_OPEN_MAX_SHA, 'dist/ holds another version of recordLastOpenMax.lua: rebuild');
});

test('without its .lua beside it, the built module fails to load, naming the file and the fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lua-missing-'));
  try {
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    copyFileSync(DIST_MODULE, join(dir, 'recordLastOpenMax.js'));
    await assert.rejects(import(pathToFileURL(join(dir, 'recordLastOpenMax.js')).href), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /recordLastOpenMax\.lua/);
      assert.match(err.message, /npm run build/);
      assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
