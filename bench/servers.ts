/**
 * The database servers the bench talks to, and the few administrative things it does with them:
 * create, copy and drop databases, count rows, read sizes and versions.
 *
 * Server URLs come from the same environment variables as the tests, with the same local defaults
 * (MERGEBACK_TEST_POSTGRES_URL, MERGEBACK_TEST_MYSQL_URL). A copy of a database is made with
 * `CREATE DATABASE … TEMPLATE … STRATEGY = FILE_COPY` on PostgreSQL (a file copy: seconds for a
 * gigabyte, where the default WAL_LOG strategy would write it all to the WAL) and with
 * `SHOW CREATE TABLE` + `INSERT … SELECT` on MariaDB, which has nothing faster.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import mysql from 'mysql2/promise'
import Database from 'better-sqlite3'
import { BENCH_TABLES, type BenchEngine } from './generate.js'

/** The PostgreSQL server (any database on it; the bench makes its own). Same variable as the tests. */
export const POSTGRES_SERVER_URL = process.env.MERGEBACK_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
/** The MariaDB/MySQL server. Same variable as the tests. */
export const MYSQL_SERVER_URL = process.env.MERGEBACK_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql'

/** Administrative access to one server. Every method opens and closes its own connection. */
export interface BenchServer {
  readonly engine: BenchEngine
  /** The URL of database `name` on this server (may contain a password: never print it). */
  urlFor(name: string): string
  /** Throws an Error naming the server and how to start it when it cannot be reached. */
  ping(): Promise<void>
  version(): Promise<string>
  create(name: string): Promise<void>
  /** Drops the database if it exists (closing other sessions on PostgreSQL). */
  drop(name: string): Promise<void>
  /** Makes `target` a copy of `source` (schema, data, keys, foreign keys). */
  copy(source: string, target: string): Promise<void>
  /** Rows in each bench table of database `name`. */
  rowCounts(name: string): Promise<Record<string, number>>
  /** Bytes the database takes on disk (tables and indexes). */
  sizeBytes(name: string): Promise<number>
}

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** Hides a password in a URL, for messages. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):([^@/?#]*)@/i, '$1:***@')
}

/** Administrative access to a PostgreSQL server (the URL's user must be allowed to CREATE DATABASE and CHECKPOINT). */
export function postgresServer(serverUrl = POSTGRES_SERVER_URL): BenchServer {
  async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
    await client.connect()
    try {
      return await work(client)
    } finally {
      await client.end()
    }
  }
  const ident = (name: string) => `"${name.replaceAll('"', '""')}"`
  return {
    engine: 'postgres',
    urlFor: (name) => withDatabase(serverUrl, name),
    async ping() {
      try {
        await withClient(serverUrl, (c) => c.query('SELECT 1'))
      } catch (error) {
        throw new Error(
          `PostgreSQL is not reachable at ${redact(serverUrl)} (${(error as Error).message}). ` +
            'Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
        )
      }
    },
    version: () => withClient(serverUrl, async (c) => String((await c.query('SHOW server_version')).rows[0].server_version)),
    create: (name) => withClient(serverUrl, async (c) => void (await c.query(`CREATE DATABASE ${ident(name)}`))),
    drop: (name) => withClient(serverUrl, async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`))),
    copy: (source, target) =>
      withClient(serverUrl, async (c) => void (await c.query(`CREATE DATABASE ${ident(target)} TEMPLATE ${ident(source)} STRATEGY = FILE_COPY`))),
    rowCounts: (name) =>
      withClient(withDatabase(serverUrl, name), async (c) => {
        const out: Record<string, number> = {}
        for (const table of BENCH_TABLES) {
          const exists = (await c.query('SELECT to_regclass($1) AS t', [ident(table)])).rows[0].t
          out[table] = exists ? Number((await c.query(`SELECT count(*) AS n FROM ${ident(table)}`)).rows[0].n) : 0
        }
        return out
      }),
    sizeBytes: (name) =>
      withClient(serverUrl, async (c) => Number((await c.query('SELECT pg_database_size($1) AS n', [name])).rows[0].n)),
  }
}

/** Administrative access to a MariaDB/MySQL server (the URL's user must be allowed to create databases). */
export function mysqlServer(serverUrl = MYSQL_SERVER_URL): BenchServer {
  async function withConnection<T>(work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
    const conn = await mysql.createConnection({ uri: serverUrl, connectTimeout: 5000 })
    try {
      return await work(conn)
    } finally {
      await conn.end()
    }
  }
  const ident = (name: string) => `\`${name.replaceAll('`', '``')}\``
  const rows = async <T>(conn: mysql.Connection, sql: string, params: unknown[] = []) => (await conn.query(sql, params))[0] as T[]
  return {
    engine: 'mysql',
    urlFor: (name) => withDatabase(serverUrl, name),
    async ping() {
      try {
        await withConnection((c) => c.query('SELECT 1'))
      } catch (error) {
        throw new Error(
          `MariaDB is not reachable at ${redact(serverUrl)} (${(error as Error).message}). ` +
            'Start it: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
        )
      }
    },
    version: () => withConnection(async (c) => String((await rows<{ v: string }>(c, 'SELECT VERSION() AS v'))[0].v)),
    create: (name) =>
      withConnection(async (c) => void (await c.query(`CREATE DATABASE ${ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`))),
    drop: (name) => withConnection(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${ident(name)}`))),
    copy: (source, target) =>
      withConnection(async (c) => {
        await c.query(`CREATE DATABASE ${ident(target)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
        // Foreign keys are copied by SHOW CREATE TABLE (CREATE TABLE … LIKE would lose them);
        // with checks off, the order of the tables and of the rows does not matter.
        await c.query('SET SESSION foreign_key_checks = 0, unique_checks = 0')
        await c.query(`USE ${ident(target)}`)
        const tables = await rows<{ TABLE_NAME: string }>(
          c,
          "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
          [source],
        )
        for (const { TABLE_NAME: table } of tables) {
          const ddl = (await rows<Record<string, string>>(c, `SHOW CREATE TABLE ${ident(source)}.${ident(table)}`))[0]['Create Table']
          await c.query(ddl)
          await c.query(`INSERT INTO ${ident(target)}.${ident(table)} SELECT * FROM ${ident(source)}.${ident(table)}`)
        }
      }),
    rowCounts: (name) =>
      withConnection(async (c) => {
        const out: Record<string, number> = {}
        for (const table of BENCH_TABLES) {
          const exists = await rows(c, 'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [name, table])
          out[table] = exists.length ? Number((await rows<{ n: number }>(c, `SELECT COUNT(*) AS n FROM ${ident(name)}.${ident(table)}`))[0].n) : 0
        }
        return out
      }),
    sizeBytes: (name) =>
      withConnection(async (c) =>
        Number(
          (await rows<{ n: number }>(c, 'SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [name]))[0].n,
        ),
      ),
  }
}

/** Where the SQLite "server" keeps its database files (one file per database). */
export const SQLITE_DIR = process.env.MERGEBACK_BENCH_SQLITE_DIR ?? path.join(os.tmpdir(), 'mergeback-bench-sqlite')

/**
 * SQLite has no server: a "database" is a file `<dir>/<name>.db`, a copy is a file copy (the
 * files are written in rollback-journal mode, so the one file is the whole database).
 */
export function sqliteServer(dir = SQLITE_DIR): BenchServer {
  const fileOf = (name: string) => path.join(dir, `${name}.db`)
  const withDb = <T>(name: string, work: (db: Database.Database) => T): T => {
    const db = new Database(fileOf(name), { readonly: true, fileMustExist: true })
    try {
      return work(db)
    } finally {
      db.close()
    }
  }
  return {
    engine: 'sqlite',
    urlFor: (name) => `sqlite:${fileOf(name)}`,
    async ping() {
      fs.mkdirSync(dir, { recursive: true })
      fs.accessSync(dir, fs.constants.W_OK)
    },
    version: async () => {
      const db = new Database(':memory:')
      try {
        return String((db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v)
      } finally {
        db.close()
      }
    },
    create: async (name) => {
      fs.mkdirSync(dir, { recursive: true })
      new Database(fileOf(name)).close()
    },
    drop: async (name) => {
      for (const suffix of ['', '-journal', '-wal', '-shm']) fs.rmSync(`${fileOf(name)}${suffix}`, { force: true })
    },
    copy: async (source, target) => fs.copyFileSync(fileOf(source), fileOf(target)),
    rowCounts: async (name) =>
      withDb(name, (db) => {
        const out: Record<string, number> = {}
        for (const table of BENCH_TABLES) {
          const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)
          out[table] = exists ? Number((db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n) : 0
        }
        return out
      }),
    sizeBytes: async (name) => fs.statSync(fileOf(name)).size,
  }
}

/** The server the bench uses for an engine, from the environment. */
export function serverFor(engine: BenchEngine): BenchServer {
  return engine === 'postgres' ? postgresServer() : engine === 'mysql' ? mysqlServer() : sqliteServer()
}
