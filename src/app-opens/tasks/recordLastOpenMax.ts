/**
 * The recordLastOpenMax Lua script (recordLastOpenMax.lua beside this module, its comment with
 * it): the monotonic compare-and-set both write paths of recordLastOpen(s) run in Redis. Read once
 * when the module loads, as BullMQ keeps its scripts; the build copies the .lua into dist/ beside
 * the compiled module (`npm run build`, `make build`), and tsx reads it from src/. It imports
 * nothing but Node's own modules, so a test can load the built file alone.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

function load(name: string): string {
  const file = new URL(`./${name}.lua`, import.meta.url);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the ${name} Lua script at ${file.pathname} (a build that ran tsc alone does not copy .lua files: run \`npm run build\`)`,
      { cause: err },
    );
  }
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
 * The script's reply: fields updated, and the 1-based indexes (into KEYS) of keys that hold
 * something other than a hash.
 */
export type RecordLastOpenMaxReply = [number, number[]];

/**
 * One [error, reply] per script call, in order, as a pipeline's `exec()` gives them.
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
