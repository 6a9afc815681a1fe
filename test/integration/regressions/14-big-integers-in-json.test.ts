/**
 * Issue #14 item 2: a Smart Backup (seed 000) file turned integers above 2^53 inside JSON objects
 * into strings (`{"orderRef": 9007199254740993}` stored as `{"orderRef": "9007199254740993"}`);
 * analyze reported a false conflict against a jsonb value holding that number, and the default
 * merge overwrote the correct row, changing jsonb_typeof from number to string.
 */
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { restore } from '../../../src/engine/restore.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery } from '../../helpers/databases.js'
import { writeSmartBackup } from '../merge/harness.js'
import fs from 'node:fs'
import Database from 'better-sqlite3'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** The seed file as text: JSON.stringify could not write the big number. */
function seedFile(): string {
  const tmp = makeTempDir('mb14-')
  cleanups.push(tmp.cleanup)
  const file = writeSmartBackup(path.join(tmp.dir, 'seed.json'), [
    { tableName: 'Order', primaryKey: 'id', records: [{ id: 'o1', details: { orderRef: 1234, lines: [4242] } }] },
  ])
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"orderRef": 1234', '"orderRef": 9007199254740993').replace('4242', '18446744073709551615'))
  expect(fs.readFileSync(file, 'utf8')).toContain('9007199254740993')
  return file
}

describe('#14 item 2: integers beyond 2^53 inside JSON values of a seed file stay numbers, exactly', () => {
  it('PostgreSQL jsonb: restore stores the numbers, analyze finds the row unchanged, merge leaves it alone', async () => {
    const file = seedFile()
    const db = await createPostgresDatabase('mb14big')
    cleanups.push(() => db.drop())
    await pgQuery(db.url, `CREATE TABLE "Order" (id text PRIMARY KEY, details jsonb)`)
    await restore({ file, db: db.url })
    const check = `SELECT jsonb_typeof(details->'orderRef') AS kind, (details->>'orderRef') AS ref, (details->'lines'->>0) AS line FROM "Order"`
    expect(await pgQuery(db.url, check)).toEqual([{ kind: 'number', ref: '9007199254740993', line: '18446744073709551615' }])

    const report = await analyze(file, db.url)
    expect(report.totals).toMatchObject({ unchanged: 1, conflicts: 0, updated: 0 })
    expect(report.conflicts).toEqual([])
    const merged = await merge(file, db.url)
    expect(merged.totals).toMatchObject({ unchanged: 1, conflicts: 0 })
    expect(await pgQuery(db.url, check)).toEqual([{ kind: 'number', ref: '9007199254740993', line: '18446744073709551615' }])

    // A current row that really differs is still a conflict, and backup_wins writes the exact number.
    await pgQuery(db.url, `UPDATE "Order" SET details = '{"orderRef": 9007199254740992, "lines": [18446744073709551615]}'`)
    const changed = await merge(file, db.url)
    expect(changed.totals).toMatchObject({ conflicts: 1 })
    expect(await pgQuery(db.url, check)).toEqual([{ kind: 'number', ref: '9007199254740993', line: '18446744073709551615' }])
  })

  it('into an empty PostgreSQL database and a new SQLite file: the JSON text keeps the exact numbers', async () => {
    const file = seedFile()
    const db = await createPostgresDatabase('mb14big')
    cleanups.push(() => db.drop())
    await restore({ file, db: db.url })
    const [row] = await pgQuery(db.url, `SELECT details FROM "Order"`)
    expect(row.details).toBe('{"orderRef":9007199254740993,"lines":[18446744073709551615]}')
    const sqlite = makeSqlitePath()
    cleanups.push(sqlite.cleanup)
    await restore({ file, db: sqlite.url })
    const conn = new Database(sqlite.file, { readonly: true })
    try {
      expect(conn.prepare(`SELECT details FROM "Order"`).get()).toEqual({ details: '{"orderRef":9007199254740993,"lines":[18446744073709551615]}' })
    } finally {
      conn.close()
    }
  })
})
