/**
 * The cross-engine matrix (issue #19): every ordered pair of PostgreSQL, MariaDB and SQLite, on the
 * local servers, through the library API (backup, restore, analyze, merge).
 *
 * 1. The conformance suite's type fixture of the source engine (test/fixtures/types/,
 *    sqlite-suite-factory.ts) restored into an empty target. A value the target cannot hold is
 *    refused with the table, the column and the key named and nothing written (the target stays
 *    without a table); the test then clears that one value in the source, backs it up again and
 *    retries, until the restore goes through. The refusals seen are compared with the list below,
 *    so the list is what each direction refuses. Then: restoring again changes nothing, analyze of
 *    the source's backup against the target finds every record unchanged, and analyze of a fresh
 *    backup of the target against the source finds every record unchanged (equality by value both ways).
 * 2. An application schema (foreign keys, a composite key, a text key, a keyless table, a
 *    SMALLINT foreign key to an INT key, MySQL unsigned keys and current_timestamp() defaults, a
 *    self-reference) with the same four checks, then edits on both sides and a merge: the dry
 *    run reports what analyze previewed and changes nothing, the merge applies exactly that.
 */
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyze, backup, merge, restore } from '../../../src/index.js'
import { DatabaseError } from '../../../src/errors.js'
import { createMysqlDatabase, createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery } from '../../helpers/databases.js'
import { MATRIX_ROWS, TYPE_MATRIX } from '../../fixtures/types/mysql-types.js'
import { postgresTypeMatrix } from '../../fixtures/types/postgres-types.js'
import { sqliteTypeMatrix } from '../adapters/sqlite-suite-factory.js'

type SqlEngine = 'postgres' | 'mysql' | 'sqlite'
const ENGINES: readonly SqlEngine[] = ['postgres', 'mysql', 'sqlite']
const PAIRS = ENGINES.flatMap((from) => ENGINES.filter((to) => to !== from).map((to) => ({ from, to })))

interface TestDb {
  readonly engine: SqlEngine
  readonly url: string
  exec(sql: string): Promise<void>
  query(sql: string): Promise<Record<string, unknown>[]>
  tableNames(): Promise<string[]>
  drop(): Promise<void>
}

const created: TestDb[] = []
const temp = makeTempDir('mergeback-cross-')
afterAll(async () => {
  for (const db of created.splice(0)) await db.drop()
  temp.cleanup()
})

async function createDb(engine: SqlEngine): Promise<TestDb> {
  let db: TestDb
  if (engine === 'postgres') {
    const pg = await createPostgresDatabase('mbcross')
    db = {
      engine,
      url: pg.url,
      exec: async (sql) => void (await pgQuery(pg.url, sql)),
      query: (sql) => pgQuery(pg.url, sql),
      tableNames: async () => (await pgQuery<{ n: string }>(pg.url, `SELECT tablename AS n FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).map((r) => r.n),
      drop: () => pg.drop(),
    }
  } else if (engine === 'mysql') {
    const my = await createMysqlDatabase('mbcross')
    const run = async (sql: string): Promise<Record<string, unknown>[]> => {
      const connection = await mysql.createConnection({ uri: my.url, multipleStatements: true, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true })
      try {
        await connection.query(`SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION', time_zone = '+00:00'`)
        const [rows] = await connection.query(sql)
        return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : []
      } finally {
        await connection.end()
      }
    }
    db = {
      engine,
      url: my.url,
      exec: async (sql) => void (await run(sql)),
      query: run,
      tableNames: async () => (await run(`SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1`)).map((r) => String(r.n)),
      drop: () => my.drop(),
    }
  } else {
    const file = makeSqlitePath()
    const open = <T>(fn: (d: Database.Database) => T): T => {
      const d = new Database(file.file)
      try {
        return fn(d)
      } finally {
        d.close()
      }
    }
    db = {
      engine,
      url: file.url,
      exec: async (sql) => open((d) => void d.exec(sql)),
      query: async (sql) => open((d) => d.prepare(sql).all() as Record<string, unknown>[]),
      tableNames: async () => open((d) => (d.prepare(`SELECT name AS n FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1`).all() as { n: string }[]).map((r) => r.n)),
      drop: async () => file.cleanup(),
    }
  }
  created.push(db)
  return db
}

const q = (engine: SqlEngine, name: string): string => (engine === 'mysql' ? `\`${name.replace(/`/g, '``')}\`` : `"${name.replace(/"/g, '""')}"`)
const lit = (value: unknown): string => `'${String(value).replace(/'/g, "''")}'`

let backups = 0
async function backupOf(db: TestDb): Promise<string> {
  const out = path.join(temp.dir, `${db.engine}-${++backups}.json`)
  await backup({ db: db.url, out })
  return out
}

function totalRecords(report: Awaited<ReturnType<typeof analyze>>): number {
  const t = report.totals
  return t.new + t.unchanged + t.updated + t.kept + t.conflicts
}

/** Restore, restore again, and analyze both ways: what every pair must pass once the restore goes through. */
async function checkRoundTrip(source: TestDb, target: TestDb, file: string, records: number): Promise<void> {
  const again = await restore({ file, db: target.url })
  for (const [table, result] of Object.entries(again.tables)) expect({ table, ...result }).toMatchObject({ table, inserted: 0, created: false })
  expect(Object.values(again.tables).reduce((sum, t) => sum + t.skipped, 0)).toBe(records)

  const forward = await analyze(file, target.url)
  expect({ totals: forward.totals, conflicts: forward.conflicts }).toMatchObject({ totals: { unchanged: records, new: 0, conflicts: 0, updated: 0, kept: 0 }, conflicts: [] })

  const back = await analyze(await backupOf(target), source.url)
  expect({ totals: back.totals, conflicts: back.conflicts }).toMatchObject({ totals: { unchanged: records, new: 0, conflicts: 0, updated: 0, kept: 0 }, conflicts: [] })
}

// ---------------------------------------------------------------------------------------------
// 1. The conformance type fixtures

const TYPE_FIXTURE: Record<SqlEngine, readonly string[]> = {
  postgres: [postgresTypeMatrix.setup.join(';\n')],
  mysql: [TYPE_MATRIX, MATRIX_ROWS],
  sqlite: sqliteTypeMatrix.setup,
}

/**
 * What each direction refuses (table.column@key), in the order the restores meet them. Every
 * other value of the fixtures is carried: analyze finds it equal to the source's, both ways.
 */
const REFUSED: Record<string, readonly string[]> = {
  'postgres>mysql': [
    'types_numeric.num@1',
    'types_numeric.num@3',
    'types_numeric.r@3',
    'types_numeric.d@3',
    'types_numeric.num@4',
    'types_numeric.r@4',
    'types_numeric.d@4',
    'types_numeric.num@5',
    'types_time.ttz@1',
    'types_time.ts@2',
    'types_time.tstz@2',
    'types_time.dt@2',
    'types_time.ttz@2',
    'types_time.ts@3',
    'types_time.tstz@3',
    'types_time.dt@3',
    'types_time.ttz@3',
    'types_time.ts@4',
    'types_time.tstz@4',
    'types_time.dt@4',
    'types_time.ttz@5',
  ],
  'postgres>sqlite': [
    'types_numeric.r@3',
    'types_numeric.d@3',
    'types_numeric.r@5',
    'types_numeric.d@5',
  ],
  'mysql>postgres': [
    'matrix.tm@1',
    'matrix.da@2',
    'matrix.dt@2',
    'matrix.dt0@2',
    'matrix.tm@2',
    'matrix.tm@4',
  ],
  'mysql>sqlite': [
    'matrix.bu@1',
  ],
  'sqlite>postgres': [
    'types_sqlite.i@5',
    'types_sqlite.n@5',
    'types_sqlite.d@5',
    'types_sqlite.r@5',
    'types_sqlite.t@5',
    'types_sqlite.b@5',
    'types_sqlite.u@5',
    'types_sqlite.flag@5',
    'types_sqlite.j@5',
    'types_sqlite.i@6',
    'types_sqlite.b@6',
    'types_sqlite.u@6',
    'types_sqlite.flag@6',
    'types_sqlite.at@6',
    'types_sqlite.u@7',
    'types_sqlite.u@8',
  ],
  'sqlite>mysql': [
    'types_sqlite.n@3',
    'types_sqlite.r@3',
    'types_sqlite.i@5',
    'types_sqlite.n@5',
    'types_sqlite.d@5',
    'types_sqlite.r@5',
    'types_sqlite.t@5',
    'types_sqlite.b@5',
    'types_sqlite.u@5',
    'types_sqlite.flag@5',
    'types_sqlite.j@5',
    'types_sqlite.i@6',
    'types_sqlite.n@6',
    'types_sqlite.r@6',
    'types_sqlite.b@6',
    'types_sqlite.u@6',
    'types_sqlite.flag@6',
    'types_sqlite.at@6',
    'types_sqlite.u@7',
    'types_sqlite.u@8',
  ],
}

describe.each(PAIRS)('type fixture: $from → $to', ({ from, to }) => {
  it('restores what the target can hold, refuses the rest by table, column and key, and analyzes as unchanged both ways', async () => {
    const source = await createDb(from)
    for (const statement of TYPE_FIXTURE[from]) await source.exec(statement)
    const target = await createDb(to)
    const refused: string[] = []
    let file = await backupOf(source)
    for (let attempt = 0; ; attempt++) {
      expect(attempt, `refusals so far: ${refused.join(', ')}`).toBeLessThan(40)
      try {
        await restore({ file, db: target.url })
        break
      } catch (error) {
        if (!(error instanceof DatabaseError) || typeof error.details.column !== 'string' || error.table === undefined || error.key === undefined) throw error
        expect(error.message).toContain(error.details.column)
        expect(error.message).toContain(error.table)
        // Nothing written: not even the tables the restore had created.
        expect(await target.tableNames()).toEqual([])
        // Every fixture table's key is its one column `id`.
        const key = (typeof error.key === 'object' && error.key !== null ? error.key : { id: error.key }) as Record<string, unknown>
        refused.push(`${error.table}.${error.details.column}@${Object.values(key).join(',')}`)
        const where = Object.entries(key).map(([k, v]) => `${q(from, k)} = ${lit(v)}`).join(' AND ')
        await source.exec(`UPDATE ${q(from, error.table)} SET ${q(from, error.details.column)} = NULL WHERE ${where}`)
        file = await backupOf(source)
      }
    }
    expect(refused).toEqual(REFUSED[`${from}>${to}`])
    const count = await analyze(file, target.url)
    await checkRoundTrip(source, target, file, totalRecords(count))
  })
})

// ---------------------------------------------------------------------------------------------
// 2. An application schema, then edits on both sides and a merge

const APP: Record<SqlEngine, string[]> = {
  postgres: [
    `CREATE TABLE account (id serial PRIMARY KEY, email text NOT NULL UNIQUE, name varchar(100), balance numeric(12,2) NOT NULL DEFAULT 0,
       active boolean NOT NULL DEFAULT true, profile jsonb, updated_at timestamptz NOT NULL)`,
    `CREATE TABLE tag (code text PRIMARY KEY, label text)`,
    `CREATE TABLE post (id bigserial PRIMARY KEY, "authorId" integer NOT NULL REFERENCES account (id), parent_id bigint REFERENCES post (id),
       title text NOT NULL, body text, score double precision, published_on date, updated_at timestamptz NOT NULL,
       editor_id smallint REFERENCES account (id))`,
    `CREATE INDEX post_author ON post ("authorId")`,
    `CREATE TABLE post_tag (post_id bigint NOT NULL REFERENCES post (id), tag_code text NOT NULL REFERENCES tag (code), weight smallint,
       PRIMARY KEY (post_id, tag_code))`,
    `CREATE TABLE audit_log (at timestamptz, actor text, action text)`,
  ],
  mysql: [
    `CREATE TABLE account (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, email VARCHAR(191) NOT NULL UNIQUE, name VARCHAR(100), balance DECIMAL(12,2) NOT NULL DEFAULT 0,
       active TINYINT(1) NOT NULL DEFAULT 1, profile JSON, updated_at DATETIME(6) NOT NULL DEFAULT current_timestamp(6) ON UPDATE current_timestamp(6))`,
    `CREATE TABLE tag (code VARCHAR(50) PRIMARY KEY, label TEXT, created TIMESTAMP NULL DEFAULT current_timestamp())`,
    `CREATE TABLE post (id BIGINT AUTO_INCREMENT PRIMARY KEY, authorId INT UNSIGNED NOT NULL, parent_id BIGINT, title VARCHAR(200) NOT NULL, body MEDIUMTEXT,
       score DOUBLE, published_on DATE, updated_at DATETIME(6) NOT NULL, editor_id SMALLINT UNSIGNED, KEY post_author (authorId),
       FOREIGN KEY (authorId) REFERENCES account (id), FOREIGN KEY (parent_id) REFERENCES post (id))`,
    `CREATE TABLE post_tag (post_id BIGINT NOT NULL, tag_code VARCHAR(50) NOT NULL, weight SMALLINT, PRIMARY KEY (post_id, tag_code),
       FOREIGN KEY (post_id) REFERENCES post (id), FOREIGN KEY (tag_code) REFERENCES tag (code))`,
    `CREATE TABLE audit_log (at DATETIME(6), actor VARCHAR(50), action TEXT)`,
  ],
  sqlite: [
    `CREATE TABLE account (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name VARCHAR(100), balance NUMERIC(12,2) NOT NULL DEFAULT 0,
       active BOOLEAN NOT NULL DEFAULT 1, profile JSON, updated_at DATETIME NOT NULL)`,
    `CREATE TABLE tag (code TEXT PRIMARY KEY, label TEXT)`,
    `CREATE TABLE post (id INTEGER PRIMARY KEY, authorId INTEGER NOT NULL REFERENCES account (id), parent_id INTEGER REFERENCES post (id),
       title TEXT NOT NULL, body TEXT, score REAL, published_on DATE, updated_at DATETIME NOT NULL)`,
    `CREATE INDEX post_author ON post (authorId)`,
    `CREATE TABLE post_tag (post_id INTEGER NOT NULL REFERENCES post (id), tag_code TEXT NOT NULL REFERENCES tag (code), weight INTEGER,
       PRIMARY KEY (post_id, tag_code))`,
    `CREATE TABLE audit_log (at TEXT, actor TEXT, action TEXT)`,
  ],
}

/** Timestamps as each engine's column takes them (SQLite stores the text it is given). */
const ts = (engine: SqlEngine, iso: string): string => (engine === 'mysql' ? lit(iso.replace('T', ' ').replace('Z', '')) : lit(iso))

function appRows(engine: SqlEngine): string[] {
  const author = engine === 'postgres' ? '"authorId"' : 'authorId'
  const t = (iso: string): string => ts(engine, iso)
  return [
    `INSERT INTO account (id, email, name, balance, active, profile, updated_at) VALUES
       (1, 'ann@example.com', 'Ann', 10.50, ${engine === 'postgres' ? 'true' : 1}, '{"lang": "en", "n": [1, 2]}', ${t('2024-01-15T08:30:00.123456Z')}),
       (2, 'bob@example.com', NULL, 0, ${engine === 'postgres' ? 'false' : 0}, NULL, ${t('2024-01-15T09:00:00Z')}),
       (3, 'zoë@example.com', 'Zoë 🎉 ''q''', -99.99, ${engine === 'postgres' ? 'true' : 1}, '[]', ${t('2024-01-15T10:00:00.5Z')})`,
    `INSERT INTO tag (code, label) VALUES ('red', 'Red'), ('blue', NULL), ('${'k'.repeat(40)}', 'long key')`,
    `INSERT INTO post (id, ${author}, parent_id, title, body, score, published_on, updated_at) VALUES
       (1, 1, NULL, 'Hello', 'first\nline', 1.5, '2024-01-01', ${t('2024-01-15T08:30:00Z')}),
       (2, 2, 1, 'Re: Hello', NULL, 0.1, NULL, ${t('2024-01-15T08:31:00Z')}),
       (3, 1, 2, 'Re: Re', '', -2.5e-10, '1999-12-31', ${t('2024-01-15T08:32:00Z')})`,
    `INSERT INTO post_tag (post_id, tag_code, weight) VALUES (1, 'red', 1), (1, 'blue', NULL), (2, 'red', 3), (3, '${'k'.repeat(40)}', -1)`,
    `INSERT INTO audit_log (at, actor, action) VALUES (${t('2024-01-15T08:00:00Z')}, 'ann', 'login'), (${t('2024-01-15T08:00:00Z')}, 'ann', 'login'), (NULL, NULL, NULL)`,
  ]
}
const APP_RECORDS = 3 + 3 + 3 + 4 + 3

describe.each(PAIRS)('application schema: $from → $to', ({ from, to }) => {
  let source: TestDb
  let target: TestDb
  let file: string
  beforeAll(async () => {
    source = await createDb(from)
    for (const statement of [...APP[from], ...appRows(from)]) await source.exec(statement)
    target = await createDb(to)
    file = await backupOf(source)
  })

  it('restores into an empty target with every key, index and foreign key, then changes nothing when restored again', async () => {
    const report = await restore({ file, db: target.url })
    expect(Object.fromEntries(Object.entries(report.tables).map(([t, r]) => [t, [r.inserted, r.created]]))).toEqual({
      account: [3, true],
      tag: [3, true],
      post: [3, true],
      post_tag: [4, true],
      audit_log: [3, true],
    })
    await checkRoundTrip(source, target, file, APP_RECORDS)
    // The foreign keys are there and enforced.
    const orphan = `INSERT INTO post_tag (post_id, tag_code, weight) VALUES (999, 'red', 1)`
    if (to === 'sqlite') await expect(target.exec(`PRAGMA foreign_keys = ON; ${orphan}`)).rejects.toThrow(/FOREIGN KEY/)
    else await expect(target.exec(orphan)).rejects.toThrow(/foreign key/i)
  })

  it('merges after edits on both sides: analyze previews, the dry run matches and changes nothing, the merge applies it', async () => {
    const author = from === 'postgres' ? '"authorId"' : 'authorId'
    // Source: Ann renamed (newer), a new tag on post 2, a new post.
    await source.exec(`UPDATE account SET name = 'Ann Lee', updated_at = ${ts(from, '2024-02-01T00:00:00Z')} WHERE id = 1`)
    await source.exec(`INSERT INTO post_tag (post_id, tag_code, weight) VALUES (2, 'blue', 7)`)
    await source.exec(
      `INSERT INTO post (id, ${author}, parent_id, title, body, score, published_on, updated_at) VALUES (4, 3, NULL, 'New', 'x', NULL, NULL, ${ts(from, '2024-02-01T00:00:00Z')})`,
    )
    // Target: Bob renamed later than anything in the backup (kept), a tag only the target has.
    const tAuthor = to === 'postgres' ? '"authorId"' : 'authorId'
    void tAuthor
    await target.exec(`UPDATE account SET name = 'Bobby', updated_at = ${ts(to, '2024-03-01T00:00:00Z')} WHERE id = 2`)
    await target.exec(`INSERT INTO tag (code, label) VALUES ('green', 'Green')`)
    const edited = await backupOf(source)

    const preview = await analyze(edited, target.url)
    expect(preview.totals).toMatchObject({ new: 2, updated: 1, kept: 1, conflicts: 0, unchanged: APP_RECORDS - 2, currentOnly: 1 })
    const dry = await merge(edited, target.url, { dryRun: true })
    expect(dry.totals).toEqual(preview.totals)
    expect((await analyze(edited, target.url)).totals).toEqual(preview.totals)

    const applied = await merge(edited, target.url)
    expect(applied.totals).toEqual(preview.totals)
    const after = await analyze(edited, target.url)
    expect(after.totals).toMatchObject({ new: 0, updated: 0, conflicts: 0, kept: 1, unchanged: APP_RECORDS + 2 - 1, currentOnly: 1 })
    const names = await target.query(`SELECT id, name FROM account ORDER BY id`)
    expect(names.map((r) => [Number(r.id), r.name])).toEqual([
      [1, 'Ann Lee'],
      [2, 'Bobby'],
      [3, "Zoë 🎉 'q'"],
    ])
    expect((await target.query(`SELECT code FROM tag ORDER BY code`)).map((r) => r.code)).toContain('green')
  })
})
