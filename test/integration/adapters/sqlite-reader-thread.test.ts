/**
 * The reader thread of a SQLite backup's source (sqlite-reader-thread.ts): a second connection
 * that must see the same snapshot as the source's own, in WAL and rollback-journal mode, while a
 * writer commits; and the fallback to one thread when the write lock is busy.
 */
import { describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { sqliteAdapter } from '../../../src/adapters/sqlite/sqlite-adapter.js'
import { SqliteSource } from '../../../src/adapters/sqlite/sqlite-source.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import type { TableSchema } from '../../../src/adapters/adapter.js'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { backup } from '../../../src/engine/backup.js'
import { makeSqliteDatabase } from '../../helpers/databases.js'
import { readLines, readRowsAsLines } from '../../helpers/record-lines.js'

const ROWS = 3000
const SETUP = `CREATE TABLE t (id INTEGER PRIMARY KEY, amount REAL, body TEXT);
  WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${ROWS})
  INSERT INTO t SELECT i, i / 7.0, printf('row %d', i) FROM s;`

/** Tries to commit one row (no waiting); true when it was committed. */
function tryCommit(writer: Database.Database, id: number): boolean {
  try {
    writer.prepare('INSERT INTO t VALUES (?, 1.5, ?)').run(id, `new ${id}`)
    return true
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) return false
    throw error
  }
}

async function tableOf(source: SqliteSource): Promise<TableSchema> {
  return (await source.describe()).tables.find((t) => t.name === 't')!
}

for (const mode of ['wal', 'delete'] as const) {
  describe(`SQLite reader thread, journal_mode ${mode}`, () => {
    it('reads the snapshot of the source while a writer commits during the open and during the read', async () => {
      const db = await makeSqliteDatabase(`PRAGMA journal_mode = ${mode}; ${SETUP}`)
      const writer = new Database(db.file, { timeout: 0 })
      const source = await (async () => {
        // A writer that commits as often as it can while the two snapshots are being taken: the
        // reader thread takes its snapshot some milliseconds after the source's, and the write
        // lock held meanwhile is what keeps the two the same.
        let id = ROWS + 1
        let stop = false
        const writing = (async () => {
          while (!stop) {
            if (tryCommit(writer, id)) id++
            await new Promise((resolve) => setImmediate(resolve))
          }
        })()
        const opened = (await sqliteAdapter.openSource(parseDatabaseUrl(db.url), { sessions: 2 })) as SqliteSource
        stop = true
        await writing
        return opened
      })()
      try {
        expect(source.readerThread).toBe(true)
        const table = await tableOf(source)
        // Committed after both snapshots: WAL lets it in beside the readers, rollback-journal mode
        // makes it wait for their shared locks (busy at once here).
        const committed = tryCommit(writer, 1_000_000)
        expect(committed).toBe(mode === 'wal')
        const lines = await readLines(source, table, { batchSize: 100 })
        const rows = await readRowsAsLines(source, table)
        expect(lines).toBe(rows)
        expect(lines).not.toContain('new 1000000')
        // The writer can commit (and, in rollback-journal mode, only can) once the source is closed.
        await source.close()
        expect(tryCommit(writer, 2_000_000)).toBe(true)
      } finally {
        await source.close()
        writer.close()
        db.cleanup()
      }
    })

    it('reads on one thread, and says why, when a writer holds the write lock', async () => {
      const db = await makeSqliteDatabase(`PRAGMA journal_mode = ${mode}; ${SETUP}`)
      const writer = new Database(db.file, { timeout: 0 })
      writer.exec('BEGIN IMMEDIATE')
      writer.prepare('INSERT INTO t VALUES (?, 1.5, ?)').run(ROWS + 1, 'uncommitted')
      const source = (await sqliteAdapter.openSource(parseDatabaseUrl(db.url), { sessions: 2 })) as SqliteSource
      try {
        expect(source.readerThread).toBe(false)
        expect(source.readerNote).toMatch(/read on one thread: the write lock could not be taken/)
        const table = await tableOf(source)
        const lines = await readLines(source, table)
        expect(lines).toBe(await readRowsAsLines(source, table))
        expect(lines!.trimEnd().split('\n')).toHaveLength(ROWS)
      } finally {
        await source.close()
        writer.exec('ROLLBACK')
        writer.close()
        db.cleanup()
      }
    })
  })
}

describe('SQLite reader thread', () => {
  it('reads on one thread by default and with one session, and stops a read left early', async () => {
    const db = await makeSqliteDatabase(SETUP)
    const byDefault = (await sqliteAdapter.openSource(parseDatabaseUrl(db.url), {})) as SqliteSource
    expect(byDefault.readerThread).toBe(false)
    await byDefault.close()
    const one = (await sqliteAdapter.openSource(parseDatabaseUrl(db.url), { sessions: 1 })) as SqliteSource
    const two = (await sqliteAdapter.openSource(parseDatabaseUrl(db.url), { sessions: 2 })) as SqliteSource
    try {
      expect(one.readerThread).toBe(false)
      expect(one.readerNote).toBeUndefined()
      expect(two.readerThread).toBe(true)
      const table = await tableOf(two)
      for await (const chunk of two.readRecordLines(table, { batchSize: 10 })!) {
        expect(chunk.toString().split('\n')).toHaveLength(11)
        break
      }
      // The thread goes on serving reads after one was left.
      expect(await readLines(two, table)).toBe(await readLines(one, table))
    } finally {
      await one.close()
      await two.close()
      db.cleanup()
    }
  })

  it('backup --jobs 2 writes the same bytes as one thread, with the same checksums', async () => {
    const db = await makeSqliteDatabase(`CREATE TABLE k (id TEXT PRIMARY KEY, n INTEGER, r REAL, b BLOB, f BOOLEAN); ${SETUP}
      WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1500)
      INSERT INTO k SELECT printf('k%05d', i), i, i / 3.0, randomblob(i % 5), i % 2 FROM s;`)
    const dir = mkdtempSync(path.join(tmpdir(), 'mb-sqreader-'))
    try {
      const one = await backup({ db: db.url, out: path.join(dir, 'one.json'), now: new Date(0) })
      const two = await backup({ db: db.url, out: path.join(dir, 'two.json'), now: new Date(0), jobs: 2 })
      expect(two.warnings).toEqual(one.warnings)
      expect(readFileSync(two.file)).toEqual(readFileSync(one.file))
      expect(two.sha256).toBe(one.sha256)
    } finally {
      rmSync(dir, { recursive: true, force: true })
      db.cleanup()
    }
  })
})
