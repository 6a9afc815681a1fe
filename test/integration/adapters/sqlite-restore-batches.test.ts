/**
 * A restore into SQLite reads the file in batches of SqliteDestination.rowBatchSize rows (1 000,
 * not the reader's 5 000: peak RSS, docs/performance.md round fourteen) unless the caller gives
 * its own batchSize; every row still arrives once.
 */
import path from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Row, TableSchema } from '../../../src/adapters/adapter.js'
import { SqliteDestination } from '../../../src/adapters/sqlite/sqlite-destination.js'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { makeSqliteDatabase, makeTempDir } from '../../helpers/databases.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  vi.restoreAllMocks()
  while (cleanups.length > 0) cleanups.pop()!()
})

/** Restores `file` into a new database and returns the sizes of the batches writeRows was given. */
async function batchSizes(file: string, batchSize?: number): Promise<number[]> {
  const sizes: number[] = []
  const original = SqliteDestination.prototype.writeRows
  vi.spyOn(SqliteDestination.prototype, 'writeRows').mockImplementation(function (this: SqliteDestination, table: TableSchema, batches: AsyncIterable<Row[]>) {
    async function* observed(): AsyncGenerator<Row[]> {
      for await (const rows of batches) {
        sizes.push(rows.length)
        yield rows
      }
    }
    return original.call(this, table, observed())
  })
  const target = await makeSqliteDatabase('')
  cleanups.push(target.cleanup)
  const report = await restore({ file, db: target.url, ...(batchSize === undefined ? {} : { batchSize }) })
  expect(report.totals).toEqual({ inserted: 2_500, skipped: 0 })
  vi.restoreAllMocks()
  return sizes
}

describe('SQLite restore batches', () => {
  it('are rowBatchSize rows unless the caller gives a size', async () => {
    const source = await makeSqliteDatabase(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) INSERT INTO t SELECT i, 'row ' || i FROM n;`)
    cleanups.push(source.cleanup)
    const tmp = makeTempDir('mb-sqlite-batches-')
    cleanups.push(tmp.cleanup)
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'b.json') })
    expect(await batchSizes(made.file)).toEqual([1_000, 1_000, 500])
    expect(await batchSizes(made.file, 2_000)).toEqual([2_000, 500])
  })
})
