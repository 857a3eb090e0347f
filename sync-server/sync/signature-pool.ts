/**
 * Ed25519 verification of pushed batches on worker threads (signature-worker.mjs), so the
 * server's event loop does not spend a verification per local transaction (about 60 µs each on
 * this project's machine): a push's batches are verified together, in parallel with the other
 * requests the loop serves, before they are decided (preverify.ts). The verdicts are a cache;
 * validate-batch.ts still asks for each signature, and anything the cache lacks is verified inline.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** One signature to check: a raw Ed25519 public key (base64), the signed UTF-8 text, the signature (base64). */
export interface SignatureItem {
  readonly publicKey: string;
  readonly text: string;
  readonly signature: string;
}

interface Waiting {
  resolve(results: boolean[]): void;
  reject(error: Error): void;
}

/** A few worker threads that verify Ed25519 signatures in bulk. */
export class SignatureVerifierPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private nextWorker = 0;

  /** One worker per core but one (the event loop's), at least one, at most four. */
  constructor(size: number = Math.max(1, Math.min(4, availableParallelism() - 1))) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./signature-worker.mjs', import.meta.url));
      worker.on('message', (message: { id: number; results: boolean[] }) => {
        const waiting = this.waiting.get(message.id);
        if (!waiting) return;
        this.waiting.delete(message.id);
        if (this.waiting.size === 0) for (const idle of this.workers) idle.unref();
        waiting.resolve(message.results);
      });
      worker.on('error', (error) => {
        for (const waiting of this.waiting.values()) waiting.reject(error);
        this.waiting.clear();
      });
      // Idle workers never keep the process alive; `verifyMany` refs them while it waits.
      worker.unref();
      this.workers.push(worker);
    }
  }

  /** Verifies the items, split over the workers; each result is true only for a valid signature. */
  async verifyMany(items: readonly SignatureItem[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    const parts = Math.min(this.workers.length, items.length);
    const size = Math.ceil(items.length / parts);
    const answers = await Promise.all(
      Array.from({ length: parts }, (_, i) => this.send(items.slice(i * size, (i + 1) * size))),
    );
    return answers.flat();
  }

  private send(items: readonly SignatureItem[]): Promise<boolean[]> {
    const worker = this.workers[this.nextWorker++ % this.workers.length]!;
    const id = this.nextId++;
    worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, items });
    });
  }

  /** Stops the workers; verifications still waiting are refused. */
  async close(): Promise<void> {
    for (const waiting of this.waiting.values()) waiting.reject(new Error('the signature pool closed'));
    this.waiting.clear();
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
