/**
 * The instrumentation hook: typed events a runtime and its pipeline emit about what they did
 * (a batch started or done, a checkpoint, dead letters, a retry, a GC pause, a timing the user's
 * processor reports, a lifecycle step). The stats line and the metrics subscribe to it; so can a
 * user. Emitting with no subscriber costs one array-length check.
 *
 * Listeners run synchronously, in subscription order, inside the emitting code: keep them short.
 * A listener that throws never breaks the worker; the error goes to `onListenerError`.
 */

/**
 * The events and what each carries. Times are ms (performance.now() based durations).
 */
export interface InstrumentationEvents {
  /** A batch was handed over and its run begins. */
  batchStarted: { shardId: string; records: number; millisBehindLatest: number | null };
  /**
   * A batch's run through the pipeline ended (complete or not). The counts are this batch's:
   * `failures` are failed attempts that were retried (or, for a non-retriable error, led to a
   * dead letter).
   */
  batchDone: {
    shardId: string;
    records: number;
    processed: number;
    deadLettered: number;
    failures: number;
    durationMs: number;
    millisBehindLatest: number | null;
    complete: boolean;
  };
  /** One checkpoint attempt and its answer (`error` null: it took). */
  checkpoint: { shardId: string; sequenceNumber: string; error: string | null; attempt: number };
  /**
   * Dead letters written to the sink (after the write succeeded). `dropped`, when the sink reports
   * it: older letters the sink removed to stay inside its bounds (see `DeadLetterWriteResult`).
   */
  deadLetter: { shardId: string; count: number; dropped?: number };
  /** A failed attempt that will be tried again (`what`: the processor or the dead-letter sink). */
  retry: { shardId: string; what: 'processor' | 'deadLetterSink'; attempt: number; delayMs: number; error: string };
  /** A garbage-collection pause of this process (observed only while someone subscribes). */
  gcPause: { kind: 'minor' | 'major'; durationMs: number };
  /** A duration the processor measured and reported (e.g. `RedisWrite`), see `reportTiming`. */
  timing: { shardId: string; name: string; durationMs: number };
  /**
   * A batch has been in hand longer than the runtime's bound (the KCL worker's
   * `stuckBatchMs`; on Lambda, the invocation's deadline came first). `sequenceNumber` is the
   * batch's first record (KCL) or the first record reported failed (Lambda).
   */
  stuckBatch: { shardId: string; action: string; sequenceNumber: string | null; inHandMs: number; lastError: string | null };
  /**
   * A step of the worker's life: `leaseLost`, `shardEnded`, `shutdownRequested`, `shutdown` (the
   * daemon's actions, after the worker answered), and `exit` (the process is about to end; the
   * last chance to write anything out, synchronously).
   */
  lifecycle: { shardId: string; phase: 'initialize' | 'leaseLost' | 'shardEnded' | 'shutdownRequested' | 'shutdown' | 'exit' };
}

/**
 * The name of an instrumentation event.
 */
export type InstrumentationEvent = keyof InstrumentationEvents;

/**
 * A listener of event `K`.
 */
export type InstrumentationListener<K extends InstrumentationEvent> = (payload: InstrumentationEvents[K]) => void;

type ListenerTable = { [K in InstrumentationEvent]: Array<InstrumentationListener<K>> };

/**
 * A typed event hub. One per worker (or per Lambda handler); pass your own in the runtime's
 * options to subscribe.
 *
 * @example
 * const instrumentation = new Instrumentation();
 * instrumentation.on('batchDone', (e) => console.error(`${e.records} records in ${e.durationMs} ms`));
 * await runWithBatchProcessor({ decoder, instrumentation }, batchProcessor);
 */
export class Instrumentation {
  private readonly listeners: ListenerTable = {
    batchStarted: [],
    batchDone: [],
    checkpoint: [],
    deadLetter: [],
    retry: [],
    gcPause: [],
    timing: [],
    stuckBatch: [],
    lifecycle: [],
  };

  /** @param onListenerError told when a listener throws (default: ignored). */
  constructor(private onListenerError: (error: unknown, event: InstrumentationEvent) => void = () => undefined) {}

  /**
   * Where listener errors go from now on (the worker sets its logger once it has one).
   */
  setListenerErrorHandler(handler: (error: unknown, event: InstrumentationEvent) => void): void {
    this.onListenerError = handler;
  }

  /**
   * Subscribes `listener` to `event`; returns a function that unsubscribes it.
   *
   * @example
   * const off = instrumentation.on('checkpoint', (e) => { if (e.error) logger.warn({ error: e.error }, 'checkpoint failed'); });
   * off();
   */
  on<K extends InstrumentationEvent>(event: K, listener: InstrumentationListener<K>): () => void {
    const list = this.listeners[event] as Array<InstrumentationListener<K>>;
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /**
   * Whether anyone listens to `event` (lets an emitter skip measuring what nobody reads).
   */
  has(event: InstrumentationEvent): boolean {
    return this.listeners[event].length > 0;
  }

  /**
   * Tells every listener of `event`. Never throws.
   */
  emit<K extends InstrumentationEvent>(event: K, payload: InstrumentationEvents[K]): void {
    const list = this.listeners[event] as Array<InstrumentationListener<K>>;
    if (list.length === 0) return;
    for (const listener of list) {
      try {
        listener(payload);
      } catch (error) {
        try {
          this.onListenerError(error, event);
        } catch {
          // nothing more to do
        }
      }
    }
  }
}
