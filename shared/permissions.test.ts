import { describe, expect, it } from 'vitest';
import { type Permission, type Role, permissionMatrix, permissions, roles } from './permissions.js';

// The expected matrix, written out cell by cell: changing who may do what must change this
// table too, deliberately, in review. Columns follow `permissions`.
const expected: Record<Role, Record<Permission, boolean>> = {
  Admin: {
    'session.self': true,
    'patients.read': true,
    'patients.write': true,
    'patients.archive': true,
    'medical.read': false,
    'medical.write': false,
    'users.read': true,
    'users.manage': true,
    'branches.read': true,
    'branches.manage': true,
    'audit.read': true,
    'audit.verify': true,
  },
  Dentist: {
    'session.self': true,
    'patients.read': true,
    'patients.write': true,
    'patients.archive': true,
    'medical.read': true,
    'medical.write': true,
    'users.read': false,
    'users.manage': false,
    'branches.read': true,
    'branches.manage': false,
    'audit.read': false,
    'audit.verify': false,
  },
  Receptionist: {
    'session.self': true,
    'patients.read': true,
    'patients.write': true,
    'patients.archive': true,
    'medical.read': false,
    'medical.write': false,
    'users.read': false,
    'users.manage': false,
    'branches.read': true,
    'branches.manage': false,
    'audit.read': false,
    'audit.verify': false,
  },
  Staff: {
    'session.self': true,
    'patients.read': true,
    'patients.write': false,
    'patients.archive': false,
    'medical.read': true,
    'medical.write': false,
    'users.read': false,
    'users.manage': false,
    'branches.read': true,
    'branches.manage': false,
    'audit.read': false,
    'audit.verify': false,
  },
};

describe('permission matrix', () => {
  for (const role of roles) {
    for (const permission of permissions) {
      it(`${role} ${expected[role][permission] ? 'holds' : 'does not hold'} ${permission}`, () => {
        expect(permissionMatrix[role].has(permission)).toBe(expected[role][permission]);
      });
    }
  }

  it('grants no permission outside the declared list', () => {
    for (const role of roles) {
      for (const permission of permissionMatrix[role]) expect(permissions).toContain(permission);
    }
  });
});
