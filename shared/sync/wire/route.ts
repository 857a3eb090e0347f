/**
 * A sync route is one operation of the sync server's HTTP API, declared once in this folder and
 * used by both ends: the server registers its handler against the declaration (method, path,
 * request schemas, headers, protocol rule) and the device calls it by the declaration and parses
 * the answer with the declared schema. The route reference (docs/sync-routes.md) is generated
 * from the same declarations. The model is shared/api/channel.ts for the local API.
 */
import { z } from 'zod';

/** The methods the sync server answers. */
export type SyncHttpMethod = 'GET' | 'POST';

/** Who may call a route: anyone, or a device with a bearer access token (checked against revocation). */
export type SyncRouteAuth = 'none' | 'device-token';

/** How a route answers: one JSON document, or a held-open Server-Sent Events stream. */
export type SyncAnswerKind = 'json' | 'event-stream';

/** A figure the route enforces (page size, batch size), for the reference and the device's own limits. */
export interface SyncRouteLimit {
  readonly name: string;
  readonly value: number;
  readonly what: string;
}

/** Everything both ends and the docs need to know about one route. */
export interface SyncRoute<
  Name extends string = string,
  Params extends z.ZodType | null = z.ZodType | null,
  Query extends z.ZodType | null = z.ZodType | null,
  Body extends z.ZodType | null = z.ZodType | null,
  Answer extends z.ZodType = z.ZodType,
> {
  /** `group.verb`, unique; the reference's anchor and the name tests use. */
  readonly name: Name;
  readonly method: SyncHttpMethod;
  /** The path, with `:name` segments for path parameters (Fastify's syntax). */
  readonly path: string;
  /** One line for the reference and `GET /v1/api`. */
  readonly summary: string;
  /** True when the request must name its protocol version in the protocol header (every `/v1` route). */
  readonly protocolHeader: boolean;
  readonly auth: SyncRouteAuth;
  /** True when a client too old to be served otherwise is still served (authentication and pushes). */
  readonly allowOutdated: boolean;
  readonly params: Params;
  readonly query: Query;
  readonly body: Body;
  readonly answerKind: SyncAnswerKind;
  /**
   * The answer: the JSON document of a `json` route, or for an `event-stream` route one event as
   * `{ event, data }` with `data` the event's parsed JSON.
   */
  readonly answer: Answer;
  /** Headers of a successful answer besides the standard ones, with what each carries. */
  readonly answerHeaders: Readonly<Record<string, string>>;
  readonly limits: readonly SyncRouteLimit[];
}

/** Any route, whatever its schemas. */
export type AnySyncRoute = SyncRoute<string, z.ZodType | null, z.ZodType | null, z.ZodType | null, z.ZodType>;

/** The options of a declaration; what is left out defaults to "none". */
export interface SyncRouteDeclaration<
  Name extends string,
  Params extends z.ZodType | null,
  Query extends z.ZodType | null,
  Body extends z.ZodType | null,
  Answer extends z.ZodType,
> {
  readonly name: Name;
  readonly method: SyncHttpMethod;
  readonly path: string;
  readonly summary: string;
  /** Defaults to true: every `/v1` route names its protocol. */
  readonly protocolHeader?: boolean;
  readonly auth: SyncRouteAuth;
  readonly allowOutdated?: boolean;
  readonly params?: Params;
  readonly query?: Query;
  readonly body?: Body;
  readonly answerKind?: SyncAnswerKind;
  readonly answer: Answer;
  readonly answerHeaders?: Readonly<Record<string, string>>;
  readonly limits?: readonly SyncRouteLimit[];
}

const ROUTE_NAME = /^[a-z][a-zA-Z]*\.[a-z][a-zA-Z]*$/;
const PATH = /^\/[a-z0-9/:._-]*$/;

/** The `:name` parameters of a path, in order. */
export function pathParameters(path: string): string[] {
  return [...path.matchAll(/:([a-zA-Z][a-zA-Z0-9]*)/g)].map((match) => match[1]!);
}

/** Declares a route. Throws when its name or path is malformed, or its path and params schema disagree. */
export function defineSyncRoute<
  const Name extends string,
  Answer extends z.ZodType,
  Params extends z.ZodType | null = null,
  Query extends z.ZodType | null = null,
  Body extends z.ZodType | null = null,
>(declaration: SyncRouteDeclaration<Name, Params, Query, Body, Answer>): SyncRoute<Name, Params, Query, Body, Answer> {
  if (!ROUTE_NAME.test(declaration.name)) {
    throw new Error(`sync route name "${declaration.name}" is not of the form group.verb`);
  }
  if (!PATH.test(declaration.path)) throw new Error(`sync route "${declaration.name}" has a malformed path`);
  const hasParams = pathParameters(declaration.path).length > 0;
  if (hasParams !== (declaration.params !== undefined && declaration.params !== null)) {
    throw new Error(`sync route "${declaration.name}": path parameters and params schema disagree`);
  }
  if (declaration.method === 'GET' && declaration.body !== undefined && declaration.body !== null) {
    throw new Error(`sync route "${declaration.name}" is a GET with a body`);
  }
  return {
    name: declaration.name,
    method: declaration.method,
    path: declaration.path,
    summary: declaration.summary,
    protocolHeader: declaration.protocolHeader ?? true,
    auth: declaration.auth,
    allowOutdated: declaration.allowOutdated ?? false,
    params: (declaration.params ?? null) as Params,
    query: (declaration.query ?? null) as Query,
    body: (declaration.body ?? null) as Body,
    answerKind: declaration.answerKind ?? 'json',
    answer: declaration.answer,
    answerHeaders: declaration.answerHeaders ?? {},
    limits: declaration.limits ?? [],
  };
}

/** A route registry: the routes in order, and by name. Duplicate names or method-and-path pairs throw. */
export interface SyncRouteRegistry {
  readonly list: readonly AnySyncRoute[];
  readonly byName: ReadonlyMap<string, AnySyncRoute>;
}

/** Collects route groups into one registry (see index.ts). */
export function buildSyncRouteRegistry(groups: ReadonlyArray<readonly AnySyncRoute[]>): SyncRouteRegistry {
  const byName = new Map<string, AnySyncRoute>();
  const endpoints = new Set<string>();
  const list = groups.flat();
  for (const route of list) {
    if (byName.has(route.name)) throw new Error(`duplicate sync route name "${route.name}"`);
    const endpoint = `${route.method} ${route.path}`;
    if (endpoints.has(endpoint)) throw new Error(`duplicate sync route ${endpoint}`);
    byName.set(route.name, route);
    endpoints.add(endpoint);
  }
  return { list, byName };
}

/** A value a path parameter or query field may be given as: the schema reads text, callers hold numbers. */
type WireText<T> = T extends string ? string | number : T;

/** Path parameters as a caller gives them. */
export type SyncRouteParams<R extends AnySyncRoute> = R['params'] extends z.ZodType
  ? { readonly [K in keyof z.input<R['params']>]: WireText<z.input<R['params']>[K]> }
  : undefined;

/** Query fields as a caller gives them. */
export type SyncRouteQuery<R extends AnySyncRoute> = R['query'] extends z.ZodType
  ? { readonly [K in keyof z.input<R['query']>]: WireText<z.input<R['query']>[K]> }
  : undefined;

/** The body as a caller sends it (before the server's transforms). */
export type SyncRouteBody<R extends AnySyncRoute> = R['body'] extends z.ZodType ? z.input<R['body']> : undefined;

/** The answer as a device reads it, after parsing with the declared schema. */
export type SyncRouteAnswer<R extends AnySyncRoute> = z.output<R['answer']>;

/** What a caller passes for a route: each part the route declares, and nothing else. */
export type SyncRouteInput<R extends AnySyncRoute> = (R['params'] extends z.ZodType
  ? { readonly params: SyncRouteParams<R> }
  : { readonly params?: undefined }) &
  (R['query'] extends z.ZodType ? { readonly query: SyncRouteQuery<R> } : { readonly query?: undefined }) &
  (R['body'] extends z.ZodType ? { readonly body: SyncRouteBody<R> } : { readonly body?: undefined });

/**
 * The URL path and query string of a call: path parameters substituted (percent-encoded), query
 * fields in declaration order, undefined ones left out. Throws when a path parameter is missing.
 */
export function syncRouteTarget(
  route: AnySyncRoute,
  params: Readonly<Record<string, string | number>> | undefined,
  query: Readonly<Record<string, string | number | undefined>> | undefined,
): string {
  const path = route.path.replace(/:([a-zA-Z][a-zA-Z0-9]*)/g, (_match, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new Error(`sync route ${route.name}: missing path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
  const pairs = Object.entries(query ?? {}).filter((pair): pair is [string, string | number] => pair[1] !== undefined);
  if (pairs.length === 0) return path;
  return `${path}?${pairs.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`).join('&')}`;
}

/** An input schema that accepts nothing: a route that declares no query, body or params. */
export const NO_INPUT = z.strictObject({});
