/**
 * Renders a KCL daemon properties file from a template: keys given as overrides get the new value
 * in place (comments and order kept), keys the template lacks are appended. The daemon ignores
 * unknown keys silently, so overrides are checked against the keys KCL 2.7.2 reads.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Property keys the MultiLangDaemon of KCL 2.7.2 reads (MultiLangDaemonConfig,
 * MultiLangDaemonConfiguration and its PollingConfigBean/FanoutConfigBean). Case matters, except
 * for the AwsCredentialsProvider* family, which KCL lower-cases before matching.
 * @example
 * KNOWN_KEYS.has('failoverTimeMillis'); // true
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

/** Keys that are read as prefixes of nested bean properties (e.g. `fanoutConfig.consumerName`). */
const KNOWN_PREFIXES = ['fanoutConfig.', 'pollingConfig.'];

/**
 * true when KCL 2.7.2's multilang daemon would use `key`.
 * @example
 * isKnownKey('idleTimeBetweenReadsInMillis'); // true
 * isKnownKey('idleTimeBetweenReadsMillis');   // false: silently ignored by the daemon
 */
export function isKnownKey(key: string): boolean {
  if (key.toLowerCase().startsWith('awscredentialsprovider')) {
    return ['awscredentialsprovider', 'awscredentialsproviderdynamodb', 'awscredentialsprovidercloudwatch'].includes(
      key.toLowerCase(),
    );
  }
  return KNOWN_KEYS.has(key) || KNOWN_PREFIXES.some((prefix) => key.startsWith(prefix));
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
 * Replaces the values of `overrides` in the properties `text`, appending the keys it lacks.
 * Throws a RangeError naming any override key the daemon would ignore.
 * @example
 * renderProperties('streamName = x\n', { streamName: 'y', workerId: 'w1' });
 * // 'streamName = y\nworkerId = w1\n'
 */
export function renderProperties(text: string, overrides: Readonly<Record<string, string | number>>): string {
  for (const key of Object.keys(overrides)) {
    if (!isKnownKey(key)) throw new RangeError(`Unknown KCL property \`${key}\`: the daemon would ignore it.`);
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

/**
 * Renders `templateFile` with `overrides` into `outFile` (folders created) and returns `outFile`.
 * @example
 * writeProperties('properties/lastopens.local.properties', '.local/lastopens.properties', {
 *   kinesisEndpoint: stack.kinesisEndpoint, dynamoDBEndpoint: stack.dynamoEndpoint,
 * });
 */
export function writeProperties(
  templateFile: string,
  outFile: string,
  overrides: Readonly<Record<string, string | number>>,
): string {
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, renderProperties(readFileSync(templateFile, 'utf8'), overrides));
  return outFile;
}
