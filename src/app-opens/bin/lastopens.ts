/**
 * bin/lastopens: the worker the KCL MultiLangDaemon launches per shard. It records, per user and
 * platform, the last time the app was opened: HSET user:<id>:checkpoint <platform>_app_open <ts>,
 * monotonic, in Redis. Poison records go to the Redis stream deadletter:<STREAM_NAME>.
 *
 * Wired in ../lastopens/app.ts (runLastOpensKcl); its environment is LASTOPENS_ENVIRONMENT.kcl
 * there, shown in the README ("The lastopens worker"). Exit codes: 0 end of input or SIGTERM;
 * 1 crash; 2 protocol error; 3 retries exhausted; 4 stuck batch (KCL_STUCK_BATCH_EXIT_MS); 78
 * configuration error or a LOG_PATH that cannot be opened (one line on stderr, nothing on stdout).
 */
import { runLastOpensKcl } from '../lastopens/app.js';

await runLastOpensKcl();
