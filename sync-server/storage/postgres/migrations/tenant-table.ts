/**
 * The row-level security every tenant table gets: enabled and FORCED (so the table owner is
 * bound too), with one policy admitting exactly the rows of the clinic set for the transaction by
 * `set_config('chairside.clinic_id', $1, true)`. With no clinic set (NULL on a new connection,
 * '' on one that ran a transaction before) the policy matches nothing: NULLIF turns '' into
 * NULL rather than failing the uuid cast.
 */
import { SCHEMA } from '../migrate.js';

/** The clinic of the current transaction, NULL when none is set. */
export const CURRENT_CLINIC = `NULLIF(current_setting('chairside.clinic_id', true), '')::uuid`;

/** SQL enabling and forcing row-level security on `table` with the clinic isolation policy. */
export function tenantIsolation(table: string): string {
  if (!/^[a-z_]+$/.test(table)) throw new Error('table names here are constants');
  return `
    ALTER TABLE ${SCHEMA}.${table} ENABLE ROW LEVEL SECURITY;
    ALTER TABLE ${SCHEMA}.${table} FORCE ROW LEVEL SECURITY;
    CREATE POLICY clinic_isolation ON ${SCHEMA}.${table}
      USING (clinic_id = ${CURRENT_CLINIC})
      WITH CHECK (clinic_id = ${CURRENT_CLINIC});
  `;
}

/** The clinic_id column every tenant table starts with: filled from the transaction's clinic. */
export const CLINIC_ID_COLUMN = `clinic_id uuid NOT NULL DEFAULT ${CURRENT_CLINIC}`;
