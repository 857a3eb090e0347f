/**
 * Change and revocation notifications across server processes that share one PostgreSQL
 * (docs/sync-protocol.md, "Notifications across processes"): a process that appended changes tells
 * its own streams directly and calls `pg_notify('chairside_changes', {clinicId, latestSeq})` after
 * the append committed; a revocation (the `device revoke` command, any process) is announced as
 * `pg_notify('chairside_revocations', {clinicId})`. Every server process holds one dedicated
 * connection that LISTENs on both channels. A lost listening connection is reopened with
 * exponential backoff and full jitter; once it is back, subscribers are told that notifications
 * may have been missed (`onGap`) so they read the current sequence numbers and revocations again.
 *
 * Payloads are a clinic id and a number, never a change or a device: PostgreSQL delivers
 * notifications to every listener of the database whatever its role, so they must carry nothing a
 * clinic owns.
 */
import { randomInt } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import {
  type ChangeListener,
  ChangeListeners,
  type ChangeNotifier,
  type RevocationListener,
  changeNotificationSchema,
  revocationNotificationSchema,
} from './change-notifier.js';

/** The channel of change notifications; every process listens on it. */
export const CHANGE_CHANNEL = 'chairside_changes';
/** The channel of revocation notifications; every process listens on it. */
export const REVOCATION_CHANNEL = 'chairside_revocations';

/** How the listening connection is reopened after it is lost. */
export interface ListenReconnectPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

const DEFAULT_RECONNECT: ListenReconnectPolicy = { baseDelayMs: 200, maxDelayMs: 10_000 };

/** What the notifier is built from. */
export interface PostgresChangeNotifierOptions {
  /** The app role's connection settings (LISTEN and pg_notify need no extra privilege). */
  readonly connection: pg.PoolConfig;
  readonly log: Logger;
  readonly reconnect?: Partial<ListenReconnectPolicy>;
  /** A number in [0, 1) for the reconnect jitter (node:crypto unless a test pins it). */
  readonly random?: () => number;
}

/** LISTEN/NOTIFY notifier; `start` opens the listening connection. */
export class PostgresChangeNotifier implements ChangeNotifier {
  private readonly listeners = new ChangeListeners();
  private readonly publisher: pg.Pool;
  private readonly policy: ListenReconnectPolicy;
  private readonly random: () => number;
  private listener: pg.Client | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private closed = false;
  private everConnected = false;

  constructor(private readonly options: PostgresChangeNotifierOptions) {
    // Two connections are plenty: a NOTIFY is one short statement.
    this.publisher = new pg.Pool({ ...options.connection, max: 2 });
    this.publisher.on('error', () => undefined);
    this.policy = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.random = options.random ?? (() => randomInt(0, 0x1_0000_0000) / 0x1_0000_0000);
  }

  /** Opens the listening connection; resolves once it listens (throws if the first attempt fails). */
  async start(): Promise<void> {
    await this.listen();
  }

  async publish(clinicId: string, latestSeq: number): Promise<void> {
    const payload = JSON.stringify(changeNotificationSchema.parse({ clinicId, latestSeq }));
    // This process's own streams hear it at once; the NOTIFY that comes back later repeats a
    // number they have sent, which they drop.
    this.listeners.emit(clinicId, latestSeq);
    await this.publisher.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, payload]);
  }

  subscribe(listener: ChangeListener, onGap?: () => void): () => void {
    return this.listeners.add(listener, onGap);
  }

  async publishRevocation(clinicId: string): Promise<void> {
    const payload = JSON.stringify(revocationNotificationSchema.parse({ clinicId }));
    this.listeners.revoked(clinicId);
    await this.publisher.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, payload]);
  }

  subscribeRevocations(listener: RevocationListener): () => void {
    return this.listeners.addRevocation(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.listener;
    this.listener = null;
    await client?.end().catch(() => undefined);
    await this.publisher.end();
  }

  /** True while the listening connection is open (for readiness and tests). */
  get listening(): boolean {
    return this.listener !== null;
  }

  /** Drops the listening connection as a network failure would (tests of the reconnect). */
  async dropListeningConnectionForTest(): Promise<void> {
    const client = this.listener;
    if (!client) return;
    // Ending it from our side raises 'end', which takes the same reconnect path as a lost socket.
    await client.end();
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(this.options.connection);
    client.on('notification', (message) => {
      if (message.payload === undefined) return;
      let json: unknown;
      try {
        json = JSON.parse(message.payload);
      } catch {
        return;
      }
      if (message.channel === CHANGE_CHANNEL) {
        const parsed = changeNotificationSchema.safeParse(json);
        if (parsed.success) this.listeners.emit(parsed.data.clinicId, parsed.data.latestSeq);
      } else if (message.channel === REVOCATION_CHANNEL) {
        const parsed = revocationNotificationSchema.safeParse(json);
        if (parsed.success) this.listeners.revoked(parsed.data.clinicId);
      }
    });
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (this.listener === client) this.listener = null;
      if (!this.closed) {
        this.options.log.warn({ event: 'live.listen_lost' }, 'change notification connection lost');
        this.scheduleReconnect();
      }
    };
    client.on('error', onLost);
    client.on('end', onLost);
    await client.connect();
    await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
    if (this.closed) {
      await client.end();
      return;
    }
    this.listener = client;
    this.attempts = 0;
    // Anything committed while no connection listened was not delivered: subscribers re-read.
    if (this.everConnected) this.listeners.gap();
    this.everConnected = true;
  }

  private scheduleReconnect(): void {
    if (this.retryTimer || this.closed) return;
    const ceiling = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** this.attempts);
    this.attempts++;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = null;
        this.listen().catch((error: unknown) => {
          this.options.log.warn({ event: 'live.listen_failed', error: (error as Error).name }, 'listen failed');
          this.scheduleReconnect();
        });
      },
      Math.floor(this.random() * ceiling),
    );
  }
}

/**
 * Announces a committed revocation to every server process sharing the database, from a process
 * that serves nothing (the `device revoke` command): one NOTIFY on a short-lived connection.
 */
export async function announceRevocation(connection: pg.ClientConfig, clinicId: string): Promise<void> {
  const payload = JSON.stringify(revocationNotificationSchema.parse({ clinicId }));
  const client = new pg.Client(connection);
  await client.connect();
  try {
    await client.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, payload]);
  } finally {
    await client.end();
  }
}
