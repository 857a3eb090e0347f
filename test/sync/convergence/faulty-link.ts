/**
 * A device's network link to the sync server, with the faults the convergence test injects
 * through the engine's `fetch`: a partition (connections refused, or requests that time out)
 * and a lost answer to a push the server has already committed, after which the device or the
 * server dies ("killed mid-push").
 */
import type { FetchLike } from '../../../main/core/sync/sync-http.js';

/** How a device reaches the server right now. */
export type LinkState = 'up' | 'refused' | 'timeout';

export class FaultyLink {
  state: LinkState = 'up';
  /**
   * The next `POST /v1/changes` reaches the server, which commits it, and its answer is lost; then
   * `whoDies` happens before the device hears anything: the device (its link is dead until the test
   * restarts it) or the server (stopped until the test starts it again).
   */
  dropNextPushAnswer: { readonly whoDies: 'device' | 'server'; readonly stopServer: () => Promise<void> } | null = null;
  /** Pushes whose answer was dropped after the server had answered. */
  droppedPushAnswers = 0;
  /**
   * Asked after every answer: true when the server died while it handled the request (it then
   * never sent an answer, and the device sees its connection reset).
   */
  serverDiedDuringRequest: () => Promise<boolean> = async () => false;

  readonly fetch: FetchLike = async (url, init) => {
    if (this.state === 'refused') throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    if (this.state === 'timeout') {
      // What fetch throws when the request's AbortSignal.timeout fires; waiting out the engine's
      // real timeout would only make the test slow.
      throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    }
    const response = await fetch(url, init);
    if (await this.serverDiedDuringRequest()) {
      await response.text();
      throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
    }
    const drop = this.dropNextPushAnswer;
    if (drop && init.method === 'POST' && url.endsWith('/v1/changes')) {
      this.dropNextPushAnswer = null;
      // Read the answer so the server has finished with it, then lose it on the way back.
      await response.text();
      this.droppedPushAnswers++;
      if (drop.whoDies === 'device') this.state = 'refused';
      else await drop.stopServer();
      throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
    }
    return response;
  };

  heal(): void {
    this.state = 'up';
    this.dropNextPushAnswer = null;
  }
}
