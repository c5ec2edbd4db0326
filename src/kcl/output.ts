/**
 * The worker's stdout: protocol lines only. User code that writes to stdout (console.log,
 * process.stdout.write) is redirected to the log instead, so it can never break the protocol.
 */
import type { Writable } from 'node:stream';
import type { Logger } from '../core/types.js';
import type { CheckpointRequest, StatusMessage } from './messages.js';

type WriteFn = (chunk: string | Uint8Array, cb?: (err?: Error | null) => void) => boolean;

/**
 * Writes protocol messages, one JSON object per line, honouring back-pressure: when the pipe is
 * full the next write waits for `drain` instead of failing (aws-kcl treats it as fatal).
 */
export class ProtocolWriter {
  private drained: Promise<void> | null = null;

  constructor(
    private readonly stream: Writable,
    private readonly write: WriteFn,
  ) {}

  /** Sends one message; resolves once it has been handed to the OS or buffered without back-pressure. */
  async send(message: CheckpointRequest | StatusMessage): Promise<void> {
    if (this.drained) await this.drained;
    const ok = this.write(`${JSON.stringify(message)}\n`);
    if (!ok) {
      this.drained = new Promise<void>((resolve) => {
        const done = (): void => {
          this.stream.off('drain', done);
          this.stream.off('close', done);
          this.drained = null;
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('close', done);
      });
    }
  }
}

/** What {@link guardStdout} returns. */
export interface GuardedStdout {
  writer: ProtocolWriter;
  /** Lines user code tried to write to stdout. */
  readonly redirected: () => number;
  /** Puts the original `process.stdout.write` back. */
  restore(): void;
}

/**
 * Takes stdout for the protocol. Afterwards `process.stdout.write` and every `console` method
 * that writes to stdout log a warning with the text instead (up to 1,000 characters of it).
 */
export function guardStdout(logger: () => Logger, stdout: NodeJS.WriteStream = process.stdout): GuardedStdout {
  const original = stdout.write;
  const write: WriteFn = (chunk, cb) => (original as (c: string | Uint8Array, cb?: (err?: Error | null) => void) => boolean).call(stdout, chunk, cb);
  let count = 0;
  const redirect = function (this: unknown, chunk: string | Uint8Array, encodingOrCb?: unknown, cb?: unknown): boolean {
    count++;
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    logger().warn({ stdout: text.length > 1000 ? `${text.slice(0, 1000)}...` : text.replace(/\n$/, '') }, 'stdout write by user code redirected to the log (stdout belongs to the KCL protocol)');
    const callback = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
    if (typeof callback === 'function') queueMicrotask(() => (callback as (err?: Error | null) => void)(null));
    return true;
  };
  stdout.write = redirect as typeof stdout.write;
  return {
    writer: new ProtocolWriter(stdout, write),
    redirected: () => count,
    restore() {
      stdout.write = original;
    },
  };
}
