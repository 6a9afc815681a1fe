/**
 * The MariaDB restore through the reader's line converter (mysql-load-lines.ts): the record lines
 * of a table this restore creates become LOAD DATA text in the walk that checks them, and a line
 * the walk declines takes writeRows' way. The restored rows must be the source's, value for value,
 * for every type the converter takes (the conformance matrix without FLOAT, DOUBLE and YEAR,
 * whose tables keep the ordinary path) and for arbitrary text.
 */
import fs from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { mysqlAdapter } from '../../../src/adapters/mysql/mysql-adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { backup } from '../../../src/engine/backup.js'
import { reseal } from '../../../src/engine/reseal.js'
import { restore } from '../../../src/engine/restore.js'
import { scanBackup } from '../../../src/engine/backup-input.js'
import { DatabaseError } from '../../../src/errors.js'
import { createMysqlDatabase, databasesOfFile, makeTempDir, mysqlExec, mysqlQuery } from '../../helpers/databases.js'
import { MATRIX_ROWS, TYPE_MATRIX } from '../../fixtures/types/mysql-types.js'

const databases = databasesOfFile(() => createMysqlDatabase('mbload'))
const tmp = makeTempDir('mbload-')
afterAll(async () => {
  await databases.dropAll()
  tmp.cleanup()
})

/** The conformance matrix without the columns the converter leaves to the ordinary path. */
const CONVERTED = `
CREATE TABLE conv LIKE matrix;
ALTER TABLE conv DROP COLUMN f, DROP COLUMN dbl, DROP COLUMN yr;
INSERT INTO conv SELECT id, b, t1, ti, tu, si, su, mi, mu, i, iu, bi, bu, d65, d10, bit1, bit5, bit64, ch, vc, tx, mt, lt, bn, vb, bl, lb, da, dt, dt0, ts, tm, js, en, st, u FROM matrix;
CREATE TABLE texts (id INT NOT NULL PRIMARY KEY, a VARCHAR(200) NULL, b TEXT NULL, c JSON NULL, d VARBINARY(200) NULL) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
`

/** Every table's rows in key order, with the values as the adapters read them (hex for bytes). */
async function contents(url: string): Promise<Record<string, unknown[]>> {
  const result: Record<string, unknown[]> = {}
  for (const { name } of (await mysqlQuery(url, 'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME')) as { name: string }[]) {
    result[name] = (await mysqlQuery(url, `SELECT * FROM \`${name}\` ORDER BY id`)).map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Buffer.isBuffer(v) ? `x${v.toString('hex')}` : v])),
    )
  }
  return result
}

function sqlText(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\0/g, '\\0')}'`
}

describe('MariaDB restore through the line converter', () => {
  it('restores every converted type and arbitrary text exactly as the source holds them', async () => {
    const source = await databases.fresh()
    await mysqlQuery(source.url, TYPE_MATRIX, MATRIX_ROWS)
    await mysqlExec(source.url, CONVERTED)
    // Text with every LOAD DATA special (\t \n \r \\ \0), quotes, unicode; NULL and '' apart.
    const texts = fc.sample(fc.string({ unit: fc.oneof(fc.constantFrom('\t', '\n', '\r', '\\', '\0', '"', "'", 'N', 'é', '😀', '\u2028'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 40 }), { numRuns: 300, seed: 17 })
    const rows = texts.map((t, i) => `(${i + 1}, ${sqlText(t)}, ${i % 3 === 0 ? 'NULL' : sqlText(t)}, ${i % 2 === 0 ? `JSON_OBJECT('t', ${sqlText(t)})` : i % 5 === 0 ? "'[]'" : 'NULL'}, ${i % 4 === 0 ? `CAST(${sqlText(t)} AS BINARY)` : i % 7 === 0 ? "''" : 'NULL'})`)
    await mysqlQuery(source.url, `INSERT INTO texts VALUES ${rows.join(', ')}, (1000, '', NULL, NULL, NULL), (1001, '\\\\N', 'N', JSON_QUOTE('\\\\N'), x'5c4e')`)
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'load.json') })

    // The converter takes conv and texts; matrix (FLOAT, DOUBLE, YEAR) keeps the ordinary path.
    const probe = await databases.fresh()
    const scan = await scanBackup(made.file)
    const destination = await mysqlAdapter.openDestination(parseDatabaseUrl(probe.url))
    try {
      await destination.prepare({ engine: 'mysql', database: '', tables: scan.tables.map((t) => t.schema), warnings: [] }, { mode: 'restore', drop: false, allowTriggers: false, jobs: 2 })
      const accepted = []
      for (const { schema } of scan.tables) if (await destination.acceptsRecordLines!(schema)) accepted.push(schema.name)
      expect(accepted.sort()).toEqual(['conv', 'texts'])
      // A chain's records go as rows (merged by key): as lines they cost the server more.
      for (const { schema } of scan.tables) expect(await destination.acceptsRecordLines!(schema, { chain: true }), schema.name).toBe(false)
      await destination.rollback()
    } finally {
      await destination.close()
    }

    for (const jobs of [1, 2]) {
      const target = await databases.fresh()
      const report = await restore({ file: made.file, db: target.url, jobs })
      expect(report.totals).toEqual({ inserted: 4 + 4 + texts.length + 2, skipped: 0 })
      expect(await contents(target.url)).toEqual(await contents(source.url))
    }
  }, 120_000)

  it('passes declined lines to the ordinary path: a value the walk does not take, a record that leaves a column out (its DEFAULT)', async () => {
    const source = await databases.fresh()
    await mysqlExec(source.url, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, n BIGINT NULL, s VARCHAR(20) NOT NULL DEFAULT 'dflt', d DECIMAL(10,2) NULL); INSERT INTO t VALUES (1, 1, 'one', '1.50'), (2, 2, 'two', '2.00'), (3, 3, 'three', NULL)")
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'edited.json') })
    const text = fs.readFileSync(made.file, 'utf8')
    const edited = text.replace('{"id":2,"n":"2","s":"two","d":"2.00"}', '{"id":2,"n":2.0,"s":"two","d":2}').replace('{"id":3,"n":"3","s":"three","d":null}', '{"id":3,"n":"3","d":null}')
    expect(edited).not.toBe(text)
    fs.writeFileSync(path.join(tmp.dir, 'edited-by-hand.json'), edited)
    const sealed = await reseal(path.join(tmp.dir, 'edited-by-hand.json'))
    const target = await databases.fresh()
    await restore({ file: sealed.resealed, db: target.url })
    expect(await mysqlQuery(target.url, 'SELECT id, n, s, d FROM t ORDER BY id')).toEqual([
      { id: 1, n: '1', s: 'one', d: '1.50' },
      { id: 2, n: '2', s: 'two', d: '2.00' },
      { id: 3, n: '3', s: 'dflt', d: null },
    ])
  }, 60_000)

  it('fails a load the server refuses and leaves the empty database empty', async () => {
    const source = await databases.fresh()
    await mysqlExec(source.url, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, s VARCHAR(20) NOT NULL); INSERT INTO t VALUES (1, 'fits'), (2, 'too long for three')")
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'long.json') })
    // The backup's own definition, narrowed: the second value no longer fits.
    const edited = fs.readFileSync(made.file, 'utf8').replace(/varchar\(20\)/g, 'varchar(3)').replace(/"fits"/, '"fit"')
    fs.writeFileSync(path.join(tmp.dir, 'long-narrowed.json'), edited)
    const sealed = await reseal(path.join(tmp.dir, 'long-narrowed.json'))
    const target = await databases.fresh()
    const error = await restore({ file: sealed.resealed, db: target.url }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DatabaseError)
    expect((error as DatabaseError).message).toMatch(/t/)
    expect(await mysqlQuery(target.url, 'SHOW TABLES')).toEqual([])
  }, 60_000)
})
