/** Every handler, keyed by channel: the type requires exactly one per channel in the registry. */
import { auditHandlers } from '../audit/audit-handlers.js';
import { authHandlers } from '../auth/auth-handlers.js';
import { branchesHandlers } from '../branches/branches-handlers.js';
import { conflictsHandlers } from '../conflicts/conflicts-handlers.js';
import { patientsHandlers } from '../patients/patients-handlers.js';
import { setupHandlers } from '../setup/setup-handlers.js';
import { syncHandlers } from '../sync/sync-handlers.js';
import { usersHandlers } from '../users/users-handlers.js';
import type { HandlerTable } from './handler.js';

export const handlerTable: HandlerTable = {
  ...setupHandlers,
  ...authHandlers,
  ...usersHandlers,
  ...branchesHandlers,
  ...patientsHandlers,
  ...auditHandlers,
  ...syncHandlers,
  ...conflictsHandlers,
};
