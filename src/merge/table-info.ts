/**
 * What the merge needs to know about one table: how backup records find their current record,
 * which type decides equality for each field, which field is the modification timestamp — and
 * the drift checks that refuse a merge that could not be applied faithfully.
 *
 * Matching (DESIGN.md §4), decided from the *current* table (the database we merge into):
 * 1. its primary key (`_id` for MongoDB);
 * 2. else a unique constraint or plain unique index over NOT NULL columns (no partial or
 *    expression index), the one with fewest columns, ties by name;
 * 3. else whole-row identity: a backup row is `unchanged` when an identical row is there
 *    (counting duplicates), otherwise `new`. Such rows never conflict.
 *
 * A field's type is the current column's (that database's equality is the one that counts);
 * fields the current table does not declare (MongoDB) fall back to the backup's kind.
 */
import type { ColumnSchema, Engine, Row, TableSchema, ValueKind, WireValue } from '../adapters/adapter.js'
import { FormatError, UsageError } from '../errors.js'
import { canonicalKey, toTargetWire, type ColumnKind } from './equality.js'
import { timestampFieldFor } from './timestamps.js'

/** How a table's backup records find their current records (see the module header). */
export type MatchMode = 'primary-key' | 'unique' | 'row'

/** The merge's view of one table: built once per table by buildMergeTable, read by everything else. */
export interface MergeTable {
  readonly name: string
  readonly match: MatchMode
  /** Columns that identify a record (empty for `row`). */
  readonly keyColumns: readonly string[]
  /** The current table's columns by name (empty for a schemaless MongoDB collection). */
  readonly columns: ReadonlyMap<string, ColumnSchema>
  /** The backup's declared kind of each of its columns. */
  readonly backupKinds: ReadonlyMap<string, ValueKind>
  /** MongoDB: any field may appear; nothing is refused as drift. */
  readonly schemaless: boolean
  /** The modification timestamp field, or null (differences are then conflicts). */
  readonly timestampField: string | null
  /** The backup's own schema of the table (what `Destination.writeRows` receives). */
  readonly backupSchema: TableSchema
}

/**
 * Builds the merge view of a backup table against the current one.
 * Throws UsageError (exit 2) when the current database lacks the table, lacks one of the
 * backup's columns, or when the backup lacks a key column — each with the `--exclude` way out.
 */
export function buildMergeTable(
  backup: TableSchema,
  current: TableSchema | undefined,
  options: { readonly engine: Engine; readonly timestampField?: string },
): MergeTable {
  const name = backup.name
  if (!current) {
    throw new UsageError(
      `Table ${JSON.stringify(name)} of the backup does not exist in the database: create it (restore can) or leave it out with --exclude ${name}.`,
      { code: 'SCHEMA_DRIFT', details: { table: name } },
    )
  }
  const schemaless = options.engine === 'mongodb'
  const columns = new Map(current.columns.map((c) => [c.name, c]))
  if (!schemaless) {
    const missing = backup.columns.filter((c) => !columns.has(c.name)).map((c) => c.name)
    if (missing.length > 0) throw missingColumns(name, missing)
  }
  const backupKinds = new Map(backup.columns.map((c) => [c.name, c.kind]))
  const backupColumns = new Set(backup.columns.map((c) => c.name))

  let match: MatchMode = 'row'
  let keyColumns: readonly string[] = []
  if (current.primaryKey.length > 0) {
    match = 'primary-key'
    keyColumns = current.primaryKey
  } else {
    const unique = chooseUniqueKey(current)
    if (unique) {
      match = 'unique'
      keyColumns = unique
    }
  }
  // A backup made without column types (seed files) has whatever columns its records have; the
  // key must still be among them, else no record could find its current record.
  if (match !== 'row' && backup.columns.length > 0 && !schemaless) {
    const absent = keyColumns.filter((c) => !backupColumns.has(c))
    if (absent.length > 0) {
      throw new UsageError(
        `Table ${JSON.stringify(name)}: the backup has no ${absent.map((c) => JSON.stringify(c)).join(', ')} column, which the database uses to identify records; leave the table out with --exclude ${name}.`,
        { code: 'SCHEMA_DRIFT', details: { table: name, columns: absent } },
      )
    }
  }
  const fieldNames = schemaless ? [...new Set([...columns.keys(), ...backupColumns])] : [...columns.keys()]
  return {
    name,
    match,
    keyColumns,
    columns,
    backupKinds,
    schemaless,
    // A collection declares no field but _id: `--timestamp-field` names the field, else each pair
    // of documents is looked at for the candidates (classify.ts newerRecord).
    timestampField: schemaless ? (options.timestampField ?? null) : timestampFieldFor(fieldNames, options.timestampField),
    backupSchema: backup,
  }
}

function missingColumns(table: string, missing: readonly string[]): UsageError {
  return new UsageError(
    `Table ${JSON.stringify(table)}: the backup has column${missing.length > 1 ? 's' : ''} ${missing.map((c) => JSON.stringify(c)).join(', ')} that the database lacks; add ${missing.length > 1 ? 'them' : 'it'} or leave the table out with --exclude ${table}.`,
    { code: 'SCHEMA_DRIFT', details: { table, columns: missing } },
  )
}

function chooseUniqueKey(table: TableSchema): readonly string[] | undefined {
  const notNull = new Set(table.columns.filter((c) => !c.nullable && !c.generated).map((c) => c.name))
  const candidates: { name: string; columns: readonly string[] }[] = [...table.uniqueConstraints]
  for (const index of table.indexes) {
    // A partial unique index (… WHERE …) does not make its columns unique across the table.
    if (index.unique && !(index.definition && /\bWHERE\b/i.test(index.definition))) candidates.push(index)
  }
  const usable = candidates.filter((c) => c.columns.length > 0 && c.columns.every((col) => notNull.has(col)))
  usable.sort((a, b) => a.columns.length - b.columns.length || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return usable[0]?.columns
}

/** How equality reads a field of this table (see the module header). */
export function columnKind(table: MergeTable, field: string): ColumnKind {
  const column = table.columns.get(field)
  if (column) return column
  const backup = table.backupKinds.get(field)
  // A MongoDB field the backup gives no type for (a seed 002 file) is a document value.
  if (table.schemaless && (backup === undefined || backup === 'unknown')) return { kind: 'document' }
  return { kind: backup ?? 'unknown' }
}

/** Whether the merge may write this field (generated columns are computed by the database). */
export function isWritable(table: MergeTable, field: string): boolean {
  return !table.columns.get(field)?.generated
}

/**
 * A backup record in the current columns' encoding (see equality.ts `toTargetWire`), checked:
 * every field must exist in the current table (else UsageError) and every key column must have a
 * value (else FormatError naming the record). Returns the same object when nothing converts.
 */
export function toCurrentEncoding(table: MergeTable, row: Row, recordIndex: number): Row {
  let out: Row | undefined
  for (const field in row) {
    const column = table.columns.get(field)
    if (!column) {
      if (table.schemaless) continue
      throw missingColumns(table.name, [field])
    }
    const from = table.backupKinds.get(field) ?? 'unknown'
    if (from === column.kind) continue
    const value = row[field]
    const converted = toTargetWire(from, column, value)
    if (converted !== value) {
      out ??= { ...row }
      out[field] = converted
    }
  }
  for (const key of table.keyColumns) {
    if (row[key] === null || row[key] === undefined) {
      throw new FormatError(`Table ${JSON.stringify(table.name)}, record ${recordIndex}: the key column ${JSON.stringify(key)} has no value.`, {
        table: table.name,
        recordIndex,
      })
    }
  }
  return out ?? row
}

/** The key columns of a record, as an object (what `readByKeys` / `updateRows` take). */
export function keyRow(table: MergeTable, row: Row): Row {
  const key: Row = {}
  for (const column of table.keyColumns) key[column] = row[column]
  return key
}

/** A string that two records share exactly when their keys are equal under the current table's types. */
export function keyString(table: MergeTable, row: Row): string {
  if (table.keyColumns.length === 1) {
    const column = table.keyColumns[0]
    return canonicalKey(columnKind(table, column), row[column]) ?? 'null'
  }
  return JSON.stringify(table.keyColumns.map((column) => canonicalKey(columnKind(table, column), row[column])))
}

/** The key as the report and resolutions files write it: the value, or an object of the key columns. */
export function reportKey(table: MergeTable, row: Row): WireValue {
  if (table.keyColumns.length === 1) return row[table.keyColumns[0]] ?? null
  return keyRow(table, row)
}
