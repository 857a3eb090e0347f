/** The audit viewer and chain verification. */
import { auditList, auditVerify } from '../../../shared/api/audit.js';
import { handle } from '../api/handler.js';

export const auditHandlers = {
  'audit.list': handle(auditList, {
    run(ctx, input) {
      const { limit, before, ...filters } = input;
      const page = ctx.services.audit.list(ctx.db, { ...filters, before, limit });
      ctx.audit.details = { returned: page.entries.length };
      return { entries: page.entries, nextBefore: page.nextBefore };
    },
  }),

  'audit.verify': handle(auditVerify, {
    // Verification only reads, so it runs in the prepare phase, outside the write transaction:
    // a long chain never holds the write lock. Its own audit entry then records the verdict.
    async prepare(ctx) {
      return ctx.services.audit.verify(ctx.db!, ctx.services.clinic.device!);
    },
    run(ctx, _input, result) {
      ctx.audit.details = { ok: result.ok, entries: result.entries };
      return result.ok
        ? { ok: true, entries: result.entries, headSeq: result.headSeq, firstBadSeq: null, reason: null }
        : { ok: false, entries: result.entries, headSeq: null, firstBadSeq: result.firstBadSeq, reason: result.reason };
    },
  }),
};
