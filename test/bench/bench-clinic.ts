/**
 * The clinic the pipeline and search benchmarks run against: opened with ClinicCore.open on a
 * temporary directory (through the test fixture: passphrase key provider, deterministic sources,
 * bcrypt cost 4), rate limits raised out of the way, two branches, a Dentist and a Receptionist
 * signed in, and N synthetic patients inserted directly through the WriteDb in one transaction
 * (patients rows, medical history for some, and the FTS index through indexPatient).
 */
import type { CoreServices } from '../../main/core/core-services.js';
import type { WriteDb } from '../../main/core/db/access.js';
import type { DeviceIdentity } from '../../main/core/audit/audit-log.js';
import type { ClinicCore } from '../../main/core/clinic-core.js';
import { indexPatient } from '../../main/core/patients/patient-search.js';
import { type TestCaller, type TestClinic, createTestClinic } from '../support/clinic-fixture.js';
import { SeededRandom } from '../../main/demo/prng.js';
import { type SyntheticPatient, generatePatients } from '../../main/demo/synthetic-patients.js';
import { elapsedMs } from './timing.js';

/** A synthetic patient as stored: with its branch and FTS rowid. */
export interface StoredPatient extends SyntheticPatient {
  readonly branchId: string;
  readonly rowid: number;
}

/** A populated clinic and the handles the benchmarks need. */
export interface BenchClinic {
  readonly clinic: TestClinic;
  /** The core's services (database, sessions, audit log), for the direct, pipeline-free calls. */
  readonly services: CoreServices;
  readonly db: WriteDb;
  readonly device: DeviceIdentity;
  /** The branch the Dentist and Receptionist work in (80% of patients). */
  readonly mainBranchId: string;
  readonly otherBranchId: string;
  readonly dentist: TestCaller & { userId: string };
  readonly receptionist: TestCaller & { userId: string };
  readonly patients: readonly StoredPatient[];
  /** Time to insert and index every patient (one transaction, commit included). */
  readonly populateMs: number;
  close(): Promise<void>;
}

/** No limit the benchmark could reach: it measures the pipeline, not the limiter refusing calls. */
const UNLIMITED = {
  readsPerMinute: 1_000_000_000,
  writesPerMinute: 1_000_000_000,
  publicPerMinute: 1_000_000_000,
  signInFailuresPerSource: 1_000_000,
};

/**
 * The core keeps its services private; the benchmark reaches them by bracket access (which
 * TypeScript type-checks) instead of widening the core's API for a test-only need.
 */
function servicesOf(core: ClinicCore): CoreServices {
  return core['services'];
}

const INSERT_PATIENT = `INSERT INTO patients (id, patient_number, branch_id, first_name, last_name, date_of_birth, sex,
    phone, email, address, created_at, created_by, updated_at, updated_by)
  VALUES (@id, @patientNumber, @branchId, @firstName, @lastName, @dateOfBirth, @sex, @phone, @email, NULL,
    @now, @userId, @now, @userId)`;

const INSERT_MEDICAL = `INSERT INTO patient_medical (patient_id, allergies, conditions, medications, updated_at, updated_by)
  VALUES (@patientId, @allergies, @conditions, @medications, @now, @userId)`;

/** Opens a new clinic and fills it with `patientCount` synthetic patients. */
export async function openBenchClinic(patientCount: number, seed: string): Promise<BenchClinic> {
  const clinic = await createTestClinic({ rateLimits: UNLIMITED });
  try {
    const services = servicesOf(clinic.core);
    const db = services.clinic.db;
    const device = services.clinic.device;
    if (!db || !device) throw new Error('the bench clinic has no database');
    const other = await clinic.admin.ok('branches.create', { name: 'Lake Road' });
    const dentist = await clinic.signedInUser('Dentist', { username: 'dentist' });
    const receptionist = await clinic.signedInUser('Receptionist', { username: 'frontdesk' });

    const now = clinic.clock.now();
    const synthetic = generatePatients(patientCount, seed, now - 400 * 86_400_000);
    const random = new SeededRandom(`${seed}:branches`);
    const patients: StoredPatient[] = [];
    const start = process.hrtime.bigint();
    db.transaction(() => {
      for (const patient of synthetic) {
        const branchId = random.next() < 0.8 ? clinic.branchId : other.id;
        const { medical, ...columns } = patient;
        const { lastInsertRowid } = db.command(INSERT_PATIENT).run({
          ...columns,
          branchId,
          now,
          userId: clinic.adminUserId,
        });
        const rowid = Number(lastInsertRowid);
        indexPatient(db, rowid, patient);
        if (medical) {
          db.command(INSERT_MEDICAL).run({
            patientId: patient.id,
            allergies: JSON.stringify(medical.allergies),
            conditions: JSON.stringify(medical.conditions),
            medications: JSON.stringify(medical.medications),
            now,
            userId: clinic.adminUserId,
          });
        }
        patients.push({ ...patient, branchId, rowid });
      }
      db.command(
        `INSERT INTO counters (name, value) VALUES ('patient_number', ?)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
      ).run([patientCount]);
    });
    const populateMs = elapsedMs(start);
    // Start from a checkpointed WAL, as after a restart of the app.
    db.execScript('PRAGMA wal_checkpoint(TRUNCATE)');
    return {
      clinic,
      services,
      db,
      device,
      mainBranchId: clinic.branchId,
      otherBranchId: other.id,
      dentist,
      receptionist,
      patients,
      populateMs,
      close: () => clinic.close(),
    };
  } catch (error) {
    await clinic.close();
    throw error;
  }
}
