import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { ColumnSchema, Row, TableSchema, ValueKind } from '../adapters/adapter.js'
import { FormatError, UsageError } from '../errors.js'
import { planBatch, recordFingerprint, type BatchOptions } from './plan.js'
import { ResolutionIndex, parseResolutions } from './resolutions.js'
import { buildMergeTable, toCurrentEncoding, type MergeTable } from './table-info.js'
import type { Strategy } from './strategies.js'
import {
  referenceMerge,
  type ModelChoice,
  type ModelKind,
  type ModelRow,
  type ModelTable,
} from '../../test/integration/merge/reference-model.js'

function column(name: string, kind: ValueKind, nullable = true, extra: Partial<ColumnSchema> = {}): ColumnSchema {
  return { name, type: kind, kind, nullable, ...extra }
}

function schema(name: string, columns: ColumnSchema[], primaryKey: string[], extra: Partial<TableSchema> = {}): TableSchema {
  return { name, columns, primaryKey, uniqueConstraints: [], indexes: [], foreignKeys: [], ...extra }
}

const USERS = schema(
  'User',
  [column('id', 'text', false), column('name', 'text'), column('score', 'decimal'), column('data', 'json'), column('updatedAt', 'timestamptz')],
  ['id'],
)
const users = buildMergeTable(USERS, USERS, { engine: 'postgres' })

const T0 = '2024-01-15T10:00:00Z'
const T1 = '2024-01-15T11:00:00.000Z' // later, other precision
const base: Row = { id: 'u1', name: 'Ann', score: '1.50', data: '{"a":1,"b":2}', updatedAt: T0 }

function plan(table: MergeTable, backup: Row[], current: Row[], options: Partial<BatchOptions> = {}) {
  return planBatch(table, backup, current, { strategy: 'backup_wins', preserveNewer: true, fingerprints: true, ...options })
}

describe('planBatch: the §4 table', () => {
  it('no current record → new, inserted', () => {
    const p = plan(users, [base], [])
    expect(p.counts.new).toBe(1)
    expect(p.inserts).toEqual([base])
    expect(p.updates).toEqual([])
    expect(p.decisions[0]).toMatchObject({ decision: 'new', fingerprint: null })
  })

  it('equal under the engine equality → unchanged (1.50 = 1.5, JSON key order, timestamp precision)', () => {
    const current = { ...base, score: '1.5', data: '{"b":2,"a":1}', updatedAt: '2024-01-15T10:00:00.000000Z' }
    const p = plan(users, [base], [current])
    expect(p.counts.unchanged).toBe(1)
    expect(p.inserts).toEqual([])
    expect(p.updates).toEqual([])
  })

  it('differ, backup newer → updated with the backup values', () => {
    const b = { ...base, name: 'Anne', updatedAt: T1 }
    const p = plan(users, [b], [base])
    expect(p.counts.updated).toBe(1)
    expect(p.updates).toEqual([[{ id: 'u1', name: 'Anne', score: '1.50', data: '{"a":1,"b":2}', updatedAt: T1 }]])
  })

  it('differ, current newer → kept, nothing written', () => {
    const c = { ...base, name: 'Annie', updatedAt: T1 }
    const p = plan(users, [base], [c])
    expect(p.counts.kept).toBe(1)
    expect(p.updates).toEqual([])
    expect(p.conflicts).toEqual([])
  })

  it.each([
    ['timestamps equal', { ...base, name: 'X' }, base, true],
    ['backup timestamp missing', { ...base, name: 'X', updatedAt: null }, base, true],
    ['current timestamp missing', { ...base, name: 'X' }, { ...base, updatedAt: null }, true],
    ['preserveNewer off (backup newer)', { ...base, name: 'X', updatedAt: T1 }, base, false],
    ['preserveNewer off (current newer)', base, { ...base, name: 'X', updatedAt: T1 }, false],
  ] as Array<[string, Row, Row, boolean]>)('differ, %s → conflict', (_name, b, c, preserveNewer) => {
    const p = plan(users, [b], [c], { preserveNewer })
    expect(p.counts).toMatchObject({ conflicts: 1, resolved: { backup: 1, current: 0, merged: 0 } })
    expect(p.conflicts).toHaveLength(1)
    expect(p.conflicts[0].table).toBe('User')
    expect(p.conflicts[0].key).toBe('u1')
    for (const field of p.conflicts[0].fields) expect(field).toEqual({ name: field.name, backup: b[field.name], current: c[field.name] })
  })

  it('counts matched records for currentOnly', () => {
    const p = plan(users, [base, { ...base, id: 'u2' }], [base, { ...base, id: 'u9' }])
    expect(p.matched).toBe(1)
  })

  it('a table without a timestamp field: every difference is a conflict', () => {
    const noTs = schema('T', [column('id', 'integer', false), column('v', 'text')], ['id'])
    const table = buildMergeTable(noTs, noTs, { engine: 'sqlite' })
    expect(table.timestampField).toBeNull()
    const p = plan(table, [{ id: 1, v: 'a' }], [{ id: 1, v: 'b' }])
    expect(p.counts.conflicts).toBe(1)
  })

  describe('a MongoDB collection (its schema has only _id)', () => {
    const people = schema('people', [{ name: '_id', type: 'objectId', kind: 'document', nullable: false }], ['_id'])
    const date = (iso: string) => ({ $date: { $numberLong: String(Date.parse(iso)) } })
    const doc = (name: string, at: string, field = 'updatedAt'): Row => ({ _id: { $oid: '652f1b2c3d4e5f6a7b8c9d0e' }, name, [field]: date(at) })

    it('preserve-newer reads the documents\' updatedAt (or another candidate both have)', () => {
      const table = buildMergeTable(people, people, { engine: 'mongodb' })
      expect(plan(table, [doc('backup', T1)], [doc('current', T0)]).counts.updated).toBe(1)
      expect(plan(table, [doc('backup', T0)], [doc('current', T1)]).counts.kept).toBe(1)
      expect(plan(table, [doc('backup', T0, 'modified_at')], [doc('current', T1, 'modified_at')]).counts.kept).toBe(1)
      expect(plan(table, [doc('backup', T1)], [doc('current', T0, 'modified_at')]).counts.conflicts).toBe(1)
    })

    it('--timestamp-field names a field no schema declares', () => {
      const table = buildMergeTable(people, people, { engine: 'mongodb', timestampField: 'changed' })
      expect(table.timestampField).toBe('changed')
      const b = { ...doc('backup', T0), changed: date(T1) }
      const c = { ...doc('current', T1), changed: date(T0) }
      expect(plan(table, [b], [c]).counts.updated).toBe(1)
    })
  })

  it('refuses two backup records with one key (a broken file)', () => {
    expect(() => plan(users, [base, { ...base }], [], {})).toThrow(FormatError)
  })
})

describe('planBatch: strategies', () => {
  const b = { ...base, name: 'Backup', score: null, data: '{"x":1}', updatedAt: T1 }
  const c = { ...base, name: 'Current', score: '2', data: null, updatedAt: T0 }

  it('backup_wins: the record takes the backup values; columns the backup lacks are not written', () => {
    const partial = { id: 'u1', name: 'Backup' }
    const p = plan(users, [partial], [c], { strategy: 'backup_wins' })
    expect(p.updates).toEqual([[{ id: 'u1', name: 'Backup' }]])
    expect(p.counts.resolved.backup).toBe(1)
  })

  it('current_wins: nothing written', () => {
    const p = plan(users, [b], [c], { strategy: 'current_wins', preserveNewer: false })
    expect(p.updates).toEqual([])
    expect(p.counts.resolved.current).toBe(1)
  })

  it('merge_fields: null/absent sides take the other value, conflicts take the newer (timestamps tell)', () => {
    const p = plan(users, [b], [c], { strategy: 'merge_fields', preserveNewer: false })
    expect(p.counts.resolved.merged).toBe(1)
    // name: both set, backup newer → backup; score: backup null → current; data: current null → backup
    expect(p.updates).toEqual([[{ id: 'u1', name: 'Backup', score: '2', data: '{"x":1}', updatedAt: T1 }]])
  })

  it('merge_fields: without a deciding timestamp, field conflicts keep the current value', () => {
    const p = plan(users, [{ ...b, updatedAt: T0 }], [c], { strategy: 'merge_fields' })
    expect(p.updates).toEqual([[{ id: 'u1', name: 'Current', score: '2', data: '{"x":1}', updatedAt: T0 }]])
  })

  it('merge_fields: a merge that changes nothing writes nothing but still counts as merged', () => {
    const p = plan(users, [{ ...base, name: 'Other', updatedAt: null }], [base], { strategy: 'merge_fields' })
    expect(p.counts.resolved.merged).toBe(1)
    expect(p.updates).toEqual([])
  })

  it('manual: unresolved without a resolution, decided by one', () => {
    const unresolved = plan(users, [b], [c], { strategy: 'manual', preserveNewer: false })
    expect(unresolved.counts).toMatchObject({ conflicts: 1, unresolved: 1 })
    expect(unresolved.updates).toEqual([])
    expect(unresolved.decisions[0].decision).toBe('conflict:unresolved')

    const index = new ResolutionIndex(parseResolutions([{ table: 'User', key: 'u1', resolution: { fields: { name: 'Chosen' } } }]))
    const used: unknown[] = []
    const resolved = plan(users, [b], [c], {
      strategy: 'manual',
      preserveNewer: false,
      resolutions: index.forTable(users),
      onResolutionUsed: (e) => used.push(e),
    })
    expect(resolved.counts).toMatchObject({ conflicts: 1, unresolved: 0, resolved: { merged: 1 } })
    expect(resolved.updates).toEqual([[{ id: 'u1', name: 'Chosen' }]])
    expect(used).toHaveLength(1)
  })

  it('an explicit resolution wins over the strategy', () => {
    const index = new ResolutionIndex(parseResolutions([{ table: 'User', key: 'u1', resolution: 'current' }]))
    const p = plan(users, [b], [c], { strategy: 'backup_wins', preserveNewer: false, resolutions: index.forTable(users) })
    expect(p.counts.resolved.current).toBe(1)
    expect(p.updates).toEqual([])
  })

  it('groups updates by column set so each updateRows call has one shape', () => {
    const index = new ResolutionIndex(parseResolutions([{ table: 'User', key: 'u2', resolution: { fields: { name: 'Two' } } }]))
    const p = plan(
      users,
      [b, { ...b, id: 'u2' }, { ...b, id: 'u3' }],
      [c, { ...c, id: 'u2' }, { ...c, id: 'u3' }],
      { strategy: 'backup_wins', preserveNewer: false, resolutions: index.forTable(users) },
    )
    expect(p.updates).toHaveLength(2)
    expect(p.updates.map((g) => g.length).sort()).toEqual([1, 2])
  })
})

describe('composite keys and unique-key matching', () => {
  const ALLOC = schema('RoomAllocation', [column('roomId', 'integer', false), column('registrationId', 'text', false), column('bed', 'text')], ['roomId', 'registrationId'])
  const alloc = buildMergeTable(ALLOC, ALLOC, { engine: 'postgres' })

  it('matches on all key columns and reports the key as an object', () => {
    const p = plan(alloc, [{ roomId: 1, registrationId: 'r1', bed: 'A' }, { roomId: 1, registrationId: 'r2', bed: 'B' }], [{ roomId: 1, registrationId: 'r1', bed: 'Z' }], { preserveNewer: false })
    expect(p.counts).toMatchObject({ new: 1, conflicts: 1 })
    expect(p.conflicts[0].key).toEqual({ roomId: 1, registrationId: 'r1' })
    expect(p.updates).toEqual([[{ roomId: 1, registrationId: 'r1', bed: 'A' }]])
  })

  it('resolutions name composite keys by object, with numbers in any spelling', () => {
    const index = new ResolutionIndex(parseResolutions([{ table: 'RoomAllocation', key: { roomId: '1', registrationId: 'r1' }, resolution: 'current' }]))
    const p = plan(alloc, [{ roomId: 1, registrationId: 'r1', bed: 'A' }], [{ roomId: 1, registrationId: 'r1', bed: 'Z' }], {
      strategy: 'manual',
      resolutions: index.forTable(alloc),
    })
    expect(p.counts.resolved.current).toBe(1)
  })

  it('a table without a primary key is matched on a unique NOT NULL key, not on a nullable or partial one', () => {
    const t = schema('Setting', [column('id', 'integer', true), column('name', 'text', false), column('value', 'text')], [], {
      uniqueConstraints: [{ name: 'setting_id_key', columns: ['id'] }],
      indexes: [
        { name: 'partial', columns: ['value'], unique: true, definition: 'CREATE UNIQUE INDEX partial ON "Setting" (value) WHERE value IS NOT NULL' },
        { name: 'setting_name', columns: ['name'], unique: true },
      ],
    })
    const table = buildMergeTable(t, t, { engine: 'postgres' })
    expect(table.match).toBe('unique')
    expect(table.keyColumns).toEqual(['name'])
  })

  it('a table with no usable key falls back to whole-row identity', () => {
    const t = schema('Log', [column('at', 'timestamptz'), column('line', 'text')], [])
    expect(buildMergeTable(t, t, { engine: 'sqlite' }).match).toBe('row')
  })
})

describe('drift and seed files', () => {
  it('refuses a table the database lacks and a backup column it lacks (UsageError, with --exclude)', () => {
    expect(() => buildMergeTable(USERS, undefined, { engine: 'postgres' })).toThrow(/--exclude User/)
    const narrower = schema('User', USERS.columns.filter((c) => c.name !== 'data'), ['id'])
    expect(() => buildMergeTable(USERS, narrower, { engine: 'postgres' })).toThrow(UsageError)
    expect(() => toCurrentEncoding(users, { ...base, extra: 1 }, 0)).toThrow(/"extra"/)
  })

  it('a seed record without types is converted to the current column types and compared there', () => {
    const seed = schema('User', [column('id', 'unknown'), column('score', 'unknown'), column('updatedAt', 'unknown'), column('data', 'unknown')], ['id'])
    const table = buildMergeTable(seed, USERS, { engine: 'postgres' })
    const b = toCurrentEncoding(table, { id: 'u1', score: 1.5, updatedAt: '2024-01-15T10:00:00.000Z', data: { b: 2, a: 1 } }, 0)
    expect(b).toEqual({ id: 'u1', score: '1.5', updatedAt: '2024-01-15T10:00:00Z', data: '{"b":2,"a":1}' })
    expect(plan(table, [b], [base]).counts.unchanged).toBe(1)
  })

  it('a key column without a value is a FormatError naming the record', () => {
    expect(() => toCurrentEncoding(users, { id: null, name: 'x' }, 7)).toThrow(/record 7/)
  })
})

describe('fingerprints', () => {
  it('are stable across spellings of equal values and change with any real change', () => {
    const same = { ...base, score: '1.5', data: '{"b":2,"a":1}' }
    expect(recordFingerprint(users, base)).toBe(recordFingerprint(users, same))
    expect(recordFingerprint(users, base)).not.toBe(recordFingerprint(users, { ...base, name: 'Other' }))
    expect(recordFingerprint(users, base)).not.toBe(recordFingerprint(users, { ...base, name: null }))
  })
})

describe('resolutions', () => {
  it('rejects bad shapes with the entry named', () => {
    expect(() => parseResolutions({})).toThrow(/JSON array/)
    expect(() => parseResolutions([{ table: 'User', key: 'u1', resolution: 'theirs' }])).toThrow(/\[0\]\.resolution/)
    expect(() => parseResolutions([{ key: 'u1', resolution: 'backup' }])).toThrow(/table/)
    expect(() => parseResolutions([{ table: 'User', key: null, resolution: 'backup' }])).toThrow(/key/)
  })
  it('accepts a conflict object from analyze --json with a resolution added', () => {
    const [r] = parseResolutions([{ table: 'User', key: 'u1', fields: [{ name: 'name', backup: 'a', current: 'b' }], resolution: 'merge' }])
    expect(r.resolution).toBe('merge')
  })
  it('checks keys and fields against the table', () => {
    const bad = (resolution: unknown) => () => new ResolutionIndex(parseResolutions([resolution])).forTable(users)
    expect(bad({ table: 'User', key: 'u1', resolution: { fields: { nope: 1 } } })).toThrow(/no column "nope"/)
    expect(bad({ table: 'User', key: 'u1', resolution: { fields: { id: 'u2' } } })).toThrow(/key column/)
    const twice = new ResolutionIndex(parseResolutions([
      { table: 'User', key: 'u1', resolution: 'backup' },
      { table: 'User', key: { id: 'u1' }, resolution: 'current' },
    ]))
    expect(() => twice.forTable(users)).toThrow(/resolved twice/)
  })
  it('reports resolutions that matched no conflict', () => {
    const index = new ResolutionIndex(parseResolutions([{ table: 'User', key: 'nobody', resolution: 'backup' }]))
    plan(users, [base], [base], { resolutions: index.forTable(users), onResolutionUsed: (e) => index.markUsed(e) })
    expect(index.unused()).toHaveLength(1)
  })
})

// ---------------------------------------------------------------------------------------------
// Property test: planBatch applied in memory agrees with the reference model of §4.

const MODEL_FIELDS: { name: string; kind: ModelKind }[] = [
  { name: 'id', kind: 'integer' },
  { name: 'name', kind: 'text' },
  { name: 'score', kind: 'decimal' },
  { name: 'data', kind: 'json' },
  { name: 'updatedAt', kind: 'timestamptz' },
]
const MODEL_SCHEMA = schema(
  'Item',
  MODEL_FIELDS.map((f) => column(f.name, f.kind, f.name !== 'id')),
  ['id'],
)
const MODEL_TABLE: ModelTable = { key: ['id'], fields: MODEL_FIELDS, timestampField: 'updatedAt' }

const stamp = (minute: number, micro: number) => `2024-03-01T10:${String(minute).padStart(2, '0')}:00.${String(micro).padStart(6, '0')}Z`
const value = {
  name: fc.constantFrom(null, 'a', 'b', 'c'),
  score: fc.constantFrom(null, '1.5', '1.50', '2', '2.0'),
  data: fc.constantFrom(null, '{"a":1,"b":2}', '{"b":2,"a":1}', '{"a":2}', '[1,2]'),
  updatedAt: fc.option(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0, 1)).map(([m, u]) => stamp(m, u)), { nil: null }),
}
const row = (id: number) => fc.record({ id: fc.constant(id), name: value.name, score: value.score, data: value.data, updatedAt: value.updatedAt })

const scenario = fc
  .uniqueArray(fc.integer({ min: 1, max: 30 }), { maxLength: 15 })
  .chain((ids) =>
    fc.record({
      backup: fc.tuple(...ids.map(row)),
      // For each backup row: keep, delete, or replace by a mutated version; plus rows only current has.
      mutations: fc.tuple(...ids.map((id) => fc.oneof(fc.constant('keep' as const), fc.constant('delete' as const), row(id)))),
      extra: fc.uniqueArray(fc.integer({ min: 31, max: 40 }), { maxLength: 4 }).chain((extra) => fc.tuple(...extra.map(row))),
      strategy: fc.constantFrom<Strategy>('backup_wins', 'current_wins', 'merge_fields', 'manual'),
      preserveNewer: fc.boolean(),
      resolve: fc.array(fc.constantFrom<ModelChoice>('backup', 'current', 'merge', { fields: { name: 'chosen' } }), { maxLength: 15 }),
    }),
  )

function applyPlan(current: Row[], p: ReturnType<typeof planBatch>): Row[] {
  const byId = new Map(current.map((r) => [r.id, { ...r }]))
  for (const r of p.inserts) byId.set(r.id, { ...r })
  for (const group of p.updates) for (const u of group) Object.assign(byId.get(u.id)!, u)
  return [...byId.values()]
}

const sortRows = (rows: readonly Row[]) => [...rows].sort((a, b) => Number(a.id) - Number(b.id))
const equalRows = (a: readonly Row[], b: readonly ModelRow[]) =>
  a.length === b.length &&
  sortRows(a).every((r, i) => {
    const m = sortRows(b as Row[])[i]
    return MODEL_FIELDS.every((f) => JSON.stringify(r[f.name] ?? null) === JSON.stringify(m[f.name] ?? null))
  })

describe('planBatch agrees with the reference model of §4 (property)', () => {
  it('counts, conflicts and resulting rows, under every strategy', () => {
    const table = buildMergeTable(MODEL_SCHEMA, MODEL_SCHEMA, { engine: 'postgres' })
    fc.assert(
      fc.property(scenario, (s) => {
        const current: Row[] = []
        s.backup.forEach((b, i) => {
          const m = s.mutations[i]
          if (m === 'keep') current.push({ ...b })
          else if (m !== 'delete') current.push(m)
        })
        current.push(...s.extra)
        // Resolutions for some of the records (they apply only where a record conflicts).
        const modelResolutions = new Map<string, ModelChoice>()
        const resolutions = s.resolve.slice(0, s.backup.length).map((choice, i) => {
          modelResolutions.set(JSON.stringify([s.backup[i].id]), choice)
          return { table: 'Item', key: s.backup[i].id, resolution: choice }
        })
        const index = new ResolutionIndex(parseResolutions(resolutions))
        const p = planBatch(table, s.backup, current, {
          strategy: s.strategy,
          preserveNewer: s.preserveNewer,
          resolutions: index.forTable(table),
        })
        const expected = referenceMerge(MODEL_TABLE, s.backup, current as ModelRow[], {
          strategy: s.strategy,
          preserveNewer: s.preserveNewer,
          resolutions: modelResolutions,
        })
        expect({ ...p.counts, currentOnly: current.length - p.matched }).toEqual(expected.counts)
        expect(p.conflicts.map((c) => ({ key: JSON.stringify([c.key]), fields: c.fields.map((f) => f.name).sort() }))).toEqual(expected.conflicts)
        expect(equalRows(applyPlan(current, p), expected.rows)).toBe(true)
      }),
      { numRuns: 300 },
    )
  })
})
