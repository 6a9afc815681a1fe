/**
 * DESIGN.md §4 on real databases (PostgreSQL and SQLite): every row of the table, every strategy,
 * single and composite keys, NULLs, JSON, timestamps; analyze = dry run = merge; re-analysis after
 * a merge; manual with and without resolutions; tables without a primary key.
 *
 * The scenario: a backup of two tables, then changes to the live database that produce one
 * record of each class.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Row } from '../../../src/adapters/adapter.js'
import { analyze, merge, type MergeOptions } from '../../../src/engine/merge.js'
import { MergeRefusedError } from '../../../src/errors.js'
import { ENGINES, counts, createTestDb, makeBackup, readTable, scratch, snapshot, type EngineName, type TestDb } from './harness.js'

const T = '2024-01-01T10:00:00Z'
const T_OLDER = '2023-12-01T10:00:00Z'
const T_NEWER = '2024-02-01T10:00:00Z'

const DDL: Record<EngineName, string> = {
  postgres: `
    CREATE TABLE "Item" (id integer PRIMARY KEY, name text, qty numeric, data json, "updatedAt" timestamptz(6));
    CREATE TABLE "Alloc" ("roomId" integer, "regId" text, bed text, note jsonb, updated_at timestamptz,
                          PRIMARY KEY ("roomId", "regId"));`,
  sqlite: `
    CREATE TABLE "Item" (id INTEGER PRIMARY KEY, name TEXT, qty NUMERIC, data JSON, "updatedAt" DATETIME);
    CREATE TABLE "Alloc" ("roomId" INTEGER, "regId" TEXT, bed TEXT, note JSON, updated_at DATETIME,
                          PRIMARY KEY ("roomId", "regId"));`,
}

const BACKUP_STATE = `
  INSERT INTO "Item" VALUES
    (1, 'one', 1, '{"a":1}', '${T}'),
    (2, 'two', 2, NULL, '${T}'),
    (3, 'three', '1.50', '{"a":1,"b":[1,2]}', '${T}'),
    (4, 'four', 4, NULL, '${T}'),
    (5, 'five', 5, NULL, '${T}'),
    (6, 'six', 6, NULL, '${T}'),
    (7, 'seven', 7, NULL, '${T}'),
    (8, NULL, 8, '{"v":"backup"}', '${T}'),
    (9, 'nine', 9, NULL, '${T}');
  INSERT INTO "Alloc" VALUES (1, 'r1', 'A', NULL, '${T}'), (1, 'r2', 'B', '{"k":1}', '${T}'), (2, 'r1', 'C', NULL, '${T}');`

// One record of each §4 class, made by changing the live database after the backup.
const LIVE_CHANGES = `
  DELETE FROM "Item" WHERE id = 1;                                                         -- new
  UPDATE "Item" SET qty = '1.5', data = '{ "b": [1, 2], "a": 1 }' WHERE id = 3;            -- unchanged (1.50 = 1.5, key order)
  UPDATE "Item" SET name = 'FOUR', "updatedAt" = '${T_OLDER}' WHERE id = 4;                 -- updated (backup newer)
  UPDATE "Item" SET name = 'FIVE', "updatedAt" = '${T_NEWER}' WHERE id = 5;                 -- kept (current newer)
  UPDATE "Item" SET name = 'SIX' WHERE id = 6;                                             -- conflict (equal timestamps)
  UPDATE "Item" SET name = 'SEVEN', "updatedAt" = NULL WHERE id = 7;                        -- conflict (timestamp missing)
  UPDATE "Item" SET name = 'x', data = '{"v":"current"}' WHERE id = 8;                     -- conflict (backup NULL name)
  UPDATE "Item" SET name = NULL WHERE id = 9;                                              -- conflict (current NULL name)
  INSERT INTO "Item" VALUES (20, 'twenty', 20, NULL, '${T_NEWER}');                         -- currentOnly
  DELETE FROM "Alloc" WHERE "roomId" = 1 AND "regId" = 'r1';                               -- new
  UPDATE "Alloc" SET bed = 'BB' WHERE "roomId" = 1 AND "regId" = 'r2';                     -- conflict
  INSERT INTO "Alloc" VALUES (3, 'r9', 'Z', NULL, '${T}');                                  -- currentOnly`

const TABLES = { Item: ['id'], Alloc: ['roomId', 'regId'] } as const

describe.each(ENGINES)('smart merge semantics (%s)', (engine) => {
  let db: TestDb
  let tmp: ReturnType<typeof scratch>
  let file: string
  // SQLite INTEGER columns are 64-bit: their wire encoding is a decimal string.
  const int = (n: number) => (engine === 'sqlite' ? String(n) : n)

  beforeEach(async () => {
    db = await createTestDb(engine)
    tmp = scratch()
    await db.exec(DDL[engine] + BACKUP_STATE)
    file = await makeBackup(db, tmp.file('backup.json'))
    await db.exec(LIVE_CHANGES)
  })
  afterEach(async () => {
    await db?.drop()
    tmp?.cleanup()
  })

  const item = async (id: number) => (await readTable(db, 'Item', ['id'])).find((r) => Number(r.id) === id)
  const names = async () => Object.fromEntries((await readTable(db, 'Item', ['id'])).map((r) => [Number(r.id), r.name]))

  it('classifies every row of the §4 table; analyze = dry run = merge; backup_wins', async () => {
    const before = await snapshot(db, TABLES)
    const analysis = await analyze(file, db.url)
    expect(analysis.tables.Item).toEqual(counts({ new: 1, unchanged: 2, updated: 1, kept: 1, conflicts: 4, resolved: { backup: 4 }, currentOnly: 1 }))
    expect(analysis.tables.Alloc).toEqual(counts({ new: 1, unchanged: 1, conflicts: 1, resolved: { backup: 1 }, currentOnly: 1 }))
    expect(analysis.totals).toEqual(counts({ new: 2, unchanged: 3, updated: 1, kept: 1, conflicts: 5, resolved: { backup: 5 }, currentOnly: 2 }))
    expect(Object.keys(analysis)).toEqual(['tables', 'totals', 'conflicts', 'records'])
    // Tables come in the file's order (the backup writes them by name here: no foreign keys).
    expect(Object.keys(analysis.tables)).toEqual(['Alloc', 'Item'])
    expect(analysis.conflicts).toEqual([
      { table: 'Alloc', key: { roomId: int(1), regId: 'r2' }, fields: [{ name: 'bed', backup: 'B', current: 'BB' }], resolution: 'backup' },
      { table: 'Item', key: int(6), fields: [{ name: 'name', backup: 'six', current: 'SIX' }], resolution: 'backup' },
      {
        table: 'Item',
        key: int(7),
        fields: [
          { name: 'name', backup: 'seven', current: 'SEVEN' },
          { name: 'updatedAt', backup: T, current: null },
        ],
        resolution: 'backup',
      },
      {
        table: 'Item',
        key: int(8),
        fields: [
          { name: 'name', backup: null, current: 'x' },
          { name: 'data', backup: '{"v":"backup"}', current: '{"v":"current"}' },
        ],
        resolution: 'backup',
      },
      { table: 'Item', key: int(9), fields: [{ name: 'name', backup: 'nine', current: null }], resolution: 'backup' },
    ])
    expect(await snapshot(db, TABLES)).toEqual(before) // analyze changed nothing

    const dryRun = await merge(file, db.url, { dryRun: true })
    expect(dryRun).toEqual(analysis)
    expect(await snapshot(db, TABLES)).toEqual(before)

    const merged = await merge(file, db.url)
    expect(merged).toEqual(analysis)
    expect(await names()).toEqual({ 1: 'one', 2: 'two', 3: 'three', 4: 'four', 5: 'FIVE', 6: 'six', 7: 'seven', 8: null, 9: 'nine', 20: 'twenty' })
    expect((await item(8))!.data).toBe('{"v":"backup"}')
    expect((await item(7))!.updatedAt).toBe(T)
    // 1.50 = 1.5 was unchanged: the current spelling was left alone.
    expect(String((await item(3))!.qty)).toBe(engine === 'postgres' ? '1.5' : '1.5')
    const alloc = await readTable(db, 'Alloc', TABLES.Alloc)
    expect(alloc.map((r) => [Number(r.roomId), r.regId, r.bed])).toEqual([
      [1, 'r1', 'A'],
      [1, 'r2', 'B'],
      [2, 'r1', 'C'],
      [3, 'r9', 'Z'],
    ])

    // Merging again: nothing new, nothing to update; only what the strategy cannot change.
    const again = await analyze(file, db.url)
    expect(again.totals).toEqual(counts({ unchanged: 11, kept: 1, currentOnly: 2 }))
    expect(again.conflicts).toEqual([])
  })

  it('current_wins keeps every conflicting record as it is', async () => {
    const report = await merge(file, db.url, { strategy: 'current_wins' })
    expect(report.tables.Item).toEqual(counts({ new: 1, unchanged: 2, updated: 1, kept: 1, conflicts: 4, resolved: { current: 4 }, currentOnly: 1 }))
    expect(await names()).toEqual({ 1: 'one', 2: 'two', 3: 'three', 4: 'four', 5: 'FIVE', 6: 'SIX', 7: 'SEVEN', 8: 'x', 9: null, 20: 'twenty' })
    const again = await analyze(file, db.url, { strategy: 'current_wins' })
    expect(again.totals).toEqual(counts({ unchanged: 6, kept: 1, conflicts: 5, resolved: { current: 5 }, currentOnly: 2 }))
  })

  it('merge_fields takes the non-null side and keeps the current value where timestamps do not tell', async () => {
    const report = await merge(file, db.url, { strategy: 'merge_fields' })
    expect(report.tables.Item).toEqual(counts({ new: 1, unchanged: 2, updated: 1, kept: 1, conflicts: 4, resolved: { merged: 4 }, currentOnly: 1 }))
    // 6: both set, equal timestamps → current; 7: current timestamp missing → current name, backup
    // timestamp (current null); 8: backup name null → current, data both set → current; 9: current null → backup.
    expect(await names()).toEqual({ 1: 'one', 2: 'two', 3: 'three', 4: 'four', 5: 'FIVE', 6: 'SIX', 7: 'SEVEN', 8: 'x', 9: 'nine', 20: 'twenty' })
    expect((await item(7))!.updatedAt).toBe(T)
    expect((await item(8))!.data).toBe('{"v":"current"}')
    const again = await analyze(file, db.url, { strategy: 'merge_fields' })
    expect(again.totals.new).toBe(0)
    expect(again.totals.updated).toBe(0)
    // 6 and 8 still differ (their current values won); 7 and 9 now equal the backup.
    expect(again.conflicts.map((c) => c.key)).toEqual([{ roomId: int(1), regId: 'r2' }, int(6), int(7), int(8)])
  })

  it('merge_fields without preserveNewer: the newer record wins each field conflict', async () => {
    const report = await merge(file, db.url, { strategy: 'merge_fields', preserveNewer: false })
    expect(report.tables.Item).toEqual(counts({ new: 1, unchanged: 2, conflicts: 6, resolved: { merged: 6 }, currentOnly: 1 }))
    const byId = await names()
    expect(byId[4]).toBe('four') // backup newer
    expect(byId[5]).toBe('FIVE') // current newer
    expect((await item(4))!.updatedAt).toBe(T)
  })

  it('--no-preserve-newer turns updated and kept into conflicts', async () => {
    const report = await analyze(file, db.url, { preserveNewer: false })
    expect(report.tables.Item).toEqual(counts({ new: 1, unchanged: 2, conflicts: 6, resolved: { backup: 6 }, currentOnly: 1 }))
  })

  it('manual without resolutions refuses and changes nothing; --skip-unresolved merges the rest', async () => {
    const before = await snapshot(db, TABLES)
    const analysis = await analyze(file, db.url, { strategy: 'manual' })
    expect(analysis.totals).toEqual(counts({ new: 2, unchanged: 3, updated: 1, kept: 1, conflicts: 5, unresolved: 5, currentOnly: 2 }))
    await expect(merge(file, db.url, { strategy: 'manual' })).rejects.toMatchObject({ name: 'MergeRefusedError', reason: 'unresolved-conflicts' })
    await expect(merge(file, db.url, { strategy: 'manual', dryRun: true })).rejects.toBeInstanceOf(MergeRefusedError)
    expect(await snapshot(db, TABLES)).toEqual(before)

    const report = await merge(file, db.url, { strategy: 'manual', skipUnresolved: true })
    expect(report).toEqual(analysis)
    expect(await names()).toEqual({ 1: 'one', 2: 'two', 3: 'three', 4: 'four', 5: 'FIVE', 6: 'SIX', 7: 'SEVEN', 8: 'x', 9: null, 20: 'twenty' })
  })

  it('manual with resolutions: backup, current, merge and explicit fields, single and composite keys', async () => {
    const resolutions = [
      { table: 'Item', key: 6, resolution: 'backup' },
      { table: 'Item', key: '7', resolution: 'current' },
      { table: 'Item', key: 9, resolution: 'merge' },
      { table: 'Item', key: 8, resolution: { fields: { name: 'chosen', data: { v: 'chosen' } } } },
      { table: 'Alloc', key: { roomId: 1, regId: 'r2' }, resolution: 'backup' },
    ]
    const options: MergeOptions = { strategy: 'manual', resolutions }
    const analysis = await analyze(file, db.url, options)
    expect(analysis.tables.Item).toEqual(counts({ new: 1, unchanged: 2, updated: 1, kept: 1, conflicts: 4, resolved: { backup: 1, current: 1, merged: 2 }, currentOnly: 1 }))
    expect(analysis.tables.Alloc).toEqual(counts({ new: 1, unchanged: 1, conflicts: 1, resolved: { backup: 1 }, currentOnly: 1 }))
    const report = await merge(file, db.url, options)
    expect(report).toEqual(analysis)
    expect(await names()).toEqual({ 1: 'one', 2: 'two', 3: 'three', 4: 'four', 5: 'FIVE', 6: 'six', 7: 'SEVEN', 8: 'chosen', 9: 'nine', 20: 'twenty' })
    expect(JSON.parse(String((await item(8))!.data))).toEqual({ v: 'chosen' })
    const alloc = await readTable(db, 'Alloc', TABLES.Alloc)
    expect(alloc.find((r) => r.regId === 'r2')!.bed).toBe('B')
  })

  it('refuses bad resolutions before writing anything', async () => {
    const before = await snapshot(db, TABLES)
    await expect(merge(file, db.url, { strategy: 'manual', resolutions: [{ table: 'Nope', key: 1, resolution: 'backup' }] })).rejects.toMatchObject({ name: 'UsageError' })
    await expect(merge(file, db.url, { strategy: 'manual', resolutions: [{ table: 'Alloc', key: 1, resolution: 'backup' }] })).rejects.toThrow(/roomId, regId/)
    await expect(merge(file, db.url, { strategy: 'manual', resolutions: [{ table: 'Item', key: 6, resolution: { fields: { nope: 1 } } }] })).rejects.toThrow(/no column "nope"/)
    expect(await snapshot(db, TABLES)).toEqual(before)
  })

  it('--tables and --exclude select what is merged; an unknown name is a usage error', async () => {
    const report = await merge(file, db.url, { tables: ['Alloc'] })
    expect(Object.keys(report.tables)).toEqual(['Alloc'])
    expect(await names()).toMatchObject({ 6: 'SIX' })
    expect(Object.keys((await analyze(file, db.url, { exclude: ['Alloc'] })).tables)).toEqual(['Item'])
    await expect(analyze(file, db.url, { tables: ['Nope'] })).rejects.toMatchObject({ name: 'UsageError' })
  })

  it('--timestamp-field names another timestamp column; a name no table has is a usage error', async () => {
    await expect(analyze(file, db.url, { timestampField: 'changed' })).rejects.toThrow(/none of the merged tables/)
    // Alloc's updated_at is replaced by Item's "updatedAt" only where a table has it: same result.
    const report = await analyze(file, db.url, { timestampField: 'updatedAt' })
    expect(report.tables.Item.updated).toBe(1)
  })
})
