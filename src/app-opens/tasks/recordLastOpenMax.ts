/**
 * The texts of recordLastOpen's Lua scripts (recordLastOpenMax.lua and recordLastOpenEach.lua
 * beside this module, their comments with them), read once when the module loads, as BullMQ keeps
 * its scripts; recordLastOpen.ts hands them to the script loader of src/redis/scripts.ts. The
 * build copies the .lua files into dist/ beside the compiled module (`npm run build`, `make
 * build`), and tsx reads them from src/. It imports nothing but Node's own modules, so a test can
 * load the built file alone.
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
 * The recordLastOpenEach script's text (recordLastOpenEach.lua beside this module): the
 * compare-and-set of events sent together by recordLastOpen, one reply character per event
 * ('1' set, '0' unchanged, 'W' not a hash).
 */
export const RECORD_LAST_OPEN_EACH_LUA: string = load('recordLastOpenEach');
