/**
 * A Kinesis client set up the way the producer wants it.
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * Where the client connects. Both fields fall back to the AWS SDK's own resolution (AWS_REGION, profiles).
 *
 * @example
 * const options: KinesisClientOptions = { region: 'us-east-1', endpoint: 'http://127.0.0.1:4567' };
 */
export interface KinesisClientOptions {
  region?: string;
  /** A local stand-in such as kinesalite (`http://127.0.0.1:4567`); unset for AWS. */
  endpoint?: string;
  /** Sockets kept per host. Default 50. */
  maxSockets?: number;
}

/**
 * Creates a KinesisClient over HTTP/1.1 keep-alive (local stand-ins speak only HTTP/1.1) with the
 * SDK's own retries turned off: the producer retries whole calls and single records itself, and
 * counts them. Against an endpoint without real credentials in the environment, it signs with
 * dummy ones (stand-ins need a signature, not a valid one).
 *
 * @example
 * const client = createKinesisClient({ region: 'eu-west-1', endpoint: process.env.KINESIS_ENDPOINT });
 */
export function createKinesisClient(options: KinesisClientOptions = {}): KinesisClient {
  const local = options.endpoint !== undefined && options.endpoint !== '';
  const haveCredentials = Boolean(process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE);
  return new KinesisClient({
    region: options.region || process.env.AWS_REGION || (local ? 'us-east-1' : undefined),
    ...(local ? { endpoint: options.endpoint } : {}),
    ...(local && !haveCredentials ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 50 }, httpsAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 50 } }),
  });
}
