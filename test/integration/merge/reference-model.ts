/**
 * A deliberately small, independent model of DESIGN.md §4, written from the table in the design
 * and nothing else, for property tests: the merge core (unit test) and the real merge on
 * PostgreSQL and SQLite (integration test) must agree with it on counts, conflicts and the
 * resulting table.
 *
 * It knows only the handful of kinds the generators produce, each compared in the plainest way
 * (no shared code with src/merge/equality.ts).
 */
export type ModelKind = 'integer' | 'text' | 'decimal' | 'json' | 'timestamptz'
export type ModelValue = null | number | string
export type ModelRow = Record<string, ModelValue>
export type ModelStrategy = 'backup_wins' | 'current_wins' | 'merge_fields' | 'manual'
export type ModelChoice = 'backup' | 'current' | 'merge' | { fields: ModelRow }

export interface ModelTable {
  /** Key columns; empty = whole-row identity. */
  readonly key: readonly string[]
  readonly fields: readonly { readonly name: string; readonly kind: ModelKind }[]
  readonly timestampField: string | null
}

export interface ModelCounts {
  new: number
  unchanged: number
  updated: number
  kept: number
  conflicts: number
  resolved: { backup: number; current: number; merged: number }
  unresolved: number
  currentOnly: number
}

export interface ModelResult {
  readonly counts: ModelCounts
  /** Conflicts: key (JSON of the key values) and the names of the differing fields, sorted. */
  readonly conflicts: readonly { readonly key: string; readonly fields: readonly string[] }[]
  /** The table after the merge. */
  readonly rows: readonly ModelRow[]
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep)
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortDeep((v as Record<string, unknown>)[k])]),
    )
  }
  return v
}

/** Microseconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"-like text. */
export function micros(text: string): number {
  const m = /^(.*?:\d\d)(?:\.(\d+))?(Z|[+-]\d\d(?::?\d\d)?)?$/.exec(text.replace(' ', 'T'))!
  const seconds = Date.parse(`${m[1]}${m[3] ?? 'Z'}`)
  return seconds * 1000 + Number((m[2] ?? '').padEnd(6, '0').slice(0, 6))
}

export function modelEqual(kind: ModelKind, a: ModelValue | undefined, b: ModelValue | undefined): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null)
  switch (kind) {
    case 'integer':
    case 'decimal':
      return Number(a) === Number(b)
    case 'text':
      return a === b
    case 'json':
      return JSON.stringify(sortDeep(JSON.parse(String(a)))) === JSON.stringify(sortDeep(JSON.parse(String(b))))
    case 'timestamptz':
      return micros(String(a)) === micros(String(b))
  }
}

const nothing = (v: ModelValue | undefined) => v === null || v === undefined

export function emptyModelCounts(): ModelCounts {
  return { new: 0, unchanged: 0, updated: 0, kept: 0, conflicts: 0, resolved: { backup: 0, current: 0, merged: 0 }, unresolved: 0, currentOnly: 0 }
}

/** The §4 merge of `backup` into `current`, in memory. */
export function referenceMerge(
  table: ModelTable,
  backup: readonly ModelRow[],
  current: readonly ModelRow[],
  options: { strategy: ModelStrategy; preserveNewer: boolean; resolutions?: ReadonlyMap<string, ModelChoice> },
): ModelResult {
  const counts = emptyModelCounts()
  const kindOf = new Map(table.fields.map((f) => [f.name, f.kind]))
  const rowsEqual = (a: ModelRow, b: ModelRow) => table.fields.every((f) => modelEqual(f.kind, a[f.name], b[f.name]))

  if (table.key.length === 0) {
    // Whole-row identity, counting duplicates.
    const rows = current.map((r) => ({ ...r }))
    const available = current.map(() => true)
    for (const b of backup) {
      const i = current.findIndex((c, j) => available[j] && rowsEqual(b, c))
      if (i >= 0) {
        available[i] = false
        counts.unchanged++
      } else {
        counts.new++
        rows.push({ ...b })
      }
    }
    counts.currentOnly = current.length - counts.unchanged
    return { counts, conflicts: [], rows }
  }

  const keyOf = (r: ModelRow) => JSON.stringify(table.key.map((k) => r[k]))
  const result = new Map(current.map((r) => [keyOf(r), { ...r }]))
  const conflicts: { key: string; fields: string[] }[] = []
  let matched = 0
  for (const b of backup) {
    const key = keyOf(b)
    const c = current.find((r) => keyOf(r) === key)
    if (!c) {
      counts.new++
      result.set(key, { ...b })
      continue
    }
    matched++
    const differing = table.fields.filter((f) => !table.key.includes(f.name) && !modelEqual(f.kind, b[f.name], c[f.name])).map((f) => f.name)
    if (differing.length === 0) {
      counts.unchanged++
      continue
    }
    let newer: 'backup' | 'current' | null = null
    const ts = table.timestampField
    if (ts && !nothing(b[ts]) && !nothing(c[ts])) {
      const tb = micros(String(b[ts]))
      const tc = micros(String(c[ts]))
      newer = tb > tc ? 'backup' : tb < tc ? 'current' : null
    }
    if (options.preserveNewer && newer === 'backup') {
      counts.updated++
      result.set(key, { ...c, ...b })
      continue
    }
    if (options.preserveNewer && newer === 'current') {
      counts.kept++
      continue
    }
    counts.conflicts++
    conflicts.push({ key, fields: [...differing].sort() })
    const choice: ModelChoice | undefined =
      options.resolutions?.get(key) ??
      { backup_wins: 'backup' as const, current_wins: 'current' as const, merge_fields: 'merge' as const, manual: undefined }[options.strategy]
    if (choice === undefined) counts.unresolved++
    else if (choice === 'backup') {
      counts.resolved.backup++
      result.set(key, { ...c, ...b })
    } else if (choice === 'current') counts.resolved.current++
    else if (choice === 'merge') {
      counts.resolved.merged++
      const merged: ModelRow = { ...c }
      for (const name of Object.keys(b)) {
        if (table.key.includes(name)) continue
        const kind = kindOf.get(name)!
        if (modelEqual(kind, b[name], c[name])) continue
        if (nothing(b[name])) continue
        if (nothing(c[name])) merged[name] = b[name]
        else if (newer === 'backup') merged[name] = b[name]
      }
      result.set(key, merged)
    } else {
      counts.resolved.merged++
      result.set(key, { ...c, ...choice.fields })
    }
  }
  counts.currentOnly = current.length - matched
  return { counts, conflicts, rows: [...result.values()] }
}

/** Counts of a three-way merge: the two-way ones and the three-way classes. */
export interface ThreeWayModelCounts extends ModelCounts {
  deletedInBackup: number
  deletedHere: number
  deleted: number
}

export type ThreeWayKind = 'modify/modify' | 'delete/modify' | 'modify/delete'

export interface ThreeWayModelResult {
  readonly counts: ThreeWayModelCounts
  /** Conflicts: key (JSON of the key values), kind, and the names of the fields listed, sorted. */
  readonly conflicts: readonly { readonly key: string; readonly kind: ThreeWayKind; readonly fields: readonly string[] }[]
  readonly rows: readonly ModelRow[]
}

/**
 * The three-way merge of issue #18, written from its decision table alone (docs/merge.md
 * "Three-way merge"), for keyed tables: `base` is the common ancestor of `backup` and `current`.
 */
export function referenceThreeWay(
  table: ModelTable,
  base: readonly ModelRow[],
  backup: readonly ModelRow[],
  current: readonly ModelRow[],
  options: { strategy: ModelStrategy; preserveNewer: boolean; applyDeletions: boolean; resolutions?: ReadonlyMap<string, ModelChoice> },
): ThreeWayModelResult {
  if (table.key.length === 0) throw new Error('referenceThreeWay: keyed tables only')
  const counts: ThreeWayModelCounts = { ...emptyModelCounts(), deletedInBackup: 0, deletedHere: 0, deleted: 0 }
  const keyOf = (r: ModelRow) => JSON.stringify(table.key.map((k) => r[k]))
  const data = table.fields.filter((f) => !table.key.includes(f.name))
  const eq = (name: string, x: ModelRow | undefined, y: ModelRow | undefined) => modelEqual(data.find((f) => f.name === name)!.kind, x?.[name], y?.[name])
  const A = new Map(base.map((r) => [keyOf(r), r]))
  const B = new Map(backup.map((r) => [keyOf(r), r]))
  const C = new Map(current.map((r) => [keyOf(r), r]))
  const result = new Map(current.map((r) => [keyOf(r), { ...r }]))
  const conflicts: { key: string; kind: ThreeWayKind; fields: string[] }[] = []
  const choiceFor = (key: string): ModelChoice | undefined =>
    options.resolutions?.get(key) ?? { backup_wins: 'backup' as const, current_wins: 'current' as const, merge_fields: 'merge' as const, manual: undefined }[options.strategy]
  const tally = (choice: ModelChoice | undefined) => {
    counts.conflicts++
    if (choice === undefined) counts.unresolved++
    else if (choice === 'backup') counts.resolved.backup++
    else if (choice === 'current') counts.resolved.current++
    else counts.resolved.merged++
  }
  const newerOf = (b: ModelRow, c: ModelRow): 'backup' | 'current' | null => {
    const ts = table.timestampField
    if (!ts || nothing(b[ts]) || nothing(c[ts])) return null
    const tb = micros(String(b[ts]))
    const tc = micros(String(c[ts]))
    return tb > tc ? 'backup' : tb < tc ? 'current' : null
  }
  let currentSeen = 0

  for (const [key, b] of B) {
    const a = A.get(key)
    const c = C.get(key)
    if (c) currentSeen++
    if (!a) {
      // New on one side (or both): the two-way rules, for this one record.
      const two = referenceMerge(table, [b], c ? [c] : [], { strategy: options.strategy, preserveNewer: options.preserveNewer, resolutions: options.resolutions })
      counts.new += two.counts.new
      counts.unchanged += two.counts.unchanged
      counts.updated += two.counts.updated
      counts.kept += two.counts.kept
      counts.conflicts += two.counts.conflicts
      counts.resolved.backup += two.counts.resolved.backup
      counts.resolved.current += two.counts.resolved.current
      counts.resolved.merged += two.counts.resolved.merged
      counts.unresolved += two.counts.unresolved
      for (const conflict of two.conflicts) conflicts.push({ key, kind: 'modify/modify', fields: [...conflict.fields] })
      result.set(key, { ...two.rows[0] })
      continue
    }
    if (!c) {
      const changed = data.filter((f) => !eq(f.name, a, b)).map((f) => f.name)
      if (changed.length === 0) {
        counts.deletedHere++
        continue
      }
      const choice = choiceFor(key)
      tally(choice)
      conflicts.push({ key, kind: 'modify/delete', fields: changed.sort() })
      if (choice === 'backup' || choice === 'merge') result.set(key, { ...b })
      else if (choice !== undefined && choice !== 'current') result.set(key, { ...b, ...choice.fields })
      continue
    }
    const take: string[] = []
    const clash: string[] = []
    let keptAny = false
    for (const { name } of data) {
      if (eq(name, b, c)) continue
      if (eq(name, a, b)) keptAny = true
      else if (eq(name, a, c)) take.push(name)
      else clash.push(name)
    }
    const row = result.get(key)!
    for (const name of take) row[name] = b[name]
    if (clash.length === 0) {
      if (take.length > 0) counts.updated++
      else if (keptAny) counts.kept++
      else counts.unchanged++
      continue
    }
    const choice = choiceFor(key)
    tally(choice)
    conflicts.push({ key, kind: 'modify/modify', fields: [...clash].sort() })
    if (choice === 'backup') for (const name of clash) row[name] = b[name]
    else if (choice === 'merge') {
      const newer = newerOf(b, c)
      for (const name of clash) {
        if (nothing(c[name]) && !nothing(b[name])) row[name] = b[name]
        else if (!nothing(b[name]) && !nothing(c[name]) && newer === 'backup') row[name] = b[name]
      }
    } else if (choice !== undefined && choice !== 'current') Object.assign(row, choice.fields)
  }

  for (const [key, a] of A) {
    if (B.has(key)) continue
    const c = C.get(key)
    if (!c) continue
    currentSeen++
    const changed = data.filter((f) => !eq(f.name, a, c)).map((f) => f.name)
    if (changed.length === 0) {
      counts.deletedInBackup++
      if (options.applyDeletions) {
        counts.deleted++
        result.delete(key)
      }
      continue
    }
    let choice = choiceFor(key)
    // Without --apply-deletions the strategy's "backup" keeps the record (explicit ones are refused; the generator gives none).
    if (choice === 'backup' && !options.applyDeletions) choice = 'current'
    tally(choice)
    conflicts.push({ key, kind: 'delete/modify', fields: changed.sort() })
    if (choice === 'backup') {
      counts.deleted++
      result.delete(key)
    } else if (choice !== undefined && choice !== 'current' && choice !== 'merge') Object.assign(result.get(key)!, choice.fields)
  }
  counts.currentOnly = current.length - currentSeen
  return { counts, conflicts, rows: [...result.values()] }
}
