/**
 * The merge of one batch, as a pure function (STYLE.md §1.2): backup records + the current records
 * with the same keys → what to insert, what to update, the counts and conflicts for the report,
 * and one decision per record for a saved plan.
 *
 *   for each backup record b (already in the current columns' encoding):
 *     c = current record with b's key
 *     classify (classify.ts); a conflict is decided by the explicit resolution or the strategy
 *     (strategies.ts)
 *     new → insert b; updated / resolved to backup → set b's fields; merged → set the merged
 *     fields; unchanged / kept / resolved to current / unresolved → nothing
 *
 * Only for tables matched by a key (primary or unique). Whole-row-identity tables are counted by
 * the destination's writeRows (see engine/merge.ts). The caller reads the current records for the
 * batch's keys in one round trip and writes the result in a few, so there is never a query per
 * record and memory is bounded by the batch.
 */
import { createHash } from 'node:crypto'
import type { Row } from '../adapters/adapter.js'
import { FormatError } from '../errors.js'
import { canonicalKey } from './equality.js'
import { classifyRecord } from './classify.js'
import { emptyCounts, type ConflictField, type MergeConflict, type MergeCounts } from './report.js'
import type { ResolutionEntry } from './resolutions.js'
import { backupValues, resolveConflict, type Strategy } from './strategies.js'
import { columnKind, keyRow, keyString, reportKey, type MergeTable } from './table-info.js'

/** One record's outcome, as a saved plan records it. */
export type Decision =
  | 'new'
  | 'unchanged'
  | 'updated'
  | 'kept'
  | 'conflict:backup'
  | 'conflict:current'
  | 'conflict:merged'
  | 'conflict:unresolved'
  // Three-way merge (three-way.ts):
  | 'deletedInBackup'
  | 'deleted'
  | 'deletedHere'
  | 'deletedBoth'

/** One backup record's decision, with what a plan needs to check it later. */
export interface RecordDecision {
  /** Canonical key string (table-info.ts keyString). */
  readonly key: string
  /** The key as reports write it. */
  readonly reportKey: Row[string]
  readonly decision: Decision
  /** Fingerprint of the current record the decision depends on; null when there was none (`new`). */
  readonly fingerprint: string | null
}

/** How planBatch decides (the merge's options, for one table). */
export interface BatchOptions {
  readonly strategy: Strategy
  readonly preserveNewer: boolean
  /** Explicit resolutions for this table, by canonical key (resolutions.ts). */
  readonly resolutions?: ReadonlyMap<string, ResolutionEntry>
  /** Called for each explicit resolution that decided a conflict. */
  readonly onResolutionUsed?: (entry: ResolutionEntry) => void
  /** Compute per-record fingerprints (needed only to save or check a plan). */
  readonly fingerprints?: boolean
  /**
   * The batch is only classified (analyze): leave `updates` empty instead of building the rows
   * updateRows would take, which nothing reads then. Counts, conflicts and decisions are the same.
   */
  readonly classifyOnly?: boolean
}

/** What one batch does: the writes, and what the report and a plan record of it. */
export interface BatchPlan {
  /** Backup records to insert, in backup order. */
  readonly inserts: Row[]
  /** Rows for updateRows: key columns + the columns to set, grouped so each group has one column set. */
  readonly updates: Row[][]
  /** This batch's counts (currentOnly is the caller's: it needs the table's row count). */
  readonly counts: MergeCounts
  /** Backup records that found their current record. */
  readonly matched: number
  readonly conflicts: MergeConflict[]
  readonly decisions: RecordDecision[]
}

/**
 * A fingerprint of a current record: sha256 over its canonical field keys (equality.ts), in field
 * name order. Two reads of the same record give the same fingerprint; any change the engine would
 * not call equal changes it.
 */
export function recordFingerprint(table: MergeTable, row: Row): string {
  const fields = Object.keys(row).sort()
  const canonical = fields.map((field) => [field, canonicalKey(columnKind(table, field), row[field])])
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url')
}

/**
 * Plans one batch (see the module header). `backupRows` are in the current columns' encoding
 * (table-info.ts toCurrentEncoding); `currentRows` are what readByKeys returned for their keys.
 * Throws FormatError when two backup records in the batch have the same key.
 */
export function planBatch(
  table: MergeTable,
  backupRows: readonly Row[],
  currentRows: readonly Row[],
  options: BatchOptions,
  firstRecordIndex = 0,
): BatchPlan {
  const current = rowsByKey(table, currentRows)
  const counts = emptyCounts()
  const inserts: Row[] = []
  const updateGroups = new Map<string, Row[]>()
  const conflicts: MergeConflict[] = []
  const decisions: RecordDecision[] = []
  let matched = 0

  const sink: TwoWaySink = {
    counts,
    insert: (b) => inserts.push(b),
    update(b, values) {
      if (options.classifyOnly) return
      const signature = Object.keys(values).join('\u0000')
      let group = updateGroups.get(signature)
      if (!group) updateGroups.set(signature, (group = []))
      group.push({ ...keyRow(table, b), ...values })
    },
    conflict(b, c, differing, resolution) {
      counts.conflicts++
      if (resolution === 'unresolved') counts.unresolved++
      else counts.resolved[resolution]++
      conflicts.push({ table: table.name, key: reportKey(table, c), fields: conflictFields(differing, b, c), resolution })
    },
  }
  eachBackupRecord(table, backupRows, firstRecordIndex, (key, b) => {
    const c = current.get(key)
    const decision = planTwoWayRecord(table, key, b, c, options, sink)
    if (c) matched++
    decisions.push(recordDecision(table, key, b, c, decision, options))
  })
  return { inserts, updates: [...updateGroups.values()], counts, matched, conflicts, decisions }
}

/** Rows by their canonical key string. */
export function rowsByKey(table: MergeTable, rows: readonly Row[]): Map<string, Row> {
  const byKey = new Map<string, Row>()
  for (const row of rows) byKey.set(keyString(table, row), row)
  return byKey
}

/**
 * Calls `each` with every backup record of a batch and its key, in order. Throws FormatError
 * naming the record when its key came before in the batch.
 */
export function eachBackupRecord(table: MergeTable, backupRows: readonly Row[], firstRecordIndex: number, each: (key: string, row: Row) => void): void {
  const seen = new Set<string>()
  backupRows.forEach((b, i) => {
    const key = keyString(table, b)
    if (seen.has(key)) {
      throw new FormatError(`Table ${JSON.stringify(table.name)}, record ${firstRecordIndex + i}: a second record with the key ${JSON.stringify(reportKey(table, b))}.`, {
        table: table.name,
        recordIndex: firstRecordIndex + i,
      })
    }
    seen.add(key)
    each(key, b)
  })
}

/** A record's decision as a plan records it (`row`: the backup's record, `c`: the current one). */
export function recordDecision(table: MergeTable, key: string, row: Row, c: Row | undefined, decision: Decision, options: BatchOptions): RecordDecision {
  return { key, reportKey: reportKey(table, c ?? row), decision, fingerprint: c && options.fingerprints ? recordFingerprint(table, c) : null }
}

/** Where planTwoWayRecord puts a record's effects: a two-way batch, or a three-way one for a record the base lacks. */
export interface TwoWaySink {
  readonly counts: { new: number; unchanged: number; updated: number; kept: number }
  insert(row: Row): void
  /** Sets `values` on the current record with the key of `row`. */
  update(row: Row, values: Row): void
  /** A conflict between backup record `b` and current record `c` over `differing`, resolved so (counted by the sink). */
  conflict(b: Row, c: Row, differing: readonly string[], resolution: MergeConflict['resolution']): void
}

/**
 * The two-way rules (DESIGN.md §4) for one backup record `b` and its current record `c`:
 * classifies it, applies an explicit resolution or the strategy to a conflict, puts the effects
 * in `sink` and returns the decision.
 */
export function planTwoWayRecord(table: MergeTable, key: string, b: Row, c: Row | undefined, options: BatchOptions, sink: TwoWaySink): Decision {
  const classification = classifyRecord(table, b, c, options.preserveNewer)
  switch (classification.class) {
    case 'new':
      sink.counts.new++
      sink.insert(b)
      return 'new'
    case 'unchanged':
      sink.counts.unchanged++
      return 'unchanged'
    case 'updated':
      sink.counts.updated++
      sink.update(b, backupValues(table, b))
      return 'updated'
    case 'kept':
      sink.counts.kept++
      return 'kept'
    case 'conflict': {
      const entry = options.resolutions?.get(key)
      if (entry) options.onResolutionUsed?.(entry)
      const outcome = resolveConflict(table, b, c!, classification, options.strategy, entry?.choice)
      if (outcome.write) sink.update(b, outcome.write)
      sink.conflict(b, c!, classification.differing, outcome.resolution)
      return `conflict:${outcome.resolution}`
    }
  }
}

function conflictFields(differing: readonly string[], b: Row, c: Row): ConflictField[] {
  return differing.map((name) => ({ name, backup: b[name] ?? null, current: c[name] ?? null }))
}
