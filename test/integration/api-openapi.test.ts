// The OpenAPI document the API serves at /openapi.json: a valid OpenAPI 3 document (checked by
// @apidevtools/swagger-parser, schemas included) that lists every route with its request and
// response schemas.

import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createApiServer } from '../../api/server.js';
import { ApiClient, type Json, ScenarioEngine } from '../../api/testing.js';
import { jdScenario } from '../../fixtures/scenario.js';

let engine: ScenarioEngine;
let server: ApiServer;
let doc: Json;

beforeAll(async () => {
  engine = new ScenarioEngine({
    scenario: jdScenario(5, {
      fleet: {
        idcs: 1,
        racksPerIdc: 2,
        hostsPerRack: 4,
        containersPerHost: 3,
        extraApps: [{ family: 'pay', replicas: 4 }],
      },
      appReplicas: 4,
    }),
  });
  await engine.start();
  await engine.feed(engine.faultStart + 3 * 60_000);
  server = await createApiServer(engine.backend, { port: 0, externalUrl: 'https://converge.example.com/' });
  const r = await new ApiClient(await server.listen()).get('/openapi.json');
  expect(r.status).toBe(200);
  doc = r.body;
}, 60_000);

afterAll(async () => {
  await server?.close();
  await engine?.shutdown();
});

const ROUTES = [
  'GET /api/v1/incidents',
  'GET /api/v1/incidents/{id}',
  'POST /api/v1/incidents/{id}/ack',
  'POST /api/v1/incidents/{id}/resolve',
  'POST /api/v1/incidents/{id}/feedback',
  'GET /api/v1/feedback',
  'GET /api/v1/entities/{level}/{id}',
  'GET /api/v1/topology',
  'GET /api/v1/health',
  'GET /api/v1/alerts',
  'POST /api/v1/alerts',
  'GET /api/v1/silences',
  'POST /api/v1/silences',
  'DELETE /api/v1/silences/{id}',
  'GET /api/v1/notifications/dead',
  'POST /api/v1/notifications/dead/{id}/retry',
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
];

describe('OpenAPI document', () => {
  it('validates as OpenAPI 3 (structure and every schema)', async () => {
    const api = await SwaggerParser.validate(structuredClone(doc));
    expect((api as Json).openapi).toBe('3.0.3');
    expect(doc.servers).toEqual([{ url: 'https://converge.example.com' }]);
  });

  it('lists every route, each with a success schema and the error schema', () => {
    const listed: string[] = [];
    for (const [path, ops] of Object.entries<Json>(doc.paths)) {
      for (const [method, op] of Object.entries<Json>(ops)) {
        listed.push(`${method.toUpperCase()} ${path}`);
        const codes = Object.keys(op.responses);
        expect(
          codes.some((c) => /^2\d\d$/.test(c)),
          `${method} ${path}`,
        ).toBe(true);
        expect(codes, `${method} ${path}`).toContain('4XX');
        const error = op.responses['4XX'].content['application/json'].schema;
        expect(error.required).toEqual(['statusCode', 'error', 'message', 'field']);
        for (const c of codes.filter((x) => /^2/.test(x))) {
          const content = op.responses[c].content;
          expect(Object.values<Json>(content)[0].schema, `${method} ${path} ${c}`).toBeDefined();
        }
      }
    }
    expect(listed.sort()).toEqual([...ROUTES].sort());
  });

  it('documents request bodies, parameters and bearer security', () => {
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    const feedback = doc.paths['/api/v1/incidents/{id}/feedback'].post;
    expect(feedback.requestBody.content['application/json'].schema.properties.verdict.enum).toEqual([
      'correct',
      'incorrect',
    ]);
    const alerts = doc.paths['/api/v1/alerts'].post.requestBody.content['application/json'].schema;
    expect(alerts.anyOf.map((s: Json) => s.title ?? s.type)).toEqual([
      'NativeAlert',
      'array',
      'AlertmanagerWebhookV4',
    ]);
    const limit = doc.paths['/api/v1/incidents'].get.parameters.find((p: Json) => p.name === 'limit');
    expect(limit).toMatchObject({
      in: 'query',
      schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    });
    const level = doc.paths['/api/v1/entities/{level}/{id}'].get.parameters.find(
      (p: Json) => p.name === 'level',
    );
    expect(level.schema.enum).toEqual(['idc', 'rack', 'host', 'container', 'app']);
  });
});
