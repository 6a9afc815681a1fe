/**
 * Issue #13, finding 4: the same key twice in one table of a backup is a damaged file on every
 * engine (restored into a table the restore creates), not one row inserted and one "skipped".
 */
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { restore } from '../../../src/engine/restore.js'
import { FormatError } from '../../../src/errors.js'
import { makeTempDir } from '../../helpers/databases.js'
import { TARGETS, makeTarget } from './targets.js'
import { keyedTable, writeCraftedFile } from './crafted-files.js'

const temp = makeTempDir('mbdup-')
afterAll(() => temp.cleanup())

describe.each(TARGETS)('duplicate keys restored into %s', (engine) => {
  it('refuses the file naming the table; nothing is left behind', async () => {
    const target = await makeTarget(engine)
    try {
      const file = path.join(temp.dir, `dup-${engine}.json`)
      writeCraftedFile(file, 'sqlite', [keyedTable(['{"id":1,"a":"first"}', '{"id":2,"a":"x"}', '{"id":1,"a":"second"}'], 'text')])
      const error = await restore({ file, db: target.url }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(FormatError)
      expect((error as Error).message).toMatch(/Table "t" .*(another record of the table already has|two records with the same key)/)
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
      const report = await restore({ file, db: target.url })
      expect(report.totals).toEqual({ inserted: 2, skipped: 0 })
    } finally {
      await target.drop()
    }
  })
})
