/**
 * The convergence test's world: one sync server and three devices of one clinic, each with its own
 * manual clock. Device 0 founds the clinic (setup.createClinic, a Dentist, then sync.connect with
 * an operator code); devices 1 and 2 join it with setup.joinClinic and codes device 0 makes with
 * devices.createEnrollmentCode, as a clinic would set them up.
 */
import { ManualClock } from '../../../main/core/platform/sources.js';
import { TestClock, pullWholeLog } from '../../support/sync-server/conformance-fixtures.js';
import type { StoredChange } from '../../../sync-server/storage/records.js';
import { ADMIN_PASSWORD, USER_PASSWORD } from '../../support/clinic-fixture.js';
import { operatorClinic } from '../sync-support.js';
import { DEVICE_COUNT, type ModelVersion } from './actions.js';
import { ConvergenceDevice, DENTIST_USERNAME, FRONT_DESK_USERNAME } from './device.js';
import { RestartableSyncServer, type StorageKind } from './sync-server-process.js';

/** How far a device clock may run ahead of the server's; well inside the server's 5-minute hold-back. */
export const MAX_SKEW_MS = 60_000;

export class Cluster {
  /** How far each device's clock is ahead of the server's. */
  readonly skewMs: number[];
  /**
   * Every change a compaction removed from the server's log, as it was stored. The server keeps
   * only their ids and hashes; the checks need them whole, because an acknowledged write that a
   * later write superseded reached the server even when compaction has since removed it.
   */
  private readonly compacted: StoredChange[] = [];

  private constructor(
    readonly server: RestartableSyncServer,
    readonly serverClock: TestClock,
    readonly devices: readonly ConvergenceDevice[],
    readonly serverClinicId: string,
  ) {
    this.skewMs = devices.map(() => 0);
  }

  /**
   * Sets the clinic up on device 0, connects it and joins the other devices. Model version 1 has
   * no front-desk user: its runs replay with the ids they had when they were found.
   */
  static async create(seed: string, version: ModelVersion, storage: StorageKind = 'sqlite'): Promise<Cluster> {
    const withFrontDesk = version >= 2;
    const start = new ManualClock().now();
    const serverClock = new TestClock(start);
    const server = await RestartableSyncServer.start(serverClock, storage);
    const devices: ConvergenceDevice[] = [];
    try {
      const founder = await ConvergenceDevice.blank('d0', seed, new ManualClock(start));
      founder.withFrontDesk = withFrontDesk;
      devices.push(founder);
      await founder.admin.ok('setup.createClinic', {
        clinicName: 'Smile Dental',
        branchName: 'Main Street',
        admin: { username: 'admin', displayName: 'Asha Admin', password: ADMIN_PASSWORD },
      });
      await founder.admin.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
      // Users made before connecting are uploaded by sync.connect's snapshot, which the server's
      // user directory learns its Dentist from.
      await founder.admin.ok('users.create', {
        username: DENTIST_USERNAME,
        displayName: 'Dr Convergence',
        role: 'Dentist',
        allBranches: true,
        branchIds: [],
        password: USER_PASSWORD,
      });
      if (withFrontDesk) {
        // The front desk works in the founding branch, whatever else the Admin gives or takes.
        const branchId = (await founder.admin.ok('branches.list', {})).branches[0]!.id;
        await founder.admin.ok('users.create', {
          username: FRONT_DESK_USERNAME,
          displayName: 'Front Desk',
          role: 'Receptionist',
          allBranches: false,
          branchIds: [branchId],
          password: USER_PASSWORD,
        });
      }
      await founder.signIn();
      const { clinicId, code } = await operatorClinic(server.storage);
      await founder.reauthenticateAdmin();
      await founder.admin.ok('sync.connect', { serverUrl: server.url, enrollmentCode: code });
      for (let index = 1; index < DEVICE_COUNT; index++) {
        await founder.reauthenticateAdmin();
        const { code: joinCode } = await founder.admin.ok('devices.createEnrollmentCode', {});
        const joining = await ConvergenceDevice.blank(`d${index}`, seed, new ManualClock(start));
        joining.withFrontDesk = withFrontDesk;
        devices.push(joining);
        await joining.admin.ok('setup.joinClinic', { serverUrl: server.url, enrollmentCode: joinCode });
        await joining.signIn();
      }
      for (const device of devices) device.link.serverDiedDuringRequest = () => server.diedDuringRequest();
      return new Cluster(server, serverClock, devices, clinicId);
    } catch (error) {
      for (const device of devices) await device.close();
      await server.close();
      throw error;
    }
  }

  /** Compacts the clinic's change log on the server (`changes compact`), keeping what it removed. */
  async compact(): Promise<{ horizon: number; removed: number }> {
    const store = await this.server.storage.clinic(this.serverClinicId);
    const before = await pullWholeLog(store);
    const result = await store.compactChanges();
    const kept = new Set((await pullWholeLog(store)).map((change) => change.changeId));
    const removed = before.filter((change) => !kept.has(change.changeId));
    if (removed.length !== result.removed) {
      throw new Error(`compaction says it removed ${result.removed} changes, the log lost ${removed.length}`);
    }
    this.compacted.push(...removed);
    return result;
  }

  /** The changes compactions removed so far, in the order they were removed. */
  get compactedChanges(): readonly StoredChange[] {
    return this.compacted;
  }

  /** Every change the server accepted during the run: what compaction removed, then the log as it is. */
  async serverHistory(): Promise<StoredChange[]> {
    const log = await pullWholeLog(await this.server.storage.clinic(this.serverClinicId));
    return [...this.compacted, ...log].sort((a, b) => a.serverSeq - b.serverSeq);
  }

  /**
   * A fourth device joins with a code device 0 makes, after everything else (the caller closes it):
   * it pulls what compaction left of the log.
   */
  async joinLateDevice(seed: string): Promise<ConvergenceDevice> {
    const founder = this.devices[0]!;
    await founder.reauthenticateAdmin();
    const { code } = await founder.admin.ok('devices.createEnrollmentCode', {});
    const late = await ConvergenceDevice.blank('late', seed, new ManualClock(founder.clock.now()));
    try {
      await late.admin.ok('setup.joinClinic', { serverUrl: this.server.url, enrollmentCode: code });
      return late;
    } catch (error) {
      await late.close();
      throw error;
    }
  }

  /** Time passes everywhere alike. */
  advance(ms: number): void {
    this.serverClock.advance(ms);
    for (const device of this.devices) device.clock.advance(ms);
  }

  /** One device's clock runs ahead, up to MAX_SKEW_MS. */
  skew(index: number, ms: number): void {
    const step = Math.min(ms, MAX_SKEW_MS - this.skewMs[index]!);
    if (step <= 0) return;
    this.devices[index]!.clock.advance(step);
    this.skewMs[index]! += step;
  }

  async close(): Promise<void> {
    for (const device of this.devices) await device.close();
    await this.server.close();
  }
}
