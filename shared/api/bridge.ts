/**
 * The one object the preload exposes to the renderer (window.chairside) and the shape every
 * renderer transport (Electron bridge, browser-host HTTP) answers with. Declared once here; the
 * preload checks its object with `satisfies ChairsideBridge`.
 */
import type { ApiErrorBody } from './errors.js';
import type { ChannelInput, ChannelName, ChannelOutput } from './registry.js';

/** The answer to one call: the output, or the error envelope's body. */
export type InvokeResponse<K extends ChannelName> =
  { readonly ok: true; readonly output: ChannelOutput<K> } | { readonly ok: false; readonly error: ApiErrorBody };

/** A change committed by a write channel, announced to the windows of this device (no patient data). */
export interface ChangeEvent {
  readonly channel: ChannelName;
  readonly entityType: string;
}

/** window.chairside in the desktop app. */
export interface ChairsideBridge {
  invoke<K extends ChannelName>(channel: K, input: ChannelInput<K>): Promise<InvokeResponse<K>>;
  /** Calls the listener after each committed change; returns the unsubscribe function. */
  onChange(listener: (event: ChangeEvent) => void): () => void;
}

/** The IPC channel names between preload and main. */
export const IPC_INVOKE = 'chairside:invoke';
export const IPC_CHANGED = 'chairside:changed';
