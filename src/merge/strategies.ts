/**
 * Conflict strategies (DESIGN.md §4): what happens to a record classified `conflict`.
 *
 * - backup_wins (default): the record takes the backup's values; columns the backup lacks keep
 *   their current values.
 * - current_wins: the record stays as it is.
 * - merge_fields: field by field — equal → as is; one side null or absent → the non-null value;
 *   both non-null and different → the newer record's value where the timestamps tell (both present
 *   and different), else the current value.
 * - manual: only an explicit resolution decides (`backup`, `current`, `merge` = the merge_fields
 *   rule for this record, or `{ fields }` applied on top of the current record); without one the
 *   conflict is unresolved.
 * An explicit resolution from a resolutions file wins over any strategy for the record it names.
 *
 * The outcome is the set of columns to write on the current record (never a key column, never a
 * generated one), or nothing.
 */
import type { Row, WireValue } from '../adapters/adapter.js'
import { UsageError } from '../errors.js'
import { valuesEqual } from './equality.js'
import type { Classification, Newer } from './classify.js'
import { columnKind, isWritable, type MergeTable } from './table-info.js'

/** The conflict strategies, default first (`--strategy`, API `conflictResolution`). */
export const STRATEGIES = ['backup_wins', 'current_wins', 'merge_fields', 'manual'] as const
/** A conflict strategy (see the module header). */
export type Strategy = (typeof STRATEGIES)[number]

/** Reads `--strategy` / API `conflictResolution`. Throws UsageError for anything else. */
export function parseStrategy(value: unknown): Strategy {
  if (value === undefined || value === null || value === '') return 'backup_wins'
  if (typeof value === 'string' && (STRATEGIES as readonly string[]).includes(value)) return value as Strategy
  throw new UsageError(`Unknown conflict strategy ${JSON.stringify(value)}: use one of ${STRATEGIES.join(', ')}.`, { code: 'BAD_STRATEGY' })
}

/** An explicit resolution of one conflict (resolutions file, API). `fields` are in wire encoding. */
export type ResolutionChoice = 'backup' | 'current' | 'merge' | { readonly fields: Row }

/** How a conflict ended: the report's `resolved.*` / `unresolved` bucket, and what to write. */
export interface ConflictOutcome {
  readonly resolution: 'backup' | 'current' | 'merged' | 'unresolved'
  /** Columns to set on the current record (key columns are added by the caller), or null for no write. */
  readonly write: Row | null
}

/** The backup record's writable, non-key fields: what "take the backup's values" writes. */
export function backupValues(table: MergeTable, b: Row): Row {
  const out: Row = {}
  for (const field in b) {
    if (!table.keyColumns.includes(field) && isWritable(table, field)) out[field] = b[field]
  }
  return out
}

const isNothing = (v: WireValue | undefined) => v === null || v === undefined

/**
 * The merge_fields rule over the backup record's writable non-key fields (fields the backup lacks
 * are left as they are, so they are not part of the result).
 */
export function mergedValues(table: MergeTable, b: Row, c: Row, newer: Newer): Row {
  const out: Row = {}
  for (const field in b) {
    if (table.keyColumns.includes(field) || !isWritable(table, field)) continue
    const bv = b[field]
    const cv = c[field]
    if (valuesEqual(columnKind(table, field), bv, cv)) out[field] = cv ?? null
    else if (isNothing(bv)) out[field] = cv ?? null
    else if (isNothing(cv)) out[field] = bv
    else out[field] = newer === 'backup' ? bv : cv
  }
  return out
}

/** Drops the fields whose values already equal the current record's; null when none is left. */
function changesOnly(table: MergeTable, values: Row, c: Row): Row | null {
  let changed = false
  for (const field in values) {
    if (!valuesEqual(columnKind(table, field), values[field], c[field])) {
      changed = true
      break
    }
  }
  return changed ? values : null
}

/** Decides a conflict (see the module header). Pure. */
export function resolveConflict(
  table: MergeTable,
  b: Row,
  c: Row,
  classification: Classification,
  strategy: Strategy,
  explicit: ResolutionChoice | undefined,
): ConflictOutcome {
  const choice: ResolutionChoice | undefined =
    explicit ??
    (strategy === 'backup_wins' ? 'backup' : strategy === 'current_wins' ? 'current' : strategy === 'merge_fields' ? 'merge' : undefined)
  if (choice === undefined) return { resolution: 'unresolved', write: null }
  if (choice === 'backup') return { resolution: 'backup', write: backupValues(table, b) }
  if (choice === 'current') return { resolution: 'current', write: null }
  if (choice === 'merge') return { resolution: 'merged', write: changesOnly(table, mergedValues(table, b, c, classification.newer), c) }
  return { resolution: 'merged', write: changesOnly(table, { ...choice.fields }, c) }
}
