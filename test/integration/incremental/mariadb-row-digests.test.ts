/**
 * MariaDB increments found by row digests the server computes (adapters/mysql/mysql-row-digest.ts,
 * 'digest' tables of storage/row-stamps.ts): only keys and digests are read, and rows whose digest
 * differs are fetched by key. The increment must be exactly what hashing every record line gives
 * (a sibling increment with rowStamps: false): same records, same deleted keys, for a change of
 * the smallest size in a column of every kind; and it falls back to hashing record lines when the
 * parent has no stamps, a damaged stamps file, or a key the server cannot be asked for.
 */
import fs from 'node:fs'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { recordRowStamps } from '../../../src/engine/incremental.js'
import { mysqlAdapter } from '../../../src/adapters/mysql/mysql-adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { loadRowStamps, RowStampsWriter } from '../../../src/storage/row-stamps.js'
import { createMysqlDatabase, makeTempDir, mysqlExec } from '../../helpers/databases.js'
import { backupRecordLines } from '../../helpers/record-lines.js'
import { stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** A stamps file as table → scope, kind and its entries (hex, sorted). */
async function stampsByEntry(file: string): Promise<Record<string, { scope: string; kind?: string; entries: string[] }>> {
  const out: Record<string, { scope: string; kind?: string; entries: string[] }> = {}
  for (const [name, table] of (await loadRowStamps(file))!) {
    const entries: string[] = []
    // Entries as the file holds them: a tag byte ('D', or 'S' for an xmin table), then the key digest and the stamp.
    const width = table.kind === 'digest' ? 33 : 21
    for (let at = 0; at < table.entries.length; at += width) entries.push(table.entries.toString('hex', at + 1, at + width))
    out[name] = { scope: table.scope, kind: table.kind, entries: entries.sort() }
  }
  return out
}

/** Every column kind MariaDB has, and per kind the smallest change to a row's value of it. */
const KINDS: readonly { column: string; type: string; from: string; to: string }[] = [
  { column: 'ti', type: 'tinyint', from: '1', to: '2' },
  { column: 'bo', type: 'boolean', from: '0', to: '1' },
  { column: 'i', type: 'int unsigned', from: '4294967295', to: '4294967294' },
  { column: 'bi', type: 'bigint', from: '9007199254740993', to: '9007199254740992' },
  { column: 'dc', type: 'decimal(12,3)', from: '1.000', to: '1.001' },
  { column: 'f', type: 'float', from: '1', to: '1.0000001' },
  { column: 'd', type: 'double', from: '1', to: '1.0000000000000002' },
  { column: 'bt', type: 'bit(7)', from: "b'0000001'", to: "b'0000011'" },
  { column: 'ch', type: 'char(5)', from: "'abc'", to: "'Abc'" },
  { column: 'vc', type: 'varchar(20)', from: "''", to: 'NULL' },
  { column: 'vn', type: 'varchar(20)', from: "'NULL'", to: 'NULL' },
  { column: 'vl', type: 'varchar(20) CHARACTER SET latin1', from: "'é'", to: "'è'" },
  { column: 'tx', type: 'text', from: "'a'", to: "'a '" },
  { column: 'bl', type: 'blob', from: 'x\'00\'', to: "x'0000'" },
  { column: 'vb', type: 'varbinary(8)', from: "x'ff'", to: "x'fe'" },
  { column: 'bn', type: 'binary(4)', from: "x'01000000'", to: "x'01000001'" },
  { column: 'dt', type: 'date', from: "'2024-02-28'", to: "'2024-02-29'" },
  { column: 'dtm', type: 'datetime(6)', from: "'2024-01-01 00:00:00.000001'", to: "'2024-01-01 00:00:00.000002'" },
  { column: 'ts', type: 'timestamp(3) NULL', from: "'2024-01-01 00:00:00.001'", to: "'2024-01-01 00:00:00.002'" },
  { column: 'tm', type: 'time(2)', from: "'-838:59:59.00'", to: "'-838:59:58.99'" },
  { column: 'yr', type: 'year', from: '2024', to: '2025' },
  { column: 'js', type: 'json', from: `'{"a":1}'`, to: `'{"a":1.0}'` },
  { column: 'en', type: "enum('a','b','a,b')", from: "'a'", to: "'a,b'" },
  { column: 'st', type: "set('a','b')", from: "'a'", to: "'a,b'" },
  { column: 'g', type: 'geometry NULL', from: "ST_GeomFromText('POINT(1 2)')", to: "ST_GeomFromText('POINT(1 2.000000001)')" },
  { column: 'gs', type: 'point NULL', from: "ST_GeomFromText('POINT(1 2)', 4326)", to: "ST_GeomFromText('POINT(1 2)', 3857)" },
  { column: 'u', type: 'uuid', from: "'123e4567-e89b-12d3-a456-426614174000'", to: "'123e4567-e89b-12d3-a456-426614174001'" },
]

describe('MariaDB increments by server-side row digests', () => {
  it('find exactly what hashing every record line finds, for the smallest change of every column kind', async () => {
    const source = await createMysqlDatabase('mbrowdig')
    cleanups.push(() => source.drop())
    const tmp = makeTempDir('mbrowdig-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'b')
    const columns = KINDS.map((k) => `${k.column} ${k.type}`).join(', ')
    const values = (id: number) => `(${id}, ${KINDS.map((k) => k.from).join(', ')})`
    // Row 100 + i gets kind i's change; rows 1..40 stay; 41..43 are deleted; 500 is new.
    const ids = [...Array.from({ length: 43 }, (_, i) => i + 1), ...KINDS.map((_, i) => 100 + i), 200, 201]
    await mysqlExec(
      source.url,
      `CREATE TABLE kinds (id int PRIMARY KEY, ${columns});
       INSERT INTO kinds VALUES ${ids.map(values).join(', ')};
       CREATE TABLE pair (a varchar(20), b bigint, v varchar(20), w text, PRIMARY KEY (a, b));
       INSERT INTO pair VALUES ('plain', 1, 'ab', 'c'), ('quote"d', 2, 'x', NULL), ('back\\\\slash', 3, 'y', ''), ('ünï ☃', 4, 'z', 'NULL'), ('it''s', 5, NULL, NULL);
       CREATE TABLE tight (id int PRIMARY KEY, a varchar(10) NOT NULL, b varbinary(10) NOT NULL, n int NOT NULL, m double NOT NULL, t time NOT NULL);
       INSERT INTO tight VALUES (1, 'ab', 'c', 1, 23, '01:02:03'), (2, 'x', '', 12, 3, '00:00:00'), (3, 'same', 'same', 5, 5, '00:00:05');`,
    )
    const full = await backup({ db: source.url, out: dir, name: 'n', now: new Date('2026-12-01T00:00:00Z') })
    expect(fs.existsSync(`${full.file}.stamps`)).toBe(true)
    // The full backup took its digests with its lines, in one SELECT: they are what a read of keys
    // and digests only (recordRowStamps) records.
    const twoPass = path.join(tmp.dir, 'two-pass.json')
    const adapterSource = await mysqlAdapter.openSource(parseDatabaseUrl(source.url))
    try {
      const writer = new RowStampsWriter(twoPass)
      for (const table of (await adapterSource.describe()).tables) await recordRowStamps(adapterSource, table, writer)
      await writer.commit(twoPass)
    } finally {
      await adapterSource.close()
    }
    const stamps = await stampsByEntry(full.file)
    expect(stamps).toEqual(await stampsByEntry(twoPass))
    expect(stamps.kinds!.kind).toBe('digest')
    expect(stamps.kinds!.entries).toHaveLength(ids.length)

    await mysqlExec(
      source.url,
      [
        ...KINDS.map((k, i) => `UPDATE kinds SET ${k.column} = ${k.to} WHERE id = ${100 + i}`),
        // The same bytes moved from one column to the next: a digest of the values run together would not see it.
        `UPDATE pair SET v = 'a', w = 'bc' WHERE a = 'plain'`,
        // The same with NOT NULL columns (no NULL marker), and numbers whose digits move between columns.
        `UPDATE tight SET a = 'a', b = 'bc' WHERE id = 1`,
        `UPDATE tight SET n = 1, m = 23 WHERE id = 2`,
        `UPDATE tight SET t = '00:00:06' WHERE id = 3`,
        // NULL, '' and 'NULL' swapped.
        `UPDATE pair SET w = '' WHERE b = 2`,
        `UPDATE pair SET w = NULL WHERE b = 3`,
        `UPDATE pair SET w = NULL WHERE b = 4`,
        // Written, but to the same values: not a change.
        `UPDATE kinds SET ti = ti WHERE id <= 40`,
        `UPDATE kinds SET ti = 9 WHERE id = 200`,
        `UPDATE kinds SET ti = 1 WHERE id = 200`,
        `DELETE FROM kinds WHERE id IN (41, 42, 43)`,
        `DELETE FROM pair WHERE b = 5`,
        `INSERT INTO kinds VALUES ${values(500)}`,
        `INSERT INTO pair VALUES ('new', 6, 'n', 'n')`,
      ].join(';\n'),
    )
    const increment = await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-02T00:00:00Z') })
    expect(increment.compared).toEqual({ kinds: 'stamps', pair: 'stamps', tight: 'stamps' })
    const byDigest = await backup({ db: source.url, out: dir, name: 'check', since: path.basename(full.file), rowStamps: false, now: new Date('2026-12-02T00:00:01Z') })
    expect(byDigest.compared).toEqual({ kinds: 'digests', pair: 'digests', tight: 'digests' })
    expect(await backupRecordLines(increment.file)).toEqual(await backupRecordLines(byDigest.file))
    expect(increment.metadata.incremental?.deleted).toEqual(byDigest.metadata.incremental?.deleted)
    // Every kind's change was seen, and nothing else.
    expect(increment.metadata.recordCounts).toEqual({ kinds: KINDS.length + 1, pair: 5, tight: 3 })
    expect(increment.metadata.incremental?.deleted).toEqual({ kinds: [[41], [42], [43]], pair: [["it's", '5']] })
    const ids2 = (await backupRecordLines(increment.file)).kinds!.map((l) => (JSON.parse(l) as { id: number }).id).sort((a, b) => a - b)
    expect(ids2).toEqual([...KINDS.map((_, i) => 100 + i), 500])
    // The increment's own stamps are what a fresh read records.
    const again = path.join(tmp.dir, 'again.json')
    const reread = await mysqlAdapter.openSource(parseDatabaseUrl(source.url))
    try {
      const writer = new RowStampsWriter(again)
      for (const table of (await reread.describe()).tables) await recordRowStamps(reread, table, writer)
      await writer.commit(again)
    } finally {
      await reread.close()
    }
    expect(await stampsByEntry(increment.file)).toEqual(await stampsByEntry(again))

    // The chain restores to the source's state.
    const target = await createMysqlDatabase('mbrowdig_t')
    cleanups.push(() => target.drop())
    await restore({ file: increment.file, db: target.url })
    expect(await stateOf(target.url, tmp.dir)).toEqual(await stateOf(source.url, tmp.dir))
  }, 180_000)

  it('falls back to hashing record lines without usable stamps, and trusts the stamps again after', async () => {
    const source = await createMysqlDatabase('mbrowdig_fb')
    cleanups.push(() => source.drop())
    const tmp = makeTempDir('mbrowdig-fb-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'b')
    await mysqlExec(
      source.url,
      `CREATE TABLE item (id bigint PRIMARY KEY, body text);
       INSERT INTO item VALUES ${Array.from({ length: 12_000 }, (_, i) => `(${i + 1}, 'row ${i + 1}')`).join(', ')};
       CREATE TABLE event (at datetime(3) PRIMARY KEY, what varchar(20));
       INSERT INTO event VALUES ('2026-01-01 00:00:00.001', 'a'), ('2026-01-02 00:00:00', 'b');`,
    )
    let day = 1
    const next = async (sql: string, options: { rowStamps?: boolean } = {}) => {
      await mysqlExec(source.url, sql)
      day++
      return backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date(`2026-12-${String(day).padStart(2, '0')}T00:00:00Z`), ...options })
    }
    // A parent made without stamps (as by an older mergeback): digests decide, and the increment records stamps.
    const full = await backup({ db: source.url, out: dir, name: 'n', rowStamps: false, now: new Date('2026-12-01T00:00:00Z') })
    expect(fs.existsSync(`${full.file}.stamps`)).toBe(false)
    const first = await next(`UPDATE item SET body = 'one' WHERE id = 1`)
    // A DATETIME key is not asked for by value (its wire text is not the server's): digests decide.
    expect(first.compared).toEqual({ event: 'digests', item: 'digests' })
    expect(first.metadata.recordCounts).toEqual({ event: 0, item: 1 })
    expect(fs.existsSync(`${first.file}.stamps`)).toBe(true)
    // The DATETIME-keyed table gets no stamps (no digest computed for nothing).
    expect([...(await loadRowStamps(first.file))!.keys()]).toEqual(['item'])
    const second = await next(`UPDATE item SET body = 'two' WHERE id = 2; UPDATE event SET what = 'c' WHERE what = 'b'`)
    expect(second.compared).toEqual({ event: 'digests', item: 'stamps' })
    expect(second.metadata.recordCounts).toEqual({ event: 1, item: 1 })

    // A damaged stamps file: not gzip, then gzip of a cut file. Digests decide; nothing is refused.
    fs.writeFileSync(`${second.file}.stamps`, 'not gzip')
    const third = await next(`UPDATE item SET body = 'three' WHERE id = 3`)
    expect(third.compared).toEqual({ event: 'digests', item: 'digests' })
    expect(third.metadata.recordCounts).toEqual({ event: 0, item: 1 })
    const { gunzipSync } = await import('node:zlib')
    const whole = gunzipSync(fs.readFileSync(`${third.file}.stamps`))
    fs.writeFileSync(`${third.file}.stamps`, gzipSync(whole.subarray(0, whole.length - 40)))
    const fourth = await next(`DELETE FROM item WHERE id = 4`)
    expect(fourth.compared).toEqual({ event: 'digests', item: 'digests' })
    expect(fourth.metadata.incremental?.deleted).toEqual({ item: [['4']] })
    // Stamps whose digest expression differs (another scope, as after an upgrade that changed it): digests decide.
    const stamps = gunzipSync(fs.readFileSync(`${fourth.file}.stamps`)).toString('latin1').replace(/mariadb-row-sha2-v1:/g, 'mariadb-row-sha2-v0:')
    fs.writeFileSync(`${fourth.file}.stamps`, gzipSync(Buffer.from(stamps, 'latin1')))
    const fifth = await next(`UPDATE item SET body = 'five' WHERE id = 5`)
    expect(fifth.compared).toEqual({ event: 'digests', item: 'digests' })
    expect(fifth.metadata.recordCounts).toEqual({ event: 0, item: 1 })
    // A column added: the table is carried whole.
    const sixth = await next(`ALTER TABLE item ADD COLUMN extra int NULL`)
    expect(sixth.compared).toEqual({ event: 'digests', item: 'whole' })
    const seventh = await next(`UPDATE item SET extra = 7 WHERE id = 7`)
    expect(seventh.compared).toEqual({ event: 'digests', item: 'stamps' })
    expect(seventh.metadata.recordCounts).toEqual({ event: 0, item: 1 })

    // The stamps it wrote a chunk at a time are what a fresh read of keys and digests records.
    const fresh = path.join(tmp.dir, 'fresh.json')
    const reread = await mysqlAdapter.openSource(parseDatabaseUrl(source.url))
    try {
      const writer = new RowStampsWriter(fresh)
      for (const table of (await reread.describe()).tables) await recordRowStamps(reread, table, writer)
      await writer.commit(fresh)
    } finally {
      await reread.close()
    }
    expect((await stampsByEntry(seventh.file)).item).toEqual((await stampsByEntry(fresh)).item)

    const target = await createMysqlDatabase('mbrowdig_fb_t')
    cleanups.push(() => target.drop())
    await restore({ file: seventh.file, db: target.url })
    expect(await stateOf(target.url, tmp.dir)).toEqual(await stateOf(source.url, tmp.dir))
  }, 180_000)
})
