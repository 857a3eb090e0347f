/**
 * bcrypt (bcryptjs, cost 12) computed off the main thread in a small worker pool. The cost is
 * read back from every stored hash, so lowering it for fast tests never weakens stored hashes
 * of a production database.
 */
import { Worker } from 'node:worker_threads';

export const DEFAULT_BCRYPT_COST = 12;

/** A cost-12 hash of random text: compared against when a username does not exist, so a wrong
 * username takes as long as a wrong password and does not reveal which usernames exist. */
const DUMMY_HASH = '$2b$12$8.N8Ce3.Ob9VUHYkUWMVSekxEKAFa4W3.8T0SnfMgEVPZMZO.SLC2';

interface Pending {
  resolve(value: string | boolean): void;
  reject(error: Error): void;
}

/** Hashes and verifies passwords in worker threads. */
export class PasswordHasher {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private nextWorker = 0;

  constructor(
    readonly cost: number = DEFAULT_BCRYPT_COST,
    poolSize = 2,
  ) {
    if (!Number.isInteger(cost) || cost < 4 || cost > 15) throw new Error('bcrypt cost must be between 4 and 15');
    for (let i = 0; i < poolSize; i++) {
      const worker = new Worker(new URL('./bcrypt-worker.mjs', import.meta.url));
      worker.on('message', (message: { id: number; result?: string | boolean; error?: string }) => {
        const waiting = this.pending.get(message.id);
        if (!waiting) return;
        this.pending.delete(message.id);
        if (this.pending.size === 0) for (const idle of this.workers) idle.unref();
        if (message.error !== undefined || message.result === undefined) {
          waiting.reject(new Error(message.error ?? 'bcrypt worker returned nothing'));
        } else {
          waiting.resolve(message.result);
        }
      });
      worker.on('error', (error) => {
        for (const waiting of this.pending.values()) waiting.reject(error);
        this.pending.clear();
      });
      // Idle workers must not keep a CLI or test process alive; `call` refs them while work is pending.
      worker.unref();
      this.workers.push(worker);
    }
  }

  private call(
    request: { op: 'hash'; password: string; cost: number } | { op: 'verify'; password: string; hash: string },
  ) {
    const id = this.nextId++;
    const worker = this.workers[this.nextWorker++ % this.workers.length]!;
    return new Promise<string | boolean>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      for (const busy of this.workers) busy.ref();
      worker.postMessage({ id, ...request });
    });
  }

  /** A new bcrypt hash of the password at this hasher's cost. */
  async hash(password: string): Promise<string> {
    return (await this.call({ op: 'hash', password, cost: this.cost })) as string;
  }

  /** True when the password matches the hash; compares against a dummy hash when there is none. */
  async verify(password: string, hash: string | null): Promise<boolean> {
    const matches = (await this.call({ op: 'verify', password, hash: hash ?? DUMMY_HASH })) as boolean;
    return hash !== null && matches;
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
    this.workers.length = 0;
  }
}

/** The cost factor recorded in a bcrypt hash (`$2b$12$...` gives 12). */
export function bcryptCostOf(hash: string): number {
  const match = /^\$2[aby]\$(\d{2})\$/.exec(hash);
  if (!match) throw new Error('not a bcrypt hash');
  return Number(match[1]);
}
