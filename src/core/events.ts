/**
 * A small typed event emitter: the one observability channel of the framework. The pipeline
 * declares its events (pipelineEvents.ts), each runtime declares its own on top (the KCL worker's
 * in kcl/events.ts), and everything that reports (the stats line, the metrics, a user's listener)
 * subscribes, as kafkajs's consumer and producer each declare their instrumentation events.
 *
 * Listeners run synchronously, in subscription order, inside the emitting code: keep them short.
 * A listener that throws never breaks the emitter; the error goes to the listener error handler.
 * Emitting with no subscriber costs one lookup.
 */

/**
 * A listener of events whose payload is `P`.
 */
export type Listener<P> = (payload: P) => void;

/**
 * A typed event hub: `Events` maps each event name to its payload type.
 */
export class TypedEmitter<Events extends object> {
  /** Listener lists, replaced (never changed in place) on subscribe and unsubscribe. */
  private readonly listeners = new Map<keyof Events, ReadonlyArray<Listener<never>>>();

  /** @param onListenerError told when a listener throws (default: ignored). */
  constructor(private onListenerError: (error: unknown, event: keyof Events & string) => void = () => undefined) {}

  /**
   * Where listener errors go from now on (a runtime sets its logger once it has one).
   */
  setListenerErrorHandler(handler: (error: unknown, event: keyof Events & string) => void): void {
    this.onListenerError = handler;
  }

  /**
   * Subscribes `listener` to `event`; returns a function that unsubscribes it.
   */
  on<K extends keyof Events & string>(event: K, listener: Listener<Events[K]>): () => void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener as Listener<never>]);
    return () => {
      const list = this.listeners.get(event) ?? [];
      const i = list.indexOf(listener as Listener<never>);
      if (i >= 0) this.listeners.set(event, [...list.slice(0, i), ...list.slice(i + 1)]);
    };
  }

  /**
   * Whether anyone listens to `event` (lets an emitter skip measuring what nobody reads).
   */
  has(event: keyof Events & string): boolean {
    return (this.listeners.get(event)?.length ?? 0) > 0;
  }

  /**
   * Tells every listener of `event`. Never throws.
   */
  emit<K extends keyof Events & string>(event: K, payload: Events[K]): void {
    const list = this.listeners.get(event) as ReadonlyArray<Listener<Events[K]>> | undefined;
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      try {
        list[i]!(payload);
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
