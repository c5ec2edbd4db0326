/**
 * The lastopens Lambda function: the work of bin/lastopens, driven by a Kinesis event source
 * mapping instead of the KCL daemon. Wired in ../lastopens/app.ts (createLastOpensLambda), from
 * the same parts and Redis settings as bin/lastopens; its environment is
 * LASTOPENS_ENVIRONMENT.lambda there, shown in docs/lambda.md. A missing or malformed variable
 * fails every invocation with a ConfigError naming it.
 *
 * Built by `npm run build` (tsc, and the Lua script copied beside its module) to
 * dist/app-opens/lambda/lastopens.js (ESM); deploy it with the package.json (its
 * `"type": "module"` is what makes Lambda load the .js file as ESM) and node_modules, handler
 * `dist/app-opens/lambda/lastopens.handler`. See docs/lambda.md.
 *
 * The Redis client is created on the first invocation of a container and reused by the next ones.
 */
import { LASTOPENS_CONNECTION_NAME, createLastOpensLambda, type LastOpensLambda } from '../lastopens/app.js';
import type { KinesisHandler } from '../../lambda/handler.js';

export { LASTOPENS_CONNECTION_NAME };

/** What this container set up on its first invocation; kept for the next ones. */
let container: LastOpensLambda | undefined;

/**
 * The Lambda entry point (`dist/app-opens/lambda/lastopens.handler`). Reads the configuration and connects
 * to Redis on the first invocation of a container; answers with a partial batch response.
 */
export const handler: KinesisHandler = (event, context) => {
  try {
    container ??= createLastOpensLambda();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  return container.handler(event, context);
};

/**
 * Closes this container's Redis client and forgets the set-up, so the next invocation starts
 * afresh. Lambda never needs it (a frozen container's connection is reused, a dead one is
 * reconnected); local runs and tests call it to let the process exit.
 */
export async function closeLastOpens(): Promise<void> {
  const c = container;
  container = undefined;
  if (c) await c.close();
}
