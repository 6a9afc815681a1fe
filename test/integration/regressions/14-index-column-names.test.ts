/**
 * Issue #14 item 3: PostgreSQL backups stored a mixed-case index column with its quotes
 * (`"columns": ["\"userId\""]`), so a restore into MariaDB failed (`Key column '"userId"' doesn't
 * exist`) and into SQLite the index was dropped with a misleading warning. Index columns are now
 * the columns' names; expression and partial indexes are marked and left out elsewhere, with a warning.
 */
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { inspect } from '../../../src/engine/inspect.js'
import { createMysqlDatabase, createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

describe('#14 item 3: index columns of a PostgreSQL backup are plain column names', () => {
  it('restores into MariaDB and SQLite with the index; expression and partial indexes are warned about', async () => {
    const source = await createPostgresDatabase('mb14idx')
    cleanups.push(() => source.drop())
    await pgQuery(
      source.url,
      `CREATE TABLE "Session" (id text PRIMARY KEY, "userId" text NOT NULL, "expiresAt" timestamptz, email text);
       CREATE INDEX "Session_userId_idx" ON "Session" ("userId", "expiresAt");
       CREATE INDEX "Session_lower_email" ON "Session" (lower(email));
       CREATE INDEX "Session_live" ON "Session" ("userId") WHERE "expiresAt" IS NULL;
       INSERT INTO "Session" VALUES ('s1', 'u1', NULL, 'A@example.com');`,
    )
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const file = (await backup({ db: source.url, out: path.join(tmp.dir, 'pg.json') })).file
    const report = await inspect(file)
    const indexes = report.tables.find((t) => t.name === "Session")!.schema.indexes
    expect(indexes.map((i) => [i.name, i.columns, i.options ?? {}])).toEqual([
      ['Session_live', ['userId'], { partial: true }],
      ['Session_lower_email', ['lower(email)'], { expression: true }],
      ['Session_userId_idx', ['userId', 'expiresAt'], {}],
    ])

    const mysqlDb = await createMysqlDatabase('mb14idx')
    cleanups.push(() => mysqlDb.drop())
    const intoMysql = await restore({ file, db: mysqlDb.url })
    expect(intoMysql.tables.Session.inserted).toBe(1)
    expect(intoMysql.warnings.join('\n')).toMatch(/Session_lower_email/)
    const mysql = await import('mysql2/promise')
    const conn = await mysql.createConnection({ uri: mysqlDb.url })
    try {
      const [keys] = await conn.query(`SELECT INDEX_NAME AS name, COLUMN_NAME AS col FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'Session' ORDER BY INDEX_NAME, SEQ_IN_INDEX`)
      expect(keys).toEqual([
        { name: 'PRIMARY', col: 'id' },
        { name: 'Session_userId_idx', col: 'userId' },
        { name: 'Session_userId_idx', col: 'expiresAt' },
      ])
    } finally {
      await conn.end()
    }

    const sqlite = makeSqlitePath()
    cleanups.push(sqlite.cleanup)
    const intoSqlite = await restore({ file, db: sqlite.url })
    expect(intoSqlite.warnings.join('\n')).toMatch(/Session_lower_email/)
    const db = new Database(sqlite.file, { readonly: true })
    try {
      expect(db.prepare(`SELECT name FROM pragma_index_list('Session') WHERE origin = 'c' ORDER BY name`).all()).toEqual([{ name: 'Session_userId_idx' }])
    } finally {
      db.close()
    }
  })
})
