/**
 * Test databases: every test makes and drops its own, on the servers running on this machine.
 *
 * URLs come from the environment, with working local defaults:
 *   MERGEBACK_TEST_POSTGRES_URL  (default postgres://postgres@127.0.0.1:5432/postgres)
 *   MERGEBACK_TEST_MYSQL_URL     (default mysql://root@127.0.0.1:3306/mysql)
 *
 * An unreachable PostgreSQL or MariaDB fails the test loudly: it is never skipped.
 * MongoDB: mongodb-server.ts (MERGEBACK_TEST_MONGODB_URL, or a FerretDB the tests start).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export const POSTGRES_ADMIN_URL = process.env.MERGEBACK_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const MYSQL_ADMIN_URL = process.env.MERGEBACK_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql'

function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`
}

function withDatabase(adminUrl: string, database: string): string {
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
}

export interface TestDatabase {
  readonly url: string
  readonly name: string
  drop(): Promise<void>
}

/** Creates a fresh, empty PostgreSQL database. Throws (fails the test) when the server is unreachable. */
export async function createPostgresDatabase(prefix = 'mbtest'): Promise<TestDatabase> {
  const name = uniqueName(prefix)
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 })
  try {
    await admin.connect()
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL} (${(error as Error).message}). ` +
        `Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    )
  }
  try {
    await admin.query(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  return {
    url: withDatabase(POSTGRES_ADMIN_URL, name),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      } finally {
        await client.end()
      }
    },
  }
}

/** Runs SQL against a PostgreSQL database URL with a throwaway client. */
export async function pgQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(sql, params)).rows
  } finally {
    await client.end()
  }
}

/** Creates a fresh, empty MariaDB/MySQL database. Throws (fails the test) when the server is unreachable. */
export async function createMysqlDatabase(prefix = 'mbtest'): Promise<TestDatabase> {
  const mysql = await import('mysql2/promise')
  const name = uniqueName(prefix)
  let admin
  try {
    admin = await mysql.createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 5000 })
  } catch (error) {
    throw new Error(
      `MariaDB is not reachable at ${MYSQL_ADMIN_URL} (${(error as Error).message}). ` +
        `Start it: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`,
    )
  }
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`)
  } finally {
    await admin.end()
  }
  return {
    url: withDatabase(MYSQL_ADMIN_URL, name),
    name,
    async drop() {
      const conn = await mysql.createConnection({ uri: MYSQL_ADMIN_URL })
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${name}\``)
      } finally {
        await conn.end()
      }
    },
  }
}

/**
 * Runs statements on a throwaway MariaDB connection and answers the last one's rows, with values
 * as the adapters read them (date and big-number strings, JSON as text, UTC).
 */
export async function mysqlQuery(url: string, ...statements: string[]): Promise<Record<string, unknown>[]> {
  const mysql = await import('mysql2/promise')
  const connection = await mysql.createConnection({ uri: url, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, jsonStrings: true, timezone: 'Z' })
  try {
    let rows: unknown = []
    for (const statement of statements) [rows] = await connection.query(statement)
    return rows as Record<string, unknown>[]
  } finally {
    await connection.end()
  }
}

/** Runs a script of several statements (`multipleStatements`) on a throwaway MariaDB connection. */
export async function mysqlExec(url: string, sql: string): Promise<void> {
  const mysql = await import('mysql2/promise')
  const connection = await mysql.createConnection({ uri: url, multipleStatements: true })
  try {
    await connection.query(sql)
  } finally {
    await connection.end()
  }
}

/**
 * The databases one test file makes: `fresh()` creates one (with `create`, e.g. createMysqlDatabase),
 * `dropAll()` (for afterAll) drops every one made so far.
 */
export function databasesOfFile(create: () => Promise<TestDatabase>): { fresh(): Promise<TestDatabase>; dropAll(): Promise<void> } {
  const made: TestDatabase[] = []
  return {
    async fresh() {
      const db = await create()
      made.push(db)
      return db
    },
    async dropAll() {
      for (const db of made.splice(0)) await db.drop()
    },
  }
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function makeTempDir(prefix = 'mergeback-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** A path for a new SQLite database file in a fresh temporary directory. */
export function makeSqlitePath(): { file: string; url: string; cleanup: () => void } {
  const { dir, cleanup } = makeTempDir('mergeback-sqlite-')
  const file = path.join(dir, 'test.db')
  return { file, url: `sqlite:${file}`, cleanup }
}

/** A new SQLite database file made by running `sql` (better-sqlite3, the driver the adapter uses). */
export async function makeSqliteDatabase(sql: string): Promise<{ file: string; url: string; cleanup: () => void }> {
  const { default: Database } = await import('better-sqlite3')
  const target = makeSqlitePath()
  const db = new Database(target.file)
  try {
    db.exec(sql)
  } finally {
    db.close()
  }
  return target
}
