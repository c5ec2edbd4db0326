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
  ProtocolError,
  RetriesExhaustedError,
  AbortedError,
  isRetriable,
  errorMessage,
} from './core/errors.js';
export type { RecordLocation } from './core/errors.js';
export {
  classifyError,
  registerErrorDomain,
  registerErrorRules,
  errorDomains,
  tableRule,
  verdicts,
  fieldOf,
  stringFieldOf,
  GENERIC_ERRORS,
  RETRIABLE,
  NON_RETRIABLE,
} from './core/errors.js';
export type { ErrorClassification, ErrorDomain, ErrorRule, ErrorVerdict, RuleVerdict } from './core/errors.js';
export { CHECKPOINT_ERRORS, checkpointAttemptsFor, classifyCheckpointError } from './kcl/checkpointErrors.js';
export { DEFAULT_RETRY, backoffDelay, withRetry } from './core/retry.js';
export type { RetryHooks, RetryOptions } from './core/retry.js';
export { RecordPipeline, DEFAULT_CONCURRENCY } from './core/pipeline.js';
export { newCounters } from './core/collector.js';
export type { KeyOf, PipelineBatch, PipelineOptions, PipelineOutcome, ProcessorSpec, SingleProcessorOptions } from './core/pipeline.js';
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
  RecordProcessor,
  ReportTiming,
  SingleProcessor,
} from './core/types.js';
export { LogDeadLetterSink } from './core/logDeadLetterSink.js';
export type { LogDeadLetterSinkOptions } from './core/logDeadLetterSink.js';
export { capDeadLetterData, DEFAULT_DEAD_LETTER_MAX_DATA_BYTES } from './core/deadLetterData.js';
export type { DeadLetterData } from './core/deadLetterData.js';
export { Instrumentation } from './kcl/events.js';
export type { InstrumentationEvent, InstrumentationEvents, InstrumentationListener } from './kcl/events.js';
export { percentile } from './core/collector.js';
export { emfDocument, checkNamespace, DEFAULT_METRICS_NAMESPACE } from './core/emf.js';
export type { EmfOptions, MetricFigure, MetricFigures, MetricUnit } from './core/emf.js';
export { ExitCode } from './core/exitCodes.js';
export { runWithSingleProcessor, runWithBatchProcessor } from './kcl/worker.js';
export type { WorkerConfig } from './kcl/workerConfig.js';
export { DEFAULT_WORKER_OPTIONS } from './kcl/workerConfig.js';
export { WorkerMetrics, openMetricsDestination } from './kcl/metrics.js';
export type { WorkerMetricsOptions } from './kcl/metrics.js';
export { checkHealthDir, runHealthCommand } from './kcl/healthCheck.js';
export type { HealthCheckOptions, ShardHealth } from './kcl/healthCheck.js';
export type { HealthFile, StuckReport } from './kcl/watchdog.js';
export { parseDaemonLine } from './kcl/messages.js';
export type { CheckpointReply, CheckpointRequest, DaemonMessage, StatusMessage } from './kcl/messages.js';
export { createWorkerLogger, LOG_LEVELS, parseLogLevel } from './config/logging.js';
export type { LogDrops, LogOptions, WorkerLogger } from './config/logging.js';
export { ConfigError, loadEnvFile, mandatoryVar, importantVar, optionalVar, parseUrl, parseInteger, parseStreamName } from './config/env.js';
export { redactUrl } from './config/redact.js';
export type { AvroSchema } from './avro/schemaFingerprint.js';
export { canonicalFormOf, fingerprintOf, formatFingerprint } from './avro/schemaFingerprint.js';
export { crc64Avro } from './avro/crc64Avro.js';
