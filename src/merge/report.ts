/**
 * The merge report (DESIGN.md §4): the one shape `analyze`, `merge` and `merge --dry-run` print
 * with `--json` and the API returns, and its rendering for a person.
 *
 *   { "tables": { "<table>": counts }, "totals": counts, "conflicts": [ { table, key, fields, resolution } ],
 *     "records": { "<table>": { "new": keys, "updated": keys, "kept": keys } } }
 *   counts = { new, unchanged, updated, kept, conflicts, resolved: { backup, current, merged },
 *              unresolved, currentOnly }
 *   keys = { "keys": [ key, … ] (at most RECORD_KEY_LIMIT), "more": how many more there are }
 *
 * `resolution` says what the strategy (or a manual resolution) decided for the conflict: backup,
 * current, merged, or unresolved. `records` names the records behind the counts that change or
 * keep a current record, so that a person can see which current rows a merge will overwrite
 * (issue #14); it stays bounded: per table and class, the first RECORD_KEY_LIMIT keys and a count.
 *
 * Nothing else goes into the JSON: warnings and progress are reported beside it, never inside.
 */
import { gunzipSync, gzipSync } from 'node:zlib'
import type { WireValue } from '../adapters/adapter.js'

/** Per-table (and total) counts. `conflicts` = resolved.backup + resolved.current + resolved.merged + unresolved. */
export interface MergeCounts {
  new: number
  unchanged: number
  updated: number
  kept: number
  conflicts: number
  resolved: { backup: number; current: number; merged: number }
  unresolved: number
  /** Current records no backup record matched: counted, never deleted. */
  currentOnly: number
  /**
   * Three-way merge only (`--base`, issue #18): records in the base and here but not in the backup,
   * unchanged here (kept, unless --apply-deletions deletes them).
   */
  deletedInBackup?: number
  /** Three-way only: records in the base and the backup, unchanged there, but deleted here (they stay deleted). */
  deletedHere?: number
  /** Three-way only: records this merge deletes (only with --apply-deletions). */
  deleted?: number
}

/** One field of a conflict whose two values differ (wire encoding; the backup's converted to the current column's type). */
export interface ConflictField {
  readonly name: string
  /** Three-way merge only: the base backup's value (null where the base has none). */
  readonly base?: WireValue
  readonly backup: WireValue
  readonly current: WireValue
}

/** A conflicting record: `key` is the key value, or an object of the key columns for a composite key. */
export interface MergeConflict {
  readonly table: string
  readonly key: WireValue
  readonly fields: readonly ConflictField[]
  /**
   * Three-way merge only: `modify/modify` (changed on both sides differently), `delete/modify`
   * (deleted in the backup, changed here), `modify/delete` (changed in the backup, deleted here).
   */
  readonly kind?: 'modify/modify' | 'delete/modify' | 'modify/delete'
  /** What was decided for it (strategy or manual resolution), or `unresolved`. */
  readonly resolution: 'backup' | 'current' | 'merged' | 'unresolved'
}

/** Keys of records of one class in one table: the first RECORD_KEY_LIMIT, and how many more. */
export interface RecordKeys {
  readonly keys: WireValue[]
  more: number
}

/** Per table: which records are new, updated (overwritten with the backup's values) or kept. */
export type RecordLists = Record<string, { readonly new: RecordKeys; readonly updated: RecordKeys; readonly kept: RecordKeys }>

/** Keys listed per table and class in `records`; the rest are counted. */
export const RECORD_KEY_LIMIT = 100

/** The report of analyze / merge / merge --dry-run (DESIGN.md §4, plus `records`, issue #14). */
export interface MergeReport {
  readonly tables: Record<string, MergeCounts>
  readonly totals: MergeCounts
  readonly conflicts: MergeConflict[]
  readonly records: RecordLists
}

/** Counts of zero, to add into. */
export function emptyCounts(): MergeCounts {
  return { new: 0, unchanged: 0, updated: 0, kept: 0, conflicts: 0, resolved: { backup: 0, current: 0, merged: 0 }, unresolved: 0, currentOnly: 0 }
}

/** Counts of zero with the three-way classes (a report made with a base backup). */
export function emptyThreeWayCounts(): MergeCounts {
  return { ...emptyCounts(), deletedInBackup: 0, deletedHere: 0, deleted: 0 }
}

/** Adds `more` into `into` (mutates and returns `into`). */
export function addCounts(into: MergeCounts, more: MergeCounts): MergeCounts {
  into.new += more.new
  into.unchanged += more.unchanged
  into.updated += more.updated
  into.kept += more.kept
  into.conflicts += more.conflicts
  into.resolved.backup += more.resolved.backup
  into.resolved.current += more.resolved.current
  into.resolved.merged += more.resolved.merged
  into.unresolved += more.unresolved
  into.currentOnly += more.currentOnly
  if (into.deletedInBackup !== undefined) {
    into.deletedInBackup += more.deletedInBackup ?? 0
    into.deletedHere! += more.deletedHere ?? 0
    into.deleted! += more.deleted ?? 0
  }
  return into
}

/**
 * Collects a report while a merge runs. Tables appear in the order they are first announced (the
 * backup file's order), whatever order they are processed in; totals are computed at build().
 */
export class ReportBuilder {
  readonly #tables = new Map<string, MergeCounts>()
  readonly #conflicts = new ConflictLog()
  readonly #records: RecordLists = {}
  readonly #threeWay: boolean

  /** `threeWay`: counts carry the three-way classes (deletedInBackup, deletedHere, deleted). */
  constructor(options: { readonly threeWay?: boolean } = {}) {
    this.#threeWay = Boolean(options.threeWay)
  }

  /** Notes the key of a record of this class (listed up to RECORD_KEY_LIMIT, counted beyond). */
  record(name: string, kind: 'new' | 'updated' | 'kept', key: WireValue): void {
    this.#records[name] ??= { new: { keys: [], more: 0 }, updated: { keys: [], more: 0 }, kept: { keys: [], more: 0 } }
    const list = this.#records[name][kind]
    if (list.keys.length < RECORD_KEY_LIMIT) list.keys.push(key)
    else list.more++
  }

  /** Announces a table (idempotent), so that an empty table still appears with zeros. */
  table(name: string): MergeCounts {
    let counts = this.#tables.get(name)
    if (!counts) {
      counts = this.#threeWay ? emptyThreeWayCounts() : emptyCounts()
      this.#tables.set(name, counts)
    }
    return counts
  }

  add(name: string, counts: MergeCounts, conflicts: readonly MergeConflict[] = []): void {
    addCounts(this.table(name), counts)
    for (const conflict of conflicts) this.#conflicts.push(conflict)
  }

  /** Unresolved conflicts so far (a `manual` merge refuses when this is not zero). */
  get unresolved(): number {
    let n = 0
    for (const counts of this.#tables.values()) n += counts.unresolved
    return n
  }

  build(): MergeReport {
    const tables: Record<string, MergeCounts> = {}
    const totals = this.#threeWay ? emptyThreeWayCounts() : emptyCounts()
    for (const [name, counts] of this.#tables) {
      tables[name] = structuredClone(counts)
      addCounts(totals, counts)
    }
    return reportWithConflicts({ tables, totals, records: structuredClone(this.#records) }, this.#conflicts)
  }
}

/** Conflicts kept as they are, up to this many; beyond, in compressed blocks of this many. */
const CONFLICT_BLOCK = 1000

/**
 * The conflicts of a report, in order, in little memory: a changed database can have hundreds of
 * thousands, and as objects they cost ~850 bytes each (at scale 20 they made most of analyze's
 * peak RSS, docs/performance.md "Round six: peak RSS"). Every CONFLICT_BLOCK of them are kept as
 * their JSON text, gzipped (~60 bytes a conflict); they are read back one block at a time.
 */
export class ConflictLog {
  readonly #blocks: Buffer[] = []
  #open: MergeConflict[] = []
  #count = 0

  get length(): number {
    return this.#count
  }

  push(conflict: MergeConflict): void {
    this.#open.push(conflict)
    this.#count++
    if (this.#open.length >= CONFLICT_BLOCK) {
      this.#blocks.push(gzipSync(JSON.stringify(this.#open), { level: 1 }))
      this.#open = []
    }
  }

  /** The first `n` conflicts. */
  first(n: number): MergeConflict[] {
    const out: MergeConflict[] = []
    for (const conflict of this) {
      if (out.length >= n) break
      out.push(conflict)
    }
    return out
  }

  *[Symbol.iterator](): IterableIterator<MergeConflict> {
    for (const block of this.#blocks) yield* JSON.parse(gunzipSync(block).toString('utf8')) as MergeConflict[]
    yield* this.#open
  }
}

/** Where a report built by ReportBuilder keeps its conflicts (for writeReportJson and renderReport). */
const CONFLICT_LOG = Symbol('conflictLog')
/** cli/output.ts prints a value that has this method with it, in pieces, instead of JSON.stringify(value, null, 2). */
export const WRITE_JSON = Symbol.for('mergeback.writeJson')

/**
 * The report with `conflicts` read from the log when first used (then kept): printing the report
 * (writeReportJson, renderReport) never needs them all in memory at once.
 */
function reportWithConflicts(report: Omit<MergeReport, 'conflicts'>, log: ConflictLog): MergeReport {
  let conflicts: MergeConflict[] | undefined
  const out = { tables: report.tables, totals: report.totals } as MergeReport
  Object.defineProperty(out, 'conflicts', {
    enumerable: true,
    configurable: true,
    get: () => (conflicts ??= [...log]),
    set: (value: MergeConflict[]) => {
      conflicts = value
      // Printing follows what was set, not the log.
      delete (out as { [CONFLICT_LOG]?: ConflictLog })[CONFLICT_LOG]
    },
  })
  Object.assign(out, { records: report.records })
  Object.defineProperty(out, CONFLICT_LOG, { value: log, enumerable: false, configurable: true })
  Object.defineProperty(out, WRITE_JSON, { value: (write: (text: string) => void) => writeReportJson(out, write), enumerable: false })
  return out
}

/** The conflicts of a report as an iterable with a length, without building the array when the report has a log. */
function conflictsOf(report: MergeReport): { readonly length: number; first(n: number): MergeConflict[]; [Symbol.iterator](): Iterator<MergeConflict> } {
  const log = (report as { [CONFLICT_LOG]?: ConflictLog })[CONFLICT_LOG]
  if (log !== undefined) return log
  const conflicts = report.conflicts
  return { length: conflicts.length, first: (n) => conflicts.slice(0, n), [Symbol.iterator]: () => conflicts[Symbol.iterator]() }
}

/**
 * Writes `JSON.stringify(report, null, 2)` (the same text, byte for byte) in pieces to `write`, one
 * conflict at a time: neither the conflicts nor the whole text are ever in memory at once.
 */
export function writeReportJson(report: MergeReport, write: (text: string) => void): void {
  // `conflicts` is always an array; reading it here would build it from the log.
  const keys = Object.keys(report).filter((key) => key === 'conflicts' || (report as unknown as Record<string, unknown>)[key] !== undefined)
  write('{')
  keys.forEach((key, i) => {
    write(`${i === 0 ? '' : ','}\n  ${JSON.stringify(key)}: `)
    if (key !== 'conflicts') {
      write(JSON.stringify((report as unknown as Record<string, unknown>)[key], null, 2).replaceAll('\n', '\n  '))
      return
    }
    const conflicts = conflictsOf(report)
    if (conflicts.length === 0) {
      write('[]')
      return
    }
    write('[')
    let first = true
    for (const conflict of conflicts) {
      write(`${first ? '' : ','}\n    ${JSON.stringify(conflict, null, 2).replaceAll('\n', '\n    ')}`)
      first = false
    }
    write('\n  ]')
  })
  write(keys.length === 0 ? '}' : '\n}')
}

const TWO_WAY_COLUMNS: ReadonlyArray<[string, (c: MergeCounts) => number]> = [
  ['new', (c) => c.new],
  ['unchanged', (c) => c.unchanged],
  ['updated', (c) => c.updated],
  ['kept', (c) => c.kept],
  ['conflicts', (c) => c.conflicts],
  ['→backup', (c) => c.resolved.backup],
  ['→current', (c) => c.resolved.current],
  ['→merged', (c) => c.resolved.merged],
  ['unresolved', (c) => c.unresolved],
  ['current only', (c) => c.currentOnly],
]

/** Extra columns of a three-way report. */
const THREE_WAY_COLUMNS: ReadonlyArray<[string, (c: MergeCounts) => number]> = [
  ['deleted in backup', (c) => c.deletedInBackup ?? 0],
  ['deleted here', (c) => c.deletedHere ?? 0],
  ['deleted', (c) => c.deleted ?? 0],
]

function cell(value: WireValue, width: number): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > width ? `${text.slice(0, width - 1)}…` : text
}

/**
 * The report as a person reads it on a terminal: one line per table, a totals line, then the
 * conflicts with their differing fields (at most `conflictLimit`, default 20; `--json` has all).
 * `heading` says what happened ("Analysis of …", "Dry run: nothing was changed", …).
 */
export function renderReport(report: MergeReport, options: { heading: string; conflictLimit?: number }): string {
  const names = Object.keys(report.tables)
  const COLUMNS = report.totals.deletedInBackup === undefined ? TWO_WAY_COLUMNS : [...TWO_WAY_COLUMNS, ...THREE_WAY_COLUMNS]
  const rows: string[][] = [['table', ...COLUMNS.map(([label]) => label)]]
  for (const name of names) rows.push([name, ...COLUMNS.map(([, get]) => get(report.tables[name]).toLocaleString('en-US'))])
  rows.push(['total', ...COLUMNS.map(([, get]) => get(report.totals).toLocaleString('en-US'))])
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)))
  const line = (row: string[]) => row.map((text, i) => (i === 0 ? text.padEnd(widths[i]) : text.padStart(widths[i]))).join('  ')
  const out = [options.heading, '', line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  ')]
  for (const row of rows.slice(1, -1)) out.push(line(row))
  if (names.length === 0) out.push('(no tables selected)')
  out.push(widths.map((w) => '-'.repeat(w)).join('  '), line(rows[rows.length - 1]))

  const limit = options.conflictLimit ?? 20
  const conflicts = conflictsOf(report)
  if (conflicts.length > 0) {
    out.push('', `Conflicts (${conflicts.length.toLocaleString('en-US')}):`)
    for (const conflict of conflicts.first(limit)) {
      const kind = conflict.kind === undefined ? '' : ` (${conflict.kind})`
      out.push(`  ${conflict.table} ${JSON.stringify(conflict.key)}${kind}: ${conflict.resolution === 'unresolved' ? 'unresolved' : `→ ${conflict.resolution}`}`)
      for (const field of conflict.fields) {
        if (conflict.kind === undefined) out.push(`    ${field.name}: backup ${cell(field.backup, 60)}  current ${cell(field.current, 60)}`)
        else {
          const backup = conflict.kind === 'delete/modify' ? '(deleted)' : cell(field.backup, 40)
          const current = conflict.kind === 'modify/delete' ? '(deleted)' : cell(field.current, 40)
          out.push(`    ${field.name}: base ${cell(field.base ?? null, 40)}  backup ${backup}  current ${current}`)
        }
      }
    }
    if (conflicts.length > limit) {
      out.push(`  … and ${(conflicts.length - limit).toLocaleString('en-US')} more (use --json to see them all)`)
    }
  }
  return out.join('\n')
}
