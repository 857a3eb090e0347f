import { SCHEMA, type PostgresMigration } from '../migrate.js';

/**
 * Device numbers (docs/sync-protocol.md, "Domain conflicts"): each device of a clinic gets the
 * next value of the clinic's `devices` counter at enrollment (1, 2, 3...), so devices other than
 * number 1 allocate patient numbers in a space of their own. The counter row is locked by the
 * redemption's upsert until commit, so concurrent redemptions (even on several server processes)
 * take consecutive numbers. Devices enrolled before this step are numbered in enrollment order.
 * The app role has no UPDATE on the column, so a number is fixed once given.
 */
export const deviceNumbersMigration: PostgresMigration = {
  version: 70,
  name: 'device-numbers',
  async up(client) {
    await client.query(`
      ALTER TABLE ${SCHEMA}.clinic_counters DROP CONSTRAINT clinic_counters_counter_check;
      ALTER TABLE ${SCHEMA}.clinic_counters ADD CONSTRAINT clinic_counters_counter_check
        CHECK (counter IN ('changes', 'audit_leaves', 'security_events', 'devices'));
      ALTER TABLE ${SCHEMA}.devices ADD COLUMN device_number integer CHECK (device_number >= 1);

      -- The backfill spans clinics, so the owner lifts the forced row-level security (and the
      -- revoked-device trigger, which refuses every update) for this one transaction only.
      ALTER TABLE ${SCHEMA}.devices NO FORCE ROW LEVEL SECURITY;
      ALTER TABLE ${SCHEMA}.clinic_counters NO FORCE ROW LEVEL SECURITY;
      ALTER TABLE ${SCHEMA}.devices DISABLE TRIGGER device_revoked_for_good;
      UPDATE ${SCHEMA}.devices AS d SET device_number = numbered.n
        FROM (SELECT clinic_id, device_id,
                     row_number() OVER (PARTITION BY clinic_id ORDER BY enrolled_at, device_id) AS n
                FROM ${SCHEMA}.devices) AS numbered
       WHERE d.clinic_id = numbered.clinic_id AND d.device_id = numbered.device_id;
      INSERT INTO ${SCHEMA}.clinic_counters (clinic_id, counter, value)
        SELECT clinic_id, 'devices', count(*) FROM ${SCHEMA}.devices GROUP BY clinic_id;
      ALTER TABLE ${SCHEMA}.devices ENABLE TRIGGER device_revoked_for_good;
      ALTER TABLE ${SCHEMA}.clinic_counters FORCE ROW LEVEL SECURITY;
      ALTER TABLE ${SCHEMA}.devices FORCE ROW LEVEL SECURITY;

      ALTER TABLE ${SCHEMA}.devices ALTER COLUMN device_number SET NOT NULL;
      ALTER TABLE ${SCHEMA}.devices ADD CONSTRAINT devices_number_unique UNIQUE (clinic_id, device_number);
    `);
  },
};
