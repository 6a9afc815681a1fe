/**
 * Issue #14 item 8, SQLite virtual tables holding their own rows: an FTS5 table (with tokenize,
 * prefix and an UNINDEXED column, and two identical rows) and R*Tree tables (rtree with an
 * auxiliary column, rtree_i32) are backed up as tables with their definition as checked fields
 * (`options.virtual`), their shadow tables never; restored into a new file (created from the
 * fields), into the application's own schema, with --drop, and merged after edits — each exact.
 * A definition carrying SQL or naming another module is refused with exit 2, nothing changed.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import type { TableSchema } from '../../../src/adapters/adapter.js'
import { backup } from '../../../src/engine/backup.js'
import { merge } from '../../../src/engine/merge.js'
import { restore } from '../../../src/engine/restore.js'
import { readBackup } from '../../../src/format/reader.js'
import { runCli } from '../../helpers/cli.js'
import { makeSqlitePath, makeTempDir, makeSqliteDatabase } from '../../helpers/databases.js'
import { writeCraftedBackup } from '../security/targets.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

const SCHEMA = `
  CREATE VIRTUAL TABLE memo USING fts5(title, body UNINDEXED, tokenize = 'porter unicode61', prefix = '2 3');
  CREATE VIRTUAL TABLE place USING rtree(id, minX, maxX, minY, maxY, +name);
  CREATE VIRTUAL TABLE grid USING rtree_i32(id, x0, x1);`
const ROWS = `
  INSERT INTO memo VALUES ('Running fast', 'b1'), ('walks', NULL), ('Running fast', 'b1'), ('numbers', 42);
  INSERT INTO place VALUES (1, 0.1, 0.2, 1, 2, 'a'), (2, -5, 5, -5, 5, NULL);
  INSERT INTO grid VALUES (7, -3, 9);`
const TABLES = ['memo', 'place', 'grid']

async function create(sql: string): Promise<{ file: string; url: string }> {
  const target = await makeSqliteDatabase(sql)
  cleanups.push(target.cleanup)
  return target
}

function exec(file: string, sql: string): void {
  const db = new Database(file)
  db.exec(sql)
  db.close()
}

/** Every table's rows with their exact storage classes, and what full-text search finds. */
function contents(file: string): Record<string, unknown> {
  const db = new Database(file, { readonly: true })
  db.defaultSafeIntegers(true)
  try {
    const out: Record<string, unknown> = {}
    for (const t of TABLES) {
      const columns = (db.prepare(`PRAGMA table_info("${t}")`).all() as { name: string }[]).map((c) => `"${c.name}"`)
      out[t] = db.prepare(`SELECT ${columns.map((c) => `${c}, typeof(${c})`).join(', ')} FROM "${t}" ORDER BY ${columns.join(', ')}`).raw().all()
    }
    out.search = db.prepare(`SELECT title FROM memo WHERE memo MATCH 'run' ORDER BY title`).pluck().all()
    out.prefix = db.prepare(`SELECT title FROM memo WHERE memo MATCH 'wa*' ORDER BY title`).pluck().all()
    out.within = db.prepare(`SELECT id FROM place WHERE minX >= 0 AND maxX <= 1 ORDER BY id`).pluck().all()
    return out
  } finally {
    db.close()
  }
}

function definitions(file: string): string[] {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).pluck().all() as string[]
  } finally {
    db.close()
  }
}

async function tableSchemas(file: string): Promise<TableSchema[]> {
  const tables: TableSchema[] = []
  for await (const event of readBackup(fs.createReadStream(file))) if (event.type === 'table') tables.push(event.table)
  return tables
}

describe('#14: SQLite FTS5 and R*Tree tables with their own rows are carried', () => {
  it('backup → restore into a new file, into its own schema, with --drop → merge after edits, all exact', async () => {
    const source = await create(SCHEMA + ROWS)
    const tmp = makeTempDir('mb14vt-')
    cleanups.push(tmp.cleanup)
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'vt.json') })
    expect(made.warnings.join('\n')).not.toMatch(/NOT backed up/)
    const tables = await tableSchemas(made.file)
    expect(tables.map((t) => t.name).sort()).toEqual(['grid', 'memo', 'place'])
    const byName = new Map(tables.map((t) => [t.name, t]))
    expect(byName.get('memo')!.options!.virtual).toEqual({
      module: 'fts5',
      columns: [{ name: 'title', unindexed: false }, { name: 'body', unindexed: true }],
      options: { tokenize: 'porter unicode61', prefix: '2 3' },
    })
    expect(byName.get('memo')!.primaryKey).toEqual([])
    expect(byName.get('place')!.options!.virtual).toEqual({ module: 'rtree', columns: ['id', 'minX', 'maxX', 'minY', 'maxY'], auxColumns: ['name'] })
    expect(byName.get('place')!.primaryKey).toEqual(['id'])
    expect(byName.get('grid')!.options!.virtual).toEqual({ module: 'rtree_i32', columns: ['id', 'x0', 'x1'], auxColumns: [] })
    const expected = contents(source.file)
    expect(expected.search).toEqual(['Running fast', 'Running fast'])

    // Into a new file: created from the fields (the shadow tables come with the module), rows in.
    const fresh = makeSqlitePath()
    cleanups.push(fresh.cleanup)
    await restore({ file: made.file, db: fresh.url })
    expect(contents(fresh.file)).toEqual(expected)
    expect(definitions(fresh.file)).toEqual(definitions(source.file))

    // Into the application's own schema, twice: the second run finds every row there (the FTS5
    // table by whole rows, duplicates counted; the R*Trees by id) and changes nothing.
    const own = await create(SCHEMA)
    await restore({ file: made.file, db: own.url })
    expect(contents(own.file)).toEqual(expected)
    const again = await restore({ file: made.file, db: own.url })
    expect(again.tables).toMatchObject({ memo: { inserted: 0, skipped: 4 }, place: { inserted: 0, skipped: 2 }, grid: { inserted: 0, skipped: 1 } })
    expect(contents(own.file)).toEqual(expected)

    // --drop over changed contents.
    exec(own.file, "INSERT INTO memo VALUES ('extra', 'x'); DELETE FROM place WHERE id = 1; INSERT INTO grid VALUES (8, 0, 1);")
    await restore({ file: made.file, db: own.url, drop: true })
    expect(contents(own.file)).toEqual(expected)

    // Merge after edits: deleted rows come back, an edited R*Tree row takes the backup's values.
    exec(own.file, "DELETE FROM memo WHERE title = 'walks'; UPDATE place SET name = 'changed', maxX = 0.5 WHERE id = 1; DELETE FROM grid;")
    await merge(made.file, own.url)
    expect(contents(own.file)).toEqual(expected)
  })

  it('a hostile or unknown virtual table definition is refused with exit 2, and nothing changes', async () => {
    const source = await create(SCHEMA + ROWS)
    const tmp = makeTempDir('mb14vt-')
    cleanups.push(tmp.cleanup)
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'vt.json') })
    const byName = new Map((await tableSchemas(made.file)).map((t) => [t.name, t]))
    const memo = byName.get('memo')!
    const place = byName.get('place')!
    const memoVirtual = memo.options!.virtual as Record<string, unknown>
    const target = await create('CREATE TABLE victim (id INTEGER PRIMARY KEY); INSERT INTO victim VALUES (1);')
    const before = fs.readFileSync(target.file)
    const cases: [string, TableSchema, RegExp][] = [
      ['tokenize with SQL', { ...memo, options: { ...memo.options, virtual: { ...memoVirtual, options: { tokenize: "porter'); DROP TABLE victim; --" } } } }, /tokenize .* is not in a form/],
      ['tokenizer not allowed', { ...memo, options: { ...memo.options, virtual: { ...memoVirtual, options: { tokenize: 'evil' } } } }, /tokenize .* is not in a form/],
      ['unknown option', { ...memo, options: { ...memo.options, virtual: { ...memoVirtual, options: { content: '', content_rowid: 'x' } } } }, /option "content_rowid" is not one/],
      ['unknown module', { ...memo, options: { ...memo.options, virtual: { ...memoVirtual, module: 'fts3' } } }, /module "fts3" is not one/],
      ['column name with SQL', { ...place, options: { ...place.options, virtual: { module: 'rtree', columns: ['id', 'a"); DROP TABLE victim; --', 'b'], auxColumns: [] } } }, /not a plain name/],
      ['columns not the table', { ...place, options: { ...place.options, virtual: { module: 'rtree', columns: ['id', 'minX', 'maxX'], auxColumns: [] } } }, /columns are not the table's/],
    ]
    for (const [name, table, message] of cases) {
      const file = path.join(tmp.dir, `${name.replace(/ /g, '-')}.json`)
      await writeCraftedBackup(file, 'sqlite', table, [])
      const result = await runCli(['restore', file, '--db', target.url, '--yes'])
      expect(result.code, `${name}: ${result.stderr}`).toBe(2)
      expect(result.stderr).toMatch(message)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
    }
    expect((await runCli(['verify', path.join(tmp.dir, 'unknown-module.json')])).code).toBe(2)
    expect(fs.readFileSync(target.file).equals(before)).toBe(true)
  })
})
