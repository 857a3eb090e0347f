import type { Migration } from '../migrate.js';
import { phoneTokens } from '../../patients/patient-search.js';

/**
 * Phone search by the last digits ("27594" for 7837827594): the index's phone column gains the
 * national number reversed (main/core/patients/patient-search.ts, phoneTokens), so a prefix query
 * on it matches the end of the number. Rows indexed before this step get their phone tokens again;
 * the other columns are unchanged.
 */
export const patientSearchPhoneSuffixMigration: Migration = {
  version: 170,
  name: 'patient-search-phone-suffix',
  up(db) {
    const update = db.command('UPDATE patients_fts SET phone = ? WHERE rowid = ?');
    const rows = db
      .query<{ rowid: number; phone: string | null }>('SELECT rowid, phone FROM patients WHERE phone IS NOT NULL')
      .all();
    for (const row of rows) update.run([phoneTokens(row.phone), row.rowid]);
  },
};
