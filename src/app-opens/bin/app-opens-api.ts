/**
 * bin/app-opens-api: the App Opens HTTP API. `POST /app_opens` validates an event, encodes it
 * with the AppOpen Avro codec and hands it to a BatchProducer that writes it to Kinesis,
 * partitioned by userId. See docs/producer.md.
 *
 * Environment (a .env file in the working directory is read too; the real environment wins):
 *   STREAM_NAME          mandatory  the Kinesis stream to write to
 *   PORT                 optional   default 8080 (0: any free port, logged at start)
 *   HOST                 optional   default 0.0.0.0
 *   AWS_REGION           optional   the SDK's usual resolution when unset (us-east-1 with KINESIS_ENDPOINT)
 *   KINESIS_ENDPOINT     optional   a local stand-in, e.g. http://127.0.0.1:4567
 *   SHUTDOWN_TIMEOUT_MS  optional   how long SIGTERM waits for buffered events to be sent, default 10000
 *   LOG_LEVEL            optional   pino level, default info; logs are JSON lines on stdout
 * Exit codes: 0 stopped with every accepted event sent; 1 stopped with events undelivered (each
 * one logged with its data) or a crash; 78 configuration error (one line on stderr naming the variable).
 */
import { ConfigError, loadEnvFile, mandatoryVar, optionalVar, parseInteger, parseStreamName, parseUrl } from '../../config/env.js';
import { REDACTED_PATHS } from '../../config/logging.js';
import { sdkNodeNotice } from '../../config/nodeSupport.js';
import { redactUrl } from '../../config/redact.js';

const CONFIG_ERROR = 78;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function readConfig() {
  loadEnvFile();
  return {
    streamName: mandatoryVar('STREAM_NAME', parseStreamName),
    port: optionalVar('PORT', 8080, parseInteger({ min: 0, max: 65535 })),
    host: optionalVar('HOST', '0.0.0.0'),
    region: optionalVar<string | undefined>('AWS_REGION', undefined),
    endpoint: optionalVar<string | undefined>('KINESIS_ENDPOINT', undefined, parseUrl(['http:', 'https:'])),
    shutdownTimeoutMs: optionalVar('SHUTDOWN_TIMEOUT_MS', 10_000, parseInteger({ min: 0 })),
    logLevel: optionalVar('LOG_LEVEL', 'info', (v) => {
      if (!LEVELS.includes(v)) throw new Error(`expected one of ${LEVELS.join(', ')}`);
      return v;
    }),
  };
}

let config: ReturnType<typeof readConfig>;
try {
  config = readConfig();
} catch (err) {
  process.stderr.write(`app-opens-api: ${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(CONFIG_ERROR);
}

// Loaded only once the configuration is known to be good: a config error prints one line, and
// nothing else (the AWS SDK's Node-version warning is turned into a log line: see sdkNodeNotice).
const { default: pino } = await import('pino');
const { BatchProducer, createKinesisClient } = await import('../../producer/index.js');
const { buildApp } = await import('../api/app.js');

const logger = pino({
  level: config.logLevel,
  base: { pid: process.pid, app: 'app-opens-api', stream: config.streamName },
  redact: { paths: [...REDACTED_PATHS, 'req.headers.authorization', 'credentials'], censor: '***' },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
});

const nodeNotice = sdkNodeNotice();
if (nodeNotice) logger.warn({ node: process.version }, nodeNotice);
const client = createKinesisClient({ region: config.region, endpoint: config.endpoint });
const producer = new BatchProducer({
  client,
  streamName: config.streamName,
  whenFull: 'reject',
  logger,
  onDropped: (record, error) => {
    // The event itself is logged so that it can be replayed: nothing is lost silently.
    logger.error(
      { userId: record.partitionKey, data: Buffer.from(record.data).toString('base64'), err: { name: error.name, message: error.message } },
      'event not delivered',
    );
  },
  onStats: (stats) => logger.info({ producer: stats }, 'producer stats'),
});
const app = buildApp({ producer, logger });

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal, buffered: producer.buffered, timeoutMs: config.shutdownTimeoutMs }, 'stopping: no new requests; sending buffered events');
  try {
    await app.close();
  } catch (err) {
    logger.error({ err }, 'closing the HTTP server failed');
  }
  const result = await producer.stop(config.shutdownTimeoutMs);
  const totals = producer.stats();
  if (result.remaining > 0) {
    logger.error({ ...result, totalSent: totals.sent, totalDropped: totals.dropped }, 'stopped with events undelivered (logged above as "event not delivered")');
  } else {
    logger.info({ ...result, totalSent: totals.sent, totalDropped: totals.dropped }, 'stopped');
  }
  client.destroy();
  logger.flush();
  process.exit(result.remaining > 0 || totals.dropped > 0 ? 1 : 0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

producer.start();
try {
  const address = await app.listen({ port: config.port, host: config.host });
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : config.port;
  logger.info({ address, port, endpoint: config.endpoint ? redactUrl(config.endpoint) : 'aws', region: config.region }, 'listening');
} catch (err) {
  logger.fatal({ err }, 'cannot listen');
  await producer.stop(0);
  process.exit(1);
}
