/**
 * One device of the convergence test: a real ClinicCore over its own encrypted database files,
 * driven through the API pipeline by its Admin and a Dentist, with a faulty link to the server.
 * It can be killed and started again from its files (a new core, new sessions, the same data).
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import type { ChannelInput, ChannelName, ChannelOutput } from '../../../shared/api/registry.js';
import { ClinicCore } from '../../../main/core/clinic-core.js';
import { type ManualClock, testSources } from '../../../main/core/platform/sources.js';
import {
  ADMIN_PASSWORD,
  TestCaller,
  USER_PASSWORD,
  tempDataDir,
  testKeyProvider,
} from '../../support/clinic-fixture.js';
import { openRawDatabase } from '../../support/raw-database.js';
import { FAST_SYNC } from '../sync-support.js';
import { FaultyLink } from './faulty-link.js';

/** The clinic's clinical user on every device (created on the founding device before it connects). */
export const DENTIST_USERNAME = 'drconvergence';
/** The front-desk user whose role and branches the Admin changes while she edits patients. */
export const FRONT_DESK_USERNAME = 'frontdesk';

/** Budgets no test reaches: the model calls far more often than a person. */
const RATE_LIMITS = { readsPerMinute: 1_000_000, writesPerMinute: 1_000_000, publicPerMinute: 1_000_000 };
/** Sessions that outlast a run, however far the model moves the clocks. */
const SESSION_POLICY = { inactivityMs: 365 * 86_400_000, absoluteMs: 365 * 86_400_000, reauthWindowMs: 86_400_000 };

interface CoreFiles {
  readonly dataDir: string;
  readonly seed: string;
  readonly name: string;
  readonly incarnation: number;
  readonly clock: ManualClock;
  readonly link: FaultyLink;
}

function openCore(files: CoreFiles): Promise<ClinicCore> {
  return ClinicCore.open({
    dataDir: files.dataDir,
    keyProvider: testKeyProvider(),
    // A new seed per incarnation: a restarted device must not make the ids it made before.
    sources: testSources(`${files.seed}:${files.name}:${files.incarnation}`, files.clock),
    bcryptCost: 4,
    rateLimits: RATE_LIMITS,
    sessionPolicy: SESSION_POLICY,
    sync: { ...FAST_SYNC, fetch: files.link.fetch },
  });
}

export class ConvergenceDevice {
  /** How many times the device was killed and started again. */
  incarnation = 0;
  admin: TestCaller;
  dentist: TestCaller;
  frontDesk: TestCaller;
  /** Whether the clinic has the front-desk user (model version 2 on). */
  withFrontDesk = false;
  private rawDb: Database.Database | null = null;

  private constructor(
    readonly name: string,
    private readonly seed: string,
    readonly dataDir: string,
    private readonly removeDir: () => void,
    readonly clock: ManualClock,
    readonly link: FaultyLink,
    public core: ClinicCore,
  ) {
    this.admin = new TestCaller(core);
    this.dentist = new TestCaller(core);
    this.frontDesk = new TestCaller(core);
  }

  /** A device with no clinic database yet. */
  static async blank(name: string, seed: string, clock: ManualClock): Promise<ConvergenceDevice> {
    const temp = tempDataDir();
    const link = new FaultyLink();
    const core = await openCore({ dataDir: temp.dir, seed, name, incarnation: 0, clock, link });
    return new ConvergenceDevice(name, seed, temp.dir, temp.remove, clock, link, core);
  }

  /** Signs the Admin, the Dentist and the front desk in (after setup, joining or a restart). */
  async signIn(): Promise<void> {
    await this.admin.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
    await this.dentist.ok('auth.signIn', { username: DENTIST_USERNAME, password: USER_PASSWORD });
    if (this.withFrontDesk) {
      await this.frontDesk.ok('auth.signIn', { username: FRONT_DESK_USERNAME, password: USER_PASSWORD });
    }
  }

  /**
   * A call as the front-desk user. A change of her role or branches ends her sessions on the
   * device that made it (users-handlers.ts), so she signs in again, as she would at the desk.
   */
  async asFrontDesk<K extends ChannelName>(channel: K, input: ChannelInput<K>): Promise<ChannelOutput<K>> {
    const first = await this.frontDesk.call(channel, input);
    if (first.ok) return first.output as ChannelOutput<K>;
    if (first.error.code !== 'UNAUTHENTICATED' && first.error.code !== 'SESSION_EXPIRED') {
      throw new Error(`${channel} failed for the front desk: ${first.error.code} ${first.error.message}`);
    }
    await this.frontDesk.ok('auth.signIn', { username: FRONT_DESK_USERNAME, password: USER_PASSWORD });
    return this.frontDesk.ok(channel, input);
  }

  /** Confirms the Admin's password, for channels that ask for it again. */
  async reauthenticateAdmin(): Promise<void> {
    await this.admin.ok('auth.reauthenticate', { password: ADMIN_PASSWORD });
  }

  /**
   * A second connection to the database, as the test's observer: it reads field clocks, outbox and
   * tables, and installs fault triggers. Closed before the core is restarted.
   */
  async raw(): Promise<Database.Database> {
    this.rawDb ??= await openRawDatabase(this.dataDir);
    return this.rawDb;
  }

  /** Kills the core (nothing in flight is waited for) and starts a new one from the files. */
  async restart(): Promise<void> {
    this.closeRaw();
    await this.core.close();
    this.incarnation++;
    this.core = await openCore({
      dataDir: this.dataDir,
      seed: this.seed,
      name: this.name,
      incarnation: this.incarnation,
      clock: this.clock,
      link: this.link,
    });
    this.admin = new TestCaller(this.core);
    this.dentist = new TestCaller(this.core);
    this.frontDesk = new TestCaller(this.core);
    await this.signIn();
  }

  private closeRaw(): void {
    this.rawDb?.close();
    this.rawDb = null;
  }

  async close(): Promise<void> {
    this.closeRaw();
    await this.core.close();
    this.removeDir();
  }
}
