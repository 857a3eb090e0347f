/**
 * Typed access to the clinic database. Read and write access are different types, so a
 * read-only path (a handler's prepare phase, a search) cannot write by accident: ReadDb only
 * hands out statements SQLite itself reports as read-only. Statements are prepared once and
 * cached by their SQL text. Values always travel as bound parameters, never inside the SQL.
 */
import type Database from 'better-sqlite3-multiple-ciphers';

/** Bound parameters: named (`@name`) or positional (`?`). */
export type SqlParams = Readonly<Record<string, unknown>> | readonly unknown[];

/** A prepared statement that can only read. */
export interface ReadStatement<Row> {
  get(params?: SqlParams): Row | undefined;
  all(params?: SqlParams): Row[];
  iterate(params?: SqlParams): IterableIterator<Row>;
}

/** A prepared statement that changes data. */
export interface WriteStatement {
  run(params?: SqlParams): { changes: number; lastInsertRowid: number | bigint };
}

function bind(params: SqlParams | undefined): unknown[] {
  if (params === undefined) return [];
  return Array.isArray(params) ? [...(params as unknown[])] : [params];
}

/** Read access to the database. */
export class ReadDb {
  protected readonly statements = new Map<string, Database.Statement<unknown[], unknown>>();

  constructor(protected readonly db: Database.Database) {}

  protected prepare(sql: string): Database.Statement<unknown[], unknown> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** A cached read-only statement; throws if the SQL would write. */
  query<Row>(sql: string): ReadStatement<Row> {
    const statement = this.prepare(sql);
    if (!statement.readonly) throw new Error('ReadDb.query was given a statement that writes');
    return {
      get: (params) => statement.get(...bind(params)) as Row | undefined,
      all: (params) => statement.all(...bind(params)) as Row[],
      iterate: (params) => statement.iterate(...bind(params)) as IterableIterator<Row>,
    };
  }
}

/** Read and write access; only handed out inside a transaction the pipeline owns. */
export class WriteDb extends ReadDb {
  /** A cached statement that changes data. */
  command(sql: string): WriteStatement {
    const statement = this.prepare(sql);
    return {
      run: (params) => {
        const result = statement.run(...bind(params));
        return { changes: result.changes, lastInsertRowid: result.lastInsertRowid };
      },
    };
  }

  /** Runs DDL or a script with no values (migrations only). */
  execScript(sql: string): void {
    this.db.exec(sql);
  }

  /** Runs fn in a transaction: committed when it returns, rolled back when it throws. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  /**
   * Switches to bulk-load settings for one big transaction into a new database (a join writes a
   * whole clinic): a rollback journal instead of WAL, and a page cache of `cacheMiB`. Returns the
   * function that switches back (WAL and the previous cache), to call after the commit.
   *
   * Why: pages a transaction appends to a database file are not journaled in rollback mode, so
   * a new database's pages are written once. In WAL mode they are written to the log and copied
   * again by the checkpoint (measured: commit 2.1 s against 0.5 s for 100,000 patients). A crash
   * before the commit leaves a hot journal that SQLite rolls back at the next open, as it would a
   * WAL transaction. The larger cache keeps the load from spilling pages and reading them back
   * (decrypting) while the indexes grow. Called outside a transaction: SQLite changes the journal
   * mode only then.
   */
  beginBulkLoad(cacheMiB: number): () => void {
    if (this.db.inTransaction) throw new Error('the journal mode changes only outside a transaction');
    const previousCache = Number(this.db.pragma('cache_size', { simple: true }));
    // Literals and numbers only: the values are never caller text.
    this.db.pragma('journal_mode = DELETE');
    this.db.pragma(`cache_size = ${-Math.trunc(cacheMiB * 1024)}`);
    return () => {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`cache_size = ${Math.trunc(previousCache)}`);
      // SQLite opens the log at the next read. Without one, the checkpoint ClinicState.close runs
      // failed with SQLITE_LOCKED after a join (seen in test/sync/convergence.property.test.ts,
      // the device that joins after compaction).
      this.db.prepare('SELECT count(*) FROM sqlite_master').pluck().get();
    };
  }

  /** Sets PRAGMA synchronous for the next commits (FULL for clinical writes, NORMAL for read audit). */
  setSynchronous(mode: 'FULL' | 'NORMAL'): void {
    // Two literals only: the value is never caller text.
    this.db.pragma(mode === 'FULL' ? 'synchronous = FULL' : 'synchronous = NORMAL');
  }
}
