/**
 * The three-way merge of one batch (issue #18, docs/merge.md "Three-way merge"), as a pure
 * function beside plan.ts: backup record `b`, current record `c` and base record `a` (the common
 * ancestor, from `--base FILE`) with the same key → what to insert, update and delete, the counts
 * and conflicts for the report, and one decision per record for a saved plan.
 *
 *   a  b  c
 *   -  ·  ·   no base record: the two-way rules (classify.ts), as today (new on one side only)
 *   ✓  ✓  ✓   per field f of b: b=c → nothing; a=b → kept (changed here only);
 *             a=c → take b (changed in the backup only); else a true conflict field.
 *             No conflict field: `updated` (writes only the backup-changed fields) or `kept`
 *             (only changed here) or `unchanged`. With conflict fields: a `modify/modify`
 *             conflict; backup-changed fields are taken under every strategy and the strategy
 *             (or explicit resolution) decides the conflict fields only.
 *   ✓  ✓  -   deleted here: b=a → `deletedHere` (stays deleted); else `modify/delete` conflict:
 *             backup / merge → insert b (merge: the changed side wins over the deletion),
 *             current → stays deleted, { fields } → insert b with the fields set.
 *   ✓  -  ✓   deleted in the backup: c=a → `deletedInBackup`: kept, deleted with applyDeletions;
 *             else `delete/modify` conflict: backup → deleted with applyDeletions (without it
 *             the record is kept and the conflict counts as resolved to current; an explicit
 *             `backup` resolution without applyDeletions is a UsageError), current / merge →
 *             kept, { fields } → kept with the fields set.
 *   ✓  -  -   deleted on both sides: nothing (recorded in a plan, not counted).
 *
 * "=" is the current table's equality (equality.ts) over the fields the backup record has (for
 * b and c against a: the fields of that record; for c against a: the base record's fields). A
 * field a lacks is null there. preserveNewer plays no part where a base record exists: the base
 * tells which side changed; merge_fields still uses the timestamps to decide a conflict field.
 */
import type { Row, WireValue } from '../adapters/adapter.js'
import { FormatError, UsageError } from '../errors.js'
import { valuesEqual } from './equality.js'
import { newerRecord } from './classify.js'
import { eachBackupRecord, planTwoWayRecord, recordDecision, rowsByKey, type BatchOptions, type BatchPlan, type Decision, type RecordDecision, type TwoWaySink } from './plan.js'
import { emptyThreeWayCounts, type ConflictField, type MergeConflict } from './report.js'
import type { ResolutionChoice } from './strategies.js'
import { columnKind, isWritable, keyRow, keyString, reportKey, type MergeTable } from './table-info.js'

/** How a three-way batch decides: the two-way options, and whether deletions are applied. */
export interface ThreeWayOptions extends BatchOptions {
  readonly applyDeletions: boolean
}

/** A three-way batch: the two-way plan, and the keys to delete (only with applyDeletions). */
export interface ThreeWayPlan extends BatchPlan {
  readonly deletes: Row[]
  /** Base records whose current record exists (they count against currentOnly). */
  readonly matchedBase: number
}

const isNothing = (v: WireValue | undefined) => v === null || v === undefined

function fieldEqual(table: MergeTable, field: string, x: WireValue | undefined, y: WireValue | undefined): boolean {
  return valuesEqual(columnKind(table, field), x ?? null, y ?? null)
}

/** The writable non-key fields of `row` whose value differs from `other`'s. */
function changedFields(table: MergeTable, row: Row, other: Row): string[] {
  const out: string[] = []
  for (const field in row) {
    if (table.keyColumns.includes(field) || !isWritable(table, field)) continue
    if (!fieldEqual(table, field, row[field], other[field])) out.push(field)
  }
  return out
}

function strategyChoice(options: BatchOptions, explicit: ResolutionChoice | undefined): ResolutionChoice | undefined {
  if (explicit !== undefined) return explicit
  switch (options.strategy) {
    case 'backup_wins':
      return 'backup'
    case 'current_wins':
      return 'current'
    case 'merge_fields':
      return 'merge'
    case 'manual':
      return undefined
  }
}

const bucket = (choice: ResolutionChoice | undefined): 'backup' | 'current' | 'merged' | 'unresolved' =>
  choice === undefined ? 'unresolved' : choice === 'backup' ? 'backup' : choice === 'current' ? 'current' : 'merged'

/**
 * Plans one batch of backup records with their base and current records (see the module header).
 * `backupRows` and `baseRows` are in the current columns' encoding. Throws FormatError for a key
 * twice in the batch, UsageError for an explicit resolution that cannot be carried out.
 */
export function planThreeWayBatch(
  table: MergeTable,
  backupRows: readonly Row[],
  currentRows: readonly Row[],
  baseRows: readonly Row[],
  options: ThreeWayOptions,
  firstRecordIndex = 0,
): ThreeWayPlan {
  const current = rowsByKey(table, currentRows)
  const base = rowsByKey(table, baseRows)
  const plan = new PlanBuilder(table, options)
  eachBackupRecord(table, backupRows, firstRecordIndex, (key, b) => plan.backupRecord(key, b, current.get(key), base.get(key)))
  return plan.build()
}

/**
 * Plans base records the backup does not have (deleted in the backup), with their current
 * records: deletedInBackup, delete/modify conflicts, or nothing (deleted on both sides).
 */
export function planBaseOnly(table: MergeTable, baseRows: readonly Row[], currentRows: readonly Row[], options: ThreeWayOptions): ThreeWayPlan {
  const current = rowsByKey(table, currentRows)
  const plan = new PlanBuilder(table, options)
  for (const a of baseRows) {
    const key = keyString(table, a)
    plan.baseOnlyRecord(key, a, current.get(key))
  }
  return plan.build()
}

class PlanBuilder {
  readonly counts = emptyThreeWayCounts()
  readonly inserts: Row[] = []
  readonly deletes: Row[] = []
  readonly conflicts: MergeConflict[] = []
  readonly decisions: RecordDecision[] = []
  readonly #groups = new Map<string, Row[]>()
  matched = 0
  matchedBase = 0

  constructor(
    readonly table: MergeTable,
    readonly options: ThreeWayOptions,
  ) {}

  #update(row: Row, values: Row): void {
    if (Object.keys(values).length === 0) return
    const signature = Object.keys(values).join('\u0000')
    let group = this.#groups.get(signature)
    if (!group) this.#groups.set(signature, (group = []))
    group.push({ ...keyRow(this.table, row), ...values })
  }

  #decide(key: string, row: Row, c: Row | undefined, decision: Decision): void {
    this.decisions.push(recordDecision(this.table, key, row, c, decision, this.options))
  }

  /** A record the base lacks gets the two-way rules; its conflicts are modify/modify, with no base value. */
  readonly #twoWay: TwoWaySink = {
    counts: this.counts,
    insert: (row) => this.inserts.push(row),
    update: (row, values) => this.#update(row, values),
    conflict: (b, c, differing, resolution) =>
      this.#conflict(c, 'modify/modify', differing.map((name) => ({ name, base: null, backup: b[name] ?? null, current: c[name] ?? null })), resolution),
  }

  #explicit(key: string): ResolutionChoice | undefined {
    const entry = this.options.resolutions?.get(key)
    if (entry) this.options.onResolutionUsed?.(entry)
    return entry?.choice
  }

  #conflict(row: Row, kind: MergeConflict['kind'], fields: ConflictField[], resolution: MergeConflict['resolution']): void {
    const counts = this.counts
    counts.conflicts++
    if (resolution === 'unresolved') counts.unresolved++
    else counts.resolved[resolution]++
    this.conflicts.push({ table: this.table.name, key: reportKey(this.table, row), kind, fields, resolution })
  }

  backupRecord(key: string, b: Row, c: Row | undefined, a: Row | undefined): void {
    const table = this.table
    const counts = this.counts
    if (c) this.matched++
    if (!a) {
      // New on one side (or on both): the two-way rules.
      this.#decide(key, b, c, planTwoWayRecord(table, key, b, c, this.options, this.#twoWay))
      return
    }

    if (!c) {
      // Deleted here.
      const changed = changedFields(table, b, a)
      if (changed.length === 0) {
        counts.deletedHere!++
        this.#decide(key, b, c, 'deletedHere')
        return
      }
      const choice = strategyChoice(this.options, this.#explicit(key))
      if (choice === 'backup' || choice === 'merge') this.inserts.push(b)
      else if (choice !== undefined && choice !== 'current') this.inserts.push({ ...b, ...choice.fields })
      const resolution = bucket(choice)
      const fields = changed.map((name) => ({ name, base: a[name] ?? null, backup: b[name] ?? null, current: null }))
      this.#conflict(b, 'modify/delete', fields, resolution)
      this.#decide(key, b, c, `conflict:${resolution}`)
      return
    }

    // In all three: field by field.
    const take: Row = {}
    const conflictNames: string[] = []
    let keptAny = false
    for (const field in b) {
      if (table.keyColumns.includes(field) || !isWritable(table, field)) continue
      if (fieldEqual(table, field, b[field], c[field])) continue
      if (fieldEqual(table, field, a[field], b[field])) keptAny = true
      else if (fieldEqual(table, field, a[field], c[field])) take[field] = b[field]
      else conflictNames.push(field)
    }
    if (conflictNames.length === 0) {
      if (Object.keys(take).length > 0) {
        counts.updated++
        this.#update(b, take)
        this.#decide(key, b, c, 'updated')
      } else if (keptAny) {
        counts.kept++
        this.#decide(key, b, c, 'kept')
      } else {
        counts.unchanged++
        this.#decide(key, b, c, 'unchanged')
      }
      return
    }
    const choice = strategyChoice(this.options, this.#explicit(key))
    const write: Row = { ...take }
    if (choice === 'backup') for (const field of conflictNames) write[field] = b[field]
    else if (choice === 'merge') {
      const newer = newerRecord(table, b, c)
      for (const field of conflictNames) {
        const bv = b[field]
        const cv = c[field]
        if (isNothing(cv) && !isNothing(bv)) write[field] = bv
        else if (!isNothing(bv) && !isNothing(cv) && newer === 'backup') write[field] = bv
      }
    } else if (choice !== undefined && choice !== 'current') Object.assign(write, choice.fields)
    // Only what differs from the current record is written.
    for (const field of Object.keys(write)) if (fieldEqual(table, field, write[field], c[field])) delete write[field]
    this.#update(b, write)
    const resolution = bucket(choice)
    const fields = conflictNames.map((name) => ({ name, base: a[name] ?? null, backup: b[name] ?? null, current: c[name] ?? null }))
    this.#conflict(c, 'modify/modify', fields, resolution)
    this.#decide(key, b, c, `conflict:${resolution}`)
  }

  baseOnlyRecord(key: string, a: Row, c: Row | undefined): void {
    const table = this.table
    const counts = this.counts
    if (!c) {
      this.#decide(key, a, c, 'deletedBoth')
      return
    }
    this.matchedBase++
    const changed = changedFields(table, a, c)
    // Fields the base lacks but the current record has a value for are changes here too.
    for (const field in c) {
      if (field in a || table.keyColumns.includes(field) || !isWritable(table, field)) continue
      if (!isNothing(c[field])) changed.push(field)
    }
    if (changed.length === 0) {
      counts.deletedInBackup!++
      if (this.options.applyDeletions) {
        counts.deleted!++
        this.deletes.push(keyRow(table, c))
        this.#decide(key, a, c, 'deleted')
      } else this.#decide(key, a, c, 'deletedInBackup')
      return
    }
    const explicit = this.#explicit(key)
    let choice = strategyChoice(this.options, explicit)
    if (choice === 'backup' && !this.options.applyDeletions) {
      if (explicit !== undefined) {
        throw new UsageError(
          `The resolution for ${table.name} ${JSON.stringify(reportKey(table, c))} is "backup", which deletes the record (it was deleted in the backup and changed here): that needs --apply-deletions.`,
          { code: 'BAD_RESOLUTIONS' },
        )
      }
      // A merge deletes only with --apply-deletions: the record is kept.
      choice = 'current'
    }
    if (choice === 'backup') {
      counts.deleted!++
      this.deletes.push(keyRow(table, c))
    } else if (choice !== undefined && choice !== 'current' && choice !== 'merge') {
      const write: Row = { ...choice.fields }
      for (const field of Object.keys(write)) if (fieldEqual(table, field, write[field], c[field])) delete write[field]
      this.#update(c, write)
    }
    const resolution = bucket(choice)
    const fields = changed.map((name) => ({ name, base: a[name] ?? null, backup: null, current: c[name] ?? null }))
    this.#conflict(c, 'delete/modify', fields, resolution)
    this.#decide(key, a, c, `conflict:${resolution}`)
  }

  build(): ThreeWayPlan {
    return {
      inserts: this.inserts,
      updates: [...this.#groups.values()],
      deletes: this.deletes,
      counts: this.counts,
      matched: this.matched,
      matchedBase: this.matchedBase,
      conflicts: this.conflicts,
      decisions: this.decisions,
    }
  }
}
