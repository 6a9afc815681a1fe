/**
 * Issue #14 item 8, SQLite part: WITHOUT ROWID and STRICT tables, AUTOINCREMENT (with a gap),
 * a stored generated column, a trigger and a view, FTS5 and R*Tree tables with their own rows, a self-referencing tree, reserved words and
 * unicode in names (test/fixtures/hard-cases/sqlite.sql), through backup → restore into its own
 * schema → restore into a new file → analyze (all unchanged) → merge after edits.
 * The AUTOINCREMENT counter (`sqlite_sequence`) is compared too (14-sqlite-sequence.test.ts has
 * its own cases).
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { REPO_ROOT } from '../../helpers/cli.js'
import { makeSqlitePath, makeTempDir, makeSqliteDatabase } from '../../helpers/databases.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})
const SQL = fs.readFileSync(path.join(REPO_ROOT, 'test/fixtures/hard-cases/sqlite.sql'), 'utf8')
const TABLES = ['kv', 'strict_t', 'counter', 'box', 'audit', 'node', 'doc', 'memo', 'spot', 'sqlite_sequence']

function contents(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true })
  db.defaultSafeIntegers(true)
  try {
    return Object.fromEntries(TABLES.map((t) => [t, db.prepare(`SELECT * FROM "${t}" ORDER BY 1`).all()]))
  } finally {
    db.close()
  }
}

/** The ids of doc rows the full-text index finds for "sqlite". */
function search(file: string): number[] {
  const db = new Database(file, { readonly: true })
  try {
    return (db.prepare(`SELECT rowid AS id FROM doc_fts WHERE doc_fts MATCH 'sqlite' ORDER BY rowid`).all() as { id: number }[]).map((r) => r.id)
  } finally {
    db.close()
  }
}

async function create(sql: string): Promise<{ file: string; url: string }> {
  const target = await makeSqliteDatabase(sql)
  cleanups.push(target.cleanup)
  return target
}

describe('#14 item 8: SQLite hard cases', () => {
  it('backup → restore into its own schema and into a new file → analyze unchanged → merge after edits', async () => {
    const source = await create(SQL)
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'hard.json') })
    const expected = contents(source.file)
    // The external-content FTS5 index is named as such and not backed up; the FTS5 table and the
    // R*Tree holding their own rows are backed up as tables (14-sqlite-virtual-tables); no shadow
    // table is backed up as a table.
    const file = JSON.parse(fs.readFileSync(made.file, 'utf8')) as { tables: { tableName: string }[] }
    expect(file.tables.map((t) => t.tableName).sort()).toEqual(['audit', 'box', 'counter', 'doc', 'kv', 'memo', 'node', 'spot', 'strict_t'])
    expect(made.warnings.join('\n')).toMatch(/Virtual table "doc_fts" is a full-text index of table "doc": not backed up/)
    expect(made.warnings.join('\n')).not.toMatch(/NOT backed up/)

    const own = await create(SQL.replace(/^(INSERT|DELETE)[^\n]*\n/gm, ''))
    await restore({ file: made.file, db: own.url })
    expect(contents(own.file)).toEqual(expected)
    // The app's own full-text index finds the restored rows (rebuilt: its triggers were off).
    expect(search(own.file)).toEqual([1])

    const fresh = makeSqlitePath()
    cleanups.push(fresh.cleanup)
    await restore({ file: made.file, db: fresh.url })
    expect(contents(fresh.file)).toEqual(expected)

    expect((await analyze(made.file, source.url)).totals).toMatchObject({ new: 0, updated: 0, conflicts: 0, kept: 0 })

    const edit = new Database(own.file)
    edit.exec(`DELETE FROM doc WHERE id = 1; DELETE FROM node WHERE id = 3; UPDATE kv SET v = x'01' WHERE k = 'a'; DELETE FROM box; UPDATE strict_t SET t = 'y'; DELETE FROM memo WHERE rowid = 1; UPDATE spot SET label = 'moved', maxX = 0.5 WHERE id = 1; DELETE FROM spot WHERE id = 2`)
    edit.close()
    await merge(made.file, own.url)
    expect(contents(own.file)).toEqual(expected)
    expect(search(own.file)).toEqual([1])
  })
})
