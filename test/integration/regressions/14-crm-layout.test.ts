/**
 * Issue #14 item 1: a seed 002 ("native MongoDB", `collections: {users: [...]}`) file restored or
 * merged into a SQL database kept only `_id` (PostgreSQL created `users(_id jsonb)`; into an
 * existing table it wrote NULL everywhere else), and into an empty SQLite file it failed with
 * `has no column "email"`. The same root made a Smart Backup (seed 000) table fail into an empty
 * database when a later record had a field the first one lacked. Now an untyped table's columns
 * are every field of every record (first-seen order), found by the scan over the whole file.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { restore } from '../../../src/engine/restore.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { REPO_ROOT } from '../../helpers/cli.js'
import { createMysqlDatabase, createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery, type TestDatabase } from '../../helpers/databases.js'
import { writeSmartBackup } from '../merge/harness.js'
import Database from 'better-sqlite3'

const CRM = path.join(REPO_ROOT, 'test/fixtures/format-v1/crm-backup_2025-10-09.json')
const ADA = {
  _id: '6523f1a2b3c4d5e6f7a8b9c0',
  email: 'ada@example.com',
  name: 'Ada',
  department: '6523f1a2b3c4d5e6f7a8b9d0',
  loginCount: '42',
  __v: '0',
}

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

async function postgres(): Promise<TestDatabase> {
  const db = await createPostgresDatabase('mb14crm')
  cleanups.push(() => db.drop())
  return db
}

function sqlitePath(): { file: string; url: string } {
  const file = makeSqlitePath()
  cleanups.push(file.cleanup)
  return file
}

function sqliteRows(file: string, sql: string): Record<string, unknown>[] {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare(sql).all() as Record<string, unknown>[]
  } finally {
    db.close()
  }
}

describe('#14 item 1: seed 002 (CRM) files into SQL databases keep every field', () => {
  it('PostgreSQL, empty database: users gets a column per field, with the values', async () => {
    const db = await postgres()
    const report = await restore({ file: CRM, db: db.url })
    expect(report.tables.users).toMatchObject({ inserted: 2, created: true })
    const columns = await pgQuery<{ column_name: string }>(db.url, `SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY ordinal_position`)
    expect(columns.map((c) => c.column_name)).toEqual(['_id', 'email', 'name', 'department', 'roles', 'loginCount', 'createdAt', '__v'])
    const [ada] = await pgQuery(db.url, `SELECT * FROM users WHERE _id = '6523f1a2b3c4d5e6f7a8b9c0'`)
    expect(ada).toMatchObject(ADA)
    expect(JSON.parse(ada.roles as string)).toEqual(['6523f1a2b3c4d5e6f7a8b9e0'])
    const [department] = await pgQuery(db.url, `SELECT * FROM departments`)
    expect(JSON.parse(department.manager as string)).toEqual({ name: 'Ada', since: '2024-05-01T00:00:00.000Z' })
    expect(report.warnings.join('\n')).toMatch(/"users" is created with .*as text/)
  })

  it('PostgreSQL, pre-created table: every field lands in its typed column; a merge then finds everything unchanged', async () => {
    const db = await postgres()
    await pgQuery(
      db.url,
      `CREATE TABLE users (_id text PRIMARY KEY, email text NOT NULL, name text, department text, roles jsonb,
         "loginCount" integer, "createdAt" timestamptz(3), __v integer)`,
    )
    const report = await restore({ file: CRM, db: db.url, tables: ['users'] })
    expect(report.tables.users).toMatchObject({ inserted: 2, created: false })
    const rows = await pgQuery(db.url, `SELECT _id, email, name, roles, "loginCount", "createdAt"::text AS created FROM users ORDER BY _id`)
    expect(rows).toEqual([
      { _id: '6523f1a2b3c4d5e6f7a8b9c0', email: 'ada@example.com', name: 'Ada', roles: ['6523f1a2b3c4d5e6f7a8b9e0'], loginCount: 42, created: '2025-01-02 03:04:05.678+00' },
      { _id: '6523f1a2b3c4d5e6f7a8b9c1', email: 'bob@example.com', name: 'Bob', roles: [], loginCount: 0, created: '2025-02-03 04:05:06.789+00' },
    ])
    const preview = await analyze(CRM, db.url, { tables: ['users'] })
    expect(preview.totals).toMatchObject({ new: 0, unchanged: 2, conflicts: 0 })
    await pgQuery(db.url, `UPDATE users SET email = 'changed@example.com' WHERE name = 'Ada'`)
    const merged = await merge(CRM, db.url, { tables: ['users'], preserveNewer: false })
    expect(merged.totals).toMatchObject({ unchanged: 1, conflicts: 1 })
    const [ada] = await pgQuery(db.url, `SELECT email, "loginCount" FROM users WHERE name = 'Ada'`)
    expect(ada).toEqual({ email: 'ada@example.com', loginCount: 42 })
  })

  it('SQLite, a new file: the tables are created with every field', async () => {
    const { file, url } = sqlitePath()
    const report = await restore({ file: CRM, db: url })
    expect(report.totals.inserted).toBe(4)
    const [ada] = sqliteRows(file, `SELECT * FROM users WHERE name = 'Ada'`)
    expect(ada).toMatchObject({ email: 'ada@example.com', loginCount: 42, createdAt: '2025-01-02T03:04:05.678Z' })
  })

  it('MariaDB, empty database: every field kept', async () => {
    const db = await createMysqlDatabase('mb14crm')
    cleanups.push(() => db.drop())
    await restore({ file: CRM, db: db.url })
    const mysql = await import('mysql2/promise')
    const conn = await mysql.createConnection({ uri: db.url })
    try {
      const [rows] = await conn.query(`SELECT _id, email, name, loginCount FROM users ORDER BY _id`)
      expect(rows).toEqual([
        { _id: '6523f1a2b3c4d5e6f7a8b9c0', email: 'ada@example.com', name: 'Ada', loginCount: '42' },
        { _id: '6523f1a2b3c4d5e6f7a8b9c1', email: 'bob@example.com', name: 'Bob', loginCount: '0' },
      ])
    } finally {
      await conn.end()
    }
  })
})

describe('#14 item 1: a Smart Backup table whose later records have more fields', () => {
  function seedFile(): string {
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    return writeSmartBackup(path.join(tmp.dir, 'seed.json'), [
      {
        tableName: 'User',
        primaryKey: 'id',
        records: [
          { id: 'u1', email: 'a@example.com' },
          { id: 'u2', email: 'b@example.com', role: 'ADMIN' },
          { id: 'u3', nickname: 'cee' },
        ],
      },
    ])
  }

  it('into an empty PostgreSQL database and a new SQLite file: every field has its column', async () => {
    const seed = seedFile()
    const db = await postgres()
    await restore({ file: seed, db: db.url })
    expect(await pgQuery(db.url, `SELECT id, email, role, nickname FROM "User" ORDER BY id`)).toEqual([
      { id: 'u1', email: 'a@example.com', role: null, nickname: null },
      { id: 'u2', email: 'b@example.com', role: 'ADMIN', nickname: null },
      { id: 'u3', email: null, role: null, nickname: 'cee' },
    ])
    const { file, url } = sqlitePath()
    await restore({ file: seed, db: url })
    expect(sqliteRows(file, `SELECT id, email, role, nickname FROM "User" ORDER BY id`)).toEqual([
      { id: 'u1', email: 'a@example.com', role: null, nickname: null },
      { id: 'u2', email: 'b@example.com', role: 'ADMIN', nickname: null },
      { id: 'u3', email: null, role: null, nickname: 'cee' },
    ])
  })

  it('a restore that fails into a new SQLite file leaves no file behind', async () => {
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const seed = writeSmartBackup(path.join(tmp.dir, 'bad.json'), [{ tableName: 'T', primaryKey: 'id', records: [{ id: 1 }, { a: 2 }] }])
    const target = path.join(tmp.dir, 'new.db')
    await expect(restore({ file: seed, db: `sqlite:${target}` })).rejects.toThrow(/NOT NULL|key/)
    expect(fs.readdirSync(tmp.dir)).toEqual(['bad.json'])
  })
})
