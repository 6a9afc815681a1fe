/**
 * Issue #18, round twelve: a chain's record lines converted by the reader as it checks them
 * (readTables `convertLines`, the PostgreSQL staged restore's path), the records later links
 * replaced or deleted dropped in that walk (engine/chain.ts keptConverter). The converted lines
 * must be the final state's, each once, however the converter took them: updated rows, deleted
 * keys, a composite key, a table without a key, keys with escapes and unicode, and lines the
 * converter refuses (convertChecked false), dropped ones and kept ones, in the full backup and in
 * an increment; with the full backup verified in the reading pass or before it. On PostgreSQL,
 * the chain's restore (staged, converted) must equal the restore of one full backup of the
 * final state.
 */
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { readTables, scanBackup } from '../../../src/engine/backup-input.js'
import { restore } from '../../../src/engine/restore.js'
import type { LineConverter } from '../../../src/format/reader.js'
import { markingConverter } from '../../helpers/record-lines.js'
import { chainWorkspace, engines, incrementsAfter, stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** A marking converter for every table ("refuse" lines declined although they check out). */
const marking = (): LineConverter => markingConverter((text) => text.includes('refuse'))

/** Each table's lines as the chain hands them out converted by `marking`, in the order read. */
async function convertedLines(file: string, deferChainFull: boolean): Promise<Record<string, string[]>> {
  const scan = await scanBackup(file, { deferChainFull })
  const tables: Record<string, string[]> = {}
  for await (const table of readTables(
    scan,
    scan.tables.map((t) => t.schema),
    { records: 'lines', batchSize: 7, convertLines: marking },
  )) {
    const lines: string[] = (tables[table.schema.name] = [])
    for await (const chunk of table.lines!) lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''))
  }
  return tables
}

/** Keys with JSON escapes (quote, backslash, tab, newline) and characters of 2, 3 and 4 UTF-8 bytes. */
const WORDS = ['a"b', 'back\\slash', 'tab\there', 'line\nbreak', 'é', '日本', '😀', 'plain']
const quoted = (text: string) => `'${text.replace(/'/g, "''")}'`

describe.each(engines.filter((e) => e.name !== 'mariadb'))('chain lines converted by the reader on $name', (engine) => {
  it('hands out the final state once, dropping replaced and deleted records in the converting walk, refused lines included', async () => {
    const { source, dir, work } = await chainWorkspace(engine, 'mbconv-')
    const items = Array.from({ length: 60 }, (_, i) => `(${i + 1}, ${quoted([3, 4, 5].includes(i + 1) ? `refuse ${i + 1}` : `item ${i + 1}`)})`).join(', ')
    const pairs = Array.from({ length: 12 }, (_, i) => `(${i % 3}, 'b${i}', 'pair ${i}')`).join(', ')
    await engine.exec(
      source.url,
      `CREATE TABLE item (id INTEGER PRIMARY KEY, v VARCHAR(40));
       CREATE TABLE pair (a INTEGER NOT NULL, b VARCHAR(20) NOT NULL, v VARCHAR(40), PRIMARY KEY (a, b));
       CREATE TABLE word (k VARCHAR(20) PRIMARY KEY, v VARCHAR(40));
       CREATE TABLE log (msg VARCHAR(40));
       INSERT INTO item VALUES ${items};
       INSERT INTO pair VALUES ${pairs};
       INSERT INTO word VALUES ${WORDS.map((w, i) => `(${quoted(w)}, 'word ${i}')`).join(', ')};
       INSERT INTO log VALUES ('started');`,
    )
    await backup({ db: source.url, out: dir, name: 'nightly' })
    const steps = [
      // Refused lines of the full backup: 3 (updated) and 4 (deleted) dropped, 5 kept.
      `UPDATE item SET v = 'one' WHERE id IN (3, 10); DELETE FROM item WHERE id IN (4, 11); INSERT INTO item VALUES (61, 'new');
       UPDATE pair SET v = 'one' WHERE a = 1 AND b = 'b1'; DELETE FROM pair WHERE a = 2 AND b = 'b2';
       UPDATE word SET v = 'one' WHERE k IN (${quoted('a"b')}, ${quoted('é')}, ${quoted('😀')});
       DELETE FROM word WHERE k IN (${quoted('tab\there')}, ${quoted('日本')});
       INSERT INTO log VALUES ('second');`,
      // A refused line of an increment kept (10); a key of the first increment deleted (61), one deleted there inserted again.
      `UPDATE item SET v = 'refuse two' WHERE id = 10; DELETE FROM item WHERE id = 61;
       INSERT INTO word VALUES (${quoted('日本')}, 'back'); UPDATE word SET v = 'two' WHERE k = ${quoted('line\nbreak')};
       UPDATE pair SET v = 'two' WHERE a = 1 AND b = 'b1';`,
    ]
    const last = (await incrementsAfter(engine, source.url, dir, 'nightly', steps)).at(-1)!
    expect(path.basename(last)).toMatch(/nightly/)
    const expected = await stateOf(source.url, work)

    for (const deferChainFull of [false, true]) {
      const converted = await convertedLines(last, deferChainFull)
      expect(Object.keys(converted).sort()).toEqual(Object.keys(expected).sort())
      for (const [name, lines] of Object.entries(converted)) {
        // Refused lines come through convert (S), the others through convertChecked (C).
        for (const line of lines) expect(line[0], line).toBe(line.includes('refuse') ? 'S' : 'C')
        expect(
          lines.map((line) => line.slice(1)).sort(),
          `${name}, full backup ${deferChainFull ? 'verified in the pass' : 'scanned first'}`,
        ).toEqual(expected[name])
      }
      expect(converted.item!.filter((line) => line.includes('refuse')).map((line) => Number(JSON.parse(line.slice(1)).id))).toEqual([5, 10])
    }

    if (engine.name !== 'postgres') return
    // The staged restore converts the chain's lines (COPY text): the same rows as the restore of
    // one full backup of the final state, which converts one file's.
    const final = await backup({ db: source.url, out: work, name: 'final' })
    const restored: Record<string, string[]>[] = []
    for (const file of [last, final.file]) {
      const target = await engine.create()
      cleanups.push(target.drop)
      const report = await restore({ file, db: target.url })
      expect(report.sessions).toBe(2)
      restored.push(await stateOf(target.url, work))
    }
    expect(restored[0]).toEqual(expected)
    expect(restored[1]).toEqual(expected)
  }, 120_000)
})
