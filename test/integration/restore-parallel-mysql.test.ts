/**
 * Issue #17 on MariaDB: a restore into new tables loads its staging tables on two sessions
 * (mysql-destination.ts, #loaders), still all-or-nothing. Against the single-session restore of
 * the same file, on a schema with AUTO_INCREMENT, a unique key, a secondary index, a CHECK, a
 * foreign key and a keyless table: the same database. A refused row, a foreign-key violation, and
 * the loading session's connection killed by the server in the middle of its load each leave
 * the target as it was (an unrelated table included) with no staging table; a target whose
 * tables exist takes the single-session path. The file is verified in the write pass when every
 * table is new (the rollback undoes everything), before the first row otherwise: a checksum
 * mismatch at the end of the file changes nothing either way.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backup } from '../../src/engine/backup.js'
import { restore } from '../../src/engine/restore.js'
import { DatabaseError, IntegrityError } from '../../src/errors.js'
import { createMysqlDatabase, databasesOfFile, makeTempDir, mysqlQuery } from '../helpers/databases.js'

const SCHEMA = [
  `CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100) NOT NULL UNIQUE, created DATETIME(3) NOT NULL, note TEXT)`,
  `CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL, memo VARBINARY(20),
     CONSTRAINT orders_amount CHECK (amount >= 0), KEY orders_user (user_id), CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id))`,
  `CREATE TABLE tags (name VARCHAR(20), n INT)`,
]
const USERS = 3000

function data(orders: number): string[] {
  return [
    `INSERT INTO users (email, created, note) SELECT CONCAT('u', seq, '@example.com'), '2026-01-01 00:00:00' + INTERVAL seq MINUTE,
       IF(seq % 7 = 0, NULL, CONCAT('note\\t', seq, '\\nline two')) FROM seq_1_to_${USERS}`,
    `INSERT INTO orders SELECT seq, 1 + seq % ${USERS}, (seq % 1000) / 10, IF(seq % 3 = 0, NULL, UNHEX(HEX(seq))) FROM seq_1_to_${orders}`,
    `INSERT INTO tags SELECT CONCAT('t', seq % 50), IF(seq % 4 = 0, NULL, seq % 5) FROM seq_1_to_2000`,
  ]
}

/** Every table's rows and definition (AUTO_INCREMENT counter included). */
async function state(url: string): Promise<Record<string, unknown>> {
  const tables = (await mysqlQuery(url, `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`)).map((r) => String(r.name))
  const rows: Record<string, string[]> = {}
  const definitions: Record<string, string> = {}
  for (const name of tables) {
    rows[name] = (await mysqlQuery(url, `SELECT * FROM \`${name}\``)).map((r) => JSON.stringify(r)).sort()
    definitions[name] = String((await mysqlQuery(url, `SHOW CREATE TABLE \`${name}\``))[0]?.['Create Table'])
  }
  return { tables, rows, definitions }
}

async function stagingLeft(url: string): Promise<string[]> {
  return (await mysqlQuery(url, `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '\\_mb\\_%'`)).map((r) => String(r.name))
}

describe('MariaDB restore on two sessions (issue #17)', () => {
  const temp = makeTempDir('mergeback-restore-parallel-mysql-')
  const dbs = databasesOfFile(() => createMysqlDatabase('mb_par'))
  let file: string
  const sourceFile = async (name: string, orders: number, extra: string[] = []): Promise<string> => {
    const db = await dbs.fresh()
    await mysqlQuery(db.url, ...SCHEMA, ...data(orders), ...extra)
    return (await backup({ db: db.url, out: path.join(temp.dir, `${name}.json`) })).file
  }
  /** An empty target but for an unrelated table, which every failure must leave alone. */
  const target = async (): Promise<{ url: string; before: Record<string, unknown> }> => {
    const db = await dbs.fresh()
    await mysqlQuery(db.url, `CREATE TABLE keep (id INT PRIMARY KEY, v TEXT)`, `INSERT INTO keep VALUES (1, 'kept')`)
    return { url: db.url, before: await state(db.url) }
  }

  beforeAll(async () => {
    file = await sourceFile('good', 20_000)
  }, 120_000)
  afterAll(async () => {
    await dbs.dropAll()
    temp.cleanup()
  })

  it('gives exactly what the single-session restore gives', async () => {
    const [parallel, single] = [await dbs.fresh(), await dbs.fresh()]
    // Small batches, so that both sessions get a share of each shared table (orders, tags; users has AUTO_INCREMENT: one session).
    const two = await restore({ file, db: parallel.url, batchSize: 100 })
    const one = await restore({ file, db: single.url, jobs: 1 })
    expect(two.sessions).toBe(2)
    expect(one.sessions).toBe(1)
    expect(two.tables).toEqual(one.tables)
    expect(two.totals).toEqual({ inserted: USERS + 20_000 + 2000, skipped: 0 })
    const got = await state(parallel.url)
    expect(got).toEqual(await state(single.url))
    expect((got.rows as Record<string, string[]>).orders).toHaveLength(20_000)
    expect(await stagingLeft(parallel.url)).toEqual([])
    const three = await dbs.fresh()
    expect((await restore({ file, db: three.url, jobs: 3, batchSize: 100 })).sessions).toBe(3)
    expect(await state(three.url)).toEqual(got)
  }, 120_000)

  it('a row the server refuses, in a table both sessions load: nothing changed, no staging table', async () => {
    const bad = await sourceFile('refused', 20_000, [`SET SESSION check_constraint_checks = 0`, `INSERT INTO orders VALUES (20001, 1, -5, NULL)`])
    const { url, before } = await target()
    const error = await restore({ file: bad, db: url, batchSize: 100 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DatabaseError)
    expect((error as DatabaseError).table).toBe('orders')
    expect((error as DatabaseError).message).toMatch(/orders_amount/)
    expect(await state(url)).toEqual(before)
    expect(await stagingLeft(url)).toEqual([])
  }, 120_000)

  it('a foreign-key violation (checked after both sessions loaded): nothing changed, no staging table', async () => {
    const orphan = await sourceFile('orphan', 2000, [`SET SESSION foreign_key_checks = 0`, `INSERT INTO orders VALUES (999999, 999999, 1, NULL)`])
    const { url, before } = await target()
    const error = await restore({ file: orphan, db: url, batchSize: 100 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DatabaseError)
    expect((error as DatabaseError).engineCode).toBe('1452')
    expect(await state(url)).toEqual(before)
    expect(await stagingLeft(url)).toEqual([])
  }, 120_000)

  it('the second session killed by the server in the middle of its load: nothing changed, no staging table', async () => {
    const big = await sourceFile('big', 300_000)
    const mysql = await import('mysql2/promise')
    // A kill that lands after the session's last statement fails nothing (all its rows are in):
    // such a run must give the whole database; tried until one kill lands mid-load.
    let failedRuns = 0
    for (let run = 0; run < 3 && failedRuns === 0; run++) {
      const { url, before } = await target()
      const watcher = await mysql.createConnection({ uri: url })
      try {
        const running = restore({ file: big, db: url })
        const outcome = running.then(
          (report) => ({ report }),
          (error: unknown) => ({ error }),
        )
        let killed = false
        let done = false
        void outcome.then(() => (done = true))
        // The loading session is the one running a LOAD DATA without holding the run's staging lock.
        while (!killed && !done) {
          const [loads] = await watcher.query<import('mysql2').RowDataPacket[]>(
            `SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE 'LOAD DATA%orders%'
                AND ID <> IS_USED_LOCK(CONCAT('mergeback_stage_', SUBSTRING(INFO, LOCATE('_mb_stage_', INFO) + 10, 8)))`,
          )
          if (loads.length > 0) {
            await watcher.query(`KILL CONNECTION ${Number(loads[0]!.id)}`)
            killed = true
          }
        }
        expect(killed).toBe(true)
        const result = await outcome
        if ('error' in result) {
          failedRuns++
          expect(result.error).toBeInstanceOf(Error)
          expect(await state(url)).toEqual(before)
          expect(await stagingLeft(url)).toEqual([])
        } else {
          expect(result.report.totals).toEqual({ inserted: USERS + 300_000 + 2000, skipped: 0 })
        }
      } finally {
        await watcher.end()
      }
    }
    expect(failedRuns).toBe(1)
  }, 600_000)

  it('a checksum mismatch found at the end of the file: nothing changed, into new tables or existing ones', async () => {
    // One digit of the last record of the file's last table changed, the JSON still valid: only its checksum tells.
    const text = fs.readFileSync(file, 'utf8')
    const end = text.indexOf('\n]}\n]', text.lastIndexOf('{"tableName"'))
    const line = text.lastIndexOf('\n', end - 1) + 1
    const digit = line + text.slice(line, end).search(/[0-8]/)
    expect(digit).toBeGreaterThanOrEqual(line)
    const damaged = path.join(temp.dir, 'damaged.json')
    fs.writeFileSync(damaged, text.slice(0, digit) + String(Number(text[digit]) + 1) + text.slice(digit + 1))
    const { url, before } = await target()
    // Into new tables the file is verified while the rows load (no pass of its own before).
    const phases: string[] = []
    const onProgress = (event: { type: string; phase?: string }): void => {
      if (event.type === 'phase') phases.push(event.phase!)
    }
    await expect(restore({ file: damaged, db: url, batchSize: 100, onProgress })).rejects.toBeInstanceOf(IntegrityError)
    expect(phases).toContain('write')
    expect(await state(url)).toEqual(before)
    expect(await stagingLeft(url)).toEqual([])
    // Into existing tables the rollback could not undo everything: verified before the first row.
    const existing = await dbs.fresh()
    await mysqlQuery(existing.url, ...SCHEMA, `INSERT INTO users VALUES (999999, 'old@example.com', '2020-01-01', NULL)`)
    const was = await state(existing.url)
    phases.length = 0
    await expect(restore({ file: damaged, db: existing.url, drop: true, onProgress })).rejects.toBeInstanceOf(IntegrityError)
    expect(phases).not.toContain('write')
    expect(await state(existing.url)).toEqual(was)
  }, 120_000)

  it('tables that exist (--drop) and --jobs 1 take the single-session path', async () => {
    const existing = await dbs.fresh()
    await mysqlQuery(existing.url, ...SCHEMA, `INSERT INTO users VALUES (999999, 'old@example.com', '2020-01-01', NULL)`)
    const dropped = await restore({ file, db: existing.url, drop: true })
    expect(dropped.sessions).toBe(1)
    const expected = await dbs.fresh()
    await restore({ file, db: expected.url })
    expect((await state(existing.url)).rows).toEqual((await state(expected.url)).rows)
  }, 120_000)
})
