/**
 * The MultiLangDaemon's properties file: the keys KCL reads, a renderer that keeps comments and
 * order, and the check the launcher runs before java starts. The daemon ignores unknown keys
 * silently (a typo is a setting that never applies) and starts without a stream only to fail
 * later, so the launcher refuses both up front, in one line.
 */
import { readFileSync } from 'node:fs';

/**
 * Property keys the MultiLangDaemon of KCL 2.7.2 reads (MultiLangDaemonConfig,
 * MultiLangDaemonConfiguration and its PollingConfigBean/FanoutConfigBean). Case matters, except
 * for the AwsCredentialsProvider* family, which KCL lower-cases before matching.
 */
export const KNOWN_KEYS: ReadonlySet<string> = new Set([
  // MultiLangDaemonConfig
  'executableName', 'processingLanguage', 'maxActiveThreads',
  // MultiLangDaemonConfiguration
  'applicationName', 'streamName', 'streamArn', 'tableName', 'workerId',
  'failoverTimeMillis', 'enablePriorityLeaseAssignment', 'leaseTableDeletionProtectionEnabled',
  'leaseTablePitrEnabled', 'shardSyncIntervalMillis', 'cleanupLeasesUponShardCompletion',
  'ignoreUnexpectedChildShards', 'maxLeasesForWorker', 'maxLeasesToStealAtOneTime',
  'initialLeaseTableReadCapacity', 'initialLeaseTableWriteCapacity', 'initialPositionInStream',
  'initialPositionInStreamExtended', 'maxLeaseRenewalThreads', 'listShardsBackoffTimeInMillis',
  'maxListShardsRetryAttempts', 'callProcessRecordsEvenForEmptyRecordList',
  'parentShardPollIntervalMillis', 'shardPrioritization', 'skipShardSyncAtWorkerInitializationIfLeasesExist',
  'schedulerInitializationBackoffTimeMillis', 'taskBackoffTimeMillis', 'metricsBufferTimeMillis',
  'metricsMaxQueueSize', 'metricsLevel', 'logWarningForTaskAfterMillis', 'metricsEnabledDimensions',
  'retrievalMode', 'validateSequenceNumberBeforeCheckpointing', 'shutdownGraceMillis',
  'timeoutInSeconds', 'AwsCredentialsProvider', 'AwsCredentialsProviderDynamoDB',
  'AwsCredentialsProviderCloudWatch', 'regionName', 'kinesisEndpoint', 'dynamoDBEndpoint',
  // PollingConfigBean (delegated)
  'retryGetRecordsInSeconds', 'maxGetRecordsThreadPool', 'idleTimeBetweenReadsInMillis', 'maxRecords',
]);

/**
 * Keys KCL 3.1.3's MultiLangDaemonConfiguration reads on top of KCL 2.7.2's (its bean setters:
 * lease assignment, worker metrics, coordinator state, graceful lease handoff).
 */
export const KCL3_KEYS: ReadonlySet<string> = new Set([
  'allowThroughputOvershoot', 'clientVersionConfig', 'coordinatorStateBillingMode',
  'coordinatorStateDeletionProtectionEnabled', 'coordinatorStatePointInTimeRecoveryEnabled',
  'coordinatorStateReadCapacity', 'coordinatorStateTableName', 'coordinatorStateTags',
  'coordinatorStateWriteCapacity', 'dampeningPercentage', 'disableWorkerMetrics',
  'gracefulLeaseHandoffTimeoutMillis', 'inMemoryWorkerMetricsCaptureFrequencyMillis',
  'isGracefulLeaseHandoffEnabled', 'leaseAssignmentIntervalMillis', 'maxThroughputPerHostKBps',
  'millisBehindLatestThresholdForReducedTps', 'noOfPersistedMetricsPerWorkerMetrics',
  'reBalanceThresholdPercentage', 'staleWorkerMetricsEntryCleanupDuration', 'varianceBalancingFrequency',
  'workerIdentifier', 'workerMetricsBillingMode', 'workerMetricsDeletionProtectionEnabled',
  'workerMetricsEMAAlpha', 'workerMetricsPointInTimeRecoveryEnabled', 'workerMetricsReadCapacity',
  'workerMetricsReporterFreqInMillis', 'workerMetricsTableName', 'workerMetricsTags', 'workerMetricsWriteCapacity',
]);

/** Keys that are read as prefixes of nested bean properties (e.g. `fanoutConfig.consumerName`). */
const KNOWN_PREFIXES = ['fanoutConfig.', 'pollingConfig.'];

/**
 * true when the multilang daemon of KCL `major` (default 2, i.e. 2.7.2) would use `key`.
 * @example
 * isKnownKey('idleTimeBetweenReadsInMillis'); // true
 * isKnownKey('idleTimeBetweenReadsMillis');   // false: silently ignored by the daemon
 */
export function isKnownKey(key: string, major: '2' | '3' = '2'): boolean {
  if (key.toLowerCase().startsWith('awscredentialsprovider')) {
    return ['awscredentialsprovider', 'awscredentialsproviderdynamodb', 'awscredentialsprovidercloudwatch'].includes(key.toLowerCase());
  }
  return KNOWN_KEYS.has(key) || (major === '3' && KCL3_KEYS.has(key)) || KNOWN_PREFIXES.some((prefix) => key.startsWith(prefix));
}

const LINE = /^(\s*)([^#!\s=:][^\s=:]*)(\s*[=:]\s*|\s+)(.*)$/;

/**
 * The keys of a properties text, in order (comments and blank lines skipped).
 * @example
 * propertyKeys('a = 1\n# b = 2\nc: 3'); // ['a', 'c']
 */
export function propertyKeys(text: string): string[] {
  return text.split('\n').flatMap((line) => {
    const match = LINE.exec(line);
    return match?.[2] !== undefined ? [match[2]] : [];
  });
}

/**
 * The key/value pairs of a properties text (the last of a repeated key wins, as in Java; values
 * trimmed; line continuations are not used by the daemon's files and not supported).
 * @example
 * parseProperties('streamName = a\n# x = 1\nstreamName: b'); // Map { 'streamName' => 'b' }
 */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = LINE.exec(line);
    if (match?.[2] !== undefined) out.set(match[2], (match[4] ?? '').trim());
  }
  return out;
}

/**
 * Replaces the values of `overrides` in the properties `text`, appending the keys it lacks.
 * Throws a RangeError naming any override key the daemon would ignore.
 * @example
 * renderProperties('streamName = x\n', { streamName: 'y', workerId: 'w1' });
 * // 'streamName = y\nworkerId = w1\n'
 */
export function renderProperties(text: string, overrides: Readonly<Record<string, string | number>>, major: '2' | '3' = '2'): string {
  for (const key of Object.keys(overrides)) {
    if (!isKnownKey(key, major)) throw new RangeError(`Unknown KCL property \`${key}\`: the daemon would ignore it.`);
  }
  const pending = new Map(Object.entries(overrides).map(([k, v]) => [k, String(v).replace(/\\/g, '\\\\')]));
  const lines = text.split('\n').map((line) => {
    const match = LINE.exec(line);
    const key = match?.[2];
    if (match === null || key === undefined || !pending.has(key)) return line;
    const value = pending.get(key) as string;
    pending.delete(key);
    return `${match[1] ?? ''}${key}${match[3] ?? ' = '}${value}`;
  });
  let out = lines.join('\n');
  if (pending.size > 0) {
    if (out.length > 0 && !out.endsWith('\n')) out += '\n';
    for (const [key, value] of pending) out += `${key} = ${value}\n`;
  }
  return out;
}

/** Keys whose value must be a non-negative whole number. */
const NUMERIC = /(Millis|InMillis|Seconds|InSeconds|Capacity|Threads|Attempts|QueueSize)$|^(maxRecords|maxLeasesForWorker|maxLeasesToStealAtOneTime|maxActiveThreads|maxGetRecordsThreadPool)$/;

/**
 * What is wrong with a properties text for the daemon of KCL `major`, one sentence each ([]: none):
 * keys it would silently ignore, a missing executableName, stream (streamName or streamArn) or
 * applicationName, a non-numeric value where KCL parses a number, and a shutdownGraceMillis not
 * above failoverTimeMillis (the graceful shutdown would be cut short).
 * @example
 * checkProperties('executableName = bin/w\nstreamName = s\napplicationName = a\nidleTimeBetweenReadsMillis = 5\n');
 * // ['unknown key `idleTimeBetweenReadsMillis` (the daemon would ignore it)']
 */
export function checkProperties(text: string, major: '2' | '3' = '2'): string[] {
  const values = parseProperties(text);
  const problems: string[] = [];
  for (const key of values.keys()) {
    if (!isKnownKey(key, major)) problems.push(`unknown key \`${key}\` (the daemon would ignore it)`);
  }
  for (const [key, value] of values) {
    if (NUMERIC.test(key) && isKnownKey(key, major) && !/^\d+$/.test(value)) problems.push(`\`${key}\` must be a whole number, got "${value}"`);
  }
  if (!values.get('executableName')) problems.push('`executableName` is not set (the worker to start)');
  if (!values.get('streamName') && !values.get('streamArn')) problems.push('neither `streamName` nor `streamArn` is set');
  if (!values.get('applicationName')) problems.push('`applicationName` is not set (it names the lease table)');
  const grace = Number(values.get('shutdownGraceMillis') ?? 0);
  const failover = Number(values.get('failoverTimeMillis') ?? 10_000);
  if (grace > 0 && Number.isFinite(failover) && grace <= failover) {
    problems.push(`\`shutdownGraceMillis\` (${grace}) must exceed \`failoverTimeMillis\` (${failover}), or a SIGTERM's graceful shutdown is cut short`);
  }
  return problems;
}

/**
 * Reads and checks a properties file: its values, or an Error whose message is one line naming
 * the file and every problem.
 * @example
 * const values = readCheckedProperties('app.properties', '2'); // throws on a typo'd key
 */
export function readCheckedProperties(file: string, major: '2' | '3' = '2'): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${file}: cannot read the properties file (${code ?? String(error)})`, { cause: error });
  }
  const problems = checkProperties(text, major);
  if (problems.length > 0) throw new Error(`${file}: ${problems.join('; ')}`);
  return parseProperties(text);
}
