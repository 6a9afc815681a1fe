/**
 * Staging tables: how a MySQL/MariaDB restore creates tables so that a kill -9 cannot leave them
 * half made (issue #13 finding 2). MySQL DDL is not transactional — a CREATE TABLE commits at
 * once and a ROLLBACK does not undo it — so a process killed during a restore into an empty
 * database used to leave the new tables behind, empty.
 *
 * Instead, every table a restore creates is created under a staging name
 * (`_mb_stage_<run id>_<table>`) with its keys, indexes and foreign keys — a foreign key between
 * two created tables points at the other's staging name — and loaded inside the data transaction.
 * At the end ONE `RENAME TABLE s1 TO t1, s2 TO t2, …` swaps them all in. MySQL runs a RENAME
 * with an implicit COMMIT of the open transaction first, and the server finishes a statement it
 * has received even when the client dies, so the data of existing tables and the new tables
 * appear together: a client killed before it sent the RENAME leaves the database as it was plus
 * staging tables (its transaction is rolled back when the server sees the connection close);
 * killed after, the finished result.
 *
 * InnoDB foreign keys follow a table through a rename (they are stored by the referenced table's
 * current name, and RENAME rewrites them): a staging child referencing a staging parent ends up
 * referencing the real parent, and an existing table whose foreign key names a table that does
 * not exist yet resolves to the new table once it has that name. (The converse is why `--drop`
 * does not swap existing tables: renaming the old table away would carry the foreign keys of
 * other tables with it — measured, docs/adapters-mysql.md §Staging tables.)
 *
 * Leftovers: each run holds a server lock (`GET_LOCK('mergeback_stage_<run id>')`) on its
 * session from before it creates its first staging table; the server releases it when that
 * session ends, however it ends. `removeLeftovers` drops staging tables whose run holds no lock
 * (a run that died), and leaves those of a live run alone. The next write session on the database
 * calls it (and reports what it removed), and `mergeback recover` calls it explicitly.
 *
 * This unit knows nothing of restore: it names tables, rewrites a CREATE TABLE, builds the one
 * RENAME, and finds and removes leftovers, so that other writers (a parallel restore) reuse it.
 */
import { createHash } from 'node:crypto'
import type { Connection } from 'mysql2/promise'
import type { RowDataPacket } from 'mysql2'
import { quoteIdentifier } from './mysql-values.js'
import { OLD_PREFIX, RUN_ID_LENGTH, STAGE_PREFIX, newRunId, runLockName } from '../staging.js'

export { OLD_PREFIX, STAGE_PREFIX, newRunId, runLockName }

/** MySQL and MariaDB limit table names to 64 characters. */
const MAX_NAME = 64
const LEFTOVER = new RegExp(`^(${STAGE_PREFIX}|${OLD_PREFIX})([a-z0-9]{${RUN_ID_LENGTH}})_`)

/**
 * `<prefix><run id>_<table>`, within 64 characters: a longer table name is cut and ends with 8
 * hex digits of its SHA-256, so two long names that share a start stay apart.
 */
export function stagingName(prefix: string, runId: string, table: string): string {
  const head = `${prefix}${runId}_`
  const room = MAX_NAME - head.length
  const chars = [...table]
  if (chars.length <= room) return head + table
  const hash = createHash('sha256').update(table, 'utf8').digest('hex').slice(0, 8)
  return `${head}${chars.slice(0, room - 9).join('')}_${hash}`
}

/** Whether a table name is a staging or parked table of some run. */
export function isStagingTable(name: string): boolean {
  return LEFTOVER.test(name)
}

/** The tables one run creates under staging names, and the statements that swap them in. */
export class StagingSet {
  readonly runId: string
  /** real name → staging name */
  readonly #names = new Map<string, string>()
  /** staging name → real name */
  readonly #reals = new Map<string, string>()

  constructor(runId: string, tables: Iterable<string>) {
    this.runId = runId
    for (const table of tables) {
      const staged = stagingName(STAGE_PREFIX, runId, table)
      this.#names.set(table, staged)
      this.#reals.set(staged, table)
    }
  }

  get size(): number {
    return this.#names.size
  }

  /** The staging name of a table of the set, else undefined. */
  stagedName(table: string): string | undefined {
    return this.#names.get(table)
  }

  /** The real name of a staging table of the set, else undefined. */
  realName(staged: string): string | undefined {
    return this.#reals.get(staged)
  }

  /** The name a statement must use for `table` now: its staging name while staged. */
  sqlName(table: string): string {
    return this.#names.get(table) ?? table
  }

  /**
   * A `CREATE TABLE \`t\` (…` statement (createTableStatement's output) made to create the
   * staging table instead: the table's name, and each foreign key that references a table of
   * the set (itself included), point at staging names. Throws when the statement does not have
   * the shape createTableStatement writes.
   */
  createStatement(table: string, sql: string): string {
    const head = `CREATE TABLE ${quoteIdentifier(table)} (`
    if (!sql.startsWith(head)) throw new Error(`Not a CREATE TABLE statement for ${table}.`)
    const body = sql.slice(head.length).replace(FOREIGN_KEY_LINE, (line: string, start: string, referenced: string) => {
      const staged = this.#names.get(referenced.replace(/``/g, '`'))
      return staged === undefined ? line : `${start}${quoteIdentifier(staged)}`
    })
    return `CREATE TABLE ${quoteIdentifier(this.sqlName(table))} (${body}`
  }

  /** The one statement that swaps every staging table in (and commits the open transaction). */
  renameStatement(): string {
    return `RENAME TABLE ${[...this.#names].map(([real, staged]) => `${quoteIdentifier(staged)} TO ${quoteIdentifier(real)}`).join(', ')}`
  }

  /** Real names of the tables of the set. */
  realNames(): string[] {
    return [...this.#names.keys()]
  }

  /** Staging names, for DROP TABLE. */
  stagedNames(): string[] {
    return [...this.#names.values()]
  }
}

/** `  CONSTRAINT \`fk\` FOREIGN KEY (\`a\`, …) REFERENCES \`parent\``, one per line; group 2 is the parent. */
const FOREIGN_KEY_LINE = /^(\s*CONSTRAINT `(?:[^`]|``)+` FOREIGN KEY \((?:`(?:[^`]|``)+`(?:,\s*)?)+\) REFERENCES )`((?:[^`]|``)+)`/gm

export interface Leftovers {
  /** Staging and parked tables of runs that died, now dropped. */
  readonly removed: readonly string[]
  /** Those of runs still holding their lock (alive), left alone. */
  readonly busy: readonly string[]
}

/** Staging and parked tables of the current database, grouped by run id. */
export async function findStagingTables(connection: Connection): Promise<Map<string, string[]>> {
  const [rows] = await connection.query<RowDataPacket[]>(
    `SELECT TABLE_NAME AS name FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() AND (TABLE_NAME LIKE '\\_mb\\_stage\\_%' OR TABLE_NAME LIKE '\\_mb\\_old\\_%') ORDER BY TABLE_NAME`,
  )
  const byRun = new Map<string, string[]>()
  for (const row of rows) {
    const name = String(row.name)
    const match = LEFTOVER.exec(name)
    if (!match) continue
    const runId = match[2] as string
    byRun.set(runId, [...(byRun.get(runId) ?? []), name])
  }
  return byRun
}

/**
 * Drops the staging tables of runs that died. A run is dead when its lock can be taken: the
 * server released it when the run's session ended. `waitSeconds` is how long to wait for a lock
 * still held (0: do not wait; a connection the server has not yet noticed closing holds it for
 * a moment). The caller's session must have foreign_key_checks = 0 (staging tables reference
 * each other).
 */
export async function removeLeftovers(connection: Connection, options: { waitSeconds?: number } = {}): Promise<Leftovers> {
  const removed: string[] = []
  const busy: string[] = []
  for (const [runId, tables] of await findStagingTables(connection)) {
    const lock = runLockName(runId)
    const [[got]] = await connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [lock, options.waitSeconds ?? 0])
    if (Number(got?.got) !== 1) {
      busy.push(...tables)
      continue
    }
    try {
      await connection.query(`DROP TABLE IF EXISTS ${tables.map(quoteIdentifier).join(', ')}`)
      removed.push(...tables)
    } finally {
      await connection.query('SELECT RELEASE_LOCK(?)', [lock])
    }
  }
  return { removed, busy }
}
