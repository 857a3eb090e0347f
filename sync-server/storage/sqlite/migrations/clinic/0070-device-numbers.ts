import type { SqliteMigration } from '../../migrate.js';

/**
 * Device numbers (docs/sync-protocol.md, "Domain conflicts"): each device of the clinic gets the
 * next number at enrollment (1, 2, 3...), so devices other than number 1 allocate patient numbers
 * in a space of their own. Devices enrolled before this step are numbered in enrollment order.
 * The number is fixed once given and unique in the clinic file. Redemptions of one clinic file
 * run one at a time (one writer per file), so the next number is `max + 1` inside the redemption
 * transaction; no counter row is needed here.
 */
export const deviceNumbersMigration: SqliteMigration = {
  version: 70,
  name: 'device-numbers',
  up(db) {
    db.exec(`
      ALTER TABLE devices ADD COLUMN device_number INTEGER CHECK (device_number >= 1);
      -- A revoked device stays revoked: its trigger refuses every update, so it is lifted for
      -- the one-time backfill and put back unchanged.
      DROP TRIGGER devices_revoked_for_good;
      UPDATE devices SET device_number = (
        SELECT count(*) FROM devices AS earlier
         WHERE earlier.enrolled_at < devices.enrolled_at
            OR (earlier.enrolled_at = devices.enrolled_at AND earlier.device_id <= devices.device_id)
      );
      CREATE TRIGGER devices_revoked_for_good BEFORE UPDATE ON devices WHEN OLD.revoked_at IS NOT NULL
        BEGIN SELECT RAISE(ABORT, 'a revoked device stays revoked'); END;
      CREATE UNIQUE INDEX devices_number ON devices (device_number);
      CREATE TRIGGER devices_number_given BEFORE INSERT ON devices WHEN NEW.device_number IS NULL
        BEGIN SELECT RAISE(ABORT, 'a device is enrolled with its number'); END;
      CREATE TRIGGER devices_number_fixed BEFORE UPDATE OF device_number ON devices
        BEGIN SELECT RAISE(ABORT, 'a device keeps its number'); END;
    `);
  },
};
