/**
 * Generated test of the three-way merge (issue #18) on real databases — PostgreSQL, SQLite and
 * MariaDB — against the reference model written from the decision table (reference-model.ts
 * referenceThreeWay): a random base table is backed up (the base), changed into the backup's state
 * and backed up again (the backup), then set to an independently changed current state; analyze
 * and merge run with `base` under every strategy, with and without applyDeletions. The counts,
 * the conflicts (key, kind, fields) and the resulting table must be the model's, and merge must
 * report exactly what analyze did.
 *
 * Runs are small by default (each case makes two backups and merges four times per engine);
 * MERGEBACK_FULL_PROPERTY=1 runs 100 cases per engine.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { analyze, merge } from '../../../src/engine/merge.js'
import type { MergeReport } from '../../../src/merge/report.js'
import { byKey, conflictsOf, modelTable, normalize, type KeyMode } from './generated-table.js'
import { databasePerBlock, makeBackup, readTable, type AnyEngineName } from './harness.js'
import { referenceThreeWay, type ModelChoice, type ModelRow, type ModelStrategy } from './reference-model.js'

const RUNS = process.env.MERGEBACK_FULL_PROPERTY ? 100 : 6
const ENGINES: readonly AnyEngineName[] = ['sqlite', 'postgres', 'mysql']

function ddl(engine: AnyEngineName, mode: KeyMode): string {
  const key = mode === 'single' ? 'PRIMARY KEY (id)' : 'PRIMARY KEY (id, k2)'
  if (engine === 'postgres') {
    return `DROP TABLE IF EXISTS "Gen"; CREATE TABLE "Gen" (id integer NOT NULL, k2 text NOT NULL, name text, qty numeric, data json, "updatedAt" timestamptz(6), ${key});`
  }
  if (engine === 'mysql') {
    return `DROP TABLE IF EXISTS "Gen"; CREATE TABLE "Gen" (id INT NOT NULL, k2 VARCHAR(8) NOT NULL, name VARCHAR(20), qty DECIMAL(10,4), data JSON, "updatedAt" DATETIME(6), ${key});`
  }
  return `DROP TABLE IF EXISTS "Gen"; CREATE TABLE "Gen" (id INTEGER NOT NULL, k2 TEXT NOT NULL, name TEXT, qty NUMERIC, data JSON, "updatedAt" DATETIME, ${key});`
}

const literal = (engine: AnyEngineName, field: string, v: unknown) => {
  if (v === null || v === undefined) return 'NULL'
  if (typeof v === 'number') return String(v)
  // MariaDB's DATETIME takes no zone suffix: the generator's instants are all UTC.
  const text = engine === 'mysql' && field === 'updatedAt' ? String(v).replace('T', ' ').replace('Z', '') : String(v)
  return `'${text.replace(/'/g, "''")}'`
}
const COLUMNS = ['id', 'k2', 'name', 'qty', 'data', 'updatedAt'] as const
const insertSql = (engine: AnyEngineName, rows: readonly ModelRow[]) =>
  rows.length === 0
    ? ''
    : `INSERT INTO "Gen" (id, k2, name, qty, data, "updatedAt") VALUES ${rows.map((r) => `(${COLUMNS.map((c) => literal(engine, c, r[c])).join(', ')})`).join(', ')};`

const stamp = (minute: number, micro: number) => `2024-03-01T10:${String(minute).padStart(2, '0')}:00.${String(micro).padStart(6, '0')}Z`
const values = {
  name: fc.constantFrom<ModelRow[string]>(null, 'a', 'b', "o'q"),
  qty: fc.constantFrom<ModelRow[string]>(null, '1.5', '2', '-0.25'),
  data: fc.constantFrom<ModelRow[string]>(null, '{"a":1,"b":2}', '[1,2]', '{"a":2}'),
  updatedAt: fc.option(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0, 500000)).map(([m, u]) => stamp(m, u)), { nil: null }),
}
const fieldsArb = fc.record({ name: values.name, qty: values.qty, data: values.data, updatedAt: values.updatedAt })
/** A change to one side: keep, delete, or set some fields (each field kept or given a new value). */
const changeArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant<'keep'>('keep') },
  { weight: 1, arbitrary: fc.constant<'delete'>('delete') },
  { weight: 4, arbitrary: fc.record({ name: values.name, qty: values.qty, data: values.data, updatedAt: values.updatedAt }, { requiredKeys: [] }) },
)

const keysArb = (mode: KeyMode, maxLength: number) =>
  fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.constantFrom('x', 'y')), {
    maxLength,
    selector: ([id, k2]) => (mode === 'single' ? String(id) : `${id}/${k2}`),
  })

const caseArb = fc.constantFrom<KeyMode>('single', 'composite').chain((mode) =>
  keysArb(mode, 8).chain((keys) =>
    fc.record({
      mode: fc.constant(mode),
      base: fc.tuple(...keys.map(([id, k2]) => fieldsArb.map((f): ModelRow => ({ id, k2: mode === 'single' ? 'x' : k2, ...f })))),
      backupChanges: fc.tuple(...keys.map(() => changeArb)),
      currentChanges: fc.tuple(...keys.map(() => changeArb)),
      // New records: ids 10..13 on either side, so some are new on both sides.
      backupAdded: fc.uniqueArray(fc.integer({ min: 10, max: 13 }), { maxLength: 3 }).chain((ids) => fc.tuple(...ids.map((id) => fieldsArb.map((f): ModelRow => ({ id, k2: 'z', ...f }))))),
      currentAdded: fc.uniqueArray(fc.integer({ min: 10, max: 13 }), { maxLength: 3 }).chain((ids) => fc.tuple(...ids.map((id) => fieldsArb.map((f): ModelRow => ({ id, k2: 'z', ...f }))))),
      preserveNewer: fc.boolean(),
      applyDeletions: fc.boolean(),
      resolve: fc.array(fc.constantFrom<ModelChoice>('backup', 'current', 'merge', { fields: { name: 'chosen' } }), { maxLength: 12 }),
    }),
  ),
)
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never

function applyChanges(base: readonly ModelRow[], changes: readonly (string | Partial<ModelRow>)[], added: readonly ModelRow[]): ModelRow[] {
  const rows: ModelRow[] = []
  base.forEach((a, i) => {
    const change = changes[i]
    if (change === 'keep') rows.push({ ...a })
    else if (change !== 'delete') rows.push({ ...a, ...(change as ModelRow) })
  })
  return [...rows, ...added.map((r) => ({ ...r }))]
}

describe.each(ENGINES)('three-way merge agrees with the reference model of issue #18 (%s, generated)', (engine) => {
  const fixture = databasePerBlock(engine)

  it('under every strategy, with and without applyDeletions', async () => {
    const { db, tmp } = fixture
    let n = 0
    await fc.assert(
      fc.asyncProperty(caseArb, async (c: Case) => {
        const table = modelTable(c.mode)
        const keyOf = (r: ModelRow) => JSON.stringify(table.key.map((k) => r[k]))
        const backupRows = applyChanges(c.base, c.backupChanges, c.backupAdded)
        const currentRows = applyChanges(c.base, c.currentChanges, c.currentAdded)
        await db.exec(ddl(engine, c.mode) + insertSql(engine, c.base))
        const baseFile = await makeBackup(db, tmp.file(`base-${n}.json`))
        await db.exec(`DELETE FROM "Gen";` + insertSql(engine, backupRows))
        const backupFile = await makeBackup(db, tmp.file(`backup-${n++}.json`))

        for (const strategy of ['backup_wins', 'current_wins', 'merge_fields', 'manual'] as ModelStrategy[]) {
          await db.exec(`DELETE FROM "Gen";` + insertSql(engine, currentRows))
          // Explicit resolutions for some keys of all three sides (a "backup" one that would
          // delete needs applyDeletions: without it, it is given as "current").
          const every = [...new Map([...c.base, ...backupRows, ...currentRows].map((r) => [keyOf(r), r])).values()]
          const modelResolutions = new Map<string, ModelChoice>()
          const resolutions: { table: string; key: unknown; resolution: ModelChoice }[] = []
          c.resolve.slice(0, every.length).forEach((given, i) => {
            const r = every[i]
            const choice = given === 'backup' && !c.applyDeletions ? 'current' : given
            modelResolutions.set(keyOf(r), choice)
            resolutions.push({ table: 'Gen', key: c.mode === 'single' ? r.id : { id: r.id, k2: r.k2 }, resolution: choice })
          })
          const options = { base: baseFile, applyDeletions: c.applyDeletions, strategy, preserveNewer: c.preserveNewer, resolutions, skipUnresolved: true }
          const expected = referenceThreeWay(table, c.base, backupRows, currentRows, {
            strategy,
            preserveNewer: c.preserveNewer,
            applyDeletions: c.applyDeletions,
            resolutions: modelResolutions,
          })

          const analysis = await analyze(backupFile, db.url, options)
          expect(analysis.tables.Gen, strategy).toEqual(expected.counts)
          expect(byKey(conflictsOf(analysis, c.mode)), strategy).toEqual(byKey(conflictsOf({ conflicts: expected.conflicts.map((x) => ({ ...x, table: 'Gen', key: c.mode === 'single' ? JSON.parse(x.key)[0] : { id: JSON.parse(x.key)[0], k2: JSON.parse(x.key)[1] }, fields: x.fields.map((name) => ({ name, backup: null, current: null })), resolution: 'current' })) } as unknown as MergeReport, c.mode)))
          const report = await merge(backupFile, db.url, options)
          expect(report, strategy).toEqual(analysis)
          const after = (await readTable(db, 'Gen', ['id', 'k2'])).map(normalize).sort()
          expect(after, strategy).toEqual(expected.rows.map((r) => normalize(r)).sort())
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    )
  })
})
