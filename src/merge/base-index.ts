/**
 * The base backup of a three-way merge (issue #18), held on disk, not in memory.
 *
 * The merge streams the backup in batches and reads the current records per batch; the base must
 * be joined to both by key without holding it whole. Backups are not guaranteed to be in key
 * order (seed files, other writers), so a sorted three-stream walk is not possible in general;
 * instead the base is loaded once, streamed, into a temporary SQLite file (one row per record:
 * table, canonical key string, record JSON in the current columns' encoding; WITHOUT ROWID,
 * clustered on (table, key)). Then:
 *   - per backup batch, one indexed lookup of the batch's keys (marking them seen);
 *   - after a table's backup records, the base records never seen (deleted in the backup), in
 *     key order, a batch at a time.
 * Cost: one extra pass over the base file, disk the size of its records (removed at the end,
 * also on failure), and memory of SQLite's page cache (a few MB) plus one batch. The base's
 * duplicate keys are a FormatError naming the base file.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import type { Row } from '../adapters/adapter.js'
import { FormatError } from '../errors.js'
import { keyString, reportKey, toCurrentEncoding, type MergeTable } from './table-info.js'

const LOOKUP_CHUNK = 500

export class BaseIndex {
  readonly #db: Database.Database
  readonly #dir: string
  readonly #file: string
  readonly #tableIds = new Map<string, number>()
  #closed = false

  private constructor(dir: string, file: string, db: Database.Database) {
    this.#dir = dir
    this.#file = file
    this.#db = db
  }

  /** An empty index in a fresh temporary directory. */
  static create(): BaseIndex {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-base-'))
    const file = path.join(dir, 'base.sqlite')
    const db = new Database(file)
    db.pragma('journal_mode = OFF')
    db.pragma('synchronous = OFF')
    db.exec('CREATE TABLE base (t INTEGER NOT NULL, k TEXT NOT NULL, r TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (t, k)) WITHOUT ROWID')
    // Deletions (--apply-deletions) wait here until every table was merged: they run children first.
    db.exec('CREATE TABLE doomed (t TEXT NOT NULL, n INTEGER NOT NULL, k TEXT NOT NULL, PRIMARY KEY (t, n)) WITHOUT ROWID')
    return new BaseIndex(dir, file, db)
  }

  /** Whether the base has this table (load() was called for it). */
  has(table: string): boolean {
    return this.#tableIds.has(table)
  }

  /**
   * Loads one table of the base: its records as `baseTable` (the base's schema against the current
   * table) reads them, keyed by the merge table's key.
   */
  async load(baseFile: string, baseTable: MergeTable, batches: AsyncIterable<Row[]>): Promise<number> {
    const id = this.#tableIds.size + 1
    this.#tableIds.set(baseTable.name, id)
    const insert = this.#db.prepare('INSERT OR IGNORE INTO base (t, k, r) VALUES (?, ?, ?)')
    const insertMany = this.#db.transaction((rows: readonly [string, string][]) => {
      let n = 0
      for (const [k, r] of rows) n += insert.run(id, k, r).changes
      return n
    })
    let index = 0
    let loaded = 0
    for await (const batch of batches) {
      const rows: [string, string][] = []
      for (const raw of batch) {
        const row = toCurrentEncoding(baseTable, raw, index++)
        rows.push([keyString(baseTable, row), JSON.stringify(row)])
      }
      const inserted = insertMany(rows)
      if (inserted !== rows.length) {
        const keys = new Set<string>()
        const dup = batch.find((raw) => {
          const k = keyString(baseTable, toCurrentEncoding(baseTable, raw, 0))
          return keys.has(k) || (keys.add(k), false)
        })
        throw new FormatError(
          `The base backup ${baseFile}, table ${JSON.stringify(baseTable.name)}: a second record with the key ${JSON.stringify(dup ? reportKey(baseTable, dup) : '?')}.`,
          { table: baseTable.name },
        )
      }
      loaded += rows.length
    }
    return loaded
  }

  /** The base records with the keys of `rows` (by the merge table's key); marks them seen. */
  lookup(table: MergeTable, rows: readonly Row[]): Row[] {
    const id = this.#tableIds.get(table.name)
    if (id === undefined || rows.length === 0) return []
    const keys = rows.map((row) => keyString(table, row))
    const out: Row[] = []
    for (let start = 0; start < keys.length; start += LOOKUP_CHUNK) {
      const chunk = keys.slice(start, start + LOOKUP_CHUNK)
      const marks = chunk.map(() => '?').join(', ')
      for (const { r } of this.#db.prepare(`SELECT r FROM base WHERE t = ? AND k IN (${marks})`).all(id, ...chunk) as { r: string }[]) {
        out.push(JSON.parse(r) as Row)
      }
      this.#db.prepare(`UPDATE base SET seen = 1 WHERE t = ? AND k IN (${marks})`).run(id, ...chunk)
    }
    return out
  }

  /** The base records of `table` that no backup record looked up, in key order, `batchSize` at a time. */
  *unseen(table: MergeTable, batchSize: number): Generator<Row[]> {
    const id = this.#tableIds.get(table.name)
    if (id === undefined) return
    const first = this.#db.prepare('SELECT k, r FROM base WHERE t = ? AND seen = 0 ORDER BY k LIMIT ?')
    const page = this.#db.prepare('SELECT k, r FROM base WHERE t = ? AND seen = 0 AND k > ? ORDER BY k LIMIT ?')
    let after: string | undefined
    for (;;) {
      const found = (after === undefined ? first.all(id, batchSize) : page.all(id, after, batchSize)) as { k: string; r: string }[]
      if (found.length === 0) return
      after = found[found.length - 1].k
      yield found.map(({ r }) => JSON.parse(r) as Row)
    }
  }

  /** Queues the deletion of these keys of `table` (key rows), to run after every table was merged. */
  queueDeletes(table: string, keys: readonly Row[]): void {
    if (keys.length === 0) return
    const next = ((this.#db.prepare('SELECT max(n) AS n FROM doomed WHERE t = ?').get(table) as { n: number | null }).n ?? 0) + 1
    const insert = this.#db.prepare('INSERT INTO doomed (t, n, k) VALUES (?, ?, ?)')
    this.#db.transaction(() => keys.forEach((key, i) => insert.run(table, next + i, JSON.stringify(key))))()
  }

  /** The queued deletions of `table`, in the order they were queued, `batchSize` at a time. */
  *queuedDeletes(table: string, batchSize: number): Generator<Row[]> {
    const page = this.#db.prepare('SELECT n, k FROM doomed WHERE t = ? AND n > ? ORDER BY n LIMIT ?')
    let after = 0
    for (;;) {
      const found = page.all(table, after, batchSize) as { n: number; k: string }[]
      if (found.length === 0) return
      after = found[found.length - 1].n
      yield found.map(({ k }) => JSON.parse(k) as Row)
    }
  }

  /** Bytes the index takes on disk (for the documentation of its cost). */
  size(): number {
    return fs.statSync(this.#file).size
  }

  /** Removes the temporary file. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    try {
      this.#db.close()
    } finally {
      fs.rmSync(this.#dir, { recursive: true, force: true })
    }
  }
}
