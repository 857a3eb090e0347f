/**
 * Runs the generated commands against the cluster. Writes go through the API pipeline as the
 * Dentist; every write that returns success is an acknowledged write, recorded with its HLC. A
 * write the device refuses is a bug here (the model only writes valid input to patients the
 * device holds), except where the model injected the failure itself.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import type { ChannelInput } from '../../../shared/api/registry.js';
import type { SyncRound } from '../../../shared/api/sync.js';
import { REPLICATED_ENTITIES } from '../../../shared/sync/change.js';
import { AcknowledgedWriteLog, type WrittenEntity } from './acknowledged-writes.js';
import {
  type Action,
  COLUMN_OF,
  type CrashOperation,
  type EditableField,
  type FieldValues,
  type UserEdit,
} from './actions.js';
import type { Cluster } from './cluster.js';
import { type ConvergenceDevice, FRONT_DESK_USERNAME } from './device.js';

/** What happened during a run, for the report and for checks that faults really occurred. */
export interface RunStats {
  steps: number;
  acknowledged: number;
  rounds: number;
  failedRounds: Record<string, number>;
  killedMidTransaction: number;
  killedMidPush: number;
  serverKilledMidPush: number;
  droppedPushAnswers: number;
  serverStops: number;
  storageReopens: number;
  deviceRestarts: number;
  /** Compactions of the server's change log during the run, and the changes they removed. */
  compactions: number;
  compactedChanges: number;
  /** Changes the final compaction removed before a late device joined (set by the checks). */
  compactedBeforeLateJoin: number;
  /** Acknowledged values a device holds superseded by a later write, counted per device (set by the checks). */
  supersededOnDevices: number;
  /** Acknowledged values another device displaced, found in their writer's conflict log (set by the checks). */
  displacedAndLogged: number;
  /** Acknowledged writes that compaction removed from the server's log before the checks, a later write superseding them. */
  acknowledgedCompacted: number;
  /** Branches the Admin added, and changes of the front-desk user (role, branches, name). */
  branchesCreated: number;
  userEdits: number;
  /** Patient edits by the front-desk user. */
  frontDeskEdits: number;
  /** Deaths of the server inside a request, by storage operation and phase (`appendChanges/afterCommit`). */
  serverDiedMidRequest: Record<string, number>;
}

export function emptyStats(): RunStats {
  return {
    steps: 0,
    acknowledged: 0,
    rounds: 0,
    failedRounds: {},
    killedMidTransaction: 0,
    killedMidPush: 0,
    serverKilledMidPush: 0,
    droppedPushAnswers: 0,
    serverStops: 0,
    storageReopens: 0,
    deviceRestarts: 0,
    compactions: 0,
    compactedChanges: 0,
    compactedBeforeLateJoin: 0,
    supersededOnDevices: 0,
    displacedAndLogged: 0,
    acknowledgedCompacted: 0,
    branchesCreated: 0,
    userEdits: 0,
    frontDeskEdits: 0,
    serverDiedMidRequest: {},
  };
}

const PATIENT_FIELDS = REPLICATED_ENTITIES.patient.fields;
const BRANCH_FIELDS = REPLICATED_ENTITIES.branch.fields;
const MEDICAL_FIELDS = REPLICATED_ENTITIES.patient_medical.fields;
const CRASH_TRIGGER = 'convergence_killed_mid_transaction';

/** The device's patients in id order (the model picks by index). */
function patientIds(raw: Database.Database): string[] {
  return (raw.prepare('SELECT id FROM patients ORDER BY id').all() as Array<{ id: string }>).map((row) => row.id);
}

export class ActionRunner {
  readonly acknowledged = new AcknowledgedWriteLog();
  readonly stats = emptyStats();
  /** Round failures other than an unreachable server, with the step they happened at. */
  readonly unexpectedRoundErrors: string[] = [];

  constructor(private readonly cluster: Cluster) {}

  async run(actions: readonly Action[]): Promise<void> {
    for (const action of actions) {
      this.stats.steps++;
      // Every step takes a little time, so clocks move as they would between clicks.
      this.cluster.advance(250);
      await this.step(action, this.stats.steps);
    }
  }

  private device(index: number): ConvergenceDevice {
    return this.cluster.devices[index]!;
  }

  private async pick(device: ConvergenceDevice, index: number): Promise<string | undefined> {
    const ids = patientIds(await device.raw());
    return ids.length === 0 ? undefined : ids[index % ids.length];
  }

  private async step(action: Action, step: number): Promise<void> {
    switch (action.kind) {
      case 'create':
        return this.create(this.device(action.device), action.firstName, action.lastName, step);
      case 'update': {
        const device = this.device(action.device);
        const patientId = await this.pick(device, action.patient);
        if (patientId) await this.update(device, patientId, action.values, step, 'dentist');
        return;
      }
      case 'frontDeskUpdate': {
        const device = this.device(action.device);
        const patientId = await this.pick(device, action.patient);
        if (!patientId) return;
        await this.update(device, patientId, action.values, step, 'frontDesk');
        this.stats.frontDeskEdits++;
        return;
      }
      case 'createBranch':
        return this.createBranch(this.device(action.device), action.name, step);
      case 'editUser':
        return this.editFrontDesk(this.device(action.device), action.edit, step);
      case 'concurrentUserEdit':
        for (const [position, index] of action.devices.entries()) {
          await this.editFrontDesk(this.device(index), action.edits[position]!, step);
        }
        return;
      case 'serverCrash':
        return this.serverCrash(this.device(action.device), action.operation, action.phase, step);
      case 'concurrentUpdate': {
        // A patient every chosen device holds; each writes its own value of the same field
        // without hearing from the others first.
        const devices = action.devices.map((index) => this.device(index));
        const lists = await Promise.all(devices.map(async (device) => patientIds(await device.raw())));
        const shared = lists[0]!.filter((id) => lists.every((list) => list.includes(id)));
        if (shared.length === 0) return;
        const patientId = shared[action.patient % shared.length]!;
        for (const [position, device] of devices.entries()) {
          await this.update(device, patientId, { [action.field]: action.values[position] ?? null }, step, 'dentist');
        }
        return;
      }
      case 'archive': {
        const device = this.device(action.device);
        const patientId = await this.pick(device, action.patient);
        if (!patientId) return;
        const archived = (await device.raw())
          .prepare('SELECT archived_at FROM patients WHERE id = ?')
          .get(patientId) as { archived_at: number | null };
        if (archived.archived_at !== null) return;
        await device.dentist.ok('patients.archive', { patientId, reason: action.reason });
        await this.acknowledge(device, 'patient', patientId, ['archived_at', 'archive_reason'], step);
        return;
      }
      case 'medical': {
        const device = this.device(action.device);
        const patientId = await this.pick(device, action.patient);
        if (!patientId) return;
        await device.dentist.ok('patients.updateMedicalHistory', { patientId, ...action.history });
        await this.acknowledge(device, 'patient_medical', patientId, MEDICAL_FIELDS, step);
        return;
      }
      case 'sync':
        await this.round(this.device(action.device), step);
        return;
      case 'partition':
        this.device(action.device).link.state = action.mode;
        return;
      case 'heal':
        this.device(action.device).link.state = 'up';
        return;
      case 'killMidPush':
        return this.killMidPush(this.device(action.device), action.whoDies, step);
      case 'killMidTransaction':
        return this.killMidTransaction(this.device(action.device), action.patient, action.write, step);
      case 'restartDevice':
        this.stats.deviceRestarts++;
        await this.device(action.device).restart();
        return;
      case 'serverDown':
        if (this.cluster.server.running) this.stats.serverStops++;
        await this.cluster.server.stop();
        return;
      case 'serverUp':
        await this.cluster.server.start({ reopenStorage: action.reopenStorage });
        this.stats.storageReopens = this.cluster.server.storageReopens;
        return;
      case 'tick':
        this.cluster.advance(action.ms);
        return;
      case 'skew':
        this.cluster.skew(action.device, action.ms);
        return;
      case 'settleAndCompact':
        // Two passes: the server records the cursor a device pulls after, so a device's pull only
        // moves the horizon past what it applied in its previous round.
        for (let pass = 0; pass < 2; pass++) {
          for (const device of this.cluster.devices) await this.round(device, step);
        }
        await this.compact();
        return;
      case 'compact':
        return this.compact();
    }
  }

  /** Works on the storage directly, as the operator's command does, whether or not the server is answering. */
  private async compact(): Promise<void> {
    const { removed } = await this.cluster.compact();
    this.stats.compactions++;
    this.stats.compactedChanges += removed;
  }

  private async acknowledge(
    device: ConvergenceDevice,
    entity: WrittenEntity,
    rowId: string,
    fields: readonly string[],
    step: number,
  ): Promise<void> {
    this.acknowledged.record(await device.raw(), device.name, entity, rowId, fields, step);
    this.stats.acknowledged++;
  }

  private async create(device: ConvergenceDevice, firstName: string, lastName: string, step: number): Promise<void> {
    const created = await device.dentist.ok('patients.create', {
      branchId: foundingBranchId(await device.raw()),
      firstName,
      lastName,
    });
    await this.acknowledge(device, 'patient', created.id, PATIENT_FIELDS, step);
  }

  private async update(
    device: ConvergenceDevice,
    patientId: string,
    values: FieldValues,
    step: number,
    as: 'dentist' | 'frontDesk',
  ): Promise<void> {
    const raw = await device.raw();
    // valueFor() makes each field's values of the schema's shape; the pipeline parses them anyway.
    const input = { patientId, ...values } as ChannelInput<'patients.update'>;
    if (as === 'dentist') await device.dentist.ok('patients.update', input);
    else await device.asFrontDesk('patients.update', input);
    const fields = Object.keys(values) as EditableField[];
    // Read your own write: the device holds exactly what it acknowledged.
    for (const field of fields) {
      const stored = raw.prepare(`SELECT ${COLUMN_OF[field]} AS value FROM patients WHERE id = ?`).get(patientId) as {
        value: unknown;
      };
      if (stored.value !== values[field]) {
        throw new Error(
          `step ${step}: ${device.name} acknowledged ${field}=${values[field]} but holds ${stored.value}`,
        );
      }
    }
    await this.acknowledge(
      device,
      'patient',
      patientId,
      fields.map((field) => COLUMN_OF[field]),
      step,
    );
  }

  private async createBranch(device: ConvergenceDevice, name: string, step: number): Promise<void> {
    await device.reauthenticateAdmin();
    const branch = await device.admin.ok('branches.create', { name });
    await this.acknowledge(device, 'branch', branch.id, BRANCH_FIELDS, step);
    this.stats.branchesCreated++;
  }

  /**
   * The Admin changes the front-desk user as this device holds her: her name, her role (between
   * two roles that may edit patients, so her own edits stay valid) or her branches (always the
   * founding one, plus others by index into the branches this device holds).
   */
  private async editFrontDesk(device: ConvergenceDevice, edit: UserEdit, step: number): Promise<void> {
    const raw = await device.raw();
    const { id: userId } = raw.prepare('SELECT id FROM users WHERE username = ?').get(FRONT_DESK_USERNAME) as {
      id: string;
    };
    await device.reauthenticateAdmin();
    let field: string;
    switch (edit.field) {
      case 'displayName':
        await device.admin.ok('users.update', { userId, displayName: edit.displayName });
        field = 'display_name';
        break;
      case 'role':
        await device.admin.ok('users.update', { userId, role: edit.role });
        field = 'role';
        break;
      case 'branches': {
        const branches = (
          raw.prepare('SELECT id FROM branches ORDER BY created_at, id').all() as Array<{ id: string }>
        ).map((row) => row.id);
        const picked = edit.branches.map((index) => branches[index % branches.length]!);
        const branchIds = [...new Set([foundingBranchId(raw), ...picked])];
        await device.admin.ok('users.update', { userId, allBranches: false, branchIds });
        field = 'branch_ids';
        break;
      }
    }
    await this.acknowledge(device, 'user', userId, [field], step);
    this.stats.userEdits++;
  }

  /**
   * The server dies inside `operation` of the next request this device's round makes (if the
   * round reaches it), before or after it commits; the device hears nothing, and the server comes
   * back from its files.
   */
  private async serverCrash(
    device: ConvergenceDevice,
    operation: CrashOperation,
    phase: 'beforeCommit' | 'afterCommit',
    step: number,
  ): Promise<void> {
    const server = this.cluster.server;
    if (!server.running) return;
    const deathsBefore = server.deathsMidRequest;
    server.armCrash({ operation, phase });
    try {
      await this.round(device, step);
    } finally {
      server.armCrash(null);
    }
    if (server.deathsMidRequest === deathsBefore) return;
    const key = `${operation}/${phase}`;
    this.stats.serverDiedMidRequest[key] = (this.stats.serverDiedMidRequest[key] ?? 0) + 1;
    this.stats.serverStops++;
    await server.start({ reopenStorage: true });
  }

  private async round(device: ConvergenceDevice, step: number): Promise<SyncRound> {
    const result = await device.dentist.ok('sync.now', {});
    this.stats.rounds++;
    if (!result.ok) {
      const error = result.error ?? 'unknown';
      this.stats.failedRounds[error] = (this.stats.failedRounds[error] ?? 0) + 1;
      // NETWORK is what a partition, a stopped server or a dropped answer look like.
      if (error !== 'NETWORK') this.unexpectedRoundErrors.push(`step ${step}: ${device.name} round failed: ${error}`);
    }
    return result;
  }

  /**
   * The server stores a push and its answer is lost; then the device dies before it can mark the
   * changes pushed (it starts again from its files and pushes them again later), or the server
   * dies before the device hears anything (it restarts from its files; the device's retries meet
   * a closed port until then).
   */
  private async killMidPush(device: ConvergenceDevice, whoDies: 'device' | 'server', step: number): Promise<void> {
    const raw = await device.raw();
    const pending = (
      raw.prepare('SELECT count(*) AS n FROM sync_outbox WHERE pushed_at IS NULL').get() as { n: number }
    ).n;
    const linkBefore = device.link.state;
    const dropsBefore = device.link.droppedPushAnswers;
    device.link.dropNextPushAnswer = { whoDies, stopServer: () => this.cluster.server.stop() };
    await this.round(device, step);
    device.link.dropNextPushAnswer = null;
    const dropped = device.link.droppedPushAnswers > dropsBefore;
    if (dropped) this.stats.droppedPushAnswers++;
    if (whoDies === 'device') {
      if (dropped && pending > 0) this.stats.killedMidPush++;
      this.stats.deviceRestarts++;
      await device.restart();
      device.link.state = linkBefore;
    } else if (dropped) {
      this.stats.serverKilledMidPush++;
      this.stats.serverStops++;
      await this.cluster.server.start({ reopenStorage: true });
    }
  }

  /**
   * A write whose transaction is interrupted before it commits (an injected failure inside it,
   * after the row was written and before its outbox entry), then the device dies and starts
   * again from its files. Nothing of that write may survive, and it was never acknowledged.
   */
  private async killMidTransaction(
    device: ConvergenceDevice,
    patientIndex: number,
    write: 'create' | 'update' | 'medical',
    step: number,
  ): Promise<void> {
    const raw = await device.raw();
    const patientId = write === 'create' ? undefined : await this.pick(device, patientIndex);
    if (write !== 'create' && !patientId) return;
    const before = snapshotOf(raw);
    raw.exec(
      `CREATE TRIGGER ${CRASH_TRIGGER} BEFORE INSERT ON sync_outbox
       BEGIN SELECT RAISE(ABORT, 'killed mid-transaction'); END`,
    );
    let result;
    try {
      if (write === 'create') {
        result = await device.dentist.call('patients.create', {
          branchId: foundingBranchId(raw),
          firstName: 'Never',
          lastName: 'Committed',
        });
      } else if (write === 'update') {
        result = await device.dentist.call('patients.update', { patientId, address: `${step} Half-Written Lane` });
      } else {
        result = await device.dentist.call('patients.updateMedicalHistory', {
          patientId,
          allergies: [{ substance: 'Never committed', severity: 'severe' }],
          conditions: [],
          medications: [],
        });
      }
    } finally {
      raw.exec(`DROP TRIGGER IF EXISTS ${CRASH_TRIGGER}`);
    }
    if (result.ok) throw new Error(`step ${step}: a write on ${device.name} succeeded through an injected failure`);
    // The pipeline turns the aborted statement into INTERNAL ("nothing was saved"); any other code
    // would mean the write failed before reaching the injected failure.
    if (result.error.code !== 'INTERNAL') {
      throw new Error(
        `step ${step}: the interrupted write failed with ${result.error.code}, not inside its transaction`,
      );
    }
    this.stats.killedMidTransaction++;
    this.stats.deviceRestarts++;
    await device.restart();
    const now = snapshotOf(await device.raw());
    if (JSON.stringify(now) !== JSON.stringify(before)) {
      throw new Error(`step ${step}: ${device.name} kept part of a transaction that never committed`);
    }
  }
}

/** The founding branch: every device holds it (uploaded at connect, pulled when joining). */
function foundingBranchId(raw: Database.Database): string {
  return (raw.prepare('SELECT id FROM branches ORDER BY created_at, id LIMIT 1').get() as { id: string }).id;
}

/** The rows a write touches, to compare before and after an interrupted one. */
function snapshotOf(raw: Database.Database): unknown {
  return {
    patients: raw.prepare('SELECT * FROM patients ORDER BY id').all(),
    medical: raw.prepare('SELECT * FROM patient_medical ORDER BY patient_id').all(),
    outbox: raw.prepare('SELECT change_id FROM sync_outbox ORDER BY change_id').all(),
    clocks: raw.prepare('SELECT * FROM sync_field_clock ORDER BY entity, row_id, field').all(),
  };
}
