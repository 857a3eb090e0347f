/**
 * A recording stand-in for the electron module, for the tests of main/electron (the Electron
 * binary is not installed on build machines, and these tests run in plain Node). Each piece
 * implements the small interface a module declares for the Electron object it takes, and
 * records what was done to it: handlers registered, messages sent, events listened to. Tests
 * build their own instances; nothing is shared between tests.
 */
import { EventEmitter } from 'node:events';
import type { FrameLike, InvokeEventLike, TransportWebContents } from './ipc-transport.js';

/** A stand-in WebFrameMain. */
export interface RecordingFrame extends FrameLike {
  url: string;
  parent: RecordingFrame | null;
}

let nextProcessId = 100;

/** A main frame (or, with a parent, a subframe) showing a URL. */
export function recordingFrame(url: string, parent: RecordingFrame | null = null): RecordingFrame {
  return { url, parent, processId: nextProcessId++, routingId: 1 };
}

let nextWebContentsId = 1;

/** A stand-in WebContents: records `send`, can be destroyed, emits what a test emits. */
export class RecordingWebContents extends EventEmitter implements TransportWebContents {
  readonly id = nextWebContentsId++;
  readonly mainFrame: RecordingFrame;
  readonly sent: Array<{ channel: string; args: unknown[] }> = [];
  private destroyed = false;

  constructor(url = 'app://chairside/') {
    super();
    this.mainFrame = recordingFrame(url);
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }

  send(channel: string, ...args: unknown[]): void {
    if (this.destroyed) throw new Error('send on a destroyed webContents');
    this.sent.push({ channel, args });
  }

  /** Closes the window: emits 'destroyed' as Electron does. */
  destroy(): void {
    this.destroyed = true;
    this.emit('destroyed');
  }

  /** The IPC event of a message from this window's main frame (or from another frame). */
  eventFrom(frame: RecordingFrame | null = this.mainFrame): InvokeEventLike {
    return { sender: this, senderFrame: frame };
  }
}

type Handler = (event: InvokeEventLike, ...args: unknown[]) => unknown;

/** A stand-in ipcMain: records handlers and lets a test invoke them as a renderer would. */
export class RecordingIpcMain {
  readonly handlers = new Map<string, Handler>();
  readonly removed: string[] = [];

  handle(channel: string, listener: Handler): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }

  removeHandler(channel: string): void {
    this.removed.push(channel);
    this.handlers.delete(channel);
  }

  /** What `ipcRenderer.invoke(channel, ...args)` from the event's frame would resolve to. */
  async invoke(channel: string, event: InvokeEventLike, ...args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel);
    if (!handler) throw new Error(`No handler registered for '${channel}'`);
    return handler(event, ...args);
  }
}
