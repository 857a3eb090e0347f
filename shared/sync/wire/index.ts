/**
 * Every route of the sync server, in one registry; a duplicate name or method-and-path throws
 * when this module loads. Adding a route group is one import and one line in SYNC_ROUTE_GROUPS;
 * the route test (test/sync/wire-contract.integration.test.ts) then fails until
 * the server registers a handler for each new route, and `npx tsx build/generate-docs.ts`
 * documents them.
 */
import { AUDIT_ROUTES } from './audit.js';
import { CHANGE_ROUTES } from './changes.js';
import { DEVICE_ROUTES } from './devices.js';
import { HEALTH_ROUTES } from './health.js';
import { LIVE_ROUTES } from './live.js';
import { type AnySyncRoute, buildSyncRouteRegistry } from './route.js';
import { SNAPSHOT_ROUTES } from './snapshot.js';

/** The route groups, in the order the server registers them. */
export const SYNC_ROUTE_GROUPS: Readonly<Record<string, readonly AnySyncRoute[]>> = {
  health: HEALTH_ROUTES,
  devices: DEVICE_ROUTES,
  changes: CHANGE_ROUTES,
  live: LIVE_ROUTES,
  audit: AUDIT_ROUTES,
  snapshot: SNAPSHOT_ROUTES,
};

/** Every route, in group order, and by name. */
export const SYNC_ROUTES = buildSyncRouteRegistry(Object.values(SYNC_ROUTE_GROUPS));
