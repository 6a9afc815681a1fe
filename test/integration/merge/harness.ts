/**
 * What the merge integration tests share: a fresh database per engine (PostgreSQL on this
 * machine, SQLite in a temp file) that runs plain SQL, backups made by the real backup engine,
 * and table contents read back through the adapter in wire encoding.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll } from 'vitest'
import type { Row } from '../../../src/adapters/adapter.js'
import { loadAdapter, parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { backup } from '../../../src/engine/backup.js'
import { createMysqlDatabase, createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery } from '../../helpers/databases.js'

export type EngineName = 'postgres' | 'sqlite'
export const ENGINES: readonly EngineName[] = ['postgres', 'sqlite']
/** Engines of tests that cover MariaDB too (createTestDb takes 'mysql'). */
export type AnyEngineName = EngineName | 'mysql'

export interface TestDb {
  readonly engine: AnyEngineName
  readonly url: string
  /** Runs one or more SQL statements. */
  exec(sql: string): Promise<void>
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>
  drop(): Promise<void>
}

export async function createTestDb(engine: AnyEngineName): Promise<TestDb> {
  if (engine === 'postgres') {
    const db = await createPostgresDatabase('mbmerge')
    return {
      engine,
      url: db.url,
      exec: async (sql) => void (await pgQuery(db.url, sql)),
      query: async <T>(sql: string) => (await pgQuery(db.url, sql)) as T[],
      drop: () => db.drop(),
    }
  }
  if (engine === 'mysql') {
    const db = await createMysqlDatabase('mbmerge3')
    const mysql = await import('mysql2/promise')
    const run = async <T>(sql: string): Promise<T[]> => {
      const conn = await mysql.createConnection({ uri: db.url, multipleStatements: true })
      try {
        await conn.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')")
        const [rows] = await conn.query(sql)
        return rows as T[]
      } finally {
        await conn.end()
      }
    }
    return { engine, url: db.url, exec: async (sql) => void (await run(sql)), query: run, drop: () => db.drop() }
  }
  const file = makeSqlitePath()
  const withDb = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(file.file)
    try {
      return fn(db)
    } finally {
      db.close()
    }
  }
  return {
    engine,
    url: file.url,
    exec: async (sql) => withDb((db) => void db.exec(sql)),
    query: async <T>(sql: string) => withDb((db) => db.prepare(sql).all() as T[]),
    drop: async () => file.cleanup(),
  }
}

/** A scratch directory for backups and plans, removed by cleanup(). */
export function scratch(): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const tmp = makeTempDir('mergeback-merge-')
  return { dir: tmp.dir, file: (name) => path.join(tmp.dir, name), cleanup: tmp.cleanup }
}

/**
 * A database of `engine` and a scratch directory for the tests of one describe block: made before
 * them (beforeAll), dropped and removed after (afterAll). Read `db` and `tmp` inside the tests.
 */
export function databasePerBlock(engine: AnyEngineName): { db: TestDb; tmp: ReturnType<typeof scratch> } {
  const fixture = {} as { db: TestDb; tmp: ReturnType<typeof scratch> }
  beforeAll(async () => {
    fixture.db = await createTestDb(engine)
    fixture.tmp = scratch()
  })
  afterAll(async () => {
    await fixture.db?.drop()
    fixture.tmp?.cleanup()
  })
  return fixture
}

/** Backs the database up with the real backup engine into `file` (a .json path). */
export async function makeBackup(db: TestDb, file: string): Promise<string> {
  const result = await backup({ db: db.url, out: file })
  return result.file
}

/** Writes a backup in the seed "Smart Backup" layout (no column types, no checksums). */
export function writeSmartBackup(file: string, tables: { tableName: string; primaryKey: string | string[]; records: Record<string, unknown>[] }[]): string {
  const recordCounts = Object.fromEntries(tables.map((t) => [t.tableName, t.records.length]))
  fs.writeFileSync(file, JSON.stringify({ tables, metadata: { exportedAt: '2024-01-15T12:00:00.000Z', version: '1.0', recordCounts } }, null, 2))
  return file
}

/** Every row of a table, in wire encoding, ordered by `orderBy` (column names). */
export async function readTable(db: TestDb, table: string, orderBy: readonly string[]): Promise<Row[]> {
  const config = parseDatabaseUrl(db.url)
  const adapter = await loadAdapter(config.engine)
  const source = await adapter.openSource(config)
  try {
    const schema = await source.describe({ tables: [table] })
    const rows: Row[] = []
    for await (const batch of source.readTable(schema.tables[0])) rows.push(...batch)
    const key = (r: Row) => orderBy.map((c) => r[c])
    return rows.sort((a, b) => {
      const ka = key(a)
      const kb = key(b)
      for (let i = 0; i < ka.length; i++) {
        const x = ka[i]
        const y = kb[i]
        if (x === y) continue
        const nx = Number(x)
        const ny = Number(y)
        if (!Number.isNaN(nx) && !Number.isNaN(ny) && nx !== ny) return nx - ny
        return String(x) < String(y) ? -1 : 1
      }
      return 0
    })
  } finally {
    await source.close()
  }
}

/** A snapshot of several tables, for "nothing changed" assertions. */
export async function snapshot(db: TestDb, tables: Record<string, readonly string[]>): Promise<Record<string, Row[]>> {
  const out: Record<string, Row[]> = {}
  for (const [table, orderBy] of Object.entries(tables)) out[table] = await readTable(db, table, orderBy)
  return out
}

/** Counts with every field, for exact expectations. */
export function counts(partial: {
  new?: number
  unchanged?: number
  updated?: number
  kept?: number
  conflicts?: number
  resolved?: { backup?: number; current?: number; merged?: number }
  unresolved?: number
  currentOnly?: number
}) {
  return {
    new: partial.new ?? 0,
    unchanged: partial.unchanged ?? 0,
    updated: partial.updated ?? 0,
    kept: partial.kept ?? 0,
    conflicts: partial.conflicts ?? 0,
    resolved: { backup: partial.resolved?.backup ?? 0, current: partial.resolved?.current ?? 0, merged: partial.resolved?.merged ?? 0 },
    unresolved: partial.unresolved ?? 0,
    currentOnly: partial.currentOnly ?? 0,
  }
}
