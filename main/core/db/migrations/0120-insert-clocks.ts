import type { Migration } from '../migrate.js';

/**
 * Field clocks an insert wrote (main/core/sync/field-clocks.ts): since this version an insert
 * stores only its row clock, and a field's clock is the newer of its own update clock and the
 * row's insert clock. Rows an earlier version wrote for inserts say nothing the insert clock does
 * not, so they go; the clock of every field stays what it was, and every device holds the same
 * clock rows whichever version applied the insert.
 */
export const insertClocksMigration: Migration = {
  version: 120,
  name: 'insert-clocks',
  up(db) {
    db.execScript(`
      DELETE FROM sync_field_clock
       WHERE hlc <= (SELECT inserted_hlc FROM sync_row_clock r
                      WHERE r.entity = sync_field_clock.entity AND r.row_id = sync_field_clock.row_id);
    `);
  },
};
