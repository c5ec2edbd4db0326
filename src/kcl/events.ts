/**
 * The KCL worker's instrumentation hook: the pipeline's events (core/pipelineEvents.ts) plus what
 * only this runtime knows (checkpoints, GC pauses, the daemon's lifecycle actions). The stats
 * line, the metrics and the watchdog subscribe to it; so can a user (`WorkerConfig.instrumentation`).
 */
import { TypedEmitter, type Listener } from '../core/events.js';
import type { RuntimeEvents } from '../core/pipelineEvents.js';

/**
 * The KCL worker's events and what each carries. Times are ms (performance.now() based durations).
 *
 * @example
 * const onDone = (e: InstrumentationEvents['batchDone']) => console.error(e.records, e.durationMs);
 */
export interface InstrumentationEvents extends RuntimeEvents {
  /** One checkpoint attempt and its answer (`error` null: it took). */
  checkpoint: { shardId: string; sequenceNumber: string; error: string | null; attempt: number };
  /** A garbage-collection pause of this process (observed only while someone subscribes). */
  gcPause: { kind: 'minor' | 'major'; durationMs: number };
  /**
   * A step of the worker's life: `leaseLost`, `shardEnded`, `shutdownRequested`, `shutdown` (the
   * daemon's actions, after the worker answered), and `exit` (the process is about to end; the
   * last chance to write anything out, synchronously).
   */
  lifecycle: { shardId: string; phase: 'initialize' | 'leaseLost' | 'shardEnded' | 'shutdownRequested' | 'shutdown' | 'exit' };
}

/**
 * The name of a KCL worker event.
 *
 * @example
 * const name: InstrumentationEvent = 'checkpoint';
 */
export type InstrumentationEvent = keyof InstrumentationEvents;

/**
 * A listener of event `K`.
 *
 * @example
 * const listener: InstrumentationListener<'retry'> = (e) => console.error(e.what, e.attempt);
 */
export type InstrumentationListener<K extends InstrumentationEvent> = Listener<InstrumentationEvents[K]>;

/**
 * The KCL worker's typed event hub. One per worker; pass your own in the runtime's options to
 * subscribe.
 *
 * @example
 * const instrumentation = new Instrumentation();
 * instrumentation.on('batchDone', (e) => console.error(`${e.records} records in ${e.durationMs} ms`));
 * await runWithBatchProcessor({ decoder, instrumentation }, batchProcessor);
 */
export class Instrumentation extends TypedEmitter<InstrumentationEvents> {}
