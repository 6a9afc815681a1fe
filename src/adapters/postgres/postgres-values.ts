/**
 * PostgreSQL values ↔ wire encoding (TEAM.md "Wire encoding", docs/format.md §Values).
 *
 * Reading: the Source never lets the driver interpret a value. Every column arrives as the text
 * PostgreSQL's own output function writes (through COPY … TO STDOUT, or a query whose type
 * parsers are switched off), in a session pinned to `TimeZone=UTC`, `DateStyle=ISO`,
 * `IntervalStyle=iso_8601`, `extra_float_digits=3` and `bytea_output=hex`. That text is exact for
 * every type, so the wire value is a cheap, lossless rewrite of it:
 *
 *   kind         PostgreSQL text                  wire
 *   integer      42                               42
 *   bigint       -9223372036854775808             "-9223372036854775808"
 *   decimal      1.50 / NaN / Infinity            "1.50" / "NaN" / "Infinity"
 *   float        1.1 / -0 / NaN / 5e-324          1.1 / "-0" / "NaN" / 5e-324
 *   boolean      t / f                            true / false
 *   binary       \x00ff                           "AP8="
 *   timestamp    2024-01-15 10:30:00.5            "2024-01-15T10:30:00.5"
 *   timestamptz  2024-01-15 10:30:00.5+00         "2024-01-15T10:30:00.5Z"
 *   array        {1,NULL,"a b"}                   [1, null, "a b"] (elements by their own kind)
 *   (all other kinds: the text itself)
 *
 * Writing: a Destination turns each wire value back into PostgreSQL's text input form, by the
 * *target* column's kind, and lets PostgreSQL's input functions do the parsing (COPY FROM text
 * format, or `$1::text[]` parameters cast to the column type). Values from a "Smart Backup"
 * (kind `unknown`, no types) are JSON values of any shape; they are converted to what the target
 * type expects (`true` into boolean, objects into json via JSON.stringify, numbers into numeric…).
 *
 * @module
 */
import type { ValueKind, WireValue } from '../adapter.js'
import { FormatError } from '../../errors.js'

/** What the introspector found about a column's type, after resolving domains. */
export interface PgTypeFacts {
  /** `pg_type.typname` of the base type (domains resolved), e.g. `int4`, `_text`, `mood`. */
  readonly name: string
  /** `pg_type.typtype`: b base, e enum, r range, m multirange, c composite, p pseudo. */
  readonly typtype: string
  /** `pg_type.typcategory` (A = array). */
  readonly category: string
  /** `pg_type.typdelim` of the element type, for array literals (`,` for all but `box`). */
  readonly delimiter: string
  /** For arrays: the element type, domains resolved. */
  readonly element?: PgTypeFacts
}

const KIND_BY_TYPE_NAME: Readonly<Record<string, ValueKind>> = {
  int2: 'integer',
  int4: 'integer',
  oid: 'integer',
  int8: 'bigint',
  numeric: 'decimal',
  money: 'decimal',
  float4: 'float',
  float8: 'float',
  bool: 'boolean',
  bytea: 'binary',
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  time: 'time',
  timetz: 'time',
  interval: 'interval',
  json: 'json',
  jsonb: 'json',
  bit: 'bit',
  varbit: 'bit',
}

/**
 * Types whose text output is their exact, portable identity and whose input accepts it back:
 * carried as `text` without a warning.
 */
const TEXT_TYPES = new Set([
  'text', 'varchar', 'bpchar', 'name', 'char', 'citext', 'uuid', 'inet', 'cidr', 'macaddr', 'macaddr8',
  'xml', 'tsvector', 'tsquery', 'point', 'line', 'lseg', 'box', 'path', 'polygon', 'circle', 'pg_lsn',
  'txid_snapshot', 'pg_snapshot',
])

/** The value kind of a type. `unknown` means: carried as text, cast back on restore, with a warning. */
export function kindOfType(type: PgTypeFacts): { kind: ValueKind; elementKind?: ValueKind } {
  if (type.category === 'A' && type.element) {
    const element = kindOfType(type.element)
    // Arrays of arrays do not exist in PostgreSQL; an array of a composite or unknown type is
    // still an array whose elements are carried as text.
    return { kind: 'array', elementKind: element.kind === 'array' ? 'unknown' : element.kind }
  }
  if (type.typtype === 'e') return { kind: 'enum' }
  if (type.typtype === 'r' || type.typtype === 'm') return { kind: 'text' }
  const known = KIND_BY_TYPE_NAME[type.name]
  if (known) return { kind: known }
  if (TEXT_TYPES.has(type.name)) return { kind: 'text' }
  return { kind: 'unknown' }
}

/**
 * The SQL expression that reads a column for the wire encoding. Only `money` needs help: its text
 * output depends on lc_monetary (`$1,000.00`), its numeric cast does not.
 */
export function readExpression(type: PgTypeFacts, columnRef: string): string {
  return type.name === 'money' ? `${columnRef}::numeric` : columnRef
}

/** Types whose cast to text is a function of its own rather than the output function. */
const OWN_TEXT_CASTS = new Set(['bpchar', 'inet', 'cidr', 'char'])

/** Array element types whose JSON (array_to_json) is exactly what textDecoder makes of the array text. */
const JSON_ARRAY_ELEMENTS = new Set(['int2', 'int4', 'bool', 'text', 'varchar', 'uuid'])

/**
 * The SQL expression whose JSON form, inside `row_to_json`, is exactly the column's wire value
 * (what textDecoder makes of the column's text): the backup fast path, in which PostgreSQL writes
 * every record line itself. Returns undefined for a type it cannot write exactly; the table is
 * then read the ordinary way. How row_to_json writes a value depends on its type: integers and
 * booleans as JSON numbers and literals, arrays as arrays, anything else cast to text as a string
 * escaped the way JSON.stringify escapes it. So each kind is brought to the type that gives its
 * wire form:
 *
 *   integer      ::int8 (oid and domains as plain numbers)
 *   boolean      ::bool
 *   binary       base64 without the line breaks encode() puts in
 *   timestamp    the ISO text with "T" for its first space
 *   timestamptz  the same, with "Z" for "+00" (the session is pinned to UTC)
 *   array        as is, for the element types in JSON_ARRAY_ELEMENTS
 *   float        undefined: PostgreSQL writes exponents as 1e-07 where JSON.stringify writes 1e-7
 *   unknown      undefined (composite and extensions' types)
 *   others       ::text, which is the output function for them but for OWN_TEXT_CASTS
 *                (bpchar::text drops the padding, inet::text adds the mask): there
 *                format('%s', v), which calls the output function (and makes NULL '', hence
 *                the CASE)
 *
 * The " BC" suffix of timestamps needs the first space alone replaced: the cheap replace() is
 * used for dates from year 1 on, regexp_replace() (first match only) before that.
 */
export function jsonExpression(type: PgTypeFacts, kind: ValueKind, elementKind: ValueKind | undefined, columnRef: string): string | undefined {
  const c = columnRef
  switch (kind) {
    case 'integer':
      return `${c}::int8`
    case 'boolean':
      return `${c}::bool`
    case 'float':
      return undefined
    case 'binary':
      return `pg_catalog.translate(pg_catalog.encode(${c}::bytea, 'base64'), E'\\n', '')`
    case 'timestamp':
      return `CASE WHEN ${c} >= '0001-01-01' THEN pg_catalog.replace(${c}::text, ' ', 'T') ELSE pg_catalog.regexp_replace(${c}::text, ' ', 'T') END`
    case 'timestamptz':
      return (
        `CASE WHEN ${c} >= '0001-01-01' THEN pg_catalog.replace(pg_catalog.replace(${c}::text, ' ', 'T'), '+00', 'Z') ` +
        `ELSE pg_catalog.regexp_replace(pg_catalog.regexp_replace(${c}::text, ' ', 'T'), '\\+00', 'Z') END`
      )
    case 'array': {
      const element = type.element
      if (element === undefined) return undefined
      const plain = JSON_ARRAY_ELEMENTS.has(element.name) || element.typtype === 'e'
      return plain && (elementKind === 'integer' || elementKind === 'boolean' || elementKind === 'text' || elementKind === 'enum') ? c : undefined
    }
    case 'document':
    case 'unknown':
      // Composite types (IS NULL means "all fields NULL" for them) and extensions' types (whose
      // cast to text may not be their output function): read the ordinary way.
      return undefined
    default:
      if (type.name === 'money') return `${c}::numeric::text`
      if (OWN_TEXT_CASTS.has(type.name)) return `CASE WHEN ${c} IS NULL THEN NULL ELSE pg_catalog.format('%s', ${c}) END`
      return `${c}::text`
  }
}

/** Converts PostgreSQL's text output of one non-NULL value to its wire value. */
export type TextDecoder = (text: string) => WireValue

const FLOAT_SPECIALS = new Set(['NaN', 'Infinity', '-Infinity', '-0'])

const identity: TextDecoder = (text) => text

/** The decoder for a column of this kind (and element kind, with the array delimiter). */
export function textDecoder(kind: ValueKind, elementKind?: ValueKind, delimiter = ','): TextDecoder {
  switch (kind) {
    case 'integer':
      return (text) => Number(text)
    case 'float':
      // PostgreSQL ≥ 12 prints the shortest text that reads back as the same float4/float8
      // (extra_float_digits > 0), which is also what Number() and JSON need.
      return (text) => (FLOAT_SPECIALS.has(text) ? text : Number(text))
    case 'boolean':
      return (text) => text === 't'
    case 'binary':
      return (text) => Buffer.from(text.slice(2), 'hex').toString('base64')
    case 'timestamp':
      return (text) => text.replace(' ', 'T')
    case 'timestamptz':
      // TimeZone=UTC: the offset is always "+00"; " BC" (if any) stays at the end.
      return (text) => text.replace(' ', 'T').replace('+00', 'Z')
    case 'array': {
      const element = textDecoder(elementKind ?? 'unknown')
      return (text) => mapArray(parsePgArray(text, delimiter), element)
    }
    default:
      return identity
  }
}

type PgArray = (string | null | PgArray)[]

function mapArray(array: PgArray, decode: TextDecoder): WireValue[] {
  return array.map((item) => (item === null ? null : typeof item === 'string' ? decode(item) : mapArray(item, decode)))
}

/**
 * Parses PostgreSQL's array output (`{1,NULL,"a \"b\""}`, `{{1,2},{3,4}}`, `[0:1]={7,8}`) into
 * nested arrays of element texts. Lower bounds other than 1 are not kept: JSON arrays have none.
 */
export function parsePgArray(text: string, delimiter = ','): PgArray {
  let position = 0
  if (text.startsWith('[')) {
    // Dimension decoration "[lo:hi][lo:hi]=" precedes arrays whose lower bound is not 1.
    position = text.indexOf('=') + 1
  }
  const fail = (): never => {
    throw new FormatError(`Malformed PostgreSQL array text at offset ${position}: ${text.slice(0, 80)}`)
  }
  const parseArray = (): PgArray => {
    if (text[position] !== '{') fail()
    position++
    const items: PgArray = []
    if (text[position] === '}') {
      position++
      return items
    }
    for (;;) {
      const c = text[position]
      if (c === '{') {
        items.push(parseArray())
      } else if (c === '"') {
        position++
        let value = ''
        for (;;) {
          const d = text[position]
          if (d === undefined) fail()
          if (d === '"') break
          if (d === '\\') {
            position++
            if (position >= text.length) fail()
          }
          value += text[position]
          position++
        }
        position++
        items.push(value)
      } else {
        let end = position
        while (end < text.length && text[end] !== delimiter && text[end] !== '}') end++
        if (end >= text.length) fail()
        const raw = text.slice(position, end)
        position = end
        items.push(raw.toUpperCase() === 'NULL' ? null : raw.replace(/\\(.)/gs, '$1'))
      }
      const next = text[position]
      position++
      if (next === '}') return items
      if (next !== delimiter) fail()
    }
  }
  const result = parseArray()
  if (position !== text.length) fail()
  return result
}

/**
 * Converts one wire value to the text PostgreSQL's input function for the target column expects
 * (COPY text format before escaping, or a `text[]` parameter element), or null for SQL NULL.
 *
 * `sourceKind` is how the backup encoded the value (its column kind); `targetKind` is the kind of
 * the column it goes into. They differ for Smart Backup files (`unknown`) and cross-engine
 * restores; the target decides the text, the source only tells how to read the wire value.
 * Throws FormatError for a value that cannot be what its kind says (bad base64, an object where
 * a number belongs); the caller adds the table and column.
 */
export function wireToPgText(
  value: WireValue | undefined,
  sourceKind: ValueKind,
  targetKind: ValueKind,
  targetElementKind?: ValueKind,
  sourceElementKind?: ValueKind,
): string | null {
  if (value === null || value === undefined) return null
  switch (targetKind) {
    case 'boolean':
      if (typeof value === 'boolean') return value ? 't' : 'f'
      if (typeof value === 'number') return value === 0 ? 'f' : 't'
      return scalarText(value, targetKind)
    case 'binary':
      return binaryText(value)
    case 'json':
      // A json-kind wire value is the JSON text itself; any other value (Smart Backup objects,
      // MongoDB documents, plain strings from an untyped file) is the JSON value to store.
      if (typeof value === 'string' && (sourceKind === 'json' || sourceKind === 'text' || sourceKind === 'unknown')) {
        return sourceKind === 'json' || looksLikeJsonText(value) ? value : JSON.stringify(value)
      }
      return JSON.stringify(value)
    case 'array':
      if (typeof value === 'string') return value
      if (!Array.isArray(value)) throw new FormatError(`expected an array, found ${describeValue(value)}`)
      return arrayLiteral(value, (element) =>
        wireToPgText(element, sourceElementKind ?? 'unknown', targetElementKind ?? 'unknown'),
      )
    case 'timestamp':
    case 'timestamptz':
    case 'date':
      return temporalText(value, targetKind)
    default:
      return scalarText(value, targetKind)
  }
}

/** Strings, numbers and booleans as text; objects and arrays (untyped files) as JSON text. */
function scalarText(value: WireValue, kind: ValueKind): string {
  switch (typeof value) {
    case 'string':
      return value
    case 'number':
      // String() gives the shortest text that reads back as the same double (or float4).
      return String(value)
    case 'boolean':
      if (kind === 'integer' || kind === 'bigint' || kind === 'decimal' || kind === 'float') return value ? '1' : '0'
      return value ? 'true' : 'false'
    default:
      if (kind === 'integer' || kind === 'bigint' || kind === 'decimal' || kind === 'float') {
        const extended = extendedJsonNumber(value)
        if (extended !== undefined) return extended
        throw new FormatError(`expected a number, found ${describeValue(value)}`)
      }
      return JSON.stringify(value)
  }
}

/** MongoDB canonical Extended JSON numbers ({"$numberLong": "1"} …), as a cross-engine courtesy. */
function extendedJsonNumber(value: WireValue): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  for (const key of ['$numberLong', '$numberInt', '$numberDecimal', '$numberDouble']) {
    const inner = value[key]
    if (typeof inner === 'string') return inner
  }
  return undefined
}

function temporalText(value: WireValue, kind: ValueKind): string {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && '$date' in value) {
    // MongoDB Extended JSON date: {"$date": "…"} or {"$date": {"$numberLong": "ms"}}.
    const inner = value.$date
    if (typeof inner === 'string') return inner
    const ms = extendedJsonNumber(inner)
    if (ms !== undefined) return new Date(Number(ms)).toISOString()
  }
  if (typeof value === 'number' && kind !== 'date') {
    // A bare number for a timestamp can only be epoch milliseconds (JavaScript Date.getTime()).
    return new Date(value).toISOString()
  }
  return scalarText(value, kind)
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function binaryText(value: WireValue): string {
  if (typeof value === 'string') {
    if (!BASE64.test(value)) throw new FormatError('expected base64 for a binary value')
    return `\\x${Buffer.from(value, 'base64').toString('hex')}`
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    // Node's Buffer#toJSON ({"type":"Buffer","data":[…]}) as written by untyped exporters, and
    // MongoDB Extended JSON binary ({"$binary": {"base64": "…"}}).
    if (value.type === 'Buffer' && Array.isArray(value.data)) {
      return `\\x${Buffer.from(value.data.map((byte) => Number(byte))).toString('hex')}`
    }
    const binary = value.$binary
    if (binary !== null && typeof binary === 'object' && !Array.isArray(binary) && typeof binary.base64 === 'string') {
      return binaryText(binary.base64)
    }
  }
  throw new FormatError(`expected base64 for a binary value, found ${describeValue(value)}`)
}

/** True for text that is an object or array in JSON (what an untyped file means by a JSON column). */
function looksLikeJsonText(text: string): boolean {
  const first = text.trimStart()[0]
  if (first !== '{' && first !== '[') return false
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/**
 * Builds an array literal: `{"1",NULL,"a \"b\""}`, nested for more dimensions. Every element is
 * quoted, so no element text needs to be inspected for delimiters or braces.
 */
export function arrayLiteral(items: readonly WireValue[], encode: (element: WireValue) => string | null): string {
  const parts = items.map((item) => {
    if (Array.isArray(item)) return arrayLiteral(item, encode)
    const text = encode(item)
    return text === null ? 'NULL' : `"${text.replace(/[\\"]/g, '\\$&')}"`
  })
  return `{${parts.join(',')}}`
}

function describeValue(value: WireValue): string {
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${JSON.stringify(value).slice(0, 40)}`
}
