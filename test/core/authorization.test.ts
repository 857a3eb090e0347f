/**
 * Generated from the channel registry: every channel is called as every role, signed out, and
 * with a locked session, and the outcome is checked against the permission matrix. The fixture
 * table is typed over every channel name, so a new channel does not compile until it has one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ChannelName } from '../../shared/api/registry.js';
import { channelNames, channels } from '../../shared/api/registry.js';
import { PUBLIC, type Role, roleHasPermission, roles } from '../../shared/permissions.js';
import {
  ADMIN_PASSWORD,
  TestCaller,
  type TestClinic,
  USER_PASSWORD,
  createTestClinic,
} from '../support/clinic-fixture.js';
import { type ListeningServer, operatorClinic, startListeningServer } from '../sync/sync-support.js';

const DENIALS = ['UNAUTHENTICATED', 'SESSION_LOCKED', 'SESSION_EXPIRED', 'FORBIDDEN', 'REAUTH_REQUIRED'];

// sync.connect redeems a code at a real sync server (SQLite, on 127.0.0.1), started on first use.
let syncServer: ListeningServer | undefined;
afterAll(async () => {
  await syncServer?.close();
});
// devices.createEnrollmentCode needs the clinic connected; its Admin connects it once.
const connectedClinics = new WeakSet<TestClinic>();

interface World {
  clinic: TestClinic;
  username: string;
  targetUserId: string;
  /** A patient in the caller's branch, new for each call. */
  newPatientId(): Promise<string>;
  unique(): string;
}

/** A valid input for each channel. */
const validInput: { [K in ChannelName]: (world: World) => Promise<unknown> | unknown } = {
  'setup.status': () => ({}),
  'setup.joinClinic': () => ({ serverUrl: 'https://sync.example.com', enrollmentCode: 'AAAAA-AAAAA' }),
  'setup.createClinic': () => ({
    clinicName: 'Second',
    branchName: 'Other',
    admin: { username: 'second', displayName: 'Second', password: 'Another-Long-Secret-9' },
  }),
  'auth.signIn': (w) => ({ username: w.username, password: USER_PASSWORD }),
  'auth.signOut': () => ({}),
  'auth.session': () => ({}),
  'auth.reauthenticate': () => ({ password: USER_PASSWORD }),
  'auth.unlock': () => ({ password: USER_PASSWORD }),
  'auth.lock': () => ({}),
  'auth.changePassword': () => ({ currentPassword: USER_PASSWORD, newPassword: 'Fresh-Enamel-Secret-7' }),
  'users.list': () => ({}),
  'users.create': (w) => ({
    username: `made${w.unique()}`,
    displayName: 'Made',
    role: 'Staff',
    branchIds: [w.clinic.branchId],
    password: 'Another-Long-Secret-9',
  }),
  'users.update': (w) => ({ userId: w.targetUserId, displayName: `Renamed ${w.unique()}` }),
  'users.resetPassword': (w) => ({ userId: w.targetUserId, newPassword: 'Another-Long-Secret-9' }),
  'users.unlock': (w) => ({ userId: w.targetUserId }),
  'branches.list': () => ({}),
  'branches.create': (w) => ({ name: `Branch ${w.unique()}` }),
  'patients.create': (w) => ({ branchId: w.clinic.branchId, firstName: 'Asha', lastName: `Kumar${w.unique()}` }),
  'patients.update': async (w) => ({ patientId: await w.newPatientId(), phone: '+91 98765 00000' }),
  'patients.get': async (w) => ({ patientId: await w.newPatientId() }),
  'patients.search': () => ({ query: 'asha' }),
  'patients.findDuplicates': () => ({ firstName: 'Asha', lastName: 'Rao', dateOfBirth: '1990-01-01' }),
  'patients.archive': async (w) => ({ patientId: await w.newPatientId(), reason: 'Moved away' }),
  'patients.updateMedicalHistory': async (w) => ({
    patientId: await w.newPatientId(),
    allergies: [{ substance: 'Penicillin', severity: 'severe' }],
    conditions: [],
    medications: [],
  }),
  'patients.merge': async (w) => ({
    survivorId: await w.newPatientId(),
    duplicateId: await w.newPatientId(),
    reason: 'Registered twice',
  }),
  'conflicts.list': () => ({}),
  'conflicts.dismissDuplicate': async (w) => {
    // Two registrations of one person (same name, date of birth and phone) form an open pair.
    const person = { branchId: w.clinic.branchId, firstName: 'Twin', lastName: `Pair${w.unique()}` };
    const details = { ...person, dateOfBirth: '1990-01-01', phone: '+91 98765 11111' };
    const first = await w.clinic.asAdmin('patients.create', details);
    const second = await w.clinic.asAdmin('patients.create', details);
    return { firstId: first.id, secondId: second.id, reason: 'same-person', note: 'Different people' };
  },
  'audit.list': () => ({}),
  'audit.verify': () => ({}),
  'sync.connect': async () => {
    syncServer ??= await startListeningServer();
    const { code } = await operatorClinic(syncServer.storage);
    return { serverUrl: syncServer.url, enrollmentCode: code };
  },
  'sync.status': () => ({}),
  'sync.now': () => ({}),
  'devices.createEnrollmentCode': async (w) => {
    if (!connectedClinics.has(w.clinic)) {
      connectedClinics.add(w.clinic);
      syncServer ??= await startListeningServer();
      const { code } = await operatorClinic(syncServer.storage);
      await w.clinic.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
      await w.clinic.asAdmin('sync.connect', { serverUrl: syncServer.url, enrollmentCode: code });
    }
    return {};
  },
};

/** Builds a world for one caller. */
function worldFor(clinic: TestClinic, username: string, targetUserId: string): World {
  let counter = 0;
  return {
    clinic,
    username,
    targetUserId,
    unique: () => String(++counter),
    async newPatientId() {
      const patient = await clinic.asAdmin('patients.create', {
        branchId: clinic.branchId,
        firstName: 'Pat',
        lastName: `Ient${++counter}`,
      });
      return patient.id;
    },
  };
}

async function outcome(caller: TestCaller, channel: ChannelName, world: World): Promise<string> {
  const result = await caller.call(channel, await validInput[channel](world));
  return result.ok ? 'ok' : result.error.code;
}

describe('authorization generated from the channel registry', () => {
  for (const name of channelNames) {
    const channel = channels[name];
    it(`${name}: allows and denies exactly as the permission matrix says, for every role, signed out and locked`, async () => {
      const clinic = await createTestClinic();
      try {
        const target = await clinic.signedInUser('Staff', { username: 'target' });
        const callers = new Map<Role, TestCaller & { userId: string }>();
        for (const role of roles)
          callers.set(role, await clinic.signedInUser(role, { username: `as${role.toLowerCase()}` }));

        // Signed out.
        const anonymous = new TestCaller(clinic.core, 'anonymous');
        const anonymousOutcome = await outcome(anonymous, name, worldFor(clinic, 'asstaff', target.userId));
        if (channel.permission === PUBLIC) {
          expect(DENIALS, `${name} signed out`).not.toContain(anonymousOutcome);
        } else {
          expect(anonymousOutcome, `${name} signed out`).toBe('UNAUTHENTICATED');
        }

        // Each role, active session with a fresh sign-in.
        for (const role of roles) {
          const caller = callers.get(role)!;
          const got = await outcome(caller, name, worldFor(clinic, `as${role.toLowerCase()}`, target.userId));
          const allowed = channel.permission === PUBLIC || roleHasPermission(role, channel.permission);
          if (name === 'setup.createClinic' || name === 'setup.joinClinic') expect(got, role).toBe('ALREADY_SET_UP');
          else expect(got, `${name} as ${role}`).toBe(allowed ? 'ok' : 'FORBIDDEN');
        }

        // Re-authentication older than five minutes.
        if (channel.reauth) {
          for (const role of roles) {
            const caller = await clinic.signedInUser(role);
            clinic.clock.advance(6 * 60_000);
            const got = await outcome(caller, name, worldFor(clinic, '', target.userId));
            expect(got, `${name} as ${role} with a stale re-authentication`).toBe(
              roleHasPermission(role, channel.permission as never) ? 'REAUTH_REQUIRED' : 'FORBIDDEN',
            );
          }
        }

        // Locked by inactivity.
        if (channel.permission !== PUBLIC) {
          const locked = await clinic.signedInUser('Admin');
          clinic.clock.advance(16 * 60_000);
          const got = await outcome(locked, name, worldFor(clinic, '', target.userId));
          if (channel.allowLocked) expect(DENIALS, `${name} while locked`).not.toContain(got);
          else expect(got, `${name} while locked`).toBe('SESSION_LOCKED');
        }
      } finally {
        await clinic.close();
      }
    });
  }
});
