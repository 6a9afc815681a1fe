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
