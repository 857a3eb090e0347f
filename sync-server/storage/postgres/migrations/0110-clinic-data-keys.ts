import { MigrationError, SCHEMA, type PostgresMigration } from '../migrate.js';
import { type ClinicDataKey, ClinicKeyWrapper, WRAPPED_KEY_BYTES } from '../clinic-data-key.js';
import { patientBranchColumn } from '../sealed-rows.js';
import type pg from 'pg';

// Rows sealed per statement while encrypting an existing clinic: bounded memory, few round trips.
const PAGE = 2_000;

/**
 * Encryption at rest (clinic-data-key.ts). Each clinic gets a wrapped data key
 * (`clinics.wrapped_data_key`); a change's fields move to `changes.sealed_fields` and a
 * quarantined change's detail to `quarantined_changes.sealed_detail`, both AES-256-GCM under
 * that key. A patient change's branch id stays in clear in `changes.branch_id`, so the
 * branch-scope lookup keeps reading the index `changes_patient_rows` without opening fields.
 *
 * Existing rows are encrypted here, in this step's transaction: it needs the server master key
 * (`db migrate` reads CHAIRSIDE_SYNC_MASTER_KEY or --master-key-file) whenever a clinic exists,
 * and refuses without it. The plaintext columns are then dropped and both tables rewritten
 * (CLUSTER), so neither the dropped column nor the old row versions stay in the table files.
 * Copies made before (older dumps, WAL archives, replicas' files) still hold plaintext.
 */
export const clinicDataKeysMigration: PostgresMigration = {
  version: 110,
  name: 'clinic-data-keys',
  async up(client, { masterKey }) {
    await client.query(`
      ALTER TABLE ${SCHEMA}.clinics ADD COLUMN wrapped_data_key bytea
        CHECK (length(wrapped_data_key) = ${WRAPPED_KEY_BYTES});
      ALTER TABLE ${SCHEMA}.changes ADD COLUMN sealed_fields bytea, ADD COLUMN branch_id text;
      ALTER TABLE ${SCHEMA}.quarantined_changes ADD COLUMN sealed_detail bytea;
    `);
    // The owner is bound by the forced row-level security too: the catalog scope lists clinics,
    // then each clinic's rows are reached with that clinic set, as the server reaches them.
    await client.query(`SELECT set_config('chairside.scope', 'catalog', true)`);
    const clinics = (await client.query<{ clinic_id: string }>(`SELECT clinic_id FROM ${SCHEMA}.clinics`)).rows;
    await client.query(`SELECT set_config('chairside.scope', '', true)`);
    if (clinics.length > 0) {
      if (masterKey === undefined) {
        throw new MigrationError(
          'migration 110 encrypts the patient data of existing clinics: give the server master key (CHAIRSIDE_SYNC_MASTER_KEY or --master-key-file)',
        );
      }
      const wrapper = new ClinicKeyWrapper(masterKey);
      for (const { clinic_id: clinicId } of clinics) await sealClinic(client, wrapper, clinicId);
      await client.query(`SELECT set_config('chairside.clinic_id', '', true)`);
    }
    await client.query(`
      ALTER TABLE ${SCHEMA}.clinics ALTER COLUMN wrapped_data_key SET NOT NULL;
      ALTER TABLE ${SCHEMA}.changes ALTER COLUMN sealed_fields SET NOT NULL, DROP COLUMN fields;
      ALTER TABLE ${SCHEMA}.quarantined_changes ALTER COLUMN sealed_detail SET NOT NULL, DROP COLUMN detail;
      CLUSTER ${SCHEMA}.changes USING changes_pkey;
      CLUSTER ${SCHEMA}.quarantined_changes USING quarantined_changes_pkey;
    `);
  },
};

/** Gives one clinic its data key and seals its existing changes and quarantined details. */
async function sealClinic(client: pg.ClientBase, wrapper: ClinicKeyWrapper, clinicId: string): Promise<void> {
  await client.query(`SELECT set_config('chairside.clinic_id', $1, true)`, [clinicId]);
  const { key, wrapped } = wrapper.newDataKey(clinicId);
  await client.query(`UPDATE ${SCHEMA}.clinics SET wrapped_data_key = $1`, [wrapped]);
  await sealChanges(client, key);
  await sealQuarantine(client, key);
}

async function sealChanges(client: pg.ClientBase, key: ClinicDataKey): Promise<void> {
  for (let after = 0; ;) {
    const rows = (
      await client.query<{
        server_seq: string;
        change_id: string;
        entity: string;
        row_id: string;
        op: string;
        hlc: string;
        fields: string;
      }>(
        `SELECT server_seq, change_id, entity, row_id, op, hlc, fields FROM ${SCHEMA}.changes
          WHERE server_seq > $1 ORDER BY server_seq LIMIT $2`,
        [after, PAGE],
      )
    ).rows;
    if (rows.length === 0) return;
    const sealed = rows.map((row) => {
      const identity = { changeId: row.change_id, entity: row.entity, rowId: row.row_id, op: row.op, hlc: row.hlc };
      return key.sealChangeFields(identity, row.fields);
    });
    const branches = rows.map((row) =>
      patientBranchColumn(row.entity, JSON.parse(row.fields) as Readonly<Record<string, unknown>>),
    );
    await client.query(
      `UPDATE ${SCHEMA}.changes AS c SET sealed_fields = u.sealed, branch_id = u.branch
         FROM unnest($1::bigint[], $2::bytea[], $3::text[]) AS u(seq, sealed, branch)
        WHERE c.server_seq = u.seq`,
      [rows.map((row) => row.server_seq), sealed, branches],
    );
    after = Number(rows.at(-1)!.server_seq);
  }
}

async function sealQuarantine(client: pg.ClientBase, key: ClinicDataKey): Promise<void> {
  for (let after = 0; ;) {
    const rows = (
      await client.query<{ quarantine_seq: string; change_id: string; detail: string }>(
        `SELECT quarantine_seq, change_id, detail FROM ${SCHEMA}.quarantined_changes
          WHERE quarantine_seq > $1 ORDER BY quarantine_seq LIMIT $2`,
        [after, PAGE],
      )
    ).rows;
    if (rows.length === 0) return;
    await client.query(
      `UPDATE ${SCHEMA}.quarantined_changes AS q SET sealed_detail = u.sealed
         FROM unnest($1::bigint[], $2::bytea[]) AS u(seq, sealed)
        WHERE q.quarantine_seq = u.seq`,
      [rows.map((row) => row.quarantine_seq), rows.map((row) => key.sealQuarantineDetail(row.change_id, row.detail))],
    );
    after = Number(rows.at(-1)!.quarantine_seq);
  }
}
