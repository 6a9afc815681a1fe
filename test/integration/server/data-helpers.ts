/**
 * Databases for the server tests: the demo event-registration data in SQLite, PostgreSQL or
 * MariaDB, SQL against any of them, and a digest of a whole database (to show that a refused or
 * cancelled request changed nothing).
 */
import fs from 'node:fs'
import path from 'node:path'
import { createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import { runCli } from '../../helpers/cli.js'
import { createMysqlDatabase, createPostgresDatabase, makeSqlitePath, pgQuery, type TestDatabase } from '../../helpers/databases.js'

export type Engine = 'sqlite' | 'postgres' | 'mysql'

export interface DemoDatabase {
  readonly engine: Engine
  readonly url: string
  /** A backup of the demo data (plain JSON) outside any server's directory. */
  readonly backupFile: string
  /** Creates another empty database on the same server (for targetDatabase); SQLite: a new file. */
  sibling(): Promise<TestDatabase>
  cleanup(): Promise<void>
}

/** The demo data (5 tables, ~300 rows, foreign keys, a composite key) in a fresh database of `engine`. */
export async function createDemoDatabase(engine: Engine): Promise<DemoDatabase> {
  const sqlite = makeSqlitePath()
  const work = path.dirname(sqlite.file)
  const made = await runCli(['demo', '--file', sqlite.file, '--dir', path.join(work, 'demo-backups'), '--json'])
  if (made.code !== 0) throw new Error(`demo failed: ${made.stderr}${made.stdout}`)
  const backupFile = path.join(work, 'demo.json')
  const backedUp = await runCli(['backup', '--db', sqlite.url, '--out', backupFile, '--json'])
  if (backedUp.code !== 0) throw new Error(`backup failed: ${backedUp.stderr}${backedUp.stdout}`)
  const made2: TestDatabase[] = []
  const sibling = async (): Promise<TestDatabase> => {
    if (engine === 'postgres') return track(await createPostgresDatabase('mbsrv'))
    if (engine === 'mysql') return track(await createMysqlDatabase('mbsrv'))
    const file = path.join(work, `sibling-${made2.length}.db`)
    return track({ url: `sqlite:${file}`, name: path.basename(file), drop: async () => fs.rmSync(file, { force: true }) })
  }
  const track = (db: TestDatabase) => {
    made2.push(db)
    return db
  }
  let url = sqlite.url
  if (engine !== 'sqlite') {
    const db = await sibling()
    const restored = await runCli(['restore', backupFile, '--db', db.url, '--yes', '--json'])
    if (restored.code !== 0) throw new Error(`restore into ${engine} failed: ${restored.stderr}${restored.stdout}`)
    url = db.url
  }
  return {
    engine,
    url,
    backupFile,
    sibling,
    async cleanup() {
      for (const db of made2) await db.drop().catch(() => undefined)
      sqlite.cleanup()
    },
  }
}

/** Runs statements against a database URL of any of the three engines; returns the rows of the last. */
export async function sql(url: string, statements: string | string[], params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const list = Array.isArray(statements) ? statements : [statements]
  if (url.startsWith('sqlite:')) {
    const db = new Database(url.slice('sqlite:'.length))
    try {
      let rows: Record<string, unknown>[] = []
      for (const s of list) {
        const stmt = db.prepare(s)
        rows = stmt.reader ? (stmt.all(...params) as Record<string, unknown>[]) : (stmt.run(...params), [])
      }
      return rows
    } finally {
      db.close()
    }
  }
  if (url.startsWith('postgres')) {
    let rows: Record<string, unknown>[] = []
    for (const s of list) rows = await pgQuery(url, s, params)
    return rows
  }
  const mysql = await import('mysql2/promise')
  const conn = await mysql.createConnection({ uri: url })
  try {
    let rows: Record<string, unknown>[] = []
    for (const s of list) {
      const [result] = await conn.query(s.replace(/"/g, '`'), params)
      rows = Array.isArray(result) ? (result as Record<string, unknown>[]) : []
    }
    return rows
  } finally {
    await conn.end()
  }
}

/** SHA-256 over every table's rows (sorted), so two digests are equal exactly when the data is. */
export async function digest(url: string): Promise<string> {
  let tables: string[]
  if (url.startsWith('sqlite:')) {
    if (!fs.existsSync(url.slice('sqlite:'.length))) return 'no database file'
    tables = (await sql(url, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")).map((r) => String(r.name))
  } else if (url.startsWith('postgres')) {
    tables = (await sql(url, "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).map((r) => String(r.name))
  } else {
    tables = (await sql(url, 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name')).map((r) => String(r.name))
  }
  const hash = createHash('sha256')
  for (const table of tables) {
    const rows = url.startsWith('postgres') ? await sql(url, `SELECT row_to_json(t)::text AS j FROM "${table}" t`) : await sql(url, `SELECT * FROM "${table}"`)
    const lines = rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('base64') : v))).sort()
    hash.update(`${table}\n${lines.join('\n')}\n`)
  }
  return hash.digest('hex')
}
