/**
 * Splits a byte stream into lines without readline's per-line overhead: a processRecords line
 * can be tens of megabytes, and chunks are joined once per line.
 */
import type { Readable } from 'node:stream';

/**
 * Calls `onLine` for every complete line of `input` (without its `\n`, and without a trailing
 * `\r`), then `onEnd` once the input ends (a final unterminated line is delivered first).
 * `onLine` also gets the `performance.now()` at which the line's first chunk arrived.
 */
export function readLines(
  input: Readable,
  onLine: (line: string, firstChunkAt: number) => void,
  onEnd: (error?: Error) => void,
): () => void {
  return readLineBytes(input, (line, firstChunkAt) => onLine(line.toString('utf8'), firstChunkAt), onEnd);
}

/**
 * Like {@link readLines}, but each line is handed over as its bytes (without `\n` and a trailing
 * `\r`), so a caller can parse it without first decoding it into a string. The Buffer may share
 * memory with the input's chunks: use it before returning, or copy it.
 */
export function readLineBytes(
  input: Readable,
  onLine: (line: Buffer, firstChunkAt: number) => void,
  onEnd: (error?: Error) => void,
): () => void {
  let pending: Buffer[] = [];
  // performance.now() when the chunk holding the line's first byte arrived: how long a long line
  // took to come through the pipe.
  let lineStartedAt = 0;
  const emit = (buf: Buffer): void => {
    let end = buf.length;
    if (end > 0 && buf[end - 1] === 0x0d) end--;
    onLine(end === buf.length ? buf : buf.subarray(0, end), lineStartedAt);
  };
  const onData = (chunk: Buffer): void => {
    const arrivedAt = performance.now();
    if (pending.length === 0) lineStartedAt = arrivedAt;
    let start = 0;
    let nl = chunk.indexOf(0x0a, start);
    while (nl !== -1) {
      const piece = chunk.subarray(start, nl);
      if (pending.length > 0) {
        pending.push(piece);
        const line = Buffer.concat(pending);
        pending = [];
        emit(line);
      } else {
        emit(piece);
      }
      start = nl + 1;
      lineStartedAt = arrivedAt;
      nl = chunk.indexOf(0x0a, start);
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  };
  let ended = false;
  const finish = (error?: Error): void => {
    if (ended) return;
    ended = true;
    if (pending.length > 0) {
      const rest = Buffer.concat(pending);
      pending = [];
      if (rest.length > 0) emit(rest);
    }
    onEnd(error);
  };
  const onClose = (): void => finish();
  const onError = (err: Error): void => finish(err);
  input.on('data', onData);
  input.once('end', onClose);
  input.once('close', onClose);
  input.once('error', onError);
  return () => {
    input.off('data', onData);
    input.off('end', onClose);
    input.off('close', onClose);
    input.off('error', onError);
    input.pause();
  };
}
