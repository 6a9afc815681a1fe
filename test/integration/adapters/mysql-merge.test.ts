/**
 * The smart merge (src/engine/merge.ts, DESIGN.md §4) on the real MariaDB, through the MySQL
 * adapter's readByKeys / updateRows / writeRows: the worked scenario of
 * test/integration/merge/semantics.test.ts with the same expected classification and conflicts
 * as on PostgreSQL, and the generated test of test/integration/merge/property.test.ts against the
 * independent reference model of §4.
 */
import fs from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import mysql from 'mysql2/promise'
import { afterAll, describe, expect, it } from 'vitest'
import { mysqlAdapter } from '../../../src/adapters/mysql/mysql-adapter.js'
import type { Row } from '../../../src/adapters/adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { backup } from '../../../src/engine/backup.js'
import { analyze, merge, type MergeReport } from '../../../src/engine/merge.js'
import { DatabaseError } from '../../../src/errors.js'
import { createMysqlDatabase, databasesOfFile, makeTempDir, mysqlQuery, type TestDatabase } from '../../helpers/databases.js'
import { referenceMerge, type ModelChoice, type ModelRow, type ModelStrategy, type ModelTable } from '../merge/reference-model.js'

const databases = databasesOfFile(() => createMysqlDatabase())
const freshDatabase = databases.fresh
const tmp = makeTempDir('mergeback-mysql-merge-')
afterAll(async () => {
  await databases.dropAll()
  tmp.cleanup()
})

const sql = mysqlQuery

/** Every row of every table, in wire encoding, read through the adapter. */
async function tables(url: string): Promise<Record<string, Row[]>> {
  const source = await mysqlAdapter.openSource(parseDatabaseUrl(url))
  try {
    const out: Record<string, Row[]> = {}
    for (const table of (await source.describe()).tables) {
      out[table.name] = []
      for await (const batch of source.readTable(table)) out[table.name].push(...batch)
    }
    return out
  } finally {
    await source.close()
  }
}

// ---------------------------------------------------------------------------------------------
// The scenario of test/integration/merge/semantics.test.ts
// ---------------------------------------------------------------------------------------------

const T = '2024-01-01T10:00:00Z'
const MERGE_DDL = [
  'CREATE TABLE Item (id INT PRIMARY KEY, name TEXT, qty DECIMAL(10,2), data JSON, updatedAt TIMESTAMP(6) NULL)',
  'CREATE TABLE Alloc (roomId INT, regId VARCHAR(20), bed TEXT, note JSON, updated_at TIMESTAMP(6) NULL, PRIMARY KEY (roomId, regId))',
]
const MERGE_BACKUP_STATE = [
  `INSERT INTO Item VALUES
    (1, 'one', 1, '{"a":1}', '2024-01-01 10:00:00'), (2, 'two', 2, NULL, '2024-01-01 10:00:00'),
    (3, 'three', 1.5, '{"a":1,"b":[1,2]}', '2024-01-01 10:00:00'), (4, 'four', 4, NULL, '2024-01-01 10:00:00'),
    (5, 'five', 5, NULL, '2024-01-01 10:00:00'), (6, 'six', 6, NULL, '2024-01-01 10:00:00'),
    (7, 'seven', 7, NULL, '2024-01-01 10:00:00'), (8, NULL, 8, '{"v":"backup"}', '2024-01-01 10:00:00'),
    (9, 'nine', 9, NULL, '2024-01-01 10:00:00')`,
  `INSERT INTO Alloc VALUES (1, 'r1', 'A', NULL, '2024-01-01 10:00:00'), (1, 'r2', 'B', '{"k":1}', '2024-01-01 10:00:00'),
    (2, 'r1', 'C', NULL, '2024-01-01 10:00:00')`,
]
const MERGE_LIVE_CHANGES = [
  'DELETE FROM Item WHERE id = 1',
  `UPDATE Item SET data = '{ "b": [1, 2], "a": 1 }' WHERE id = 3`,
  "UPDATE Item SET name = 'FOUR', updatedAt = '2023-12-01 10:00:00' WHERE id = 4",
  "UPDATE Item SET name = 'FIVE', updatedAt = '2024-02-01 10:00:00' WHERE id = 5",
  "UPDATE Item SET name = 'SIX' WHERE id = 6",
  "UPDATE Item SET name = 'SEVEN', updatedAt = NULL WHERE id = 7",
  `UPDATE Item SET name = 'x', data = '{"v":"current"}' WHERE id = 8`,
  'UPDATE Item SET name = NULL WHERE id = 9',
  "INSERT INTO Item VALUES (20, 'twenty', 20, NULL, '2024-02-01 10:00:00')",
  "DELETE FROM Alloc WHERE roomId = 1 AND regId = 'r1'",
  "UPDATE Alloc SET bed = 'BB' WHERE roomId = 1 AND regId = 'r2'",
  "INSERT INTO Alloc VALUES (3, 'r9', 'Z', NULL, '2024-01-01 10:00:00')",
]

const mergeCounts = (partial: Partial<{ new: number; unchanged: number; updated: number; kept: number; conflicts: number; unresolved: number; currentOnly: number }> & {
  resolved?: Partial<{ backup: number; current: number; merged: number }>
}) => ({
  new: partial.new ?? 0,
  unchanged: partial.unchanged ?? 0,
  updated: partial.updated ?? 0,
  kept: partial.kept ?? 0,
  conflicts: partial.conflicts ?? 0,
  resolved: { backup: partial.resolved?.backup ?? 0, current: partial.resolved?.current ?? 0, merged: partial.resolved?.merged ?? 0 },
  unresolved: partial.unresolved ?? 0,
  currentOnly: partial.currentOnly ?? 0,
})

describe('the smart merge on MariaDB: the §4 scenario', () => {
  async function scenario(): Promise<{ db: TestDatabase; file: string }> {
    const db = await freshDatabase()
    await sql(db.url, ...MERGE_DDL, ...MERGE_BACKUP_STATE)
    const made = await backup({ db: db.url, out: path.join(tmp.dir, `${db.name}.json`) })
    await sql(db.url, ...MERGE_LIVE_CHANGES)
    return { db, file: made.file }
  }
  const names = async (url: string) => Object.fromEntries((await sql(url, 'SELECT id, name FROM Item ORDER BY id')).map((r) => [Number(r.id), r.name]))

  it('classifies every row of the §4 table like PostgreSQL does; analyze = dry run = merge; merging again changes nothing', async () => {
    const { db, file } = await scenario()
    const before = await tables(db.url)
    const analysis = await analyze(file, db.url)
    expect(analysis.tables.Item).toEqual(mergeCounts({ new: 1, unchanged: 2, updated: 1, kept: 1, conflicts: 4, resolved: { backup: 4 }, currentOnly: 1 }))
    expect(analysis.tables.Alloc).toEqual(mergeCounts({ new: 1, unchanged: 1, conflicts: 1, resolved: { backup: 1 }, currentOnly: 1 }))
    expect(analysis.conflicts).toEqual([
      { table: 'Alloc', key: { roomId: 1, regId: 'r2' }, fields: [{ name: 'bed', backup: 'B', current: 'BB' }], resolution: 'backup' },
      { table: 'Item', key: 6, fields: [{ name: 'name', backup: 'six', current: 'SIX' }], resolution: 'backup' },
      {
        table: 'Item',
        key: 7,
        fields: [
          { name: 'name', backup: 'seven', current: 'SEVEN' },
          { name: 'updatedAt', backup: T, current: null },
        ],
        resolution: 'backup',
      },
      {
        table: 'Item',
        key: 8,
        fields: [
          { name: 'name', backup: null, current: 'x' },
          { name: 'data', backup: '{"v":"backup"}', current: '{"v":"current"}' },
        ],
        resolution: 'backup',
      },
      { table: 'Item', key: 9, fields: [{ name: 'name', backup: 'nine', current: null }], resolution: 'backup' },
    ])
    expect(await tables(db.url)).toEqual(before)
    expect(await merge(file, db.url, { dryRun: true })).toEqual(analysis)
    expect(await tables(db.url)).toEqual(before)

    expect(await merge(file, db.url)).toEqual(analysis)
    expect(await names(db.url)).toEqual({ 1: 'one', 2: 'two', 3: 'three', 4: 'four', 5: 'FIVE', 6: 'six', 7: 'seven', 8: null, 9: 'nine', 20: 'twenty' })
    expect(await sql(db.url, 'SELECT data, CAST(updatedAt AS CHAR) AS updatedAt FROM Item WHERE id IN (3, 7, 8) ORDER BY id')).toEqual([
      { data: '{ "b": [1, 2], "a": 1 }', updatedAt: '2024-01-01 10:00:00.000000' },
      { data: null, updatedAt: '2024-01-01 10:00:00.000000' },
      { data: '{"v":"backup"}', updatedAt: '2024-01-01 10:00:00.000000' },
    ])
    const again = await analyze(file, db.url)
    expect(again.totals).toEqual(mergeCounts({ unchanged: 11, kept: 1, currentOnly: 2 }))
  })

  it('current_wins and manual resolutions, with composite keys', async () => {
    const { db, file } = await scenario()
    const report = await merge(file, db.url, { strategy: 'current_wins' })
    expect(report.tables.Item).toEqual(mergeCounts({ new: 1, unchanged: 2, updated: 1, kept: 1, conflicts: 4, resolved: { current: 4 }, currentOnly: 1 }))
    expect(await names(db.url)).toEqual({ 1: 'one', 2: 'two', 3: 'three', 4: 'four', 5: 'FIVE', 6: 'SIX', 7: 'SEVEN', 8: 'x', 9: null, 20: 'twenty' })

    const manual = await merge(file, db.url, {
      strategy: 'manual',
      resolutions: [
        { table: 'Item', key: 6, resolution: 'backup' },
        { table: 'Item', key: 7, resolution: 'current' },
        { table: 'Item', key: 9, resolution: 'merge' },
        { table: 'Item', key: 8, resolution: { fields: { name: 'chosen', data: { v: 'chosen' } } } },
        { table: 'Alloc', key: { roomId: 1, regId: 'r2' }, resolution: 'backup' },
      ],
    })
    expect(manual.totals.unresolved).toBe(0)
    expect(await names(db.url)).toMatchObject({ 6: 'six', 7: 'SEVEN', 8: 'chosen', 9: 'nine' })
    expect(JSON.parse(String((await sql(db.url, 'SELECT data FROM Item WHERE id = 8'))[0].data))).toEqual({ v: 'chosen' })
    expect(await sql(db.url, "SELECT bed FROM Alloc WHERE roomId = 1 AND regId = 'r2'")).toEqual([{ bed: 'B' }])
  })

  it('a merge that breaks a foreign key is rolled back completely and names the constraint', async () => {
    const { db } = await scenario()
    await sql(db.url, 'CREATE TABLE Owner (id INT PRIMARY KEY)', 'INSERT INTO Owner VALUES (1)')
    await sql(db.url, 'ALTER TABLE Item ADD COLUMN ownerId INT NULL, ADD CONSTRAINT fk_item_owner FOREIGN KEY (ownerId) REFERENCES Owner (id)')
    const smart = path.join(tmp.dir, `${db.name}-smart.json`)
    fs.writeFileSync(
      smart,
      JSON.stringify({
        tables: [{ tableName: 'Item', primaryKey: 'id', records: [{ id: 30, name: 'thirty', ownerId: 1 }, { id: 31, name: 'no owner', ownerId: 404 }] }],
        metadata: { exportedAt: '2024-01-15T12:00:00.000Z', version: '1.0', recordCounts: { Item: 2 } },
      }),
    )
    const before = await tables(db.url)
    const failure = (await merge(smart, db.url).catch((e: unknown) => e)) as DatabaseError
    expect(failure).toBeInstanceOf(DatabaseError)
    expect(failure).toMatchObject({ table: 'Item', constraint: 'fk_item_owner', key: { id: 31 } })
    expect(await tables(db.url)).toEqual(before)
  })
})


// ---------------------------------------------------------------------------------------------
// The generated test of test/integration/merge/property.test.ts, on MariaDB
// ---------------------------------------------------------------------------------------------

type KeyMode = 'single' | 'composite' | 'none'

function modelTable(mode: KeyMode): ModelTable {
  const key = mode === 'single' ? ['id'] : mode === 'composite' ? ['id', 'k2'] : []
  return {
    key,
    fields: [
      { name: 'id', kind: 'integer' },
      { name: 'k2', kind: 'text' },
      { name: 'name', kind: 'text' },
      { name: 'qty', kind: 'decimal' },
      { name: 'data', kind: 'json' },
      { name: 'updatedAt', kind: 'timestamptz' },
    ],
    timestampField: 'updatedAt',
  }
}

function ddl(mode: KeyMode): string[] {
  const key = mode === 'single' ? ', PRIMARY KEY (id)' : mode === 'composite' ? ', PRIMARY KEY (id, k2)' : ''
  return [
    'DROP TABLE IF EXISTS Gen',
    `CREATE TABLE Gen (id INT NOT NULL, k2 VARCHAR(10) NOT NULL, name TEXT, qty DECIMAL(20,10), data JSON, updatedAt TIMESTAMP(6) NULL${key})`,
  ]
}

const literal = (v: unknown): string => {
  if (v === null || v === undefined) return 'NULL'
  if (typeof v === 'number') return String(v)
  // Timestamps of the generator end in Z; MariaDB takes the UTC wall-clock text (session zone is set below).
  const text = /^\d{4}-\d\d-\d\dT.*Z$/.test(String(v)) ? String(v).replace('T', ' ').replace('Z', '') : String(v)
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
}
const insertSql = (rows: readonly ModelRow[]): string[] =>
  rows.length === 0
    ? []
    : [`INSERT INTO Gen (id, k2, name, qty, data, updatedAt) VALUES ${rows.map((r) => `(${[r.id, r.k2, r.name, r.qty, r.data, r.updatedAt].map(literal).join(', ')})`).join(', ')}`]

const stamp = (minute: number, micro: number) => `2024-03-01T10:${String(minute).padStart(2, '0')}:00.${String(micro).padStart(6, '0')}Z`
const values = {
  name: fc.constantFrom<ModelRow[string]>(null, 'a', 'b', 'ünï', "o'q"),
  qty: fc.constantFrom<ModelRow[string]>(null, '1.5', '1.50', '2', '-0.25'),
  data: fc.constantFrom<ModelRow[string]>(null, '{"a":1,"b":2}', '{"b":2,"a":1}', '[1,2]', '{"a":2}'),
  updatedAt: fc.option(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0, 1, 500000)).map(([m, u]) => stamp(m, u)), { nil: null }),
}
const fieldsArb = fc.record({ name: values.name, qty: values.qty, data: values.data, updatedAt: values.updatedAt })

const caseArb = fc.constantFrom<KeyMode>('single', 'composite', 'none').chain((mode) =>
  fc
    .uniqueArray(fc.tuple(fc.integer({ min: 1, max: 12 }), fc.constantFrom('x', 'y')), {
      maxLength: 10,
      selector: ([id, k2]) => (mode === 'single' ? String(id) : `${id}/${k2}`),
    })
    .chain((keys) =>
      fc.record({
        mode: fc.constant(mode),
        backup: fc.tuple(...keys.map(([id, k2]) => fieldsArb.map((f): ModelRow => ({ id, k2, ...f })))),
        changes: fc.tuple(...keys.map(() => fc.oneof(fc.constant<'keep'>('keep'), fc.constant<'delete'>('delete'), fieldsArb))),
        added: fc.array(fieldsArb.map((f): ModelRow => ({ id: 0, k2: 'z', ...f })), { maxLength: 3 }),
        duplicate: fc.boolean(),
        preserveNewer: fc.boolean(),
        resolve: fc.array(fc.constantFrom<ModelChoice>('backup', 'current', 'merge', { fields: { name: 'chosen' } }), { maxLength: 10 }),
      }),
    ),
)

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never

function liveRows(c: Case): ModelRow[] {
  const rows: ModelRow[] = []
  c.backup.forEach((b, i) => {
    const change = c.changes[i]
    if (change === 'keep') rows.push({ ...b })
    else if (change !== 'delete') rows.push({ ...b, ...change })
  })
  c.added.forEach((r, i) => rows.push({ ...r, id: 100 + i }))
  if (c.mode === 'none' && c.duplicate && rows.length > 0) rows.push({ ...rows[0] })
  return rows
}

/** Microseconds since the epoch of "YYYY-MM-DD[T ]HH:MM:SS[.f][Z]". */
function micros(text: string): number {
  const m = /^(.{19})(?:\.(\d+))?Z?$/.exec(text.replace(' ', 'T'))
  if (!m) throw new Error(`not a timestamp: ${text}`)
  return Date.parse(`${m[1]}Z`) * 1000 + Number((m[2] ?? '').padEnd(6, '0'))
}

const sortKeys = (_key: string, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v)

/** One row as comparable text: numbers by value, JSON by value, timestamps by instant. */
function normalize(row: Record<string, unknown>): string {
  const present = (v: unknown) => v !== null && v !== undefined
  return JSON.stringify([
    Number(row.id),
    row.k2,
    row.name ?? null,
    present(row.qty) ? Number(row.qty) : null,
    present(row.data) ? JSON.parse(String(row.data), sortKeys) : null,
    present(row.updatedAt) ? micros(String(row.updatedAt)) : null,
  ])
}

function conflictsOf(report: MergeReport, mode: KeyMode) {
  return report.conflicts.map((c) => {
    const key = c.key as Record<string, unknown> | number | string
    const parts = mode === 'single' ? [Number(key)] : [Number((key as Record<string, unknown>).id), (key as Record<string, unknown>).k2]
    return { key: JSON.stringify(parts), fields: c.fields.map((f) => f.name).sort() }
  })
}

const byKey = <T extends { key: string }>(list: readonly T[]) => [...list].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))

describe('the smart merge on MariaDB agrees with the reference model of §4 (generated)', () => {
  it('under every strategy', async () => {
    const db = await freshDatabase()
    const connection = await mysql.createConnection({ uri: db.url })
    await connection.query("SET time_zone = '+00:00'")
    const exec = async (statements: readonly string[]) => {
      for (const statement of statements) await connection.query(statement)
    }
    let n = 0
    try {
      await fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          const table = modelTable(c.mode)
          await exec([...ddl(c.mode), ...insertSql(c.backup)])
          const file = (await backup({ db: db.url, out: path.join(tmp.dir, `case-${n++}.json`) })).file
          const live = liveRows(c)
          const strategies: ModelStrategy[] = ['backup_wins', 'current_wins', 'merge_fields', 'manual']
          for (const strategy of strategies) {
            await exec(['DELETE FROM Gen', ...insertSql(live)])
            const modelResolutions = new Map<string, ModelChoice>()
            const resolutions: { table: string; key: unknown; resolution: ModelChoice }[] = []
            if (c.mode !== 'none') {
              c.resolve.slice(0, c.backup.length).forEach((choice, i) => {
                const b = c.backup[i]
                modelResolutions.set(JSON.stringify(table.key.map((k) => b[k])), choice)
                resolutions.push({ table: 'Gen', key: c.mode === 'single' ? b.id : { id: b.id, k2: b.k2 }, resolution: choice })
              })
            }
            const options = { strategy, preserveNewer: c.preserveNewer, resolutions, skipUnresolved: true }
            const expected = referenceMerge(table, c.backup, live, { strategy, preserveNewer: c.preserveNewer, resolutions: modelResolutions })
            const analysis = await analyze(file, db.url, options)
            expect(analysis.tables.Gen, strategy).toEqual(expected.counts)
            expect(byKey(conflictsOf(analysis, c.mode)), strategy).toEqual(byKey(expected.conflicts))
            const report = await merge(file, db.url, options)
            expect(report, strategy).toEqual(analysis)
            const after = (await tables(db.url)).Gen.map(normalize).sort()
            expect(after, strategy).toEqual(expected.rows.map((r) => normalize(r)).sort())
          }
        }),
        { numRuns: 20, endOnFailure: true },
      )
    } finally {
      await connection.end()
    }
  })
})
