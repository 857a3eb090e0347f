/**
 * The device's HTTP client for the sync server. Every call goes by a route declared in
 * shared/sync/wire/: the declaration gives the method, the path, the headers (the protocol version,
 * the bearer token) and the schema the answer is parsed with. Answers are the server's JSON or its
 * `{"error":{"code","message"}}` envelope. Failures are classified so the engine retries only what
 * can succeed later (network, 5xx, 429) and records the rest.
 */
import { generateKeyPairSync, createPrivateKey, sign } from 'node:crypto';
import type { z } from 'zod';
import {
  authChallenge,
  authToken,
  deviceAuthText,
  devicesCreateEnrollmentCode,
  enrollmentCodeProofClaims,
  devicesEnroll,
} from '../../../shared/sync/wire/devices.js';
import { syncErrorEnvelopeSchema } from '../../../shared/sync/wire/errors.js';
import { type UserSigner, signUserProof } from '../auth/user-keys.js';
import { AUTHORIZATION_HEADER, PROTOCOL_HEADER, SYNC_PROTOCOL_VERSION } from '../../../shared/sync/wire/protocol.js';
import {
  type AnySyncRoute,
  type SyncRouteAnswer,
  type SyncRouteInput,
  syncRouteTarget,
} from '../../../shared/sync/wire/route.js';

/**
 * The protocol version this device speaks: the wire's (shared/sync/wire/protocol.ts). Kept under
 * this name for the benches that build pushes by hand.
 */
export const DEVICE_PROTOCOL_VERSION = SYNC_PROTOCOL_VERSION;

/** What the engine needs of `fetch` (node's global fetch fits; tests inject faults). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** A request that failed, with the server's error code (or NETWORK when no answer came). */
export class SyncRequestError extends Error {
  override readonly name = 'SyncRequestError';

  constructor(
    /** HTTP status; null when no answer arrived. */
    readonly status: number | null,
    /** The server's error code, NETWORK, or BAD_ANSWER for an answer that is not the protocol's. */
    readonly code: string,
    /** From Retry-After, when the server sent one. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(`sync request failed: ${code}`);
  }

  /** True for failures worth retrying: no answer, a server error, or a rate limit. */
  get transient(): boolean {
    return this.status === null || this.status >= 500 || this.status === 429;
  }
}

/** How a call is sent: the access token of a route that needs one, and how long to wait. */
export interface CallOptions {
  readonly token?: string;
  readonly timeoutMs?: number;
  /** Ends the request early (the live stream's caller and watchdog). */
  readonly signal?: AbortSignal;
}

/** Calls a JSON route and returns its answer parsed with the declared schema; throws SyncRequestError. */
export async function callSyncRoute<Route extends AnySyncRoute>(
  fetchFn: FetchLike,
  baseUrl: string,
  route: Route,
  input: SyncRouteInput<Route>,
  options: CallOptions = {},
): Promise<SyncRouteAnswer<Route>> {
  const response = await openSyncRoute(fetchFn, baseUrl, route, input, options);
  return parseAnswer<Route['answer']>(route.answer, await readAnswer(response), response.status);
}

/**
 * Sends a call and returns the answer once its status and headers have arrived, before its body
 * is read (`readAnswer` reads it, or the caller streams it); throws SyncRequestError when no
 * answer came.
 */
export async function openSyncRoute<Route extends AnySyncRoute>(
  fetchFn: FetchLike,
  baseUrl: string,
  route: Route,
  input: SyncRouteInput<Route>,
  options: CallOptions = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    accept: route.answerKind === 'event-stream' ? 'text/event-stream' : 'application/json',
  };
  if (route.protocolHeader) headers[PROTOCOL_HEADER] = String(SYNC_PROTOCOL_VERSION);
  if (route.auth === 'device-token') {
    // A call without its token is this device's bug, not something the server should answer.
    if (options.token === undefined) throw new Error(`sync route ${route.name} needs an access token`);
    headers[AUTHORIZATION_HEADER] = `Bearer ${options.token}`;
  }
  const { params, query, body } = input as {
    params?: Record<string, string | number>;
    query?: Record<string, string | number | undefined>;
    body?: unknown;
  };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const url = `${baseUrl}${syncRouteTarget(route, params, query)}`;
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  try {
    return await fetchFn(url, {
      method: route.method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      // A stream has no overall timeout: its caller's signal and watchdog end it.
      signal:
        route.answerKind === 'event-stream'
          ? options.signal
          : options.signal
            ? AbortSignal.any([timeout, options.signal])
            : timeout,
    });
  } catch {
    throw new SyncRequestError(null, 'NETWORK');
  }
}

/** Reads an answer's body: its JSON, or the SyncRequestError its status and envelope say. */
export async function readAnswer(response: Response): Promise<unknown> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    throw new SyncRequestError(null, 'NETWORK');
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    throw new SyncRequestError(response.status, 'BAD_ANSWER');
  }
  if (!response.ok) throw refusalOf(response, json);
  return json;
}

/** The SyncRequestError of a failed answer whose body was read as `json` (undefined when unreadable). */
export function refusalOf(response: Response, json: unknown): SyncRequestError {
  const envelope = syncErrorEnvelopeSchema.safeParse(json);
  const retryAfter = Number(response.headers.get('retry-after'));
  return new SyncRequestError(
    response.status,
    envelope.success ? envelope.data.error.code : `HTTP_${response.status}`,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null,
  );
}

/** Parses an answer with a schema; an answer of another shape is BAD_ANSWER. */
export function parseAnswer<Schema extends z.ZodType>(schema: Schema, answer: unknown, status = 200): z.output<Schema> {
  const parsed = schema.safeParse(answer);
  if (!parsed.success) throw new SyncRequestError(status, 'BAD_ANSWER');
  return parsed.data;
}

/** A device's Ed25519 key pair: PKCS#8 DER private key (stays in the encrypted database), raw 32-byte public key. */
export interface DeviceKeys {
  readonly privateKey: Buffer;
  readonly publicKey: Buffer;
}

/** Generates a device key pair with node:crypto. */
export function generateDeviceKeys(): DeviceKeys {
  const pair = generateKeyPairSync('ed25519');
  return {
    privateKey: pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
    publicKey: pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32),
  };
}

/** The domain-separated message a device signs to answer a challenge (the server's `deviceAuthMessage`). */
export function deviceAuthMessage(challenge: string): Buffer {
  return Buffer.from(deviceAuthText(challenge), 'utf8');
}

/** Signs with the stored private key. */
export function signWithDeviceKey(privateKeyDer: Buffer, message: Buffer): string {
  const key = createPrivateKey({ key: privateKeyDer, format: 'der', type: 'pkcs8' });
  return sign(null, message, key).toString('base64');
}

/** Redeems an enrollment code: registers this device's public key; returns the server's clinic id. */
export async function enrollDevice(
  fetchFn: FetchLike,
  serverUrl: string,
  input: { code: string; deviceId: string; deviceName: string; publicKey: Buffer },
): Promise<{
  clinicId: string;
  clinicName: string | null;
  deviceNumber: number;
  checkpoint: { origin: string; verifierKey: string } | undefined;
}> {
  const enrolled = await callSyncRoute(fetchFn, serverUrl, devicesEnroll, {
    body: {
      code: input.code,
      deviceId: input.deviceId,
      deviceName: input.deviceName,
      publicKey: input.publicKey.toString('base64'),
    },
  });
  if (enrolled.deviceId !== input.deviceId) throw new SyncRequestError(200, 'BAD_ANSWER');
  return {
    clinicId: enrolled.clinicId,
    clinicName: enrolled.clinicName ?? null,
    deviceNumber: enrolled.deviceNumber,
    checkpoint: enrolled.checkpoint,
  };
}

/** Signs a fresh challenge and trades it for an access token. */
export async function requestToken(
  fetchFn: FetchLike,
  serverUrl: string,
  identity: { clinicId: string; deviceId: string; privateKey: Buffer },
): Promise<{ token: string; expiresAt: number }> {
  const ids = { clinicId: identity.clinicId, deviceId: identity.deviceId };
  const { challenge } = await callSyncRoute(fetchFn, serverUrl, authChallenge, { body: ids });
  const signature = signWithDeviceKey(identity.privateKey, deviceAuthMessage(challenge));
  return callSyncRoute(fetchFn, serverUrl, authToken, { body: { ...ids, challenge, signature } });
}

/** Asks the server for a one-time code for another device of this clinic, on behalf of an Admin. */
export async function createEnrollmentCode(
  fetchFn: FetchLike,
  serverUrl: string,
  token: string,
  /** The Admin, with their opened signing key when they have one (it proves the request is theirs). */
  admin: { readonly userId: string; readonly signer: UserSigner | null },
  identity: { readonly clinicId: string; readonly deviceId: string },
  nowMs: number,
): Promise<{ code: string; expiresAt: number }> {
  const proof = admin.signer
    ? {
        issuedAt: nowMs,
        signature: signUserProof(
          admin.signer,
          enrollmentCodeProofClaims(identity.clinicId, identity.deviceId, admin.userId, nowMs, undefined),
        ),
      }
    : undefined;
  return callSyncRoute(
    fetchFn,
    serverUrl,
    devicesCreateEnrollmentCode,
    { body: { userId: admin.userId, ...(proof ? { proof } : {}) } },
    { token },
  );
}
