/**
 * Writes Server-Sent Events (WHATWG HTML, "Server-sent events") on a raw HTTP response: named
 * events with one line of JSON data, and comment lines as heartbeats. Only sequence numbers and
 * fixed words are ever written here, never patient data.
 */
import type { ServerResponse } from 'node:http';

/** An open event stream. */
export class SseWriter {
  private ended = false;

  constructor(private readonly response: ServerResponse) {}

  /** Sends the status line and headers; call once, first. */
  open(headers: Readonly<Record<string, string>>): void {
    this.response.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies that buffer (nginx) would hold events back until the buffer fills.
      'x-accel-buffering': 'no',
    });
    // Headers go out now, not with the first event, so the device knows the stream is open.
    this.response.flushHeaders();
  }

  /** Writes one event; JSON keeps the data on one line, as the format requires. */
  event(name: string, data: Readonly<Record<string, number | string>>): void {
    if (this.isEnded) return;
    this.response.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Writes a comment line, which clients ignore; it keeps idle connections from timing out. */
  comment(text: string): void {
    if (this.isEnded) return;
    this.response.write(`: ${text}\n\n`);
  }

  /** Ends the stream (idempotent). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.response.end();
  }

  get isEnded(): boolean {
    return this.ended || this.response.destroyed;
  }
}
