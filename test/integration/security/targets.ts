/**
 * Targets for the security suite: a PostgreSQL, a MariaDB and a SQLite database, each holding a
 * `victim` table, and a marker file beside them that a crafted backup might try to read. After a
 * restore of a crafted file, `untouched()` says whether everything is as it was.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import type { Engine, Row, TableSchema } from '../../../src/adapters/adapter.js'
import { BackupWriter } from '../../../src/format/writer.js'
import { createMysqlDatabase, createPostgresDatabase, makeTempDir, pgQuery, type TestDatabase } from '../../helpers/databases.js'

export type TargetEngine = 'postgres' | 'mysql' | 'sqlite'
export const TARGETS: readonly TargetEngine[] = ['postgres', 'mysql', 'sqlite']

export interface Target {
  readonly engine: TargetEngine
  readonly url: string
  /** Table names in the target, sorted. */
  tables(): Promise<string[]>
  /** The victim's rows, as text. */
  victim(): Promise<string>
  /** Columns of table `name`, when it exists. */
  columns(name: string): Promise<string[]>
  drop(): Promise<void>
}

const VICTIM_ROWS = [
  [1, 'alpha'],
  [2, 'beta'],
  [3, 'gamma'],
]

export async function makeTarget(engine: TargetEngine): Promise<Target> {
  if (engine === 'postgres') {
    const db: TestDatabase = await createPostgresDatabase('mbsec')
    await pgQuery(db.url, 'CREATE TABLE victim (id integer PRIMARY KEY, secret text NOT NULL)')
    for (const [id, secret] of VICTIM_ROWS) await pgQuery(db.url, 'INSERT INTO victim VALUES ($1, $2)', [id, secret])
    return {
      engine,
      url: db.url,
      tables: async () =>
        (await pgQuery<{ t: string }>(db.url, "SELECT relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND relkind IN ('r','v','m','p') ORDER BY 1")).map((r) => r.t),
      victim: async () => JSON.stringify(await pgQuery(db.url, 'SELECT id, secret FROM victim ORDER BY id')),
      columns: async (name) =>
        (await pgQuery<{ c: string }>(db.url, "SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position", [name])).map((r) => r.c),
      drop: () => db.drop(),
    }
  }
  if (engine === 'mysql') {
    const db = await createMysqlDatabase('mbsec')
    const mysql = await import('mysql2/promise')
    const query = async (sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> => {
      const conn = await mysql.createConnection({ uri: db.url })
      try {
        return (await conn.query(sql, params))[0] as Record<string, unknown>[]
      } finally {
        await conn.end()
      }
    }
    await query('CREATE TABLE victim (id int PRIMARY KEY, secret text NOT NULL)')
    for (const [id, secret] of VICTIM_ROWS) await query('INSERT INTO victim VALUES (?, ?)', [id, secret])
    return {
      engine,
      url: db.url,
      tables: async () => (await query('SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1')).map((r) => String(r.t)),
      victim: async () => JSON.stringify(await query('SELECT id, secret FROM victim ORDER BY id')),
      columns: async (name) =>
        (await query('SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION', [name])).map((r) =>
          String(r.c),
        ),
      drop: () => db.drop(),
    }
  }
  const { dir, cleanup } = makeTempDir('mbsec-sqlite-')
  const file = path.join(dir, 'target.db')
  const db = new Database(file)
  db.exec('CREATE TABLE victim (id INTEGER PRIMARY KEY, secret TEXT NOT NULL)')
  for (const [id, secret] of VICTIM_ROWS) db.prepare('INSERT INTO victim VALUES (?, ?)').run(id, secret)
  db.close()
  const read = <T>(fn: (db: Database.Database) => T): T => {
    const handle = new Database(file, { readonly: true })
    try {
      return fn(handle)
    } finally {
      handle.close()
    }
  }
  return {
    engine,
    url: `sqlite:${file}`,
    tables: async () => read((d) => (d.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY 1").all() as { name: string }[]).map((r) => r.name)),
    victim: async () => JSON.stringify(read((d) => d.prepare('SELECT id, secret FROM victim ORDER BY id').all())),
    columns: async (name) => read((d) => (d.prepare('SELECT name FROM pragma_table_info(?)').all(name) as { name: string }[]).map((r) => r.name)),
    drop: async () => cleanup(),
  }
}

/** A marker file a hostile definition would read (pg_read_file, LOAD_FILE, readfile). */
export function makeMarker(dir: string): { path: string; untouched(): boolean } {
  const file = path.join(dir, 'marker.txt')
  fs.writeFileSync(file, 'marker-contents\n', { mode: 0o644 })
  fs.chmodSync(dir, 0o755)
  let before = fs.statSync(file)
  return {
    path: file,
    // Compares the times first: reading the contents changes the access time, so the baseline
    // is taken again after each check.
    untouched: () => {
      const after = fs.statSync(file)
      const same = after.mtimeMs === before.mtimeMs && after.atimeMs === before.atimeMs && fs.readFileSync(file, 'utf8') === 'marker-contents\n'
      before = fs.statSync(file)
      return same
    },
  }
}

/** Writes a backup of engine `engine` with one table and these rows, valid checksums and all. */
export async function writeCraftedBackup(file: string, engine: Engine, table: TableSchema, rows: readonly Row[]): Promise<void> {
  const out = fs.createWriteStream(file)
  const writer = new BackupWriter(out, { engine, database: 'crafted', backupName: 'crafted', compression: 'none' })
  await writer.beginTable(table)
  await writer.writeRows(rows)
  await writer.endTable()
  await writer.finish()
  await new Promise<void>((resolve) => out.end(resolve))
}
