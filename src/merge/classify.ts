/**
 * The §4 table for one record: backup record `b` against current record `c` with the same key.
 *
 *   no c                                                   → new
 *   c equals b                                             → unchanged
 *   differ, preserveNewer, both timestamps, b newer        → updated
 *   differ, preserveNewer, both timestamps, c newer        → kept
 *   differ otherwise (preserveNewer off, missing or equal) → conflict
 *
 * "Equals" compares the fields the backup record has (a column the backup lacks is not the
 * backup's to judge, and keeps its current value), except generated columns, which the database
 * computes. A field that is null on one side and absent on the other is equal (nothing = nothing).
 * A timestamp that is not a date/time counts as missing.
 */
import type { Row } from '../adapters/adapter.js'
import { valuesEqual } from './equality.js'
import { columnKind, isWritable, type MergeTable } from './table-info.js'
import { compareInstants, parseInstant, timestampFieldFor } from './timestamps.js'

/** The class of a backup record (DESIGN.md §4). */
export type RecordClass = 'new' | 'unchanged' | 'updated' | 'kept' | 'conflict'

/** Which record the timestamps say is newer, when both have one and they differ. */
export type Newer = 'backup' | 'current' | null

/** A record's class, the fields that made it differ, and what its timestamps say. */
export interface Classification {
  readonly class: RecordClass
  /** Fields of `b` whose values differ from `c` (empty for new and unchanged). */
  readonly differing: readonly string[]
  readonly newer: Newer
}

/** The fields of `b` that differ from `c` under the current table's equality (key columns excluded: they matched). */
export function differingFields(table: MergeTable, b: Row, c: Row): string[] {
  const out: string[] = []
  for (const field in b) {
    if (table.keyColumns.includes(field) || !isWritable(table, field)) continue
    if (!valuesEqual(columnKind(table, field), b[field], c[field])) out.push(field)
  }
  return out
}

/** Compares the two records' timestamps (see the module header). */
export function newerRecord(table: MergeTable, b: Row, c: Row): Newer {
  // Schemaless (MongoDB) without --timestamp-field: the first candidate both documents have.
  const field = table.timestampField ?? (table.schemaless ? timestampFieldFor(Object.keys(b).filter((name) => name in c)) : null)
  if (!field) return null
  const tb = parseInstant(b[field])
  const tc = parseInstant(c[field])
  if (!tb || !tc) return null
  const order = compareInstants(tb, tc)
  return order > 0 ? 'backup' : order < 0 ? 'current' : null
}

/** Classifies one backup record (DESIGN.md §4). Pure. */
export function classifyRecord(table: MergeTable, b: Row, c: Row | undefined, preserveNewer: boolean): Classification {
  if (!c) return { class: 'new', differing: [], newer: null }
  const differing = differingFields(table, b, c)
  if (differing.length === 0) return { class: 'unchanged', differing, newer: null }
  const newer = newerRecord(table, b, c)
  if (preserveNewer && newer === 'backup') return { class: 'updated', differing, newer }
  if (preserveNewer && newer === 'current') return { class: 'kept', differing, newer }
  return { class: 'conflict', differing, newer }
}
