/**
 * The KCL worker's collector: the core collector of the pipeline's figures, plus the worker's
 * checkpoints (counts `Checkpoints` and `CheckpointFailures`, and the last sequence number
 * checkpointed). The stats line and the metrics are two readers of one of these.
 */
import { Collector, type CollectorOptions } from '../core/collector.js';
import type { Instrumentation } from './events.js';

/**
 * Collects a worker's figures from its instrumentation hook.
 */
export class WorkerCollector extends Collector {
  /** The last sequence number the daemon confirmed a checkpoint at (null until one). */
  lastCheckpoint: string | null = null;

  constructor(
    /** The hook it listens to; the readers listen there for lifecycle steps too. */
    readonly events: Instrumentation,
    options: Omit<CollectorOptions, 'counts'> = {},
  ) {
    super(events, { ...options, counts: ['Checkpoints', 'CheckpointFailures'] });
    events.on('checkpoint', (e) => {
      if (e.error !== null) return this.count('CheckpointFailures');
      this.lastCheckpoint = e.sequenceNumber;
      this.count('Checkpoints');
    });
  }
}
