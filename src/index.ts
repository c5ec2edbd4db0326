/**
 * kinesis-streams: typed Kinesis stream workers for the KCL MultiLangDaemon and AWS Lambda.
 *
 * This is the framework: it knows no event type. Heavier or test-only parts live in subpath
 * exports: `./testing`, `./redis`, `./producer`, `./lambda`. The app-opens pipeline built on it
 * (the AppOpen model, its tasks, API and entry points) is `./app-opens`, the worked example of a
 * user's own app.
 */
export {
  StreamError,
  RetriableError,
  NonRetriableError,
  DecodeError,
  ValidationError,
  isRetriable,
} from './core/errors.js';
export type { RecordLocation } from './core/errors.js';
export { classifyError } from './core/errors.js';
export type { ErrorClassification } from './core/errors.js';
export { classifyCheckpointError } from './kcl/checkpointErrors.js';
export type { RetryOptions } from './core/retry.js';
export type { KeyOf, SingleProcessorOptions } from './core/pipeline.js';
export type { BatchTimings } from './core/pipelineEvents.js';
export type { PipelineCounters } from './core/collector.js';
export type {
  BatchContext,
  BatchProcessor,
  BatchResult,
  DeadLetter,
  DeadLetterSink,
  DeadLetterWriteResult,
  DecodedRecord,
  Decoder,
  KinesisRecord,
  Logger,
  RecordContext,
  ReportTiming,
  SingleProcessor,
} from './core/types.js';
export { LogDeadLetterSink } from './core/logDeadLetterSink.js';
export type { LogDeadLetterSinkOptions } from './core/logDeadLetterSink.js';
export { Instrumentation } from './kcl/events.js';
export type { InstrumentationEvent, InstrumentationEvents, InstrumentationListener } from './kcl/events.js';
export { emfDocument, checkNamespace, DEFAULT_METRICS_NAMESPACE } from './core/emf.js';
export type { EmfOptions, MetricFigure, MetricFigures, MetricUnit } from './core/emf.js';
export { ExitCode } from './core/exitCodes.js';
export { runWithSingleProcessor, runWithBatchProcessor } from './kcl/worker.js';
export type { WorkerConfig } from './kcl/workerConfig.js';
export { checkHealthDir } from './kcl/healthCheck.js';
export type { HealthCheckOptions, ShardHealth } from './kcl/healthCheck.js';
export type { HealthFile, StuckReport } from './kcl/watchdog.js';
export { createWorkerLogger, parseLogLevel } from './config/logging.js';
export type { LogDrops, LogOptions, WorkerLogger } from './config/logging.js';
export { ConfigError, loadEnvFile, mandatoryVar, importantVar, optionalVar, parseUrl, parseInteger, parseStreamName } from './config/env.js';
export { redactUrl } from './config/redact.js';
export type { AvroSchema } from './avro/schemaFingerprint.js';
export { fingerprintOf, formatFingerprint } from './avro/schemaFingerprint.js';
