/**
 * The device's HTTP client for the sync server (docs/sync-protocol.md, "HTTP server (built)"):
 * every request names the protocol version in the `chairside-protocol` header, answers are the
 * server's JSON or its `{"error":{"code","message"}}` envelope. Failures are classified so the
 * engine retries only what can succeed later (network, 5xx, 429) and records the rest.
 */
import { generateKeyPairSync, createPrivateKey, sign } from 'node:crypto';
import { z } from 'zod';

/** The protocol version this device speaks. */
export const DEVICE_PROTOCOL_VERSION = 1;

/** The header that carries it. */
export const PROTOCOL_HEADER = 'chairside-protocol';

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

const errorEnvelopeSchema = z.object({ error: z.object({ code: z.string().max(64) }) });

/** Sends one request and returns the parsed JSON answer; throws SyncRequestError. */
export async function syncRequest(
  fetchFn: FetchLike,
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  options: { body?: unknown; token?: string; timeoutMs?: number } = {},
): Promise<unknown> {
  return readAnswer(await openSyncRequest(fetchFn, baseUrl, method, path, options));
}

/**
 * Sends one request and returns the answer once its status and headers have arrived, before its
 * body is read (`readAnswer` reads it); throws SyncRequestError when no answer came.
 */
export async function openSyncRequest(
  fetchFn: FetchLike,
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  options: { body?: unknown; token?: string; timeoutMs?: number } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    [PROTOCOL_HEADER]: String(DEVICE_PROTOCOL_VERSION),
    accept: 'application/json',
  };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  try {
    return await fetchFn(`${baseUrl}${path}`, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
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
  if (!response.ok) {
    const envelope = errorEnvelopeSchema.safeParse(json);
    const retryAfter = Number(response.headers.get('retry-after'));
    throw new SyncRequestError(
      response.status,
      envelope.success ? envelope.data.error.code : `HTTP_${response.status}`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null,
    );
  }
  return json;
}

/** Parses an answer with a schema; an answer of another shape is BAD_ANSWER. */
export function parseAnswer<T>(schema: z.ZodType<T>, answer: unknown, status = 200): T {
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
  return Buffer.from(`chairside/device-auth/v1\n${challenge}`, 'utf8');
}

/** Signs with the stored private key. */
export function signWithDeviceKey(privateKeyDer: Buffer, message: Buffer): string {
  const key = createPrivateKey({ key: privateKeyDer, format: 'der', type: 'pkcs8' });
  return sign(null, message, key).toString('base64');
}

const enrollAnswerSchema = z.object({
  clinicId: z.string().min(1).max(64),
  deviceId: z.string().min(1).max(64),
  // Servers before setup.joinClinic do not name the clinic.
  clinicName: z.string().min(1).max(200).optional(),
  // The device's number in the clinic (docs/sync-protocol.md, "Domain conflicts"); every server
  // that numbers devices sends it, and a device refuses to enroll without one.
  deviceNumber: z.number().int().min(1).max(1_000_000),
  // The checkpoint origin and verifier key the device pins (checkpoint-pin.ts).
  checkpoint: z.object({ origin: z.string().min(1).max(200), verifierKey: z.string().min(1).max(300) }).optional(),
});

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
  const answer = await syncRequest(fetchFn, serverUrl, 'POST', '/v1/enroll', {
    body: {
      code: input.code,
      deviceId: input.deviceId,
      deviceName: input.deviceName,
      publicKey: input.publicKey.toString('base64'),
    },
  });
  const enrolled = parseAnswer(enrollAnswerSchema, answer);
  if (enrolled.deviceId !== input.deviceId) throw new SyncRequestError(200, 'BAD_ANSWER');
  return {
    clinicId: enrolled.clinicId,
    clinicName: enrolled.clinicName ?? null,
    deviceNumber: enrolled.deviceNumber,
    checkpoint: enrolled.checkpoint,
  };
}

const challengeAnswerSchema = z.object({ challenge: z.string().min(1).max(1024) });
const tokenAnswerSchema = z.object({ token: z.string().min(1).max(2048), expiresAt: z.number() });

/** Signs a fresh challenge and trades it for an access token. */
export async function requestToken(
  fetchFn: FetchLike,
  serverUrl: string,
  identity: { clinicId: string; deviceId: string; privateKey: Buffer },
): Promise<{ token: string; expiresAt: number }> {
  const ids = { clinicId: identity.clinicId, deviceId: identity.deviceId };
  const { challenge } = parseAnswer(
    challengeAnswerSchema,
    await syncRequest(fetchFn, serverUrl, 'POST', '/v1/auth/challenge', { body: ids }),
  );
  const signature = signWithDeviceKey(identity.privateKey, deviceAuthMessage(challenge));
  return parseAnswer(
    tokenAnswerSchema,
    await syncRequest(fetchFn, serverUrl, 'POST', '/v1/auth/token', { body: { ...ids, challenge, signature } }),
  );
}

const enrollmentCodeAnswerSchema = z.object({ code: z.string().min(1).max(100), expiresAt: z.number().int().min(0) });

/** Asks the server for a one-time code for another device of this clinic, on behalf of an Admin. */
export async function createEnrollmentCode(
  fetchFn: FetchLike,
  serverUrl: string,
  token: string,
  userId: string,
): Promise<{ code: string; expiresAt: number }> {
  return parseAnswer(
    enrollmentCodeAnswerSchema,
    await syncRequest(fetchFn, serverUrl, 'POST', '/v1/devices/enrollment-codes', { token, body: { userId } }),
  );
}
