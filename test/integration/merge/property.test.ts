/**
 * Generated test of the whole merge on real databases (PostgreSQL and SQLite), against the small
 * reference model of §4 (reference-model.ts): random tables (single key, composite key, no key),
 * a real backup, random changes to the live side (deletes; updates with older, newer, equal and
 * missing timestamps; new rows), then analyze + merge under every strategy — the counts, the
 * conflicts and the resulting table must be the model's, and merge must report what analyze did.
 *
 * Runs are kept bounded (each case makes a backup and merges four times per engine).
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { analyze, merge } from '../../../src/engine/merge.js'
import { byKey, conflictsOf, modelTable, normalize, type KeyMode } from './generated-table.js'
import { ENGINES, databasePerBlock, makeBackup, readTable, type EngineName } from './harness.js'
import { referenceMerge, type ModelChoice, type ModelRow, type ModelStrategy } from './reference-model.js'

function ddl(engine: EngineName, mode: KeyMode): string {
  const pg = engine === 'postgres'
  // PostgreSQL's json has no equality operator; a table without a key is matched on whole rows,
  // so there the document column is jsonb.
  const json = pg ? (mode === 'none' ? 'jsonb' : 'json') : 'JSON'
  const cols = pg
    ? `id integer NOT NULL, k2 text NOT NULL, name text, qty numeric, data ${json}, "updatedAt" timestamptz(6)`
    : `id INTEGER NOT NULL, k2 TEXT NOT NULL, name TEXT, qty NUMERIC, data ${json}, "updatedAt" DATETIME`
  const key = mode === 'single' ? ', PRIMARY KEY (id)' : mode === 'composite' ? ', PRIMARY KEY (id, k2)' : ''
  return `DROP TABLE IF EXISTS "Gen"; CREATE TABLE "Gen" (${cols}${key});`
}

const literal = (v: unknown) => (v === null || v === undefined ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`)
const insertSql = (rows: readonly ModelRow[]) =>
  rows.length === 0 ? '' : `INSERT INTO "Gen" (id, k2, name, qty, data, "updatedAt") VALUES ${rows.map((r) => `(${[r.id, r.k2, r.name, r.qty, r.data, r.updatedAt].map(literal).join(', ')})`).join(', ')};`

const stamp = (minute: number, micro: number) => `2024-03-01T10:${String(minute).padStart(2, '0')}:00.${String(micro).padStart(6, '0')}Z`
const values = {
  name: fc.constantFrom<ModelRow[string]>(null, 'a', 'b', 'ünï', "o'q"),
  qty: fc.constantFrom<ModelRow[string]>(null, '1.5', '1.50', '2', '-0.25'),
  data: fc.constantFrom<ModelRow[string]>(null, '{"a":1,"b":2}', '{"b":2,"a":1}', '[1,2]', '{"a":2}'),
  updatedAt: fc.option(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0, 1, 500000)).map(([m, u]) => stamp(m, u)), { nil: null }),
}
const fieldsArb = fc.record({ name: values.name, qty: values.qty, data: values.data, updatedAt: values.updatedAt })

/** A case: keys, backup rows, and what happens to each on the live side. */
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
        // keep | delete | replace with other values (timestamps older, newer, equal or missing)
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
  // New rows get keys no backup row has (ids 100+).
  c.added.forEach((r, i) => rows.push({ ...r, id: 100 + i }))
  // Without a key, the same row may be there twice.
  if (c.mode === 'none' && c.duplicate && rows.length > 0) rows.push({ ...rows[0] })
  return rows
}

describe.each(ENGINES)('merge agrees with the reference model of §4 (%s, generated)', (engine) => {
  const fixture = databasePerBlock(engine)

  it('under every strategy', async () => {
    const { db, tmp } = fixture
    let n = 0
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const table = modelTable(c.mode)
        await db.exec(ddl(engine, c.mode) + insertSql(c.backup))
        const file = await makeBackup(db, tmp.file(`case-${n++}.json`))
        const live = liveRows(c)
        const strategies: ModelStrategy[] = ['backup_wins', 'current_wins', 'merge_fields', 'manual']
        for (const strategy of strategies) {
          await db.exec(`DELETE FROM "Gen";` + insertSql(live))
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
          const after = (await readTable(db, 'Gen', ['id', 'k2'])).map(normalize).sort()
          expect(after, strategy).toEqual(expected.rows.map((r) => normalize(r)).sort())
        }
      }),
      { numRuns: 20, endOnFailure: true },
    )
  })
})
