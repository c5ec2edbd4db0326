/**
 * The recordLastOpenMax Lua script (recordLastOpenMax.lua beside this module, its comment with
 * it): the monotonic compare-and-set both write paths of recordLastOpen(s) run in Redis. Read once
 * when the module loads, as BullMQ keeps its scripts; the build copies the .lua into dist/ beside
 * the compiled module (`npm run build`, `make build`), and tsx reads it from src/. It imports
 * nothing but Node's own modules, so a test can load the built file alone.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const SCRIPT_FILE = new URL('./recordLastOpenMax.lua', import.meta.url);

function load(): string {
  try {
    return readFileSync(SCRIPT_FILE, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the recordLastOpenMax Lua script at ${SCRIPT_FILE.pathname} (a build that ran tsc alone does not copy .lua files: run \`npm run build\`)`,
      { cause: err },
    );
  }
}

/**
 * The script's text, as sent with EVAL or SCRIPT LOAD.
 *
 * @example
 * await redis.script('LOAD', RECORD_LAST_OPEN_MAX_LUA); // === RECORD_LAST_OPEN_MAX_SHA
 */
export const RECORD_LAST_OPEN_MAX_LUA: string = load();

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
