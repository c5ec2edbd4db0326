/**
 * A batching, retrying Kinesis producer: records are queued by `add`, sent in the background as
 * PutRecords calls of up to 500 records, and retried until Kinesis takes them or they run out of
 * attempts (then they go to `onDropped`). Nothing leaves the producer unreported.
 */
import { PutRecordsCommand, type PutRecordsCommandOutput, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { errorMessage } from '../core/errors.js';
import { backoffDelay } from '../core/retry.js';
import {
  AbandonedAtStopError,
  BufferFullError,
  ProducerClosedError,
  PutRecordFailedError,
  RecordLimitError,
} from './errors.js';
import {
  resolveProducerOptions,
  type BatchProducerOptions,
  type ProducerRecord,
  type ProducerStats,
  type ResolvedProducerOptions,
} from './options.js';
import { isRetriableRequestError, requestErrorCode } from './requestErrors.js';

/**
 * What a flush (or stop) achieved while it ran.
 */
export interface FlushResult {
  /** Records Kinesis acknowledged while the flush ran (including ones added meanwhile). */
  sent: number;
  /** Records handed to `onDropped` while the flush ran (out of attempts, or refused for good). */
  dropped: number;
  /** Records still held when it returned. After `stop`, these were handed to `onDropped` as abandoned. */
  remaining: number;
}

interface Entry {
  record: ProducerRecord;
  size: number;
  attempts: number;
}

interface InFlight {
  entries: Entry[];
  controller: AbortController;
  abandoned: boolean;
}

interface RetryGroup {
  entries: Entry[];
  timer: NodeJS.Timeout;
}

interface Waiter {
  entry: Entry;
  resolve: () => void;
  reject: (error: Error) => void;
}

const MAX_PARTITION_KEY_LENGTH = 256;

function toRequestEntry(e: Entry): PutRecordsRequestEntry {
  const r = e.record;
  return r.explicitHashKey === undefined
    ? { Data: r.data, PartitionKey: r.partitionKey }
    : { Data: r.data, PartitionKey: r.partitionKey, ExplicitHashKey: r.explicitHashKey };
}
const MAX_HASH_KEY = (1n << 128n) - 1n;

/**
 * Sends records to one Kinesis stream in batches, in the background.
 *
 * Batches close at 500 records, at `maxRequestBytes`, or `flushIntervalMs` after a record was
 * queued; at most `maxInFlight` calls run at once. Per-record failures (throttling,
 * InternalFailure) are retried with backoff up to `maxAttemptsPerRecord`; whole-call failures
 * (5xx, timeouts, throttling) are retried without using up the records' attempts.
 *
 * @example
 * const producer = new BatchProducer({ client: createKinesisClient(), streamName: 'app-opens',
 *   onDropped: (record, error) => logger.error({ key: record.partitionKey, err: error.message }, 'dropped') });
 * producer.start();
 * await producer.add(Buffer.from('hello'), 'user-42');
 * const { sent, remaining } = await producer.stop(5_000);
 */
export class BatchProducer {
  private readonly o: ResolvedProducerOptions;
  private state: 'new' | 'started' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<FlushResult> | undefined;

  // Records ready to send, oldest first, from `head` on.
  private queue: Entry[] = [];
  private head = 0;
  private queuedBytes = 0;
  // Every record held (queued, in flight, awaiting retry).
  private held = 0;
  private heldBytes = 0;

  private inFlight = new Set<InFlight>();
  private retryGroups = new Set<RetryGroup>();
  private waiters: Waiter[] = [];
  private idleWaiters = new Set<() => void>();
  private draining = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerDue = false;
  private statsTimer: NodeJS.Timeout | undefined;
  private consecutiveRequestFailures = 0;

  private counters = { sent: 0, dropped: 0, retried: 0, requests: 0, requestsFailed: 0 };
  private recordFailures: Record<string, number> = {};
  private requestFailures: Record<string, number> = {};
  private latency = { count: 0, sum: 0, max: 0 };

  /** @throws TypeError naming the option that is wrong. */
  constructor(options: BatchProducerOptions) {
    this.o = resolveProducerOptions(options);
  }

  /**
   * Starts sending (records added before are sent now) and the stats timer.
   */
  start(): void {
    if (this.state === 'started') return;
    if (this.state !== 'new') throw new ProducerClosedError('the producer was stopped; create a new one');
    this.state = 'started';
    if (this.o.onStats !== undefined) {
      this.statsTimer = setInterval(() => this.reportStats(), this.o.statsIntervalMs);
      this.statsTimer.unref();
    }
    this.pump();
  }

  /** Records held now: queued, in flight, or waiting to be retried. */
  get buffered(): number {
    return this.held;
  }

  /**
   * Queues one record. Resolves once it is buffered (not once it is delivered: delivery is
   * reported by the stats, and failure by `onDropped`). Rejects with {@link RecordLimitError}
   * for a record Kinesis would refuse (the error's `limit` names the limit), with
   * {@link BufferFullError} when the buffer is full and `whenFull` is `'reject'`, and with
   * {@link ProducerClosedError} once `stop` was called. With `whenFull: 'wait'` it waits for room.
   *
   * `data` is not copied: do not change it afterwards.
   *
   * @example
   * await producer.add(toAvro(event), String(event.userId));
   */
  add(data: Uint8Array, partitionKey: string, explicitHashKey?: string): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return Promise.reject(new ProducerClosedError());
    let entry: Entry;
    try {
      entry = this.check(data, partitionKey, explicitHashKey);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (this.waiters.length === 0 && this.fits(entry.size)) {
      this.admit(entry);
      return Promise.resolve();
    }
    if (this.o.whenFull === 'reject') {
      return Promise.reject(
        new BufferFullError(
          `producer buffer full: ${this.held} records / ${this.heldBytes} bytes held ` +
            `(maxBufferedRecords ${this.o.maxBufferedRecords}, maxBufferedBytes ${this.o.maxBufferedBytes})`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => this.waiters.push({ entry, resolve, reject }));
  }

  /**
   * Sends everything held now, without waiting for `flushIntervalMs`, and waits until nothing is
   * held or `timeoutMs` has passed. The producer keeps accepting records meanwhile.
   */
  async flush(timeoutMs: number): Promise<FlushResult> {
    if (this.state === 'new') throw new ProducerClosedError('the producer is not started: call start() first');
    if (!(Number.isFinite(timeoutMs) && timeoutMs >= 0)) throw new TypeError('Expected `timeoutMs` to be a non-negative number.');
    const sent0 = this.counters.sent;
    const dropped0 = this.counters.dropped;
    this.draining++;
    try {
      this.pump();
      await this.idle(timeoutMs);
    } finally {
      this.draining--;
    }
    return { sent: this.counters.sent - sent0, dropped: this.counters.dropped - dropped0, remaining: this.held };
  }

  /**
   * Stops accepting records (waiting `add`s reject with {@link ProducerClosedError}), sends what
   * it can within `timeoutMs`, then hands every record still held to `onDropped` with
   * {@link AbandonedAtStopError} (in-flight calls are aborted) and stops its timers. Calling it
   * again returns the same result.
   *
   * @example
   * process.once('SIGTERM', async () => { const r = await producer.stop(5_000); logger.info(r, 'stopped'); });
   */
  stop(timeoutMs: number): Promise<FlushResult> {
    if (this.stopping !== undefined) return this.stopping;
    if (!(Number.isFinite(timeoutMs) && timeoutMs >= 0)) return Promise.reject(new TypeError('Expected `timeoutMs` to be a non-negative number.'));
    const wasStarted = this.state === 'started';
    this.state = 'stopping';
    for (const w of this.waiters.splice(0)) w.reject(new ProducerClosedError('the producer stopped before this record found room'));
    this.stopping = (async () => {
      let result: FlushResult = { sent: 0, dropped: 0, remaining: this.held };
      if (wasStarted) {
        const sent0 = this.counters.sent;
        const dropped0 = this.counters.dropped;
        this.pump();
        await this.idle(timeoutMs);
        result = { sent: this.counters.sent - sent0, dropped: this.counters.dropped - dropped0, remaining: this.held };
      }
      this.abandonAll(timeoutMs);
      this.state = 'stopped';
      if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
      if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
      if (this.o.onStats !== undefined) this.reportStats();
      return result;
    })();
    return this.stopping;
  }

  /**
   * The counters so far (see {@link ProducerStats}); latency covers calls since the last report.
   */
  stats(): ProducerStats {
    const l = this.latency;
    return {
      ...this.counters,
      recordFailures: { ...this.recordFailures },
      requestFailures: { ...this.requestFailures },
      buffered: this.held,
      bufferedBytes: this.heldBytes,
      inFlight: this.inFlight.size,
      latencyMs: { count: l.count, mean: l.count === 0 ? 0 : l.sum / l.count, max: l.max },
    };
  }

  private reportStats(): void {
    const stats = this.stats();
    this.latency = { count: 0, sum: 0, max: 0 };
    try {
      this.o.onStats?.(stats);
    } catch (error) {
      this.o.logger?.error({ err: errorMessage(error) }, 'onStats callback threw');
    }
  }

  private check(data: Uint8Array, partitionKey: string, explicitHashKey: string | undefined): Entry {
    if (!(data instanceof Uint8Array)) throw new RecordLimitError('data', 'record data must be a Uint8Array (or Buffer)');
    if (typeof partitionKey !== 'string' || partitionKey.length === 0 || partitionKey.length > MAX_PARTITION_KEY_LENGTH) {
      const got = typeof partitionKey === 'string' ? `${partitionKey.length} characters` : typeof partitionKey;
      throw new RecordLimitError('partitionKeyLength', `partition key must be 1 to ${MAX_PARTITION_KEY_LENGTH} characters, got ${got}`);
    }
    if (explicitHashKey !== undefined && !(typeof explicitHashKey === 'string' && /^\d{1,39}$/.test(explicitHashKey) && BigInt(explicitHashKey) <= MAX_HASH_KEY)) {
      throw new RecordLimitError('explicitHashKey', 'explicit hash key must be a decimal integer in [0, 2^128 - 1]');
    }
    const size = data.byteLength + Buffer.byteLength(partitionKey, 'utf8');
    if (size > this.o.maxRecordBytes) {
      throw new RecordLimitError(
        'maxRecordBytes',
        `record is ${size} bytes (data + partition key), over the limit of ${this.o.maxRecordBytes} (maxRecordBytes)`,
      );
    }
    return { record: { data, partitionKey, explicitHashKey }, size, attempts: 0 };
  }

  private fits(size: number): boolean {
    return this.held < this.o.maxBufferedRecords && this.heldBytes + size <= this.o.maxBufferedBytes;
  }

  private admit(entry: Entry): void {
    this.held++;
    this.heldBytes += entry.size;
    this.queue.push(entry);
    this.queuedBytes += entry.size;
    if (this.state !== 'new') this.pump();
  }

  private release(entry: Entry): void {
    this.held--;
    this.heldBytes -= entry.size;
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.entry.size)) {
      const w = this.waiters.shift()!;
      this.admit(w.entry);
      w.resolve();
    }
    if (this.held === 0) for (const w of [...this.idleWaiters]) w();
  }

  private idle(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.held === 0) {
        resolve();
        return;
      }
      const done = (): void => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.idleWaiters.add(done);
    });
  }

  private get queued(): number {
    return this.queue.length - this.head;
  }

  /** Starts as many calls as the in-flight limit allows and the batching rules call for. */
  private pump(): void {
    if (this.state === 'new' || this.state === 'stopped') return;
    while (this.inFlight.size < this.o.maxInFlight && this.queued > 0) {
      const full = this.queued >= this.o.maxBatchRecords || this.queuedBytes >= this.o.maxRequestBytes;
      if (!full && !(this.lingerDue || this.draining > 0 || this.state === 'stopping')) break;
      void this.send(this.takeBatch());
    }
    if (this.queued === 0) {
      this.lingerDue = false;
      if (this.lingerTimer !== undefined) {
        clearTimeout(this.lingerTimer);
        this.lingerTimer = undefined;
      }
    } else if (this.lingerTimer === undefined && !this.lingerDue) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.lingerDue = true;
        this.pump();
      }, this.o.flushIntervalMs);
    }
  }

  private takeBatch(): Entry[] {
    const batch: Entry[] = [];
    let bytes = 0;
    while (this.head < this.queue.length && batch.length < this.o.maxBatchRecords) {
      const e = this.queue[this.head]!;
      if (batch.length > 0 && bytes + e.size > this.o.maxRequestBytes) break;
      batch.push(e);
      bytes += e.size;
      this.head++;
    }
    this.queuedBytes -= bytes;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  private async send(entries: Entry[]): Promise<void> {
    const call: InFlight = { entries, controller: new AbortController(), abandoned: false };
    this.inFlight.add(call);
    this.counters.requests++;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      call.controller.abort();
    }, this.o.requestTimeoutMs);
    const startedAt = performance.now();
    let output: PutRecordsCommandOutput | undefined;
    let failure: unknown;
    try {
      output = await this.o.client.send(
        new PutRecordsCommand({
          StreamName: this.o.streamName,
          StreamARN: this.o.streamARN,
          Records: entries.map(toRequestEntry),
        }),
        { abortSignal: call.controller.signal },
      );
    } catch (error) {
      failure = timedOut ? Object.assign(new Error(`PutRecords took over ${this.o.requestTimeoutMs} ms (requestTimeoutMs)`), { name: 'RequestTimeout', cause: error }) : error;
    }
    clearTimeout(timer);
    this.inFlight.delete(call);
    const ms = performance.now() - startedAt;
    this.latency.count++;
    this.latency.sum += ms;
    if (ms > this.latency.max) this.latency.max = ms;
    if (call.abandoned) return; // stop() has already reported these records
    if (failure === undefined && output?.Records?.length !== entries.length) {
      failure = Object.assign(new Error(`PutRecords answered ${output?.Records?.length ?? 0} results for ${entries.length} records`), { name: 'MalformedResponse' });
    }
    if (failure !== undefined) this.onRequestFailure(entries, failure);
    else this.onResponse(entries, output!);
    this.pump();
  }

  private onResponse(entries: Entry[], output: PutRecordsCommandOutput): void {
    this.consecutiveRequestFailures = 0;
    const results = output.Records!;
    const again: Entry[] = [];
    let maxAttempts = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const r = results[i]!;
      if (r.ErrorCode === undefined || r.ErrorCode === null || r.ErrorCode === '') {
        this.counters.sent++;
        this.release(e);
        continue;
      }
      this.recordFailures[r.ErrorCode] = (this.recordFailures[r.ErrorCode] ?? 0) + 1;
      e.attempts++;
      const error = new PutRecordFailedError(r.ErrorCode, r.ErrorMessage ?? '');
      if (e.attempts >= this.o.maxAttemptsPerRecord) {
        this.drop(e, error);
      } else {
        again.push(e);
        if (e.attempts > maxAttempts) maxAttempts = e.attempts;
      }
    }
    if (again.length > 0) {
      this.o.logger?.debug({ failed: again.length, of: entries.length, attempt: maxAttempts }, 'PutRecords: some records failed; retrying them');
      this.retryLater(again, backoffDelay(maxAttempts, this.o.retry));
    }
  }

  private onRequestFailure(entries: Entry[], failure: unknown): void {
    this.counters.requestsFailed++;
    const code = requestErrorCode(failure);
    this.requestFailures[code] = (this.requestFailures[code] ?? 0) + 1;
    if (!isRetriableRequestError(failure)) {
      this.o.logger?.error({ code, err: errorMessage(failure), records: entries.length }, 'PutRecords refused; dropping its records');
      const error = failure instanceof Error ? failure : new Error(errorMessage(failure));
      for (const e of entries) this.drop(e, error);
      return;
    }
    this.consecutiveRequestFailures++;
    const delayMs = backoffDelay(this.consecutiveRequestFailures, this.o.retry);
    this.o.logger?.warn({ code, err: errorMessage(failure), records: entries.length, retryInMs: delayMs }, 'PutRecords failed; retrying the whole call');
    this.retryLater(entries, delayMs);
  }

  private retryLater(entries: Entry[], delayMs: number): void {
    this.counters.retried += entries.length;
    const group: RetryGroup = {
      entries,
      timer: setTimeout(() => {
        this.retryGroups.delete(group);
        // Back to the front: they are the oldest records.
        this.queue = entries.concat(this.queue.slice(this.head));
        this.head = 0;
        for (const e of entries) this.queuedBytes += e.size;
        this.lingerDue = true;
        this.pump();
      }, delayMs),
    };
    this.retryGroups.add(group);
  }

  private drop(entry: Entry, error: Error): void {
    this.counters.dropped++;
    this.release(entry);
    if (this.o.onDropped === undefined) {
      this.o.logger?.error(
        { partitionKey: entry.record.partitionKey, bytes: entry.size, attempts: entry.attempts, err: errorMessage(error) },
        'record dropped',
      );
      return;
    }
    try {
      this.o.onDropped(entry.record, error);
    } catch (cbError) {
      this.o.logger?.error({ err: errorMessage(cbError) }, 'onDropped callback threw');
    }
  }

  private abandonAll(timeoutMs: number): void {
    const left: Entry[] = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    for (const g of this.retryGroups) {
      clearTimeout(g.timer);
      left.push(...g.entries);
    }
    this.retryGroups.clear();
    for (const call of this.inFlight) {
      call.abandoned = true;
      call.controller.abort();
      left.push(...call.entries);
    }
    if (left.length > 0) this.o.logger?.warn({ records: left.length, timeoutMs }, 'producer stopped with records undelivered; reporting them dropped');
    const error = new AbandonedAtStopError(timeoutMs);
    for (const e of left) this.drop(e, error);
  }
}
