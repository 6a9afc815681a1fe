/**
 * The key order an increment can merge its parent's entries with the current rows in
 * (engine/incremental-stream.ts, docs/performance.md §Round ten): both sides sorted by key, so
 * that neither is held whole. It is the order PostgreSQL gives for `ORDER BY` the key columns with
 * every text column `COLLATE "C"` (bytes of UTF-8, which is code point order), never the
 * database's collation, which this side could not reproduce. Only key columns whose order this
 * side can compute exactly are taken: integers (numerically), `text` / `varchar` (code points)
 * and `uuid` (its 16 bytes, which is its lowercase text's order). Any other key: undefined, and the
 * increment holds the parent's table as before.
 *
 * The comparison only saves memory: an increment compares keys when they are not equal as bytes,
 * to tell which side is behind, and a pair it misjudges costs a row held aside, never a wrong
 * increment.
 */
import type { ColumnSchema, TableSchema } from './adapter.js'

/** What a section of a digest index says of its entries' order (its header's `order`). */
export const KEY_ORDER_C = 'c'

type Compare = (a: unknown, b: unknown) => number

/** PostgreSQL's types a key column may have for the order: integers, the two text types without padding, uuid. */
const INTEGER_TYPES = /^(smallint|integer|bigint|int2|int4|int8)$/
const TEXT_TYPES = /^(text|character varying(\(\d+\))?|varchar(\(\d+\))?)$/

/** Whether the column is text that needs `COLLATE "C"` to be in this order (uuid and integers do not: they have no collation). */
export function collatedKeyColumn(column: ColumnSchema): boolean {
  return column.kind === 'text' && TEXT_TYPES.test(column.type)
}

function columnCompare(column: ColumnSchema): Compare | undefined {
  if ((column.kind === 'integer' || column.kind === 'bigint') && INTEGER_TYPES.test(column.type)) return compareIntegers
  if (column.kind === 'text' && (TEXT_TYPES.test(column.type) || column.type === 'uuid')) return compareCodePoints
  return undefined
}

/** Whether `table`'s key can be ordered so (the PostgreSQL source then sorts by it, and writes it in its index's headers). */
export function hasKeyOrder(table: TableSchema): boolean {
  return keyOrder(table) !== undefined
}

/**
 * Compares two key texts (JSON arrays of the key columns' wire values, as the digest index holds
 * them) in the key order: negative when `a` comes first. Undefined when the table's key has a
 * column outside the order.
 */
export function keyOrder(table: TableSchema): ((a: string, b: string) => number) | undefined {
  if (table.primaryKey.length === 0) return undefined
  const compares: Compare[] = []
  for (const name of table.primaryKey) {
    const column = table.columns.find((c) => c.name === name)
    const compare = column === undefined ? undefined : columnCompare(column)
    if (compare === undefined) return undefined
    compares.push(compare)
  }
  return (a, b) => {
    const left = JSON.parse(a) as unknown[]
    const right = JSON.parse(b) as unknown[]
    for (let i = 0; i < compares.length; i++) {
      const c = compares[i]!(left[i], right[i])
      if (c !== 0) return c
    }
    return 0
  }
}

/** NULL last (PostgreSQL's default for ascending order; a key column is never NULL anyway). */
function nulls(a: unknown, b: unknown): number | undefined {
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1
  if (b === null || b === undefined) return -1
  return undefined
}

/** Integers as JSON numbers or decimal strings (bigint's wire value), compared exactly. */
export function compareIntegers(a: unknown, b: unknown): number {
  const n = nulls(a, b)
  if (n !== undefined) return n
  const x = BigInt(a as string | number)
  const y = BigInt(b as string | number)
  return x < y ? -1 : x > y ? 1 : 0
}

/**
 * Strings in code point order (the order of their UTF-8 bytes), not JavaScript's UTF-16 code unit
 * order: they differ where a character above U+FFFF meets one from U+E000 to U+FFFF.
 */
export function compareCodePoints(a: unknown, b: unknown): number {
  const n = nulls(a, b)
  if (n !== undefined) return n
  const x = String(a)
  const y = String(b)
  const length = Math.min(x.length, y.length)
  for (let i = 0; i < length; i++) {
    let p = x.charCodeAt(i)
    let q = y.charCodeAt(i)
    if (p === q) continue
    // Surrogates (U+D800–U+DFFF) stand for code points above U+FFFF: they go after U+E000–U+FFFF.
    if (p >= 0xd800 && q >= 0xd800) {
      p = p >= 0xe000 ? p - 0x800 : p + 0x2000
      q = q >= 0xe000 ? q - 0x800 : q + 0x2000
    }
    return p - q
  }
  return x.length - y.length
}
