/**
 * Issue #18, round seven: a chain's final state is read in key order, the rows the increments
 * changed merged in among the full backup's (engine/chain.ts mergedBatches), and each final row
 * once. On PostgreSQL, MariaDB and SQLite: a key updated in increments 1 and 3, deleted in 5 and
 * inserted again in 6; a composite key; a 64-bit key whose decimal texts sort otherwise than
 * their values; a table added and one dropped mid-chain; seven increments. The restore, on one
 * session and on two, must equal the source row for row.
 */
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Row } from '../../../src/adapters/adapter.js'
import { backup } from '../../../src/engine/backup.js'
import { readTables, scanBackup } from '../../../src/engine/backup-input.js'
import { chainOf, scanChain } from '../../../src/engine/chain.js'
import { restore } from '../../../src/engine/restore.js'
import type { LineConverter } from '../../../src/format/reader.js'
import { markingConverter } from '../../helpers/record-lines.js'
import { chainWorkspace, engines, incrementsAfter, stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** Each table's keys as the chain hands its final rows out, in that order. */
async function keysAsRead(file: string): Promise<Record<string, unknown[][]>> {
  const scan = await scanBackup(file, {})
  const keys: Record<string, unknown[][]> = {}
  for await (const table of readTables(
    scan,
    scan.tables.map((t) => t.schema),
    { records: 'parsed', batchSize: 7 },
  )) {
    const list: unknown[][] = (keys[table.schema.name] = [])
    for await (const rows of table.batches) for (const row of rows) list.push(table.schema.primaryKey.map((c) => (row as Row)[c]))
  }
  return keys
}

/**
 * Each table's keys as the chain hands out its record lines, one line per chunk of a link's
 * (batchSize 1), in that order: as they are, or converted by the marking converter.
 */
async function keysAsLines(file: string, converted: boolean): Promise<Record<string, unknown[][]>> {
  const scan = await scanBackup(file, {})
  const keys: Record<string, unknown[][]> = {}
  const marking = (): LineConverter => markingConverter()
  for await (const table of readTables(
    scan,
    scan.tables.map((t) => t.schema),
    { records: 'lines', batchSize: 1, ...(converted ? { convertLines: marking } : {}) },
  )) {
    const list: unknown[][] = (keys[table.schema.name] = [])
    for await (const chunk of table.lines!) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue
        const row = JSON.parse(converted ? line.slice(1) : line) as Row
        list.push(table.schema.primaryKey.map((c) => row[c]))
      }
    }
  }
  return keys
}

/** Ascending by value: numbers, and 64-bit integers written as decimal text, compared as BigInt. */
function ascending(keys: unknown[][]): boolean {
  const value = (v: unknown) => (typeof v === 'number' || (typeof v === 'string' && /^-?\d+$/.test(v)) ? BigInt(v as string | number) : v)
  for (let i = 1; i < keys.length; i++) {
    const a = keys[i - 1]!
    const b = keys[i]!
    let order = 0
    for (let c = 0; c < a.length && order === 0; c++) {
      const x = value(a[c]) as bigint | string
      const y = value(b[c]) as bigint | string
      order = x < y ? -1 : x > y ? 1 : 0
    }
    if (order >= 0) return false
  }
  return true
}

describe.each(engines)('chain restore in key order on $name', (engine) => {
  it('hands out each final row once, in key order, and restores the source exactly', async () => {
    const { source, dir, work } = await chainWorkspace(engine, 'mbmerge-')
    const items = Array.from({ length: 120 }, (_, i) => `(${(i + 1) * 10}, 'item ${i + 1}')`).join(', ')
    const pairs = Array.from({ length: 40 }, (_, i) => `(${i % 5}, 'k${String(i).padStart(2, '0')}', 'pair ${i}')`).join(', ')
    const bigs = [9, 10, 99, 100, 1000, 123456789012, 9007199254740993].map((id) => `(${id}, 'big ${id}')`).join(', ')
    await engine.exec(
      source.url,
      `CREATE TABLE item (id INTEGER PRIMARY KEY, v VARCHAR(40));
       CREATE TABLE pair (a INTEGER NOT NULL, b VARCHAR(20) NOT NULL, v VARCHAR(40), PRIMARY KEY (a, b));
       CREATE TABLE big (id BIGINT NOT NULL PRIMARY KEY, v VARCHAR(40));
       CREATE TABLE gone (id INTEGER PRIMARY KEY, v VARCHAR(40));
       INSERT INTO item VALUES ${items};
       INSERT INTO pair VALUES ${pairs};
       INSERT INTO big VALUES ${bigs};
       INSERT INTO gone VALUES (1, 'a'), (2, 'b');`,
    )
    await backup({ db: source.url, out: dir, name: 'nightly' })
    const steps = [
      // 1: key 500 updated; keys inserted before, between and after the full backup's.
      `UPDATE item SET v = 'one' WHERE id = 500; INSERT INTO item VALUES (5, 'new 5'), (505, 'new 505'), (5000, 'new 5000');
       UPDATE pair SET v = 'one' WHERE a = 1 AND b = 'k06'; INSERT INTO pair VALUES (1, 'k06a', 'new'), (0, 'a', 'new');
       INSERT INTO big VALUES (11, 'new 11'), (98, 'new 98');`,
      // 2: a table added mid-chain; neighbours of 500 changed.
      `CREATE TABLE added (id INTEGER PRIMARY KEY, v VARCHAR(40)); INSERT INTO added VALUES (3, 'c'), (1, 'a'), (2, 'b');
       UPDATE item SET v = 'two' WHERE id IN (490, 510); UPDATE big SET v = 'two' WHERE id = 100;`,
      // 3: key 500 updated again; a key of the added table changed.
      `UPDATE item SET v = 'three' WHERE id = 500; UPDATE added SET v = 'bb' WHERE id = 2; DELETE FROM pair WHERE a = 4;`,
      // 4: a table dropped mid-chain.
      `DROP TABLE gone; UPDATE item SET v = 'four' WHERE id IN (10, 1200); INSERT INTO item VALUES (1201, 'new 1201');`,
      // 5: key 500 deleted, with others.
      `DELETE FROM item WHERE id IN (500, 20, 5000); UPDATE pair SET v = 'five' WHERE a = 0; DELETE FROM big WHERE id = 99;`,
      // 6: key 500 inserted again; a deleted 64-bit key too.
      `INSERT INTO item VALUES (500, 'six'); INSERT INTO big VALUES (99, 'back'); INSERT INTO added VALUES (0, 'zero');`,
      // 7: the first and last rows changed.
      `UPDATE item SET v = 'seven' WHERE id IN (5, 1201); UPDATE big SET v = 'seven' WHERE id = 9007199254740993;`,
    ]
    const last = (await incrementsAfter(engine, source.url, dir, 'nightly', steps)).at(-1)!
    expect(path.basename(last)).toMatch(/nightly/)
    const expected = await stateOf(source.url, work)

    const keys = await keysAsRead(last)
    expect(Object.keys(keys).sort()).toEqual(['added', 'big', 'item', 'pair'])
    for (const [name, list] of Object.entries(keys)) {
      expect(list.length, name).toBe(expected[name]!.length)
      expect(ascending(list), `${name} in key order: ${JSON.stringify(list)}`).toBe(true)
    }
    expect(keys.item!.filter(([id]) => Number(id) === 500)).toHaveLength(1)

    // The keys the increments touch, taken in their verifying scans (chain.ts keyCollector), are
    // the ones a read of their own finds (keysInScan 0: every table read again for its keys, as
    // before), and so when a table has more than the scan takes (2): read again, or dropped when
    // the increment carries it whole ("added", new in increment 2).
    const links = (await chainOf(last))!
    const touchedBy = async (options: { keysInScan?: number; deferFull?: boolean; checkFileDigest?: boolean }) => (await scanChain(last, links, options)).chain!.touched
    const touched = await touchedBy({})
    expect([...touched.keys()].sort()).toEqual(['added', 'big', 'item', 'pair'])
    // Key text → link, by the key's number (an engine may write an integer key as its decimal text).
    const byId = (name: string) => Object.fromEntries([...touched.get(name)!].map(([key, at]) => [Number((JSON.parse(key) as unknown[])[0]), at]))
    expect(byId('item')[500]).toBe(6)
    expect(byId('added')).toEqual({ 2: 3, 0: 6 })
    for (const options of [{ keysInScan: 0 }, { keysInScan: 2 }, { deferFull: true, checkFileDigest: false }]) {
      expect(await touchedBy(options), JSON.stringify(options)).toEqual(touched)
    }

    // Record lines (the PostgreSQL restore's way): each final row once, as they are or converted.
    // Not in key order: each link's lines come after the previous link's (PostgreSQL's staged
    // restore builds the keys after loading; docs/performance.md, "Round fourteen: the
    // PostgreSQL chain restore without the line merge").
    for (const converted of [false, true]) {
      const lines = await keysAsLines(last, converted)
      for (const [name, list] of Object.entries(keys)) {
        const got = lines[name]!
        expect([...got].sort((a, b) => (ascending([a, b]) ? -1 : 1)), `${name}, converted ${converted}`).toEqual(list)
      }
    }

    for (const jobs of [1, 2]) {
      const target = await engine.create()
      cleanups.push(target.drop)
      const report = await restore({ file: last, db: target.url, jobs })
      expect(report.totals).toEqual({ inserted: Object.values(expected).reduce((n, rows) => n + rows.length, 0), skipped: 0 })
      expect(await stateOf(target.url, work)).toEqual(expected)
    }
  }, 180_000)
})
