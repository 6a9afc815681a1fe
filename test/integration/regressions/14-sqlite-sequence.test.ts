/**
 * Issue #14 item 8 finding: SQLite's AUTOINCREMENT counter (`sqlite_sequence`) was carried only
 * into a table the restore created from a file made here; a restore into the application's own
 * schema, a merge, or a file made elsewhere (built from its columns) left the counter at the
 * highest id restored, so ids the source had handed out and deleted were handed out again.
 * Now the counter becomes the larger of the target's and the backup's (`options.sequence`).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { merge } from '../../../src/engine/merge.js'
import { makeSqlitePath, makeTempDir, makeSqliteDatabase } from '../../helpers/databases.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

const SCHEMA = `CREATE TABLE counter (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE never_used (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
CREATE TABLE plain (id INTEGER PRIMARY KEY, v TEXT);`

async function database(sql: string): Promise<{ file: string; url: string }> {
  const target = await makeSqliteDatabase(sql)
  cleanups.push(target.cleanup)
  return target
}

function sequences(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true })
  try {
    const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'`).get()
    return exists ? Object.fromEntries((db.prepare('SELECT name, seq FROM sqlite_sequence').all() as { name: string; seq: number }[]).map((r) => [r.name, r.seq])) : {}
  } finally {
    db.close()
  }
}

/** The id the next insert gets. */
function nextId(file: string, table = 'counter'): number {
  const db = new Database(file)
  try {
    return Number(db.prepare(`INSERT INTO ${table} (name) VALUES ('next') RETURNING id`).get()!['id' as never])
  } finally {
    db.close()
  }
}

describe('#14: SQLite AUTOINCREMENT counters are carried', () => {
  it('into a new file, into the application\'s own schema, by a merge, and from a file made elsewhere', async () => {
    const source = await database(`${SCHEMA}
      INSERT INTO counter (name) VALUES ('one'), ('two'), ('three'), ('four');
      DELETE FROM counter WHERE id IN (3, 4);
      INSERT INTO plain VALUES (1, 'x');`)
    const tmp = makeTempDir('mb14-seq-')
    cleanups.push(tmp.cleanup)
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'seq.json') })
    const header = JSON.parse(fs.readFileSync(made.file, 'utf8')).tables as { tableName: string; options?: { sequence?: string } }[]
    expect(Object.fromEntries(header.map((t) => [t.tableName, t.options?.sequence]))).toEqual({ counter: '4', never_used: '0', plain: undefined })

    const fresh = await database('')
    await restore({ file: made.file, db: fresh.url })
    expect(sequences(fresh.file)).toMatchObject({ counter: 4 })
    expect(nextId(fresh.file)).toBe(5)

    const own = await database(SCHEMA)
    await restore({ file: made.file, db: own.url })
    expect(sequences(own.file)).toMatchObject({ counter: 4 })

    // A merge into a copy whose counter is behind moves it on; one ahead is left ahead.
    const behind = await database(`${SCHEMA} INSERT INTO counter (name) VALUES ('one'); DELETE FROM counter;`)
    await merge(made.file, behind.url)
    expect(sequences(behind.file)).toMatchObject({ counter: 4 })
    const ahead = await database(`${SCHEMA} INSERT INTO counter (id, name) VALUES (9, 'nine'); DELETE FROM counter;`)
    await restore({ file: made.file, db: ahead.url })
    expect(sequences(ahead.file)).toMatchObject({ counter: 9 })

    // A file made elsewhere: its CREATE TABLE text is not used, the table is built from its
    // columns, and is AUTOINCREMENT again with the counter carried.
    const savedState = process.env.MERGEBACK_STATE_DIR
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'mb14-seq-state-'))
    cleanups.push(() => {
      if (savedState === undefined) delete process.env.MERGEBACK_STATE_DIR
      else process.env.MERGEBACK_STATE_DIR = savedState
      fs.rmSync(elsewhere, { recursive: true, force: true })
    })
    process.env.MERGEBACK_STATE_DIR = elsewhere
    const foreign = await database('')
    const result = await restore({ file: made.file, db: foreign.url })
    expect(result.warnings.join('\n')).toMatch(/CREATE TABLE text is not used/)
    expect(sequences(foreign.file)).toMatchObject({ counter: 4 })
    expect(nextId(foreign.file)).toBe(5)
    expect(nextId(foreign.file, 'never_used')).toBe(1)
    const check = new Database(foreign.file, { readonly: true })
    const created = check.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('counter', 'never_used', 'plain') ORDER BY name`).all() as { name: string; sql: string }[]
    check.close()
    expect(created.map((t) => [t.name, /AUTOINCREMENT/.test(t.sql)])).toEqual([['counter', true], ['never_used', true], ['plain', false]])
  })
})
