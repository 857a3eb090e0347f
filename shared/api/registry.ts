/** Every channel of the API, in one registry; a duplicate name throws when this module loads. */
import type { z } from 'zod';
import { auditList, auditVerify } from './audit.js';
import {
  authChangePassword,
  authLock,
  authReauthenticate,
  authSession,
  authSignIn,
  authSignOut,
  authUnlock,
} from './auth.js';
import { branchesCreate, branchesList } from './branches.js';
import { buildChannelRegistry, type ChannelContract } from './channel.js';
import {
  patientsArchive,
  patientsCreate,
  patientsFindDuplicates,
  patientsGet,
  patientsMerge,
  patientsSearch,
  patientsUpdate,
  patientsUpdateMedicalHistory,
} from './patients.js';
import { conflictsDismissDuplicate, conflictsList } from './conflicts.js';
import { devicesCreateEnrollmentCode } from './devices.js';
import { setupCreateClinic, setupJoinClinic, setupStatus } from './setup.js';
import { syncConnect, syncNow, syncStatus } from './sync.js';
import { usersCreate, usersList, usersResetPassword, usersUnlock, usersUpdate } from './users.js';

export const channels = buildChannelRegistry([
  setupStatus,
  setupCreateClinic,
  setupJoinClinic,
  authSignIn,
  authSignOut,
  authSession,
  authReauthenticate,
  authUnlock,
  authLock,
  authChangePassword,
  usersList,
  usersCreate,
  usersUpdate,
  usersResetPassword,
  usersUnlock,
  branchesList,
  branchesCreate,
  patientsCreate,
  patientsUpdate,
  patientsGet,
  patientsSearch,
  patientsFindDuplicates,
  patientsArchive,
  patientsUpdateMedicalHistory,
  patientsMerge,
  conflictsList,
  conflictsDismissDuplicate,
  auditList,
  auditVerify,
  syncConnect,
  syncStatus,
  syncNow,
  devicesCreateEnrollmentCode,
]);

export type Channels = typeof channels;
export type ChannelName = keyof Channels;

/** The list of channel names, for transports and allow-lists. */
export const channelNames = Object.keys(channels) as ChannelName[];

/** Looks a channel up by an untrusted name. */
export function findChannel(name: string): ChannelContract | undefined {
  return Object.hasOwn(channels, name) ? (channels as Record<string, ChannelContract>)[name] : undefined;
}

/** The input a caller sends on a channel (before defaults are applied). */
export type ChannelInput<K extends ChannelName> = z.input<Channels[K]['input']>;
/** What a channel returns. */
export type ChannelOutput<K extends ChannelName> = z.output<Channels[K]['output']>;
