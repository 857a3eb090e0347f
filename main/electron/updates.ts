/**
 * Signed automatic updates through electron-updater. The feed comes from the `publish` section
 * of electron-builder.yml, which electron-builder writes into the signed app (app-update.yml);
 * nothing here can point it elsewhere. Signature checks stay as electron-updater ships them
 * (Authenticode publisher on Windows, the code signature on macOS): this module never sets
 * `verifyUpdateCodeSignature`, `forceDevUpdateConfig` or a feed URL. Web installers, which may
 * lack a signature check, are refused.
 *
 * An update is downloaded in the background and installed when the app quits, or at once when
 * the person agrees to restart; either way never while a clinical write is running: the
 * restart waits until the IPC transport's write counter is zero and the clinic is closed.
 * The updater is passed in, so this runs under test with a stand-in.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { createLogger } from '../core/logger.js';
import type { WriteActivity } from './call-tracker.js';

const log = createLogger('electron-updates');

/** `latest` gets releases; `beta` also gets pre-releases. */
export const updateSettingsSchema = z.strictObject({ channel: z.enum(['latest', 'beta']) });
export type UpdateSettings = z.infer<typeof updateSettingsSchema>;
export type UpdateChannel = UpdateSettings['channel'];

export const DEFAULT_UPDATE_SETTINGS: UpdateSettings = { channel: 'latest' };

/** The update settings file (userData/update-settings.json); missing or invalid means the defaults. */
export function readUpdateSettings(path: string): UpdateSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return DEFAULT_UPDATE_SETTINGS;
  }
  try {
    const parsed = updateSettingsSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data;
  } catch {
    // Not JSON: fall through to the defaults.
  }
  log.warn('update settings file is not valid; using the defaults');
  return DEFAULT_UPDATE_SETTINGS;
}

/** Writes the update settings (temp file, then rename, so a crash never leaves half a file). */
export function writeUpdateSettings(path: string, settings: UpdateSettings): void {
  const valid = updateSettingsSchema.parse(settings);
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${JSON.stringify(valid, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}

/** The parts of electron-updater's AppUpdater this module uses. */
export interface UpdaterLike {
  autoDownload: boolean;
  autoInstallOnAppQuit: boolean;
  allowPrerelease: boolean;
  allowDowngrade: boolean;
  disableWebInstaller: boolean;
  channel: string | null;
  logger: { info(message?: unknown): void; warn(message?: unknown): void; error(message?: unknown): void } | null;
  on(event: 'update-downloaded', listener: (info: { version: string }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  checkForUpdates(): Promise<unknown>;
  quitAndInstall(isSilent?: boolean, isForceRunAfter?: boolean): void;
}

export interface UpdateControllerOptions {
  readonly updater: UpdaterLike;
  readonly settings: UpdateSettings;
  /** The IPC transport's call tracker. */
  readonly writes: WriteActivity;
  /** Asks whether to restart now for the downloaded version; when not, it installs at the next quit. */
  confirmRestart(version: string): Promise<boolean>;
  /** Closes the clinic cleanly (main.ts's shutdown) before the installer takes over. */
  prepareForInstall(): Promise<void>;
  /** The installer could not start after the clinic was closed: restart the app (without the update). */
  installFailed(): void;
}

/** Every four hours while the app runs, and once at start. */
export const UPDATE_CHECK_INTERVAL_MS = 4 * 60 * 60 * 1000;

export class UpdateController {
  private downloadedVersion: string | null = null;
  private installing: Promise<boolean> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private errors = 0;

  constructor(private readonly options: UpdateControllerOptions) {
    const { updater, settings } = options;
    updater.logger = {
      info: (message) => log.info(String(message)),
      warn: (message) => log.warn(String(message)),
      error: (message) => log.error(String(message)),
    };
    updater.autoDownload = true;
    updater.autoInstallOnAppQuit = true;
    updater.disableWebInstaller = true;
    updater.channel = settings.channel;
    updater.allowPrerelease = settings.channel === 'beta';
    // Setting `channel` turns downgrades on; a signed but older (vulnerable) build must not be
    // installable by serving it as "latest".
    updater.allowDowngrade = false;
    updater.on('error', (error) => {
      this.errors++;
      log.warn('update failed', { error: error.name });
    });
    updater.on('update-downloaded', (info) => {
      this.downloadedVersion = info.version;
      void this.offerRestart(info.version);
    });
  }

  /** The version waiting to be installed, if any. */
  get pendingVersion(): string | null {
    return this.downloadedVersion;
  }

  /** Checks now; offline or a failing feed is logged, never thrown. */
  async check(): Promise<void> {
    try {
      await this.options.updater.checkForUpdates();
    } catch (error) {
      log.warn('update check failed', { error: error instanceof Error ? error.name : 'unknown' });
    }
  }

  /** Checks at once and then periodically; the timer does not keep the app alive. */
  start(intervalMs = UPDATE_CHECK_INTERVAL_MS): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Restarts into the downloaded update once no clinical write is running: waits for the write
   * counter to reach zero, closes the clinic, then hands over to the installer. False when no
   * update is downloaded. Calling it again while it waits returns the same promise.
   */
  installWhenIdle(): Promise<boolean> {
    if (this.downloadedVersion === null) return Promise.resolve(false);
    this.installing ??= (async () => {
      if (this.options.writes.inFlightWrites > 0) log.info('update waits for running writes to finish');
      await this.options.writes.whenNoWrites();
      this.stop();
      await this.options.prepareForInstall();
      // electron-updater reports an installer it cannot start as an 'error' during the call.
      const errorsBefore = this.errors;
      this.options.updater.quitAndInstall();
      if (this.errors > errorsBefore) {
        this.options.installFailed();
        return false;
      }
      return true;
    })();
    return this.installing;
  }

  private async offerRestart(version: string): Promise<void> {
    try {
      if (await this.options.confirmRestart(version)) await this.installWhenIdle();
    } catch (error) {
      log.warn('installing the update failed', { error: error instanceof Error ? error.name : 'unknown' });
    }
  }
}
