/**
 * The local stack on the command line:
 *
 *   node --import tsx scripts/local-stack.ts start   # kinesis-local, dynalite, redis in the background
 *   node --import tsx scripts/local-stack.ts env     # export lines for a shell: eval "$(... env)"
 *   node --import tsx scripts/local-stack.ts stop    # stop what start started
 *
 * Ports: LOCAL_KINESIS_PORT, LOCAL_KINESIS_TLS_PORT, LOCAL_DYNAMODB_PORT, LOCAL_REDIS_PORT (default:
 * free ones); REDIS_URL uses that Redis instead of starting one; INITIALIZE_STREAMS creates streams
 * at start (`name:shards,...`); LOCAL_STACK_DIR the state folder (default .local).
 * `start` also writes <dir>/lastopens.local.properties, the daemon's properties for this stack.
 */
import { join } from 'node:path';
import { writeProperties } from './properties.js';
import { ROOT, readStackState, stackEnv, stackOptionsFromEnv, startStack, stopStack, isAlive } from './stack.js';

const usage = 'usage: node --import tsx scripts/local-stack.ts start|stop|env';

async function main(command: string | undefined): Promise<number> {
  const options = stackOptionsFromEnv();
  const dir = options.dir ?? '.local';
  const current = readStackState(dir);
  switch (command) {
    case 'start': {
      if (current && isAlive(current.pids.kinesis)) {
        process.stderr.write(`local-stack: already running (${join(current.dir, 'stack.json')}); stop it first\n`);
        return 1;
      }
      const t0 = Date.now();
      const stack = await startStack({ ...options, detached: true });
      const properties = writeProperties(
        join(ROOT, 'properties', 'lastopens.local.properties'),
        join(stack.dir, 'lastopens.local.properties'),
        { kinesisEndpoint: stack.kinesisEndpoint, dynamoDBEndpoint: stack.dynamoEndpoint },
      );
      process.stdout.write(
        [
          `local stack up in ${Date.now() - t0} ms (state: ${join(stack.dir, 'stack.json')}, logs: ${join(stack.dir, 'logs')})`,
          `  kinesis   ${stack.kinesisEndpoint}  (TLS ${stack.kinesisTlsPort})`,
          `  dynamodb  ${stack.dynamoEndpoint}`,
          `  redis     ${stack.redisUrl.replace(/\/\/[^@]*@/, '//***@')}${stack.pids.redis ? '' : ' (existing)'}`,
          `  daemon properties: ${properties}`,
          `next: eval "$(node --import tsx scripts/local-stack.ts env)" && scripts/kcl-daemon.sh ${properties}`,
          '',
        ].join('\n'),
      );
      return 0;
    }
    case 'stop': {
      if (!current) {
        process.stderr.write(`local-stack: nothing recorded in ${dir}/stack.json\n`);
        return 0;
      }
      await stopStack(current);
      process.stdout.write('local stack stopped\n');
      return 0;
    }
    case 'env': {
      if (!current) {
        process.stderr.write(`local-stack: not running (no ${dir}/stack.json); run start first\n`);
        return 1;
      }
      const lines = Object.entries(stackEnv(current)).map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`);
      process.stdout.write(lines.join('\n') + '\n');
      return 0;
    }
    default:
      process.stderr.write(usage + '\n');
      return 2;
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`local-stack: ${error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof Error && error.cause) process.stderr.write(`  cause: ${String(error.cause)}\n`);
    process.exit(1);
  },
);
