import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SYNC_ROUTES } from './index.js';
import { buildSyncRouteRegistry, defineSyncRoute, syncRouteTarget } from './route.js';

const answer = z.strictObject({ ok: z.boolean() });

describe('defineSyncRoute', () => {
  it('refuses a name that is not group.verb and a malformed path', () => {
    expect(() =>
      defineSyncRoute({ name: 'nogroup', method: 'GET', path: '/v1/x', summary: '', auth: 'none', answer }),
    ).toThrow(/group\.verb/);
    expect(() =>
      defineSyncRoute({ name: 'x.get', method: 'GET', path: 'v1/x?a=1', summary: '', auth: 'none', answer }),
    ).toThrow(/malformed path/);
  });

  it('refuses path parameters without a params schema, and the reverse', () => {
    expect(() =>
      defineSyncRoute({ name: 'x.get', method: 'GET', path: '/v1/x/:id', summary: '', auth: 'none', answer }),
    ).toThrow(/disagree/);
    expect(() =>
      defineSyncRoute({
        name: 'x.get',
        method: 'GET',
        path: '/v1/x',
        summary: '',
        auth: 'none',
        params: z.strictObject({ id: z.string() }),
        answer,
      }),
    ).toThrow(/disagree/);
  });

  it('refuses a GET with a body', () => {
    expect(() =>
      defineSyncRoute({
        name: 'x.get',
        method: 'GET',
        path: '/v1/x',
        summary: '',
        auth: 'none',
        body: z.strictObject({}),
        answer,
      }),
    ).toThrow(/GET with a body/);
  });

  it('defaults to the protocol header, current clients only, a JSON answer and no limits', () => {
    const route = defineSyncRoute({ name: 'x.get', method: 'GET', path: '/v1/x', summary: 's', auth: 'none', answer });
    expect(route).toMatchObject({
      protocolHeader: true,
      allowOutdated: false,
      answerKind: 'json',
      params: null,
      query: null,
      body: null,
      limits: [],
      answerHeaders: {},
    });
  });
});

describe('buildSyncRouteRegistry', () => {
  const one = defineSyncRoute({ name: 'x.get', method: 'GET', path: '/v1/x', summary: '', auth: 'none', answer });

  it('refuses a second route of the same name or the same method and path', () => {
    const sameName = defineSyncRoute({
      name: 'x.get',
      method: 'POST',
      path: '/v1/y',
      summary: '',
      auth: 'none',
      answer,
    });
    const samePath = defineSyncRoute({
      name: 'y.get',
      method: 'GET',
      path: '/v1/x',
      summary: '',
      auth: 'none',
      answer,
    });
    expect(() => buildSyncRouteRegistry([[one], [sameName]])).toThrow(/duplicate sync route name/);
    expect(() => buildSyncRouteRegistry([[one], [samePath]])).toThrow(/duplicate sync route GET \/v1\/x/);
  });

  it('holds every shipped route once, by name', () => {
    for (const route of SYNC_ROUTES.list) expect(SYNC_ROUTES.byName.get(route.name)).toBe(route);
  });
});

describe('syncRouteTarget', () => {
  const route = defineSyncRoute({
    name: 'x.get',
    method: 'GET',
    path: '/v1/x/:id/parts/:part',
    summary: '',
    auth: 'none',
    params: z.strictObject({ id: z.string(), part: z.string() }),
    query: z.strictObject({ after: z.string(), limit: z.string().optional() }),
    answer,
  });

  it('substitutes path parameters percent-encoded and leaves out undefined query fields', () => {
    expect(syncRouteTarget(route, { id: 'a/b', part: 3 }, { after: 0, limit: undefined })).toBe(
      '/v1/x/a%2Fb/parts/3?after=0',
    );
  });

  it('refuses a missing path parameter', () => {
    expect(() => syncRouteTarget(route, { id: 'a' }, undefined)).toThrow(/missing path parameter part/);
  });
});
