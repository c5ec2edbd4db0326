// Instruction count of POST /app_opens through Fastify's inject (no sockets, a producer that only
// resolves), for a noise-free comparison with the base version on a loaded machine:
//   valgrind --tool=callgrind --smc-check=all-non-file node --single-threaded bench/apiInstructions.mjs <dist-dir> <N>
// Run it with two values of N for each dist (this tree's `dist`, and the base's, as built by
// bench/api.ts in $TMPDIR/kinesis-streams-api-base-<sha>/dist): the difference of the totals over
// the difference of N is the instructions per request, start-up excluded.
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import process from 'node:process';

const [distDir, nStr] = process.argv.slice(2);
const N = Number(nStr);
const KEY = 'bench-service-key-0123456789abcdef';
const producer = { add: () => Promise.resolve(), buffered: 0 };
// The API moved to app-opens/api/ with the framework/app split; the base version has it in api/.
const apiDir = existsSync(resolve(distDir, 'app-opens/api/app.js')) ? 'app-opens/api' : 'api';
const dist = (p) => pathToFileURL(resolve(distDir, p.replace(/^api\//, `${apiDir}/`))).href;
const { buildApp } = await import(dist('api/app.js'));
let app;
try {
  const { createAuthenticator } = await import(dist('api/auth.js'));
  app = await buildApp({ producer, authenticator: createAuthenticator({ apiKeys: [KEY] }), rateLimit: { perKeyPerMinute: 1e9 } });
} catch (err) {
  if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  app = buildApp({ producer }); // the base version: no authentication, no rate limit
}
await app.ready();
const payload = JSON.stringify({ userId: '4242', platform: 'ios', timestamp: 1764000000, appVersion: '7.1.0' });
for (let i = 0; i < N; i++) {
  const res = await app.inject({ method: 'POST', url: '/app_opens', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, payload });
  if (res.statusCode !== 202) throw new Error(`${res.statusCode} ${res.body}`);
}
await app.close();
