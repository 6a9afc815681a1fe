/**
 * Issue #14 item 9: analyze ran the real merge in a transaction and rolled it back, so it needed
 * write permission, held row locks, and failed like a write. It now classifies in a read-only
 * transaction on one snapshot: a SELECT-only user can run it, it leaves the database (and a
 * SQLite file) untouched, its report is the merge's, and `merge --dry-run` stays the run that
 * meets constraint violations. A selection that leaves out referenced tables is warned about.
 */
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { backup } from '../../../src/engine/backup.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { DatabaseError, MergeRefusedError } from '../../../src/errors.js'
import { POSTGRES_ADMIN_URL, createMysqlDatabase, createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

function tempDir(): string {
  const tmp = makeTempDir('mb14-')
  cleanups.push(tmp.cleanup)
  return tmp.dir
}

const SCHEMA = `
  CREATE TABLE "User" (id integer PRIMARY KEY, name text NOT NULL, "updatedAt" timestamp(3) NOT NULL);
  CREATE TABLE "Registration" (id integer PRIMARY KEY, "userId" integer NOT NULL REFERENCES "User"(id), status text NOT NULL);
  INSERT INTO "User" VALUES (1, 'Ann', '2024-01-01'), (2, 'Bob', '2024-01-01'), (3, 'Cid', '2024-01-01');
  INSERT INTO "Registration" VALUES (10, 1, 'ok'), (11, 2, 'ok'), (12, 3, 'ok');`
const EDITS = `
  DELETE FROM "Registration" WHERE id = 12; DELETE FROM "User" WHERE id = 3;
  UPDATE "User" SET name = 'Ann (new)', "updatedAt" = '2024-06-01' WHERE id = 1;
  UPDATE "Registration" SET status = 'changed' WHERE id = 11;`

describe('#14 item 9: analyze is read-only', () => {
  it('PostgreSQL: a SELECT-only user gets the report the merge then produces; plans still work and go stale', async () => {
    const db = await createPostgresDatabase('mb14ro')
    cleanups.push(() => db.drop())
    await pgQuery(db.url, SCHEMA)
    const file = (await backup({ db: db.url, out: path.join(tempDir(), 'b.json') })).file
    await pgQuery(db.url, EDITS)
    const role = `mb14_reader_${randomBytes(4).toString('hex')}`
    await pgQuery(db.url, `CREATE ROLE ${role} LOGIN; GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`)
    cleanups.push(async () => {
      await pgQuery(db.url, `DROP OWNED BY ${role}`)
      await pgQuery(POSTGRES_ADMIN_URL, `DROP ROLE IF EXISTS ${role}`)
    })
    const reader = new URL(db.url)
    reader.username = role
    const plan = path.join(tempDir(), 'plan.json')
    const preview = await analyze(file, reader.toString(), { plan })
    expect(preview.totals).toMatchObject({ new: 2, unchanged: 2, kept: 1, conflicts: 1 })
    // The merge (as the owner) applies exactly that plan.
    const merged = await merge(file, db.url, { plan })
    expect(merged).toEqual({ ...preview })
    // A plan whose records changed since is refused (stale), as before.
    const plan2 = path.join(tempDir(), 'plan2.json')
    await pgQuery(db.url, EDITS.replace('DELETE FROM "Registration" WHERE id = 12; DELETE FROM "User" WHERE id = 3;', ''))
    await analyze(file, reader.toString(), { plan: plan2 })
    await pgQuery(db.url, `UPDATE "User" SET name = 'someone else' WHERE id = 2`)
    await expect(merge(file, db.url, { plan: plan2 })).rejects.toBeInstanceOf(MergeRefusedError)
  })

  it('PostgreSQL: --tables leaving out a referenced table is said up front; analyze succeeds, merge --dry-run finds the violation', async () => {
    const db = await createPostgresDatabase('mb14ro')
    cleanups.push(() => db.drop())
    await pgQuery(db.url, SCHEMA)
    const file = (await backup({ db: db.url, out: path.join(tempDir(), 'b.json') })).file
    await pgQuery(db.url, EDITS)
    const warnings: string[] = []
    const preview = await analyze(file, db.url, { tables: ['Registration'], onWarning: (w) => warnings.push(w) })
    expect(preview.tables.Registration).toMatchObject({ new: 1, conflicts: 1 })
    expect(warnings).toEqual([expect.stringMatching(/Registration → User.*--tables Registration,User$/)])
    await expect(merge(file, db.url, { tables: ['Registration'], dryRun: true })).rejects.toBeInstanceOf(DatabaseError)
  })

  it('a table without any key: analyze says it runs the merge and rolls it back, and its counts are the merge\'s', async () => {
    const db = await createPostgresDatabase('mb14ro')
    cleanups.push(() => db.drop())
    await pgQuery(db.url, `CREATE TABLE tag (name text, n integer); INSERT INTO tag VALUES ('a', 1), ('a', 1), ('b', NULL)`)
    const file = (await backup({ db: db.url, out: path.join(tempDir(), 'b.json') })).file
    await pgQuery(db.url, `DELETE FROM tag WHERE n IS NULL; DELETE FROM tag WHERE ctid = (SELECT min(ctid) FROM tag)`)
    const warnings: string[] = []
    const preview = await analyze(file, db.url, { onWarning: (w) => warnings.push(w) })
    expect(warnings.join('\n')).toMatch(/"tag" has no primary key.*rolls it back/)
    expect(preview.tables.tag).toMatchObject({ new: 2, unchanged: 1 })
    expect((await merge(file, db.url)).tables.tag).toEqual(preview.tables.tag)
  })

  it('SQLite: analyze opens the file read-only and leaves it byte for byte as it was', async () => {
    const sqlite = makeSqlitePath()
    cleanups.push(sqlite.cleanup)
    const conn = new Database(sqlite.file)
    conn.exec(SCHEMA.replace(/timestamp\(3\)/g, 'TEXT'))
    conn.close()
    const file = (await backup({ db: sqlite.url, out: path.join(tempDir(), 'b.json') })).file
    const edit = new Database(sqlite.file)
    edit.exec(EDITS)
    edit.close()
    const before = fs.readFileSync(sqlite.file)
    const mtime = fs.statSync(sqlite.file).mtimeMs
    const preview = await analyze(file, sqlite.url)
    expect(preview.totals).toMatchObject({ new: 2, unchanged: 2, kept: 1, conflicts: 1 })
    expect(fs.readFileSync(sqlite.file).equals(before)).toBe(true)
    expect(fs.statSync(sqlite.file).mtimeMs).toBe(mtime)
    expect(fs.readdirSync(path.dirname(sqlite.file))).toEqual([path.basename(sqlite.file)])
    // A write lock held by someone else does not stop it (it takes none).
    const locker = new Database(sqlite.file)
    locker.exec('BEGIN IMMEDIATE')
    try {
      expect((await analyze(file, sqlite.url)).totals).toEqual(preview.totals)
    } finally {
      locker.exec('ROLLBACK')
      locker.close()
    }
    expect((await merge(file, sqlite.url)).totals).toEqual(preview.totals)
  })

  it('MariaDB: a SELECT-only user can analyze', async () => {
    const db = await createMysqlDatabase('mb14ro')
    cleanups.push(() => db.drop())
    const mysql = await import('mysql2/promise')
    const conn = await mysql.createConnection({ uri: db.url, multipleStatements: true })
    cleanups.push(() => conn.end())
    await conn.query(SCHEMA.replace(/"/g, '`').replace(/timestamp\(3\)/g, 'DATETIME(3)').replace(/ text/g, ' VARCHAR(40)'))
    const file = (await backup({ db: db.url, out: path.join(tempDir(), 'b.json') })).file
    await conn.query(EDITS.replace(/"/g, '`'))
    const user = `mb14r${randomBytes(3).toString('hex')}`
    await conn.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw-${user}'; GRANT SELECT ON \`${db.name}\`.* TO '${user}'@'%'`)
    cleanups.push(async () => void (await conn.query(`DROP USER IF EXISTS '${user}'@'%'`)))
    const reader = new URL(db.url)
    reader.username = user
    reader.password = `pw-${user}`
    reader.hostname = '127.0.0.1'
    const preview = await analyze(file, reader.toString())
    expect(preview.totals).toMatchObject({ new: 2, unchanged: 2, kept: 1, conflicts: 1 })
    expect((await merge(file, db.url)).totals).toEqual(preview.totals)
  })
})
