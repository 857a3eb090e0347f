import type { SqliteMigration } from '../../migrate.js';

/**
 * The clinic's own record (so a file knows whose it is), its counters, enrollment codes (hashes
 * only) and devices. Triggers keep a redeemed code redeemed, a revoked device revoked, and a
 * device's identity fixed.
 */
export const clinicMigration: SqliteMigration = {
  version: 10,
  name: 'clinic',
  up(db) {
    db.exec(`
      CREATE TABLE clinic (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        clinic_id TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE TRIGGER clinic_id_fixed BEFORE UPDATE OF clinic_id ON clinic
        BEGIN SELECT RAISE(ABORT, 'a clinic file keeps its clinic id'); END;
      CREATE TABLE counters (
        counter TEXT PRIMARY KEY CHECK (counter IN ('changes', 'audit_leaves', 'security_events')),
        value INTEGER NOT NULL CHECK (value >= 0)
      ) STRICT;
      INSERT INTO counters (counter, value) VALUES ('changes', 0), ('audit_leaves', 0), ('security_events', 0);
      CREATE TRIGGER counters_only_grow BEFORE UPDATE ON counters WHEN NEW.value < OLD.value
        BEGIN SELECT RAISE(ABORT, 'counters only grow'); END;
      CREATE TABLE enrollment_codes (
        code_id TEXT PRIMARY KEY,
        code_hash TEXT NOT NULL UNIQUE CHECK (length(code_hash) = 64),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        created_by TEXT,
        redeemed_at INTEGER,
        redeemed_by_device TEXT,
        CHECK ((redeemed_at IS NULL) = (redeemed_by_device IS NULL))
      ) STRICT;
      CREATE TRIGGER enrollment_codes_redeemed_once BEFORE UPDATE ON enrollment_codes WHEN OLD.redeemed_at IS NOT NULL
        BEGIN SELECT RAISE(ABORT, 'an enrollment code is redeemed once'); END;
      CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        enrollment_code_id TEXT NOT NULL UNIQUE REFERENCES enrollment_codes (code_id),
        enrolled_at INTEGER NOT NULL,
        revoked_at INTEGER,
        revoked_reason TEXT,
        CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
      ) STRICT;
      CREATE TRIGGER devices_revoked_for_good BEFORE UPDATE ON devices WHEN OLD.revoked_at IS NOT NULL
        BEGIN SELECT RAISE(ABORT, 'a revoked device stays revoked'); END;
      CREATE TRIGGER devices_identity_fixed BEFORE UPDATE OF device_id, public_key, enrollment_code_id, enrolled_at ON devices
        BEGIN SELECT RAISE(ABORT, 'a device keeps its identity'); END;
      CREATE TRIGGER devices_kept BEFORE DELETE ON devices
        BEGIN SELECT RAISE(ABORT, 'devices are revoked, never deleted'); END;
    `);
  },
};
