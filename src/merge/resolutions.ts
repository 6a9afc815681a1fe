/**
 * Resolutions of conflicts (DESIGN.md §4): `--resolutions FILE` and the API's `resolutions`.
 *
 * A JSON array of `{ table, key, resolution }`, where `key` is the key value, or an object of the
 * key columns for a composite key (exactly what `analyze --json` prints for a conflict, so a
 * conflict object with a `resolution` added is a valid entry; its other properties are ignored),
 * and `resolution` is `"backup"`, `"current"`, `"merge"` or `{ "fields": { column: value } }`
 * (applied on top of the current record).
 *
 * Checked in two steps, both before anything is written:
 * 1. `parseResolutions`: the shape (zod); a bad file is a UsageError naming the entry.
 * 2. `ResolutionIndex.forTable`: against the table — the key has the table's key columns, the
 *    fields exist, are not key or generated columns, and no record is resolved twice.
 * Keys are looked up by their canonical key string (equality.ts), so `1`, `"1"` and `1.0` name
 * the same integer key. Resolutions that match no conflict are reported by `unused()`.
 */
import { z } from 'zod'
import type { Row, WireValue } from '../adapters/adapter.js'
import { UsageError } from '../errors.js'
import { toTargetWire } from './equality.js'
import type { ResolutionChoice } from './strategies.js'
import { columnKind, isWritable, keyString, type MergeTable } from './table-info.js'

/** One entry of a resolutions file (DESIGN.md §4), shape-checked. */
export interface Resolution {
  readonly table: string
  readonly key: WireValue
  readonly resolution: ResolutionChoice
}

const WireValueSchema = z.json()

const ResolutionSchema = z.object({
  table: z.string({ error: 'needs "table": the table name' }).min(1, 'needs "table": the table name'),
  key: WireValueSchema.refine((v) => v !== null && v !== undefined, 'needs "key": the key value, or an object of the key columns'),
  resolution: z.union(
    [z.enum(['backup', 'current', 'merge']), z.object({ fields: z.record(z.string(), WireValueSchema) })],
    { error: 'must be "backup", "current", "merge" or { "fields": { "<column>": <value> } }' },
  ),
})

const ResolutionsSchema = z.array(ResolutionSchema, { error: 'must be a JSON array of { table, key, resolution }' })

/**
 * Validates the shape of resolutions already parsed from JSON (the API body, or a file's text via
 * `parseResolutionsText`). Throws UsageError naming the first bad entry.
 */
export function parseResolutions(value: unknown, source = 'resolutions'): Resolution[] {
  const result = ResolutionsSchema.safeParse(value)
  if (!result.success) {
    const issue = result.error.issues[0]
    const where = issue.path.length > 0 ? ` at ${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}` : ''
    throw new UsageError(`Bad ${source}${where}: ${issue.message}.`, { code: 'BAD_RESOLUTIONS', details: { path: issue.path.map(String) } })
  }
  return result.data as Resolution[]
}

/** Parses a resolutions file's text. Throws UsageError for text that is not JSON or not the §4 shape. */
export function parseResolutionsText(text: string, source: string): Resolution[] {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw new UsageError(`${source} is not JSON: ${(cause as Error).message}`, { code: 'BAD_RESOLUTIONS', cause })
  }
  return parseResolutions(value, source)
}

/** A checked resolution of one record; `index` is its position in the resolutions given. */
export interface ResolutionEntry {
  readonly choice: ResolutionChoice
  readonly index: number
}

/** Resolutions grouped by table, checked against each table when it is merged. */
export class ResolutionIndex {
  readonly #byTable = new Map<string, { resolution: Resolution; index: number }[]>()
  readonly #unused = new Map<number, Resolution>()

  constructor(resolutions: readonly Resolution[]) {
    resolutions.forEach((resolution, index) => {
      const list = this.#byTable.get(resolution.table) ?? []
      list.push({ resolution, index })
      this.#byTable.set(resolution.table, list)
      this.#unused.set(index, resolution)
    })
  }

  /** Tables the resolutions name. */
  tables(): string[] {
    return [...this.#byTable.keys()]
  }

  /**
   * The table's resolutions by canonical key string. Throws UsageError for a key that does not
   * fit the table's key, a field that is not a writable non-key column, or a record resolved twice.
   */
  forTable(table: MergeTable): Map<string, ResolutionEntry> {
    const out = new Map<string, ResolutionEntry>()
    for (const { resolution, index } of this.#byTable.get(table.name) ?? []) {
      const where = `Resolution [${index}] (table ${JSON.stringify(table.name)}, key ${JSON.stringify(resolution.key)})`
      if (table.match === 'row') {
        throw new UsageError(`${where}: the table has no primary key or unique key, so its records never conflict.`, { code: 'BAD_RESOLUTIONS' })
      }
      const key = keyString(table, keyObject(table, resolution.key, where))
      if (out.has(key)) throw new UsageError(`${where}: the record is resolved twice.`, { code: 'BAD_RESOLUTIONS' })
      out.set(key, { choice: checkedChoice(table, resolution.resolution, where), index })
    }
    return out
  }

  /** Marks a resolution as used by a conflict. */
  markUsed(entry: ResolutionEntry): void {
    this.#unused.delete(entry.index)
  }

  /** Resolutions that matched no conflict (a typo, or a record that is no longer a conflict). */
  unused(): Resolution[] {
    return [...this.#unused.values()]
  }
}

/** The resolution's key as an object of the key columns. */
function keyObject(table: MergeTable, key: WireValue, where: string): Row {
  const columns = table.keyColumns
  const isObject = key !== null && typeof key === 'object' && !Array.isArray(key)
  if (columns.length === 1) {
    // A one-column key may itself be an object (MongoDB {"$oid": …}); { column: value } is accepted too.
    const value = isObject && Object.keys(key).length === 1 && columns[0] in key ? key[columns[0]] : key
    return { [columns[0]]: toTargetWire('unknown', columnKind(table, columns[0]), value) }
  }
  if (!isObject) {
    throw new UsageError(`${where}: the table's key has columns ${columns.join(', ')}; give the key as an object of them.`, { code: 'BAD_RESOLUTIONS' })
  }
  const given = Object.keys(key)
  const wrong = given.filter((c) => !columns.includes(c))
  const missing = columns.filter((c) => !given.includes(c) || key[c] === null)
  if (wrong.length > 0 || missing.length > 0) {
    throw new UsageError(`${where}: the key must have exactly the columns ${columns.join(', ')}.`, { code: 'BAD_RESOLUTIONS' })
  }
  const out: Row = {}
  for (const column of columns) out[column] = toTargetWire('unknown', columnKind(table, column), key[column])
  return out
}

function checkedChoice(table: MergeTable, choice: ResolutionChoice, where: string): ResolutionChoice {
  if (typeof choice === 'string') return choice
  const fields: Row = {}
  for (const [field, value] of Object.entries(choice.fields)) {
    if (!table.schemaless && !table.columns.has(field)) {
      throw new UsageError(`${where}: the table has no column ${JSON.stringify(field)}.`, { code: 'BAD_RESOLUTIONS' })
    }
    if (table.keyColumns.includes(field)) {
      throw new UsageError(`${where}: ${JSON.stringify(field)} is a key column; a merge never changes keys.`, { code: 'BAD_RESOLUTIONS' })
    }
    if (!isWritable(table, field)) {
      throw new UsageError(`${where}: ${JSON.stringify(field)} is a generated column.`, { code: 'BAD_RESOLUTIONS' })
    }
    fields[field] = toTargetWire('unknown', columnKind(table, field), value as WireValue)
  }
  return { fields }
}
