/**
 * Issue #14 item 10: the preview itemized only conflicts. The report now lists, per table, the
 * keys of new, updated and kept records (at most 100 per class, `more` counts the rest), and each
 * conflict says how it was resolved (or that it is unresolved), e.g. under `manual` with resolutions.
 */
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { backup } from '../../../src/engine/backup.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { makeSqlitePath, makeTempDir } from '../../helpers/databases.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

describe('#14 item 10: the report names the records behind the counts', () => {
  it('lists new, updated and kept keys (capped), and each conflict\'s resolution', async () => {
    const sqlite = makeSqlitePath()
    cleanups.push(sqlite.cleanup)
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const conn = new Database(sqlite.file)
    conn.exec(`CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT)`)
    const insert = conn.prepare(`INSERT INTO item VALUES (?, ?, '2024-01-01T00:00:00.000Z')`)
    for (let i = 1; i <= 160; i++) insert.run(i, `n${i}`)
    conn.close()
    const file = (await backup({ db: sqlite.url, out: path.join(tmp.dir, 'b.json') })).file
    const edit = new Database(sqlite.file)
    edit.exec(`DELETE FROM item WHERE id > 50;
      UPDATE item SET name = 'older', updated_at = '2023-01-01T00:00:00.000Z' WHERE id = 1;
      UPDATE item SET name = 'newer', updated_at = '2025-01-01T00:00:00.000Z' WHERE id = 2;
      UPDATE item SET name = 'same time' WHERE id IN (3, 4);`)
    edit.close()

    // SQLite INTEGER keys are 64-bit: their wire form is a string.
    const report = await analyze(file, sqlite.url)
    expect(report.tables.item).toMatchObject({ new: 110, updated: 1, kept: 1, conflicts: 2 })
    expect(report.records.item.new.keys).toHaveLength(100)
    expect(report.records.item.new.keys.slice(0, 3)).toEqual(['51', '52', '53'])
    expect(report.records.item.new.more).toBe(10)
    expect(report.records.item.updated).toEqual({ keys: ['1'], more: 0 })
    expect(report.records.item.kept).toEqual({ keys: ['2'], more: 0 })
    expect(report.conflicts.map((c) => [c.key, c.resolution])).toEqual([
      ['3', 'backup'],
      ['4', 'backup'],
    ])

    const manual = await analyze(file, sqlite.url, { strategy: 'manual', resolutions: [{ table: 'item', key: 3, resolution: 'current' }] })
    expect(manual.conflicts.map((c) => [c.key, c.resolution])).toEqual([
      ['3', 'current'],
      ['4', 'unresolved'],
    ])
    const applied = await merge(file, sqlite.url)
    expect(applied.records).toEqual(report.records)
  })
})
