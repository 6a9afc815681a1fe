/**
 * MariaDB increments reading row digests in blocks (MysqlSource.readRowDigestBlocks, one
 * GROUP_CONCAT of digest + key per block of rows; docs/performance.md §Round seven).
 *
 * The blocks must cover every row exactly once whatever the key (integers, DECIMAL, text under a
 * case-insensitive collation, latin1 text, binary, DATE, YEAR, composite keys), however small the
 * byte budget (a key longer than it, keys of varying length that make a block pass it): a
 * concatenation the server cut short is read again one row each, never taken as it is. And an
 * increment made from the blocks must be exactly the one hashing every record line gives.
 */
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { mysqlAdapter } from '../../../src/adapters/mysql/mysql-adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import type { Source, TableSchema } from '../../../src/adapters/adapter.js'
import { createMysqlDatabase, makeTempDir, mysqlExec } from '../../helpers/databases.js'
import { backupRecordLines } from '../../helpers/record-lines.js'
import { stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** readRowStamps' rows (one packet each) as `<key text> <digest hex>`, in their order. */
async function rowsByLine(source: Source, table: TableSchema): Promise<string[]> {
  const out: string[] = []
  for await (const chunk of source.readRowStamps!(table)!) {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') out.push(line.replace('\x02', ' '))
  }
  return out
}

/** readRowDigestBlocks' rows as `<key text> <digest hex>`, in their order, and how many blocks. */
async function rowsByBlock(source: Source, table: TableSchema, blockBytes?: number): Promise<{ rows: string[]; blocks: number }> {
  const rows: string[] = []
  let blocks = 0
  for await (const block of source.readRowDigestBlocks!(table, blockBytes === undefined ? {} : { blockBytes })!) {
    blocks++
    for (let i = 0; i < block.count; i++) rows.push(`${block.keyText(i).toString('utf8')} ${block.bytes.toString('hex', block.digestAt[i], block.digestAt[i]! + 16)}`)
  }
  return { rows, blocks }
}

/** Tables keyed by every key kind the blocks take, with keys that sort differently as bytes and under their collation. */
const KEYED_TABLES = `
  CREATE TABLE k_int (id int PRIMARY KEY, v varchar(20));
  INSERT INTO k_int SELECT seq * 2, CONCAT('v', seq) FROM seq_1_to_300;
  CREATE TABLE k_big (id bigint unsigned PRIMARY KEY, v int);
  INSERT INTO k_big VALUES (0, 1), (9007199254740993, 2), (18446744073709551615, 3), (42, 4);
  CREATE TABLE k_dec (id decimal(12,3) PRIMARY KEY, v int);
  INSERT INTO k_dec VALUES (-1.500, 1), (0, 2), (1.001, 3), (123456789.125, 4);
  CREATE TABLE k_ci (id varchar(40) COLLATE utf8mb4_unicode_ci PRIMARY KEY, v int);
  INSERT INTO k_ci VALUES ('a', 1), ('B', 2), ('c', 3), ('Äx', 4), ('éy', 5), ('quote"d', 6), ('back\\\\slash', 7), ('☃ snow', 8), ('Z', 9), ('  lead', 10), ('tab\\there', 11);
  CREATE TABLE k_latin (id varchar(20) CHARACTER SET latin1 PRIMARY KEY, v int);
  INSERT INTO k_latin VALUES ('é', 1), ('ex', 2), ('Éz', 3), ('z', 4);
  CREATE TABLE k_bin (id varbinary(16) PRIMARY KEY, v int);
  INSERT INTO k_bin VALUES (x'00', 1), (x'ff', 2), (x'0000', 3), (x'7f80', 4), ('', 5);
  CREATE TABLE k_date (id date PRIMARY KEY, v int);
  INSERT INTO k_date VALUES ('2024-02-29', 1), ('1000-01-01', 2), ('9999-12-31', 3);
  CREATE TABLE k_year (id year PRIMARY KEY, v int);
  INSERT INTO k_year VALUES (1901, 1), (2024, 2), (2155, 3);
  CREATE TABLE k_pair (a int, b varchar(20) COLLATE utf8mb4_general_ci, v int, PRIMARY KEY (a, b));
  INSERT INTO k_pair SELECT seq % 7, CONCAT(IF(seq % 2 = 0, 'x', 'X'), seq), seq FROM seq_1_to_200;
  CREATE TABLE k_long (id varchar(700) PRIMARY KEY, v int);
  INSERT INTO k_long SELECT CONCAT(REPEAT('k', IF(seq % 5 = 0, 600, 3)), seq), seq FROM seq_1_to_60;
  CREATE TABLE k_empty (id int PRIMARY KEY, v int);
  CREATE TABLE k_enum (id enum('b', 'a') PRIMARY KEY, v int);
  INSERT INTO k_enum VALUES ('a', 1), ('b', 2);`

describe('MariaDB row digests in blocks', () => {
  it('cover every row once, as readRowStamps reads them, for every key kind and any block budget', async () => {
    const db = await createMysqlDatabase('mbblocks')
    cleanups.push(() => db.drop())
    await mysqlExec(db.url, KEYED_TABLES)
    const source = await mysqlAdapter.openSource(parseDatabaseUrl(db.url))
    try {
      const tables = (await source.describe()).tables
      for (const table of tables) {
        if (table.name === 'k_enum') {
          // ORDER BY sorts an ENUM by its number, `>` by its label: no blocks (the rows are read one packet each).
          expect(source.readRowDigestBlocks!(table)).toBeUndefined()
          continue
        }
        const expected = await rowsByLine(source, table)
        if (table.name === 'k_empty') expect(expected).toEqual([])
        else expect(expected.length, table.name).toBeGreaterThan(0)
        // 1 MiB (one block for these), a budget of a few rows, and one below a single row's entry
        // (every concatenation cut by the server: each block read again one row each).
        for (const budget of [undefined, 200, 16]) {
          const { rows, blocks } = await rowsByBlock(source, table, budget)
          // Within a block the rows come as the server read its range: compared as sets, and in
          // key order across blocks.
          expect([...rows].sort(), `${table.name}, budget ${budget}`).toEqual([...expected].sort())
          if (budget === 16) expect(blocks, table.name).toBe(expected.length)
        }
      }
    } finally {
      await source.close()
    }
  }, 180_000)

  it('find exactly what hashing every record line finds: changes at block edges, inserts between keys, deletes, a parent that is itself an increment', async () => {
    const db = await createMysqlDatabase('mbblocks_inc')
    cleanups.push(() => db.drop())
    const tmp = makeTempDir('mbblocks-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'b')
    // The first block is 16 384 rows (3/4 of 1 MiB by 48 bytes an entry, mysql-source.ts): keys 2,
    // 32768 and 32770 (k_int's 1st, 16 384th and 16 385th even keys) sit at its edges.
    await mysqlExec(
      db.url,
      `${KEYED_TABLES}
       INSERT INTO k_int SELECT seq * 2, CONCAT('v', seq) FROM seq_301_to_60000;`,
    )
    const full = await backup({ db: db.url, out: dir, name: 'n', now: new Date('2026-12-01T00:00:00Z') })
    const rounds = [
      `UPDATE k_int SET v = 'first' WHERE id = 2;
       UPDATE k_int SET v = 'last' WHERE id = 32768;
       UPDATE k_int SET v = 'next' WHERE id = 32770;
       UPDATE k_int SET v = 'end' WHERE id = 120000;
       INSERT INTO k_int VALUES (1, 'before all'), (3, 'between'), (32769, 'at the edge'), (200001, 'after all');
       DELETE FROM k_int WHERE id IN (6, 32766, 60000);
       UPDATE k_big SET v = 20 WHERE id = 9007199254740993;
       UPDATE k_dec SET v = 30 WHERE id = -1.5;
       INSERT INTO k_dec VALUES (1.000, 5);
       UPDATE k_ci SET v = 40 WHERE id = 'b';
       INSERT INTO k_ci VALUES ('Bb', 12), ('ä2', 13);
       DELETE FROM k_ci WHERE id = 'C';
       UPDATE k_latin SET v = 50 WHERE id = 'Éz';
       INSERT INTO k_bin VALUES (x'0001', 6);
       UPDATE k_bin SET v = 60 WHERE id = x'ff';
       UPDATE k_date SET v = 70 WHERE id = '2024-02-29';
       UPDATE k_year SET v = 80 WHERE id = 2155;
       UPDATE k_pair SET v = -1 WHERE a = 0;
       INSERT INTO k_pair VALUES (3, 'x0', 0), (7, 'a', 0);
       DELETE FROM k_pair WHERE a = 6 AND v < 50;
       UPDATE k_long SET v = -v WHERE v % 10 = 0;
       INSERT INTO k_empty VALUES (1, 1);
       UPDATE k_enum SET v = 90 WHERE id = 'a';`,
      // Second round: the parent is the first increment, whose changed rows' entries come last in
      // its index (not in key order).
      `UPDATE k_int SET v = 'again' WHERE id IN (1, 2, 32768, 32770, 10000);
       DELETE FROM k_int WHERE id IN (3, 32769);
       UPDATE k_ci SET v = 41 WHERE id = 'Bb';
       UPDATE k_pair SET v = -2 WHERE a = 7;
       DELETE FROM k_bin WHERE id = x'0001';`,
    ]
    let parent = full.file
    let day = 2
    for (const sql of rounds) {
      await mysqlExec(db.url, sql)
      const increment = await backup({ db: db.url, out: dir, name: 'n', incremental: true, now: new Date(`2026-12-0${day}T00:00:00Z`) })
      const byDigest = await backup({ db: db.url, out: dir, name: `check${day}`, since: path.basename(parent), rowStamps: false, now: new Date(`2026-12-0${day}T00:00:01Z`) })
      day++
      const compared = increment.compared as Record<string, string>
      // Every table by its stamps (k_enum's rows one packet each, the others in blocks).
      for (const [name, how] of Object.entries(compared)) expect(how, name).toBe('stamps')
      expect(await backupRecordLines(increment.file)).toEqual(await backupRecordLines(byDigest.file))
      expect(increment.metadata.incremental?.deleted).toEqual(byDigest.metadata.incremental?.deleted)
      expect(increment.metadata.incremental?.rowCounts).toEqual(byDigest.metadata.incremental?.rowCounts)
      parent = increment.file
    }
    const last = await backupRecordLines(parent)
    expect(last.k_int!.map((l) => (JSON.parse(l) as { id: number }).id).sort((a, b) => a - b)).toEqual([1, 2, 10000, 32768, 32770])

    const target = await createMysqlDatabase('mbblocks_inc_t')
    cleanups.push(() => target.drop())
    await restore({ file: parent, db: target.url })
    expect(await stateOf(target.url, tmp.dir)).toEqual(await stateOf(db.url, tmp.dir))
  }, 300_000)
})
