/**
 * Round eight (docs/performance.md): the server evaluates rowDigestSql, the row digest with binary
 * separators and bare text columns, while the stamps' scope still names rowDigestExpression. That
 * is only right if both give the same digest for every row: checked here for every column kind and
 * character set, NULLs, empty and non-ASCII values; and a parent whose sidecars were written as the
 * previous release wrote them (gzip level 1, stamps scoped by the same expression) is still compared
 * by its stamps, with exactly the records and deleted keys of hashing every record line.
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import mysql from 'mysql2/promise'
import { backup } from '../../../src/engine/backup.js'
import { mysqlAdapter } from '../../../src/adapters/mysql/mysql-adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { rowDigestExpression, rowDigestSql } from '../../../src/adapters/mysql/mysql-row-digest.js'
import { quoteIdentifier } from '../../../src/adapters/mysql/mysql-values.js'
import { createMysqlDatabase, makeTempDir, mysqlExec } from '../../helpers/databases.js'
import { backupRecordLines } from '../../helpers/record-lines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** Columns of every kind and character set the digest takes, nullable and not. */
const COLUMNS = [
  'ti tinyint', 'bi bigint', 'dc decimal(12,3)', 'f float', 'd double', 'bt bit(7)',
  'ch char(5)', 'vc varchar(20)', 'vl varchar(20) CHARACTER SET latin1', 'va varchar(20) CHARACTER SET ascii',
  'vu varchar(20) CHARACTER SET utf16', 'vb8 varchar(20) COLLATE utf8mb4_bin', 'v3 varchar(20) CHARACTER SET utf8mb3',
  'tt tinytext', 'tx text', 'mt mediumtext CHARACTER SET latin1', 'lt longtext',
  'bl blob', 'vbin varbinary(8)', 'bn binary(4)',
  'dt date', 'dtm datetime(6)', 'ts timestamp(3) NULL', 'tm time(2)', 'yr year',
  'js json', "en enum('a','é','a,b')", "st set('a','b','ü')", 'g geometry NULL', 'u uuid', 'i6 inet6',
  "nn varchar(10) CHARACTER SET latin1 NOT NULL DEFAULT 'x'", "nt text NOT NULL DEFAULT ''",
]

describe('MariaDB row digests: the SQL the server runs', () => {
  it('gives the digest of the defining expression for every column kind and character set', async () => {
    const source = await createMysqlDatabase('mbdigsql')
    cleanups.push(() => source.drop())
    const rows = [
      `(1, 1, 9007199254740993, 1.5, 1.1, 1e-300, b'101', 'abc', 'x', 'é', 'a', 'ü☃', 'Ab', 'ß', 'ü', 'a ', 'éè', '😀', x'00', x'ff00', x'01', '2024-02-29', '2024-01-01 00:00:00.000001', '2024-01-01 00:00:00.001', '-838:59:59.00', 2024, '{"a":[1,"é"]}', 'é', 'a,ü', ST_GeomFromText('POINT(1 2)'), '123e4567-e89b-12d3-a456-426614174000', '::1', 'ÿ', 'é')`,
      `(2, ${Array.from({ length: COLUMNS.length - 2 }, () => 'NULL').join(', ')}, DEFAULT, DEFAULT)`,
      `(3, 0, 0, 0, 0, 0, b'0', '', '', '', '', '', '', '', '', '', '', '', '', '', x'00000000', '1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01', '00:00:00', 1901, '""', 'a', '', ST_GeomFromText('POINT(0 0)', 4326), '00000000-0000-0000-0000-000000000000', '::ffff:1.2.3.4', '', '')`,
      `(4, -1, -1, -1.5, -0.0, 2.2250738585072014e-308, b'1111111', 'N', 'NULL', 'N', ',', ':', 'N', '1:a', '0:', 'NULL', ':', 'N,', 'N', ',', ':', '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', '838:59:59.99', 2155, 'null', 'a,b', 'a,b', NULL, 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'fe80::1', 'N', 'N')`,
    ]
    await mysqlExec(source.url, `CREATE TABLE wide (id int PRIMARY KEY, ${COLUMNS.join(', ')}) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci; INSERT INTO wide VALUES ${rows.join(', ')};`)
    const adapterSource = await mysqlAdapter.openSource(parseDatabaseUrl(source.url))
    let defining: string | undefined
    let fast: string | undefined
    try {
      const table = (await adapterSource.describe()).tables.find((t) => t.name === 'wide')!
      defining = rowDigestExpression(table.columns)
      fast = rowDigestSql(table.columns)
    } finally {
      await adapterSource.close()
    }
    expect(defining).toBeDefined()
    // The cheaper expression does leave text columns bare, and keeps UUID and INET6 cast to their bytes.
    expect(fast).not.toEqual(defining)
    expect(fast).toContain('LENGTH(`tx`)')
    expect(fast).toContain('CAST(`u` AS BINARY)')
    expect(fast).toContain('CAST(`i6` AS BINARY)')
    const conn = await mysql.createConnection({ uri: source.url })
    try {
      // The session settings every mergeback connection has do not matter for bytes; compared as bytes.
      const [result] = await conn.query(`SELECT id, HEX(${defining}) AS a, HEX(${fast}) AS b FROM ${quoteIdentifier('wide')} ORDER BY id`)
      const got = result as { id: number; a: string; b: string }[]
      expect(got).toHaveLength(rows.length)
      for (const row of got) {
        expect(row.b, `row ${row.id}`).toEqual(row.a)
        expect(row.a).not.toEqual('3'.repeat(64))
      }
      expect(new Set(got.map((r) => r.a)).size).toBe(rows.length)
    } finally {
      await conn.end()
    }
  }, 60_000)

  it('compares with a parent whose sidecars the previous release wrote (gzip level 1), and falls back on damaged ones', async () => {
    const source = await createMysqlDatabase('mbdigsql_old')
    cleanups.push(() => source.drop())
    const tmp = makeTempDir('mbdigsql-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'b')
    await mysqlExec(
      source.url,
      `CREATE TABLE item (id bigint PRIMARY KEY, body text, note varchar(20) CHARACTER SET latin1);
       INSERT INTO item VALUES ${Array.from({ length: 5000 }, (_, i) => `(${i + 1}, 'row ${i + 1} é', ${i % 7 === 0 ? 'NULL' : "'ü'"})`).join(', ')};`,
    )
    const full = await backup({ db: source.url, out: dir, name: 'n', now: new Date('2026-12-01T00:00:00Z') })
    // As the previous release wrote them: the same bytes, deflated at level 1. (This one stored
    // them, gzip level 0: each file is a little larger than its bytes.)
    for (const suffix of ['.digests', '.stamps']) {
      const file = `${full.file}${suffix}`
      expect(fs.statSync(file).size).toBeGreaterThan(gunzipSync(fs.readFileSync(file)).length)
      fs.writeFileSync(file, gzipSync(gunzipSync(fs.readFileSync(file)), { level: 1 }))
    }
    await mysqlExec(source.url, `UPDATE item SET body = 'changed' WHERE id IN (1, 2500, 5000); UPDATE item SET note = 'é' WHERE id = 7; DELETE FROM item WHERE id = 10; INSERT INTO item VALUES (6000, 'new', NULL);`)
    const parent = path.basename(full.file)
    const increment = await backup({ db: source.url, out: dir, name: 'n', since: parent, now: new Date('2026-12-02T00:00:00Z') })
    expect(increment.compared).toEqual({ item: 'stamps' })
    const byDigest = await backup({ db: source.url, out: dir, name: 'check', since: parent, rowStamps: false, now: new Date('2026-12-02T00:00:01Z') })
    expect(byDigest.compared).toEqual({ item: 'digests' })
    expect(await backupRecordLines(increment.file)).toEqual(await backupRecordLines(byDigest.file))
    expect(increment.metadata.incremental?.deleted).toEqual({ item: [['10']] })
    expect(increment.metadata.recordCounts).toEqual({ item: 5 })
    // The increment's own sidecars (level 0) serve the next link.
    await mysqlExec(source.url, `UPDATE item SET body = 'again' WHERE id = 3`)
    const next = await backup({ db: source.url, out: dir, name: 'n', since: path.basename(increment.file), now: new Date('2026-12-03T00:00:00Z') })
    expect(next.compared).toEqual({ item: 'stamps' })
    expect(next.metadata.recordCounts).toEqual({ item: 1 })

    // Stamps stored (level 0) but cut short, or not gzip at all: every row hashed, the same increment.
    for (const damage of [(b: Buffer) => b.subarray(0, b.length - 100), () => Buffer.from('not gzip')]) {
      const stamps = `${increment.file}.stamps`
      const kept = fs.readFileSync(stamps)
      fs.writeFileSync(stamps, damage(kept))
      const fallback = await backup({ db: source.url, out: dir, name: 'fb', since: path.basename(increment.file), now: new Date('2026-12-04T00:00:00Z') })
      expect(fallback.compared).toEqual({ item: 'digests' })
      expect(await backupRecordLines(fallback.file)).toEqual(await backupRecordLines(next.file))
      fs.writeFileSync(stamps, kept)
    }
  }, 120_000)
})
