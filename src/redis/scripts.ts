/**
 * Lua scripts on Redis, in one place. A script is defined once from its text
 * ({@link defineScript}) and always run by its SHA1 (EVALSHA); when the server does not know it
 * (the first call on a connection, a restart, a failover, SCRIPT FLUSH: a NOSCRIPT reply) it is
 * loaded and the refused calls are sent again, so a caller never sees NOSCRIPT. Three ways to
 * run one:
 *
 * - {@link RedisScript.call}: one call on a client (ioredis's script command: EVAL on a
 *   connection that has not run it yet, EVALSHA after, EVAL again after NOSCRIPT);
 * - {@link RedisScript.callMany}: many calls pipelined, one pipeline per node on a cluster;
 * - {@link RedisScript.sendPrepared}: calls whose RESP bytes the caller wrote itself (a hot
 *   path that must not pay ioredis's per-argument work), with {@link RedisScript.writeHead} and
 *   the byte writers below; NOSCRIPT is answered by SCRIPT LOAD and a resend.
 *
 * The script's text is given, not read here: an app keeps its scripts as .lua files and reads
 * them itself (this module runs as ESM and as CommonJS alike).
 */
import { createHash } from 'node:crypto';
import { Cluster, Command, type Redis } from 'ioredis';
import { keySlot } from './keySlot.js';
import type { RedisClient } from './settings.js';

/** One argument of a script call (a key or an ARGV value). */
export type ScriptArg = string | number | Buffer;

/**
 * One [error, reply] per call, in order, as a pipeline's `exec()` gives them.
 */
export type Replies = Array<[Error | null, unknown]>;

/**
 * What {@link defineScript} takes.
 */
export interface ScriptDefinition {
  /** Names the script: its ioredis command is `<name>_<first 12 hex digits of its SHA1>`. */
  readonly name: string;
  /** The script's text, as sent with EVAL or SCRIPT LOAD. */
  readonly lua: string;
  /**
   * How many of a call's arguments are keys, when it is fixed. Absent: each call's first argument
   * is that number (EVAL's `numkeys`).
   */
  readonly numberOfKeys?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT');

/** A command whose bytes on the wire are prepared already. */
class PreparedCommand extends Command {
  constructor(private readonly bytes: Buffer) {
    super('evalsha', []);
  }
  override toWritable(): Buffer {
    return this.bytes;
  }
}

/**
 * A Lua script, defined once ({@link defineScript}) and run on any client of the process.
 */
export class RedisScript {
  /** The script's name, as defined. */
  readonly name: string;
  /** The script's text. */
  readonly lua: string;
  /** The script's SHA1 (hex), as EVALSHA names it. */
  readonly sha: string;
  /** Keys per call when fixed; undefined: each call's first argument. */
  readonly numberOfKeys: number | undefined;
  /**
   * Bytes {@link writeHead} writes at most: the array header, `EVALSHA`, the SHA1 and `numkeys`.
   * Size a prepared call's buffer as this plus its arguments' bulk strings.
   */
  readonly headMaxBytes: number;
  /** The ioredis command the script is defined under, on each client that runs it. */
  private readonly command: string;
  /** `$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n`. */
  private readonly evalsha: Buffer;
  private readonly defined = new WeakSet<object>();

  constructor(definition: ScriptDefinition) {
    const { name, lua, numberOfKeys } = definition ?? ({} as ScriptDefinition);
    if (typeof name !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) {
      throw new TypeError('Expected `name` to be a name of letters, digits and _ (it names an ioredis command).');
    }
    if (typeof lua !== 'string' || lua.trim() === '') throw new TypeError('Expected `lua` to be the non-empty text of a Lua script.');
    if (numberOfKeys !== undefined && !(Number.isInteger(numberOfKeys) && numberOfKeys >= 0)) {
      throw new TypeError('Expected `numberOfKeys` to be a non-negative integer.');
    }
    this.name = name;
    this.lua = lua;
    this.numberOfKeys = numberOfKeys;
    this.sha = createHash('sha1').update(lua).digest('hex');
    // The name carries the hash: two versions of a script sharing a client are two commands,
    // instead of one silently replacing the other.
    this.command = `${name}_${this.sha.slice(0, 12)}`;
    this.evalsha = Buffer.from(`$7\r\nEVALSHA\r\n$40\r\n${this.sha}\r\n`, 'latin1');
    this.headMaxBytes = 1 + 10 + 2 + this.evalsha.length + 1 + 10 + 2 + 10 + 2;
  }

  /**
   * Runs one call: `args` are the keys then the other arguments (preceded by their key count when
   * the definition has no `numberOfKeys`). Rejects with the client's error (a NOSCRIPT never).
   */
  call<R = unknown>(client: RedisClient, args: readonly ScriptArg[]): Promise<R> {
    return this.invoke(this.on(client), args) as Promise<R>;
  }

  /**
   * Runs many calls pipelined and resolves with one [error, reply] per call, in order; it never
   * rejects for a call's failure. Standalone: one pipeline. Cluster: one pipeline per node
   * (ioredis refuses pipelines spanning nodes), routed by each call's first key; a call whose
   * slot has no known node yet (topology still loading), or with no key, is sent on its own and
   * routed by ioredis.
   */
  async callMany(client: RedisClient, calls: ReadonlyArray<readonly ScriptArg[]>): Promise<Replies> {
    this.on(client);
    if (!(client instanceof Cluster)) {
      const pipeline = client.pipeline();
      for (const args of calls) this.invoke(pipeline, args);
      return ((await pipeline.exec()) ?? []) as Replies;
    }
    const replies: Replies = new Array(calls.length);
    const prefix = client.options.keyPrefix ?? '';
    const byNode = new Map<string, number[]>();
    const loose: Array<Promise<void>> = [];
    for (let c = 0; c < calls.length; c++) {
      const args = calls[c]!;
      const first = this.firstKey(args);
      const nodes = first === undefined ? undefined : client.slots[keySlot(prefix + first)];
      if (!nodes || nodes.length === 0) {
        loose.push(
          (this.invoke(client, args) as Promise<unknown>).then(
            (r) => void (replies[c] = [null, r]),
            (err: Error) => void (replies[c] = [err, undefined]),
          ),
        );
        continue;
      }
      const node = nodes.join(',');
      const list = byNode.get(node);
      if (list) list.push(c);
      else byNode.set(node, [c]);
    }
    const piped = [...byNode.values()].map(async (indexes) => {
      const pipeline = client.pipeline();
      for (const c of indexes) this.invoke(pipeline, calls[c]!);
      try {
        const out = ((await pipeline.exec()) ?? []) as Replies;
        indexes.forEach((c, i) => (replies[c] = out[i] ?? [new Error('no reply'), undefined]));
      } catch (err) {
        for (const c of indexes) replies[c] = [err as Error, undefined];
      }
    });
    await Promise.all([...piped, ...loose]);
    return replies;
  }

  /**
   * Writes the start of a prepared call at `pos` of `buf`: the RESP array header for
   * `argCount` arguments after `numkeys` (keys and the others), `EVALSHA`, the SHA1 and
   * `numKeys`. The caller writes the arguments after it as bulk strings
   * ({@link writeBulkHeader}, {@link writeBulkDigits}, {@link writeBulkBytes}). Returns the
   * position after it; at most {@link headMaxBytes} bytes.
   */
  writeHead(buf: Buffer, pos: number, numKeys: number, argCount: number): number {
    buf[pos++] = 0x2a; // *
    const argc = 3 + argCount;
    pos = writeDigits(buf, pos, argc, digitCount(argc));
    buf[pos++] = CR;
    buf[pos++] = LF;
    pos += this.evalsha.copy(buf, pos);
    return writeBulkDigits(buf, pos, numKeys);
  }

  /**
   * Sends calls prepared as RESP bytes (each begun with {@link writeHead}) through ioredis
   * (its offline queue, reconnection, command timeout and reply parsing), and resolves with one
   * [error, reply] per call, in order. Calls refused with NOSCRIPT changed nothing: the script is
   * loaded (SCRIPT LOAD) and they are sent again; the others are not. Standalone clients only
   * (nothing routes the bytes by slot).
   */
  async sendPrepared(redis: Redis, commands: readonly Buffer[]): Promise<Replies> {
    const replies = await Promise.all(commands.map((bytes) => sendBytes(redis, bytes)));
    if (!replies.some(([err]) => isNoScript(err))) return replies;
    // The server does not know the script (restarted, failed over, SCRIPT FLUSH): load it, then
    // send again the calls it refused (they changed nothing; the others were applied).
    await redis.script('LOAD', this.lua);
    return Promise.all(commands.map((bytes, k) => (isNoScript(replies[k]![0]) ? sendBytes(redis, bytes) : replies[k]!)));
  }

  /** Defines the script's command on `client` (once per client); pipelines made after it have it too. */
  private on(client: RedisClient): RedisClient {
    if (!this.defined.has(client)) {
      client.defineCommand(this.command, this.numberOfKeys === undefined ? { lua: this.lua } : { lua: this.lua, numberOfKeys: this.numberOfKeys });
      this.defined.add(client);
    }
    return client;
  }

  /** Calls the script's command on a client or a pipeline of one on which it is defined. */
  private invoke(target: object, args: readonly ScriptArg[]): unknown {
    const fn = (target as Record<string, unknown>)[this.command] as (...a: readonly ScriptArg[]) => unknown;
    return fn.apply(target, args as ScriptArg[]);
  }

  private firstKey(args: readonly ScriptArg[]): string | undefined {
    const keys = this.numberOfKeys ?? Number(args[0]);
    if (!(keys >= 1)) return undefined;
    const key = args[this.numberOfKeys === undefined ? 1 : 0];
    return key === undefined ? undefined : Buffer.isBuffer(key) ? key.toString('latin1') : String(key);
  }
}

function sendBytes(redis: Redis, bytes: Buffer): Promise<[Error | null, unknown]> {
  return (redis.sendCommand(new PreparedCommand(bytes)) as Promise<unknown>).then(
    (reply) => [null, reply],
    (err: Error) => [err, undefined],
  );
}

/**
 * Defines a Lua script once, for every client of the process. Cheap: nothing is sent until a
 * call; the text is checked and hashed here.
 */
export function defineScript(definition: ScriptDefinition): RedisScript {
  return new RedisScript(definition);
}

// --- Writing RESP bytes ---------------------------------------------------------------------------

/**
 * Decimal digits of a non-negative safe integer.
 */
export function digitCount(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/**
 * Writes the `digits` decimal digits of a non-negative safe integer at `pos`; returns the new
 * position.
 */
export function writeDigits(buf: Buffer, pos: number, n: number, digits: number): number {
  let p = pos + digits;
  for (let i = 0; i < digits; i++) {
    const q = Math.floor(n / 10);
    buf[--p] = 48 + (n - q * 10);
    n = q;
  }
  return pos + digits;
}

/**
 * Writes `$<len>\r\n`, the header of a bulk string of `len` bytes; the caller writes the bytes
 * and {@link writeCrlf}.
 */
export function writeBulkHeader(buf: Buffer, pos: number, len: number): number {
  buf[pos++] = 0x24; // $
  pos = writeDigits(buf, pos, len, digitCount(len));
  buf[pos++] = CR;
  buf[pos++] = LF;
  return pos;
}

/**
 * Writes `\r\n`.
 */
export function writeCrlf(buf: Buffer, pos: number): number {
  buf[pos++] = CR;
  buf[pos++] = LF;
  return pos;
}

/**
 * Writes a non-negative safe integer as a whole bulk string (`$<len>\r\n<digits>\r\n`).
 */
export function writeBulkDigits(buf: Buffer, pos: number, n: number): number {
  const d = digitCount(n);
  pos = writeBulkHeader(buf, pos, d);
  pos = writeDigits(buf, pos, n, d);
  buf[pos++] = CR;
  buf[pos++] = LF;
  return pos;
}

/**
 * Writes `bytes` as a whole bulk string (`$<len>\r\n<bytes>\r\n`).
 */
export function writeBulkBytes(buf: Buffer, pos: number, bytes: Buffer): number {
  pos = writeBulkHeader(buf, pos, bytes.length);
  pos += bytes.copy(buf, pos);
  buf[pos++] = CR;
  buf[pos++] = LF;
  return pos;
}
