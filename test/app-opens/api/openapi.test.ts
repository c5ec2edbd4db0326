/**
 * The OpenAPI document at GET /openapi.json: valid OpenAPI 3.1 (checked by
 * @apidevtools/swagger-parser), with the auth schemes, error bodies and examples; and every status
 * it documents for a route is one the route really answers, with a body its schema admits. A
 * documented status without a scenario here, or a scenario the document does not list, fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { SignJWT, generateKeyPair } from 'jose';
import { buildApp } from '../../../src/app-opens/api/app.js';
import { createAuthenticator } from '../../../src/app-opens/api/auth.js';
import { BatchProducer } from '../../../src/producer/index.js';
import { startKinesalite, type Kinesalite } from '../../helpers/kinesalite.js';

const SECRET = 'openapi-test-secret-of-32-bytes-or-more';
const KEY = 'openapi-test-service-key';
const NOW = Math.floor(Date.now() / 1000);

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown[]; requestBody?: { content: Record<string, { schema: unknown; example?: unknown; examples?: unknown }> }; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
};

describe('GET /openapi.json', () => {
  let k: Kinesalite;
  let producer: BatchProducer;
  let main: FastifyInstance;
  let noJwks: FastifyInstance;
  let url: string;
  let noJwksUrl: string;
  let doc: Doc;

  before(async () => {
    k = await startKinesalite({ shards: 1 });
    producer = new BatchProducer({ client: k.client, streamName: k.streamName, whenFull: 'reject', flushIntervalMs: 20 });
    producer.start();
    main = await buildApp({ producer, authenticator: createAuthenticator({ jwtSecret: SECRET, apiKeys: [KEY] }), rateLimit: { perMinute: 3 } });
    await main.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(main.server.address() as AddressInfo).port}`;
    // A JWKS URL where nothing listens: the only way to a whole-request 503 without stopping.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    noJwks = await buildApp({ producer, authenticator: createAuthenticator({ jwksUrl: `http://127.0.0.1:${deadPort}/jwks.json` }) });
    await noJwks.listen({ port: 0, host: '127.0.0.1' });
    noJwksUrl = `http://127.0.0.1:${(noJwks.server.address() as AddressInfo).port}`;
    const res = await fetch(`${url}/openapi.json`);
    assert.equal(res.status, 200);
    doc = (await res.json()) as Doc;
  });
  after(async () => {
    await main.close();
    await noJwks.close();
    await producer.stop(2_000);
    await k.close();
  });

  test('is a valid OpenAPI 3.1 document with the auth schemes, error bodies and examples', async () => {
    await SwaggerParser.validate(structuredClone(doc) as never);
    // The validator does check: a response without its required description is refused.
    const broken = structuredClone(doc);
    delete (broken.paths['/healthz']!.get!.responses['200'] as { description?: string }).description;
    await assert.rejects(SwaggerParser.validate(broken as never));
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiKey', 'bearerAuth']);
    assert.deepEqual(doc.components.securitySchemes.apiKey, { type: 'apiKey', in: 'header', name: 'x-api-key', description: "A backend service's key; it may post for any user." });
    assert.ok(doc.components.schemas.Error, 'the error body is a shared schema');
    for (const path of ['/app_opens', '/app_opens/batch']) {
      const op = doc.paths[path]!.post!;
      assert.deepEqual(op.security, [{ bearerAuth: [] }, { apiKey: [] }]);
      const media = op.requestBody!.content['application/json']!;
      assert.ok(media.example !== undefined || media.examples !== undefined, `${path}: a request example`);
      assert.deepEqual(op.responses['401']!.content!['application/json']!.schema, { $ref: '#/components/schemas/Error' });
    }
    assert.equal(doc.paths['/openapi.json'], undefined, 'the document does not list itself');
  });

  test('every documented status is what the route answers, with a body its schema admits', async () => {
    const api = (await SwaggerParser.dereference(structuredClone(doc) as never)) as unknown as Doc;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const token = async (sub: string): Promise<string> => `Bearer ${await new SignJWT({ sub, exp: NOW + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET))}`;
    const es = await generateKeyPair('ES256');
    const jwksToken = `Bearer ${await new SignJWT({ sub: '1', exp: NOW + 600 }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).sign(es.privateKey)}`;
    const json = { 'content-type': 'application/json' };
    const withKey = { ...json, 'x-api-key': KEY };
    type Scenario = { base?: string; method?: string; headers?: Record<string, string>; body?: string; repeat?: number };
    const good = JSON.stringify({ userId: '11', platform: 'ios', timestamp: NOW - 5 });
    const scenarios: Record<string, Record<string, () => Promise<Scenario>>> = {
      'POST /app_opens': {
        202: async () => ({ headers: withKey, body: good }),
        400: async () => ({ headers: withKey, body: JSON.stringify({ userId: '11', platform: 'iOS' }) }),
        401: async () => ({ headers: json, body: good }),
        403: async () => ({ headers: { ...json, authorization: await token('12') }, body: good }),
        413: async () => ({ headers: withKey, body: JSON.stringify({ userId: '11', platform: 'ios', deviceId: 'x'.repeat(20_000) }) }),
        415: async () => ({ headers: { 'content-type': 'text/plain', 'x-api-key': KEY }, body: 'userId=11' }),
        429: async () => ({ headers: { ...json, authorization: await token('13') }, body: JSON.stringify({ platform: 'ios' }), repeat: 4 }),
        503: async () => ({ base: noJwksUrl, headers: { ...json, authorization: jwksToken }, body: JSON.stringify({ platform: 'ios' }) }),
      },
      'POST /app_opens/batch': {
        202: async () => ({ headers: withKey, body: JSON.stringify({ events: [{ userId: '14', platform: 'ios' }] }) }),
        207: async () => ({ headers: withKey, body: JSON.stringify({ events: [{ userId: '14', platform: 'web' }, { userId: '14', platform: 'Web' }] }) }),
        400: async () => ({ headers: withKey, body: JSON.stringify({ events: [] }) }),
        401: async () => ({ headers: { ...withKey, 'x-api-key': 'not-the-key-0123456789' }, body: JSON.stringify({ events: [{ userId: '14', platform: 'ios' }] }) }),
        413: async () => ({ headers: withKey, body: JSON.stringify({ events: [{ userId: '14', platform: 'ios', deviceId: 'x'.repeat(1_100_000) }] }) }),
        415: async () => ({ headers: { 'content-type': 'text/plain', 'x-api-key': KEY }, body: 'events' }),
        429: async () => ({ headers: { ...json, authorization: await token('15') }, body: JSON.stringify({ events: [{ platform: 'ios' }] }), repeat: 4 }),
        503: async () => ({ base: noJwksUrl, headers: { ...json, authorization: jwksToken }, body: JSON.stringify({ events: [{ platform: 'ios' }] }) }),
      },
      'GET /healthz': {
        200: async () => ({}),
      },
    };
    const documented: string[] = [];
    for (const [path, ops] of Object.entries(api.paths)) for (const [method, op] of Object.entries(ops)) for (const status of Object.keys(op.responses)) documented.push(`${method.toUpperCase()} ${path} ${status}`);
    const tried = Object.entries(scenarios).flatMap(([route, byStatus]) => Object.keys(byStatus).map((s) => `${route} ${s}`));
    assert.deepEqual(documented.sort(), tried.sort(), 'the scenarios here are exactly the documented statuses');

    for (const [route, byStatus] of Object.entries(scenarios)) {
      const [method, path] = route.split(' ') as [string, string];
      for (const [status, make] of Object.entries(byStatus)) {
        const s = await make();
        let res: Response | undefined;
        for (let i = 0; i < (s.repeat ?? 1); i++) {
          res = await fetch(`${s.base ?? url}${path}`, { method, headers: s.headers ?? {}, ...(s.body !== undefined ? { body: s.body } : {}) });
          if (i < (s.repeat ?? 1) - 1) await res.arrayBuffer();
        }
        const text = await res!.text();
        assert.equal(String(res!.status), status, `${route}: expected the documented ${status}, got ${res!.status} ${text.slice(0, 200)}`);
        const schema = api.paths[path]![method.toLowerCase()]!.responses[status]!.content?.['application/json']?.schema;
        assert.ok(schema, `${route} ${status}: a documented body schema`);
        const check = ajv.compile(schema as object);
        assert.ok(check(JSON.parse(text)), `${route} ${status}: body ${text.slice(0, 200)} breaks the documented schema: ${ajv.errorsText(check.errors)}`);
        if (status === '401') assert.ok(res!.headers.get('www-authenticate'), `${route} 401: WWW-Authenticate`);
        if (status === '429' || status === '503') assert.ok(Number(res!.headers.get('retry-after')) > 0, `${route} ${status}: Retry-After`);
      }
    }
  });
});
