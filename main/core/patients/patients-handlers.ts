/** Patients: create, update, get, search, archive, and medical history for clinical roles. */
import {
  patientsArchive,
  patientsCreate,
  patientsFindDuplicates,
  patientsGet,
  patientsMerge,
  patientsSearch,
  patientsUpdate,
  patientsUpdateMedicalHistory,
} from '../../../shared/api/patients.js';
import { medicalAlertsFor } from '../../../shared/medical-alerts.js';
import { type PatientDemographics, dateOfBirthProblem, localIsoDate } from '../../../shared/schemas/patients.js';
import { ApiError } from '../api/api-error.js';
import { type RunContext, handle } from '../api/handler.js';
import { readReplicatedFields, recordRowChange } from '../sync/change-recorder.js';
import { indexPatient, searchPatients } from './patient-search.js';
import { refreshPatientPairs } from '../conflicts/patient-pairs.js';
import { allocatePatientNumber } from './patient-number.js';
import { mergePatients } from './patient-merge.js';
import { findPossibleDuplicates } from './possible-duplicates.js';
import {
  type PatientRow,
  findPatient,
  readMedicalHistory,
  toPatientProfile,
  toPatientRecord,
  writeMedicalHistory,
} from './patients-repository.js';

/** The column of each field patients.update takes (the replicated field names). */
const DEMOGRAPHIC_COLUMNS = {
  firstName: 'first_name',
  lastName: 'last_name',
  dateOfBirth: 'date_of_birth',
  sex: 'sex',
  phone: 'phone',
  email: 'email',
  address: 'address',
} as const satisfies Record<keyof PatientDemographics, string>;

/** The patient, if it exists and is in the caller's branch scope; audited by id. */
function patientInScope(ctx: RunContext, patientId: string): PatientRow {
  const row = findPatient(ctx.db, patientId);
  ctx.audit.entityId = patientId;
  if (!row) throw new ApiError('NOT_FOUND', 'There is no such patient.');
  ctx.requireBranch(row.branch_id);
  return row;
}

/**
 * Refuses a date of birth in the future or more than 120 years before the injected clock's today.
 * The input schema checked it against the system clock already; this check is the one tests and
 * a clinic's own clock decide with. Replicated rows never pass here (the sync declaration keeps
 * the plain ISO date), so old changes are never refused for the passing of time.
 */
function requirePlausibleDateOfBirth(ctx: RunContext, dateOfBirth: string | null | undefined): void {
  if (!dateOfBirth) return;
  const problem = dateOfBirthProblem(dateOfBirth, localIsoDate(ctx.now));
  if (problem) throw new ApiError('VALIDATION_FAILED', `Some fields are not valid: dateOfBirth: ${problem}`);
}

function reindex(ctx: RunContext, id: string): PatientRow {
  const row = findPatient(ctx.db, id)!;
  indexPatient(ctx.db, row.rowid, {
    firstName: row.first_name,
    lastName: row.last_name,
    phone: row.phone,
    patientNumber: row.patient_number,
    dateOfBirth: row.date_of_birth,
  });
  return row;
}

export const patientsHandlers = {
  'patients.create': handle(patientsCreate, {
    run(ctx, input) {
      const branch = ctx.db.query<{ id: string }>('SELECT id FROM branches WHERE id = ?').get([input.branchId]);
      if (!branch) throw new ApiError('NOT_FOUND', 'There is no such branch.');
      requirePlausibleDateOfBirth(ctx, input.dateOfBirth);
      const id = ctx.services.sources.ids.next();
      const userId = ctx.caller!.userId;
      ctx.db
        .command(
          `INSERT INTO patients (id, patient_number, branch_id, first_name, last_name, date_of_birth, sex, phone, email,
             address, created_at, created_by, updated_at, updated_by)
           VALUES (@id, @number, @branchId, @firstName, @lastName, @dateOfBirth, @sex, @phone, @email, @address,
             @now, @userId, @now, @userId)`,
        )
        .run({
          id,
          number: allocatePatientNumber(ctx.db),
          branchId: input.branchId,
          firstName: input.firstName,
          lastName: input.lastName,
          dateOfBirth: input.dateOfBirth ?? null,
          sex: input.sex ?? 'unknown',
          phone: input.phone ?? null,
          email: input.email ?? null,
          address: input.address ?? null,
          now: ctx.now,
          userId,
        });
      const row = reindex(ctx, id);
      recordRowChange(ctx, 'patient', id, undefined);
      refreshPatientPairs(ctx.db, id, ctx.now, null);
      ctx.audit.entityId = id;
      ctx.audit.details = { branchId: input.branchId };
      return toPatientRecord(ctx.db, row, ctx.can('medical.read'));
    },
  }),

  'patients.update': handle(patientsUpdate, {
    run(ctx, input) {
      const { patientId, ...changes } = input;
      const row = patientInScope(ctx, patientId);
      const changed = Object.keys(changes).filter((key) => changes[key as keyof typeof changes] !== undefined);
      if (changed.length === 0) throw new ApiError('VALIDATION_FAILED', 'Nothing to change.');
      requirePlausibleDateOfBirth(ctx, changes.dateOfBirth);
      const before = readReplicatedFields(ctx.db, 'patient', row.id, ctx.services.replication);
      ctx.db
        .command(
          `UPDATE patients SET first_name = @firstName, last_name = @lastName, date_of_birth = @dateOfBirth, sex = @sex,
             phone = @phone, email = @email, address = @address, updated_at = @now, updated_by = @userId
           WHERE id = @id`,
        )
        .run({
          id: row.id,
          firstName: changes.firstName ?? row.first_name,
          lastName: changes.lastName ?? row.last_name,
          dateOfBirth: changes.dateOfBirth === undefined ? row.date_of_birth : changes.dateOfBirth,
          sex: changes.sex ?? row.sex,
          phone: changes.phone === undefined ? row.phone : changes.phone,
          email: changes.email === undefined ? row.email : changes.email,
          address: changes.address === undefined ? row.address : changes.address,
          now: ctx.now,
          userId: ctx.caller!.userId,
        });
      recordRowChange(
        ctx,
        'patient',
        row.id,
        before,
        changed.map((key) => DEMOGRAPHIC_COLUMNS[key as keyof typeof DEMOGRAPHIC_COLUMNS]),
      );
      refreshPatientPairs(ctx.db, row.id, ctx.now, null);
      // Field names only: the audit trail records what changed, never the values.
      ctx.audit.details = { changed: changed.join(',') };
      return toPatientRecord(ctx.db, reindex(ctx, row.id), ctx.can('medical.read'));
    },
  }),

  'patients.get': handle(patientsGet, {
    run(ctx, input) {
      const row = patientInScope(ctx, input.patientId);
      const withMedical = ctx.can('medical.read');
      ctx.audit.details = { medicalHistory: withMedical };
      return toPatientProfile(ctx.db, row, withMedical);
    },
  }),

  'patients.search': handle(patientsSearch, {
    run(ctx, input) {
      const caller = ctx.caller!;
      const page = searchPatients(ctx.db, input.query, {
        limit: input.limit,
        offset: input.offset,
        includeArchived: input.includeArchived,
        branchIds: caller.allBranches ? null : caller.branchIds,
      });
      ctx.audit.details = {
        kind: page.kind,
        results: page.results.length,
        ...(input.offset > 0 ? { offset: input.offset } : {}),
      };
      return { results: page.results, total: page.total, capped: page.capped };
    },
  }),

  'patients.findDuplicates': handle(patientsFindDuplicates, {
    run(ctx, input) {
      const caller = ctx.caller!;
      const matches = findPossibleDuplicates(ctx.db, input, caller.allBranches ? null : caller.branchIds);
      // The count and the ids the caller was shown; the typed name, date of birth and phone stay out.
      ctx.audit.details = { matches: matches.length, patientIds: matches.map((match) => match.id).join(',') || null };
      return { matches };
    },
  }),

  'patients.archive': handle(patientsArchive, {
    run(ctx, input) {
      const row = patientInScope(ctx, input.patientId);
      if (row.archived_at !== null) throw new ApiError('CONFLICT', 'This patient is already archived.');
      const before = readReplicatedFields(ctx.db, 'patient', row.id, ctx.services.replication);
      ctx.db
        .command('UPDATE patients SET archived_at = ?, archive_reason = ?, updated_at = ?, updated_by = ? WHERE id = ?')
        .run([ctx.now, input.reason, ctx.now, ctx.caller!.userId, row.id]);
      // Archiving is an update (archived_at, archive_reason), not a tombstone: the record stays.
      recordRowChange(ctx, 'patient', row.id, before);
      return toPatientRecord(ctx.db, findPatient(ctx.db, row.id)!, ctx.can('medical.read'));
    },
  }),

  'patients.merge': handle(patientsMerge, {
    run(ctx, input) {
      const survivor = patientInScope(ctx, input.survivorId);
      const duplicate = patientInScope(ctx, input.duplicateId);
      const merged = mergePatients(ctx, survivor, duplicate, input.reason);
      // Both ids, so each record's trail shows the merge; the reason is free text and stays out.
      ctx.audit.entityId = survivor.id;
      ctx.audit.details = { survivorId: survivor.id, duplicateId: duplicate.id };
      const withMedical = ctx.can('medical.read');
      return {
        survivor: toPatientProfile(ctx.db, merged.survivor, withMedical),
        duplicate: toPatientProfile(ctx.db, merged.duplicate, withMedical),
      };
    },
  }),

  'patients.updateMedicalHistory': handle(patientsUpdateMedicalHistory, {
    run(ctx, input) {
      const row = patientInScope(ctx, input.patientId);
      const { patientId: _patientId, ...history } = input;
      const before = readReplicatedFields(ctx.db, 'patient_medical', row.id, ctx.services.replication);
      writeMedicalHistory(ctx.db, row.id, history, ctx.caller!.userId, ctx.now);
      recordRowChange(ctx, 'patient_medical', row.id, before);
      const saved = readMedicalHistory(ctx.db, row.id);
      ctx.audit.details = {
        allergies: saved.allergies.length,
        conditions: saved.conditions.length,
        medications: saved.medications.length,
      };
      return { medicalHistory: saved, alerts: medicalAlertsFor(saved) };
    },
  }),
};
