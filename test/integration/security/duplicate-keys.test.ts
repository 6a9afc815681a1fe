/**
 * Issue #13, finding 4: the same key twice in one table of a backup is a damaged file on every
 * engine and in every mode — restored into a table the restore creates, into one that already
 * holds rows (skip-existing), with --drop, merged, and found by verify — refused with table and
 * key named, nothing written. A table without a key keeps identical rows (DESIGN.md §5).
 */
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { restore } from '../../../src/engine/restore.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { stats, verify } from '../../../src/engine/inspect.js'
import { FormatError } from '../../../src/errors.js'
import { makeTempDir } from '../../helpers/databases.js'
import { TARGETS, makeTarget, type Target } from './targets.js'
import { keyedTable, writeCraftedFile } from './crafted-files.js'

const temp = makeTempDir('mbdup-')
afterAll(() => temp.cleanup())

const DUPLICATE = /table "t" holds the key \(id\) = 1 twice: record 2 has the key of an earlier record of the table, so the file is damaged/

async function rowsOf(target: Target, table: string): Promise<number | undefined> {
  return (await stats(target.url)).tables.find((t) => t.name === table)?.rows
}

describe.each(TARGETS)('duplicate keys restored into %s', (engine) => {
  const duplicated = path.join(temp.dir, `dup-${engine}.json`)
  writeCraftedFile(duplicated, 'sqlite', [keyedTable(['{"id":1,"a":"first"}', '{"id":2,"a":"x"}', '{"id":1,"a":"second"}'], 'text')])

  it('verify finds it, naming table, key and record', async () => {
    const report = await verify(duplicated)
    expect(report.ok).toBe(false)
    expect(report.checks.find((c) => !c.ok)?.detail).toMatch(DUPLICATE)
  })

  it('into a table the restore creates: refused naming the table and key; nothing is left behind', async () => {
    const target = await makeTarget(engine)
    try {
      const error = await restore({ file: duplicated, db: target.url }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(FormatError)
      expect((error as Error).message).toMatch(DUPLICATE)
      expect(await target.tables()).toEqual(['victim'])
      expect(await target.victim()).toMatch(/alpha.*beta.*gamma/)
    } finally {
      await target.drop()
    }
  })

  it('into a table that already holds rows (skip-existing, --drop, merge, analyze): refused, the rows unchanged', async () => {
    const target = await makeTarget(engine)
    try {
      const existing = path.join(temp.dir, `existing-${engine}.json`)
      writeCraftedFile(existing, 'sqlite', [keyedTable(['{"id":5,"a":"kept"}'], 'text')])
      expect((await restore({ file: existing, db: target.url })).totals).toEqual({ inserted: 1, skipped: 0 })
      for (const run of [
        () => restore({ file: duplicated, db: target.url }),
        () => restore({ file: duplicated, db: target.url, drop: true }),
        () => merge(duplicated, target.url),
        () => analyze(duplicated, target.url),
      ]) {
        const error = await run().catch((e: unknown) => e)
        expect(error).toBeInstanceOf(FormatError)
        expect((error as Error).message).toMatch(DUPLICATE)
        expect(await rowsOf(target, 't')).toBe(1)
      }
      expect(await target.victim()).toMatch(/alpha.*beta.*gamma/)
    } finally {
      await target.drop()
    }
  })

  it('1 and 1.0 are the same key in an integer column', async () => {
    const target = await makeTarget(engine)
    try {
      const file = path.join(temp.dir, `spelled-${engine}.json`)
      writeCraftedFile(file, 'sqlite', [keyedTable(['{"id":1,"a":"first"}', '{"id":1.0,"a":"second"}'], 'text')])
      expect((await verify(file)).ok).toBe(false)
      const error = await restore({ file, db: target.url }).catch((e: unknown) => e)
      expect((error as Error).message).toMatch(/table "t" holds the key \(id\) = 1 twice/)
      expect(await target.tables()).toEqual(['victim'])
    } finally {
      await target.drop()
    }
  })

  it('a keyless table keeps its identical rows', async () => {
    const target = await makeTarget(engine)
    try {
      const file = path.join(temp.dir, `keyless-${engine}.json`)
      const table = keyedTable(['{"id":1,"a":"same"}', '{"id":1,"a":"same"}'], 'text')
      writeCraftedFile(file, 'sqlite', [{ ...table, header: { ...table.header, primaryKey: null } }])
      expect((await verify(file)).ok).toBe(true)
      const report = await restore({ file, db: target.url })
      expect(report.totals).toEqual({ inserted: 2, skipped: 0 })
    } finally {
      await target.drop()
    }
  })
})

/**
 * Keys equal only under the database's collation (issue #13): `'b'` and `'b '` under MariaDB's
 * PAD SPACE collations (every utf8mb4 one, _bin included), `'a'` and `'A'` under a _ci one. JSON
 * sees two keys, so verify passes; the database's own key must then refuse the second row, and
 * the restore or merge must fail naming the table and change nothing.
 */
describe('keys equal only under the MariaDB collation', () => {
  const collationTable = (lines: string[]) => ({
    header: {
      tableName: 't',
      primaryKey: 'k',
      columns: [
        { name: 'k', type: 'VARCHAR(20)', kind: 'text', nullable: false },
        { name: 'a', type: 'TEXT', kind: 'text', nullable: true },
      ],
    },
    lines,
  })
  const padded = path.join(temp.dir, 'padded.json')
  writeCraftedFile(padded, 'mysql', [collationTable(['{"k":"b ","a":"first"}', '{"k":"z2","a":"x"}', '{"k":"b","a":"second"}'])])
  const cased = path.join(temp.dir, 'cased.json')
  writeCraftedFile(cased, 'mysql', [collationTable(['{"k":"a","a":"first"}', '{"k":"A","a":"second"}'])])

  async function tableRows(target: Target): Promise<string> {
    const mysql = await import('mysql2/promise')
    const connection = await mysql.createConnection({ uri: target.url })
    try {
      const [rows] = await connection.query('SELECT k, a FROM t ORDER BY k, a')
      return JSON.stringify(rows)
    } finally {
      await connection.end()
    }
  }

  it('verify cannot see them (JSON holds two keys): it passes', async () => {
    expect((await verify(padded)).ok).toBe(true)
    expect((await verify(cased)).ok).toBe(true)
  })

  it('into a table the restore creates: refused naming the table and key columns, nothing left behind', async () => {
    const target = await makeTarget('mysql')
    try {
      const error = await restore({ file: padded, db: target.url }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(FormatError)
      expect((error as Error).message).toMatch(/Table "t" .* holds 1 record\(s\) whose key \(k\) another record of the table already has: the file is damaged\. Nothing was changed\./)
      expect(await target.tables()).toEqual(['victim'])
    } finally {
      await target.drop()
    }
  })

  it('restore --drop and merge into a table that holds rows (_bin and _ci keys): refused, the rows unchanged', async () => {
    const target = await makeTarget('mysql')
    try {
      const mysql = await import('mysql2/promise')
      for (const [file, collation] of [
        [padded, 'utf8mb4_bin'],
        [cased, 'utf8mb4_general_ci'],
      ] as const) {
        const connection = await mysql.createConnection({ uri: target.url })
        try {
          await connection.query('DROP TABLE IF EXISTS t')
          await connection.query(`CREATE TABLE t (k VARCHAR(20) COLLATE ${collation} NOT NULL PRIMARY KEY, a TEXT)`)
          await connection.query("INSERT INTO t VALUES ('z', 'kept')")
        } finally {
          await connection.end()
        }
        const before = await tableRows(target)
        for (const run of [() => restore({ file, db: target.url, drop: true }), () => merge(file, target.url)]) {
          const error = await run().catch((e: unknown) => e)
          expect(error, `${collation}: ${String(error)}`).toBeInstanceOf(Error)
          expect((error as Error).message).toMatch(/Table "t"/)
          expect(await tableRows(target)).toBe(before)
        }
      }
      expect(await target.victim()).toMatch(/alpha.*beta.*gamma/)
    } finally {
      await target.drop()
    }
  })

  it('restore (skip existing) into a table that holds rows: the existing row is kept, and the report says the key matched only under the collation', async () => {
    const target = await makeTarget('mysql')
    try {
      const mysql = await import('mysql2/promise')
      for (const [file, collation, existing, expected] of [
        // 'b ' meets 'b' under PAD SPACE (even _bin); 'z2' is new; 'b' is the same row's key, byte for byte.
        [padded, 'utf8mb4_bin', "('b', 'kept')", { inserted: 1, skipped: 2, skippedByCollation: 1 }],
        // 'a' meets 'A' under _ci; 'A' is the same key.
        [cased, 'utf8mb4_general_ci', "('A', 'kept')", { inserted: 0, skipped: 2, skippedByCollation: 1 }],
      ] as const) {
        const connection = await mysql.createConnection({ uri: target.url })
        try {
          await connection.query('DROP TABLE IF EXISTS t')
          await connection.query(`CREATE TABLE t (k VARCHAR(20) COLLATE ${collation} NOT NULL PRIMARY KEY, a TEXT)`)
          await connection.query(`INSERT INTO t VALUES ${existing}`)
        } finally {
          await connection.end()
        }
        const report = await restore({ file, db: target.url })
        expect(report.tables.t, collation).toEqual({ ...expected, created: false, emptied: false })
        expect(report.warnings.join('\n')).toMatch(/Table "t": 1 skipped record\(s\) have a key \(k\) that equals an existing row's only under the column's collation .* the existing rows were kept/)
        const rows = JSON.parse(await tableRows(target)) as { k: string; a: string }[]
        expect(rows.find((row) => row.a === 'kept')?.k).toBe(existing.slice(2, 3))
        expect(rows.map((row) => row.a).sort()).toEqual(expected.inserted === 1 ? ['kept', 'x'] : ['kept'])
      }
      // Run again: nothing of the first run changed what the table holds, so the same count.
      const again = await restore({ file: cased, db: target.url })
      expect(again.tables.t?.skippedByCollation).toBe(1)
    } finally {
      await target.drop()
    }
  })
})
