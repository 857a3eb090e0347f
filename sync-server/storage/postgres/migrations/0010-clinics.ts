import { SCHEMA, type PostgresMigration } from '../migrate.js';
import { CLINIC_ID_COLUMN, tenantIsolation } from './tenant-table.js';

/**
 * Clinics, their counters, enrollment codes (hashes only) and devices. Two narrow policies beside
 * clinic isolation: listing clinics needs `chairside.scope = 'catalog'` (operator use), and an
 * enrollment code row is visible to whoever presents its hash (redemption happens before the
 * clinic is known). The app role may update only the columns that change: counter values, a
 * code's redemption, a device's revocation; triggers keep those one-way.
 */
export const clinicsMigration: PostgresMigration = {
  version: 10,
  name: 'clinics',
  async up(client, { appRole }) {
    await client.query(`
      GRANT USAGE ON SCHEMA ${SCHEMA} TO ${appRole};

      CREATE TABLE ${SCHEMA}.clinics (
        clinic_id uuid PRIMARY KEY,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        created_at bigint NOT NULL
      );
      ${tenantIsolation('clinics')}
      CREATE POLICY clinic_catalog_read ON ${SCHEMA}.clinics FOR SELECT
        USING (current_setting('chairside.scope', true) = 'catalog');
      GRANT SELECT, INSERT ON ${SCHEMA}.clinics TO ${appRole};

      CREATE TABLE ${SCHEMA}.clinic_counters (
        ${CLINIC_ID_COLUMN} REFERENCES ${SCHEMA}.clinics (clinic_id),
        counter text NOT NULL CHECK (counter IN ('changes', 'audit_leaves', 'security_events')),
        value bigint NOT NULL CHECK (value >= 0),
        PRIMARY KEY (clinic_id, counter)
      );
      ${tenantIsolation('clinic_counters')}
      GRANT SELECT, INSERT ON ${SCHEMA}.clinic_counters TO ${appRole};
      GRANT UPDATE (value) ON ${SCHEMA}.clinic_counters TO ${appRole};
      CREATE FUNCTION ${SCHEMA}.counter_only_grows() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.value < OLD.value THEN RAISE EXCEPTION 'counters only grow'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER counter_only_grows BEFORE UPDATE ON ${SCHEMA}.clinic_counters
        FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.counter_only_grows();

      CREATE TABLE ${SCHEMA}.enrollment_codes (
        ${CLINIC_ID_COLUMN} REFERENCES ${SCHEMA}.clinics (clinic_id),
        code_id uuid NOT NULL,
        -- Unique across clinics: a redeemed code must name exactly one clinic. Codes carry 100
        -- random bits, so this reveals nothing about other clinics.
        code_hash text NOT NULL UNIQUE CHECK (code_hash ~ '^[0-9a-f]{64}$'),
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        created_by text,
        redeemed_at bigint,
        redeemed_by_device text,
        PRIMARY KEY (clinic_id, code_id),
        CHECK ((redeemed_at IS NULL) = (redeemed_by_device IS NULL))
      );
      ${tenantIsolation('enrollment_codes')}
      CREATE POLICY enrollment_code_redemption_read ON ${SCHEMA}.enrollment_codes FOR SELECT
        USING (code_hash = NULLIF(current_setting('chairside.enrollment_code_hash', true), ''));
      CREATE POLICY enrollment_code_redemption_write ON ${SCHEMA}.enrollment_codes FOR UPDATE
        USING (code_hash = NULLIF(current_setting('chairside.enrollment_code_hash', true), ''))
        WITH CHECK (code_hash = NULLIF(current_setting('chairside.enrollment_code_hash', true), ''));
      GRANT SELECT, INSERT ON ${SCHEMA}.enrollment_codes TO ${appRole};
      GRANT UPDATE (redeemed_at, redeemed_by_device) ON ${SCHEMA}.enrollment_codes TO ${appRole};
      CREATE FUNCTION ${SCHEMA}.code_redeemed_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.redeemed_at IS NOT NULL THEN RAISE EXCEPTION 'an enrollment code is redeemed once'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER code_redeemed_once BEFORE UPDATE ON ${SCHEMA}.enrollment_codes
        FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.code_redeemed_once();

      CREATE TABLE ${SCHEMA}.devices (
        ${CLINIC_ID_COLUMN} REFERENCES ${SCHEMA}.clinics (clinic_id),
        device_id text NOT NULL,
        name text NOT NULL,
        public_key bytea NOT NULL CHECK (length(public_key) = 32),
        enrollment_code_id uuid NOT NULL,
        enrolled_at bigint NOT NULL,
        revoked_at bigint,
        revoked_reason text,
        PRIMARY KEY (clinic_id, device_id),
        UNIQUE (clinic_id, enrollment_code_id),
        FOREIGN KEY (clinic_id, enrollment_code_id) REFERENCES ${SCHEMA}.enrollment_codes (clinic_id, code_id),
        CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
      );
      ${tenantIsolation('devices')}
      GRANT SELECT, INSERT ON ${SCHEMA}.devices TO ${appRole};
      GRANT UPDATE (revoked_at, revoked_reason) ON ${SCHEMA}.devices TO ${appRole};
      CREATE FUNCTION ${SCHEMA}.device_revoked_for_good() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.revoked_at IS NOT NULL THEN RAISE EXCEPTION 'a revoked device stays revoked'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER device_revoked_for_good BEFORE UPDATE ON ${SCHEMA}.devices
        FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.device_revoked_for_good();
    `);
  },
};
