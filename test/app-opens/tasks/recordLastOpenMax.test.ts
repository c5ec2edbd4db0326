/**
 * The Lua scripts live in their own files; the build embeds their text (luaScripts.ts, generated
 * by scripts/generate-lua-module.mjs), so the built modules, ESM and CommonJS, read no file. These
 * tests fail when the embedded text is not the .lua files' text, or when dist/ holds another version.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  RECORD_LAST_OPEN_EACH_LUA,
  RECORD_LAST_OPEN_MAX_LUA,
  RECORD_LAST_OPEN_MAX_SHA,
} from '../../../src/app-opens/tasks/recordLastOpenMax.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIST_MODULE = join(ROOT, 'dist/app-opens/tasks/recordLastOpenMax.js');
const CJS_MODULE = join(ROOT, 'dist/cjs/app-opens/tasks/recordLastOpenMax.js');

test('the embedded scripts are the .lua files beside the module, and the SHA1 is that of the text', () => {
  assert.match(RECORD_LAST_OPEN_MAX_LUA, /redis\.pcall\('HGET'/);
  assert.equal(RECORD_LAST_OPEN_MAX_LUA, readFileSync(join(ROOT, 'src/app-opens/tasks/recordLastOpenMax.lua'), 'utf8'));
  assert.equal(RECORD_LAST_OPEN_EACH_LUA, readFileSync(join(ROOT, 'src/app-opens/tasks/recordLastOpenEach.lua'), 'utf8'));
  assert.equal(RECORD_LAST_OPEN_MAX_SHA, createHash('sha1').update(RECORD_LAST_OPEN_MAX_LUA).digest('hex'));
});

test('luaScripts.ts is what scripts/generate-lua-module.mjs makes of the .lua files now (not stale)', () => {
  const check = spawnSync(process.execPath, [join(ROOT, 'scripts/generate-lua-module.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
});

test('the built modules in dist/ (ESM and CommonJS) hold the same script as src/', async () => {
  assert.ok(existsSync(DIST_MODULE), `${DIST_MODULE} is missing: run \`npm run build\` (or make build) first`);
  const built = (await import(pathToFileURL(DIST_MODULE).href)) as { RECORD_LAST_OPEN_MAX_SHA: string };
  assert.equal(built.RECORD_LAST_OPEN_MAX_SHA, RECORD_LAST_OPEN_MAX_SHA, 'dist/ holds another version of recordLastOpenMax.lua: rebuild');
  const cjs = createRequire(import.meta.url)(CJS_MODULE) as { RECORD_LAST_OPEN_MAX_SHA: string };
  assert.equal(cjs.RECORD_LAST_OPEN_MAX_SHA, RECORD_LAST_OPEN_MAX_SHA, 'dist/cjs/ holds another version of recordLastOpenMax.lua: rebuild');
});

test('the built module needs no .lua file beside it: copied alone with luaScripts.js, it loads the same script', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lua-embedded-'));
  try {
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    copyFileSync(DIST_MODULE, join(dir, 'recordLastOpenMax.js'));
    copyFileSync(join(ROOT, 'dist/app-opens/tasks/luaScripts.js'), join(dir, 'luaScripts.js'));
    const alone = (await import(pathToFileURL(join(dir, 'recordLastOpenMax.js')).href)) as { RECORD_LAST_OPEN_MAX_SHA: string };
    assert.equal(alone.RECORD_LAST_OPEN_MAX_SHA, RECORD_LAST_OPEN_MAX_SHA);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
