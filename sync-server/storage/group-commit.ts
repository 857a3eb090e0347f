/**
 * Group commit for change appends. Every committed transaction costs a flush to disk (SQLite's
 * WAL with synchronous=FULL, PostgreSQL's WAL), and a clinic's appends are serialised anyway by
 * its change counter; so with many devices pushing at once the disk, not the work, sets the pace
 * (the sync benchmark measured about 1.6 ms of fsync per one-transaction batch on SQLite). Batches
 * submitted while a group is being committed, or in the same turn of the event loop, are applied
 * one after another inside ONE database transaction, and each caller is answered only after that
 * transaction committed: a batch is still all-or-nothing and acknowledged only once durable.
 *
 * The storage's `commit` applies the group in order and reports each batch's own outcome: a batch
 * it refuses (unknown device, conflict) must have written nothing, and the others stand. When the
 * transaction itself fails, every batch of the group gets that failure and nothing of it stays.
 */

/** One batch's outcome inside a committed group. */
export type GroupOutcome<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * Most batches committed together. Each group pays a fixed cost (on PostgreSQL about eight round
 * trips and a commit, each delayed while the event loop validates other pushes); with 20 devices
 * pushing 100 batches each, groups of 64 hit this cap every time and the sync benchmark measured
 * about 5,000 changes a second, groups of 256 over 10,000.
 */
export const MAX_GROUP = 256;
/** Most changes (the items' weight) committed together: bounds one transaction's length. */
export const MAX_GROUP_WEIGHT = 5000;

interface Waiting<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
}

/** Queues submissions and commits them in groups, one group at a time, in submission order. */
export class GroupCommit<I, O> {
  private readonly queue: Array<Waiting<I, O>> = [];
  private draining = false;

  constructor(
    private readonly commit: (items: readonly I[]) => Promise<Array<GroupOutcome<O>>>,
    /** An item's weight (its changes); a group holds at least one item, and more up to MAX_GROUP_WEIGHT. */
    private readonly weigh: (item: I) => number = () => 1,
  ) {}

  /** Resolves with the item's outcome once the transaction holding it has committed. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        // setImmediate, not a microtask: requests whose data already arrived get to submit too.
        setImmediate(() => void this.drain());
      }
    });
  }

  /** How many queued items the next group takes: within both bounds, and never none. */
  private groupLength(): number {
    let weight = 0;
    let length = 0;
    for (const waiting of this.queue) {
      if (length === MAX_GROUP) break;
      weight += this.weigh(waiting.item);
      if (length > 0 && weight > MAX_GROUP_WEIGHT) break;
      length++;
    }
    return length;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, this.groupLength());
      let outcomes: Array<GroupOutcome<O>>;
      try {
        outcomes = await this.commit(group.map((waiting) => waiting.item));
      } catch (error) {
        for (const waiting of group) waiting.reject(error);
        continue;
      }
      group.forEach((waiting, i) => {
        const outcome = outcomes[i];
        if (!outcome) waiting.reject(new Error('the group commit gave no outcome for a batch'));
        else if (outcome.ok) waiting.resolve(outcome.value);
        else waiting.reject(outcome.error);
      });
    }
    this.draining = false;
  }
}
