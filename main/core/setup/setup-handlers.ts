/**
 * First run. setup.createClinic creates the encrypted database, then the clinic, its first
 * branch, its first Admin and this device's identity in one transaction with the first audit
 * entry; it refuses once a clinic exists. The recovery key is returned once and never stored.
 */
import { setupCreateClinic, setupStatus } from '../../../shared/api/setup.js';
import { ApiError } from '../api/api-error.js';
import { handle } from '../api/handler.js';
import { assertPasswordAllowed } from '../auth/auth-handlers.js';
import { insertUser, setBranches } from '../users/users-repository.js';

export const setupHandlers = {
  'setup.status': handle(setupStatus, {
    runsWithoutDatabase: () => ({ state: 'new' as const, clinicName: null }),
    run(ctx) {
      const clinic = ctx.db.query<{ name: string }>('SELECT name FROM clinic').get();
      return clinic
        ? { state: 'ready' as const, clinicName: clinic.name }
        : { state: 'new' as const, clinicName: null };
    },
  }),

  'setup.createClinic': handle(setupCreateClinic, {
    async prepare(ctx, input) {
      if (ctx.services.clinic.db) throw new ApiError('ALREADY_SET_UP', 'This device already has a clinic.');
      assertPasswordAllowed(input.admin.password, input.admin.username);
      const passwordHash = await ctx.services.hasher.hash(input.admin.password);
      // Checked again after the slow hash: two setups racing must not both pass.
      if (ctx.services.clinic.db) throw new ApiError('ALREADY_SET_UP', 'This device already has a clinic.');
      const created = await ctx.services.clinic.create().catch((error: unknown) => {
        // Another setup finished while this one hashed the password.
        if (ctx.services.clinic.db) throw new ApiError('ALREADY_SET_UP', 'This device already has a clinic.');
        throw error;
      });
      return { passwordHash, ...created };
    },
    run(ctx, input, prepared) {
      // If this transaction rolls back, the new files go too, so setup can be retried.
      ctx.onRollback(prepared.remove);
      {
        const { ids } = ctx.services.sources;
        const clinicId = ids.next();
        const branchId = ids.next();
        const adminUserId = ids.next();
        ctx.db
          .command('INSERT INTO clinic (id, name, created_at) VALUES (?, ?, ?)')
          .run([clinicId, input.clinicName, ctx.now]);
        ctx.db
          .command('INSERT INTO branches (id, name, created_at) VALUES (?, ?, ?)')
          .run([branchId, input.branchName, ctx.now]);
        ctx.db.command('INSERT INTO device (id, epoch, created_at) VALUES (?, 1, ?)').run([ids.next(), ctx.now]);
        insertUser(ctx.db, {
          id: adminUserId,
          username: input.admin.username,
          displayName: input.admin.displayName,
          role: 'Admin',
          allBranches: true,
          passwordHash: prepared.passwordHash,
          now: ctx.now,
        });
        setBranches(ctx.db, adminUserId, []);
        ctx.audit.subject = { userId: adminUserId, role: 'Admin' };
        ctx.audit.entityId = clinicId;
        ctx.audit.details = { branchId, adminUserId };
        return { clinicId, branchId, adminUserId, recoveryKey: prepared.recoveryKey };
      }
    },
  }),
};
