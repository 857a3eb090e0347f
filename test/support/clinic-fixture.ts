/**
 * Builds clinics for tests: a temporary data directory, a passphrase provider with a cheap
 * scrypt cost, deterministic sources, bcrypt cost 4 (except where a test checks the real cost),
 * and helpers to sign users in. Each test gets its own directory; nothing is shared.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChannelInput, ChannelName, ChannelOutput } from '../../shared/api/registry.js';
import type { Role } from '../../shared/permissions.js';
import { ClinicCore, type ClinicCoreOptions, type InvokeResult } from '../../main/core/clinic-core.js';
import { passphraseKeyProvider } from '../../main/core/keys/passphrase-key-provider.js';
import { ManualClock, cryptoRandom, testSources } from '../../main/core/platform/sources.js';

export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 } as const;
export const TEST_PASSPHRASE = 'correct horse battery staple';
export const ADMIN_PASSWORD = 'Chairside-Op3n-Sesame';
export const USER_PASSWORD = 'Molar-Tr33-Lantern';

/** A fresh temporary directory, removed by the returned function. */
export function tempDataDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'chairside-test-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A passphrase key provider with a test scrypt cost. */
export function testKeyProvider(passphrase = TEST_PASSPHRASE) {
  return passphraseKeyProvider(passphrase, cryptoRandom, TEST_SCRYPT);
}

/** A caller of the core with its own session token, as a transport would hold it. */
export class TestCaller {
  token: string | undefined;
  csrfToken: string | undefined;

  constructor(
    private readonly core: ClinicCore,
    readonly source = 'test',
  ) {}

  /** Calls a channel; returns the raw result. */
  async call(channel: string, input: unknown = {}): Promise<InvokeResult> {
    const result = await this.core.invoke(channel, input, { sessionToken: this.token, source: this.source });
    if (result.effects.session) {
      this.token = result.effects.session.token;
      this.csrfToken = result.effects.session.csrfToken;
    }
    if (result.effects.clearSession) this.token = undefined;
    return result;
  }

  /** Calls a channel and returns its output, throwing with the error code when it fails. */
  async ok<K extends ChannelName>(channel: K, input: ChannelInput<K>): Promise<ChannelOutput<K>> {
    const result = await this.call(channel, input);
    if (!result.ok) throw new Error(`${channel} failed: ${result.error.code} ${result.error.message}`);
    return result.output as ChannelOutput<K>;
  }

  /** The error code of a call that must fail. */
  async errorCode(channel: string, input: unknown = {}): Promise<string> {
    const result = await this.call(channel, input);
    if (result.ok) throw new Error(`${channel} unexpectedly succeeded`);
    return result.error.code;
  }
}

export interface TestClinic {
  readonly core: ClinicCore;
  readonly dataDir: string;
  readonly clock: ManualClock;
  readonly admin: TestCaller;
  readonly branchId: string;
  readonly adminUserId: string;
  readonly recoveryKey: string;
  /** Calls as the Admin after confirming the password, so time a test moved on never gets in the way. */
  asAdmin<K extends ChannelName>(channel: K, input: ChannelInput<K>): Promise<ChannelOutput<K>>;
  /** Creates a user of a role (in the first branch unless told) and returns a signed-in caller. */
  signedInUser(
    role: Role,
    options?: { branchIds?: string[]; allBranches?: boolean; username?: string },
  ): Promise<TestCaller & { userId: string }>;
  close(): Promise<void>;
}

/** Sets up a clinic with an Admin signed in. */
export async function createTestClinic(
  options: Partial<ClinicCoreOptions> & { dataDir?: string } = {},
): Promise<TestClinic> {
  const temp = options.dataDir ? null : tempDataDir();
  const dataDir = options.dataDir ?? temp!.dir;
  const clock = new ManualClock();
  const core = await ClinicCore.open({
    dataDir,
    keyProvider: testKeyProvider(),
    sources: testSources('clinic-fixture', clock),
    bcryptCost: 4,
    rateLimits: { readsPerMinute: 100_000, writesPerMinute: 100_000, publicPerMinute: 100_000 },
    ...options,
  });
  const admin = new TestCaller(core);
  const setup = await admin.ok('setup.createClinic', {
    clinicName: 'Smile Dental',
    branchName: 'Main Street',
    admin: { username: 'admin', displayName: 'Asha Admin', password: ADMIN_PASSWORD },
  });
  await admin.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
  let counter = 0;
  const asAdmin = async <K extends ChannelName>(channel: K, input: ChannelInput<K>) => {
    const unlocked = await admin.call('auth.unlock', { password: ADMIN_PASSWORD });
    if (!unlocked.ok) await admin.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
    return admin.ok(channel, input);
  };
  return {
    asAdmin,
    core,
    dataDir,
    clock,
    admin,
    branchId: setup.branchId,
    adminUserId: setup.adminUserId,
    recoveryKey: setup.recoveryKey,
    async signedInUser(role, userOptions = {}) {
      counter++;
      const username = userOptions.username ?? `${role.toLowerCase()}${counter}`;
      const created = await asAdmin('users.create', {
        username,
        displayName: `${role} ${counter}`,
        role,
        allBranches: userOptions.allBranches ?? false,
        branchIds: userOptions.allBranches ? [] : (userOptions.branchIds ?? [setup.branchId]),
        password: USER_PASSWORD,
      });
      const caller = Object.assign(new TestCaller(core), { userId: created.id });
      await caller.ok('auth.signIn', { username, password: USER_PASSWORD });
      return caller;
    },
    async close() {
      await core.close();
      temp?.remove();
    },
  };
}
