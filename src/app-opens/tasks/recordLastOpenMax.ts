/**
 * The texts of recordLastOpen's Lua scripts (recordLastOpenMax.lua and recordLastOpenEach.lua
 * beside this module, their comments with them); recordLastOpen.ts hands them to the script
 * loader of src/redis/scripts.ts. The build embeds the .lua files' text
 * (scripts/generate-lua-module.mjs writes luaScripts.ts from them; `npm run build` runs it, and a
 * test fails when it is stale), so the built module, ESM or CommonJS, carries its scripts and
 * reads no file: import.meta, which finding a file beside the module would need, does not exist
 * in the CommonJS build of the package.
 */
import { createHash } from 'node:crypto';
import { LUA_SCRIPTS } from './luaScripts.js';

function load(name: string): string {
  const text = LUA_SCRIPTS[name];
  if (text === undefined) {
    throw new Error(`no ${name} Lua script in luaScripts.ts: add ${name}.lua beside it and run \`npm run build\` (scripts/generate-lua-module.mjs)`);
  }
  return text;
}

/**
 * The script's text, as sent with EVAL or SCRIPT LOAD.
 */
export const RECORD_LAST_OPEN_MAX_LUA: string = load('recordLastOpenMax');

/**
 * The script's SHA1 (hex), as EVALSHA names it.
 */
export const RECORD_LAST_OPEN_MAX_SHA: string = createHash('sha1').update(RECORD_LAST_OPEN_MAX_LUA).digest('hex');

/**
 * The recordLastOpenEach script's text (recordLastOpenEach.lua beside this module): the
 * compare-and-set of events sent together by recordLastOpen, one reply character per event
 * ('1' set, '0' unchanged, 'W' not a hash).
 */
export const RECORD_LAST_OPEN_EACH_LUA: string = load('recordLastOpenEach');
