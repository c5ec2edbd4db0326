/**
 * The recordLastOpenMax Lua script (recordLastOpenMax.lua beside this module, its comment with
 * it): the monotonic compare-and-set both write paths of recordLastOpen(s) run in Redis. The
 * build embeds the .lua files' text (scripts/generate-lua-module.mjs writes luaScripts.ts from
 * them; `npm run build` runs it, and a test fails when it is stale), so the built module, ESM or
 * CommonJS, carries its scripts and reads no file: import.meta, which finding a file beside the
 * module would need, does not exist in the CommonJS build of the package.
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
 *
 * @example
 * await redis.script('LOAD', RECORD_LAST_OPEN_MAX_LUA); // === RECORD_LAST_OPEN_MAX_SHA
 */
export const RECORD_LAST_OPEN_MAX_LUA: string = load('recordLastOpenMax');

/**
 * The script's SHA1 (hex), as EVALSHA names it.
 *
 * @example
 * await redis.evalsha(RECORD_LAST_OPEN_MAX_SHA, 1, 'user:42:checkpoint', 'ios_app_open', '1764000000');
 */
export const RECORD_LAST_OPEN_MAX_SHA: string = createHash('sha1').update(RECORD_LAST_OPEN_MAX_LUA).digest('hex');

/**
 * The script's reply: fields updated, and the 1-based indexes (into KEYS) of keys that hold
 * something other than a hash.
 *
 * @example
 * const [updated, badKeys] = (await redis.evalsha(RECORD_LAST_OPEN_MAX_SHA, 1, key, field, ts)) as RecordLastOpenMaxReply;
 */
export type RecordLastOpenMaxReply = [number, number[]];

/**
 * One [error, reply] per script call, in order, as a pipeline's `exec()` gives them.
 *
 * @example
 * const replies = ((await pipeline.exec()) ?? []) as Replies;
 */
export type Replies = Array<[Error | null, unknown]>;

/**
 * The recordLastOpenEach script's text (recordLastOpenEach.lua beside this module): the
 * compare-and-set of events sent together by recordLastOpen, one reply character per event
 * ('1' set, '0' unchanged, 'W' not a hash).
 */
export const RECORD_LAST_OPEN_EACH_LUA: string = load('recordLastOpenEach');

/** The recordLastOpenEach script's SHA1 (hex), as EVALSHA names it. */
export const RECORD_LAST_OPEN_EACH_SHA: string = createHash('sha1').update(RECORD_LAST_OPEN_EACH_LUA).digest('hex');
