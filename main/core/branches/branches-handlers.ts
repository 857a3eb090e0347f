/** Branches: listed within the caller's scope; created by an Admin. */
import { branchesCreate, branchesList } from '../../../shared/api/branches.js';
import type { Branch } from '../../../shared/schemas/users.js';
import { ApiError } from '../api/api-error.js';
import { handle } from '../api/handler.js';
import { recordRowChange } from '../sync/change-recorder.js';

interface BranchRow {
  id: string;
  name: string;
  created_at: number;
}

const toBranch = (row: BranchRow): Branch => ({ id: row.id, name: row.name, createdAt: row.created_at });

export const branchesHandlers = {
  'branches.list': handle(branchesList, {
    run(ctx) {
      const caller = ctx.caller!;
      const rows = ctx.db.query<BranchRow>('SELECT id, name, created_at FROM branches ORDER BY name').all();
      const visible = caller.allBranches ? rows : rows.filter((row) => caller.branchIds.includes(row.id));
      return { branches: visible.map(toBranch) };
    },
  }),

  'branches.create': handle(branchesCreate, {
    run(ctx, input) {
      const clash = ctx.db
        .query<{ id: string }>('SELECT id FROM branches WHERE name = ? COLLATE NOCASE')
        .get([input.name]);
      if (clash) throw new ApiError('CONFLICT', 'A branch with that name exists.');
      const id = ctx.services.sources.ids.next();
      ctx.db.command('INSERT INTO branches (id, name, created_at) VALUES (?, ?, ?)').run([id, input.name, ctx.now]);
      recordRowChange(ctx, 'branch', id, undefined);
      ctx.audit.entityId = id;
      return { id, name: input.name, createdAt: ctx.now };
    },
  }),
};
