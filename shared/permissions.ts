/**
 * Roles and the permission matrix: data, read by main and by the sync server alike, tested cell
 * by cell and rendered as a table in docs/permissions.md. Security decisions are made against
 * this table in main, never only in the renderer.
 */
import { z } from 'zod';

/** The four roles a clinic user can hold (one per user). */
export const roles = ['Admin', 'Dentist', 'Receptionist', 'Staff'] as const;
export const roleSchema = z.enum(roles);
export type Role = z.infer<typeof roleSchema>;

/** Every permission a channel can require. */
export const permissions = [
  'session.self',
  'patients.read',
  'patients.write',
  'patients.archive',
  'medical.read',
  'medical.write',
  'users.read',
  'users.manage',
  'branches.read',
  'branches.manage',
  'audit.read',
  'audit.verify',
] as const;
export type Permission = (typeof permissions)[number];

/**
 * The channels anyone may call without a session (clinic setup, sign-in). Declared explicitly,
 * so "no permission" can never be an accident.
 */
export const PUBLIC = 'public' as const;
export type ChannelPermission = Permission | typeof PUBLIC;

/** Which role holds which permission. Minimum necessary: front desk never holds medical.*. */
export const permissionMatrix: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  Admin: new Set<Permission>([
    'session.self',
    'patients.read',
    'patients.write',
    'patients.archive',
    'users.read',
    'users.manage',
    'branches.read',
    'branches.manage',
    'audit.read',
    'audit.verify',
  ]),
  Dentist: new Set<Permission>([
    'session.self',
    'patients.read',
    'patients.write',
    'patients.archive',
    'medical.read',
    'medical.write',
    'branches.read',
  ]),
  Receptionist: new Set<Permission>([
    'session.self',
    'patients.read',
    'patients.write',
    'patients.archive',
    'branches.read',
  ]),
  Staff: new Set<Permission>(['session.self', 'patients.read', 'medical.read', 'branches.read']),
};

/** True when the role holds the permission. */
export function roleHasPermission(role: Role, permission: Permission): boolean {
  return permissionMatrix[role].has(permission);
}
