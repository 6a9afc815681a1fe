/**
 * MySQL/MariaDB values ⇄ wire encoding (docs/format.md §Values, docs/adapters-mysql.md).
 *
 * Reading: connections are opened with `supportBigNumbers` + `bigNumberStrings` (BIGINT and
 * DECIMAL arrive as the server's text), `dateStrings` (DATE/DATETIME/TIMESTAMP arrive as the
 * server's text, never as a JS Date, so no client time zone can shift them), `jsonStrings` (JSON
 * keeps its text byte for byte) and session `time_zone = '+00:00'` (TIMESTAMP text is UTC).
 * The one value the text protocol prints lossily is FLOAT (6 significant digits), so FLOAT
 * columns are selected as `CAST(col AS DOUBLE)`, which widens the float exactly; the encoder then
 * writes the shortest decimal that reads back as the same float.
 *
 * Writing (valueWriter): every value becomes text chosen by the *target* column's type — an SQL
 * literal for INSERT and WHERE, or a LOAD DATA field — never a bound string parameter. That
 * matters for comparisons too (readByKeys, updateRows): `bigint_col = '…'` would compare as
 * doubles and match the wrong row beyond 2^53, so integers and decimals are written unquoted
 * after being checked against a strict grammar, strings are escaped for the session's fixed
 * sql_mode (no NO_BACKSLASH_ESCAPES), bytes go as hex. A value the column would change (more
 * decimal places than its scale, a YEAR MySQL would reinterpret) is refused instead.
 *
 * The kind of the backup column (`sourceKind`) only disambiguates a few values (a base64 string is
 * binary only when it came from a binary column); otherwise the target column decides, which is
 * what lets "Smart Backup" rows (kind `unknown`) land in typed columns.
 */
import type { ColumnSchema, ValueKind, WireValue } from '../adapter.js'
import { DatabaseError, FormatError } from '../../errors.js'
import { base64ToBytes, encodeFloat } from '../../format/values.js'

/** What a column is, for the codecs: derived from `information_schema.COLUMNS.DATA_TYPE`. */
export type MysqlTypeClass =
  | 'integer'
  | 'bigint'
  | 'decimal'
  | 'float'
  | 'double'
  | 'bit'
  | 'text'
  | 'binary'
  | 'date'
  | 'datetime'
  | 'timestamp'
  | 'time'
  | 'year'
  | 'json'
  | 'enum'
  | 'set'
  | 'geometry'
  | 'other'

const TYPE_CLASSES: Readonly<Record<string, MysqlTypeClass>> = {
  tinyint: 'integer',
  smallint: 'integer',
  mediumint: 'integer',
  int: 'integer',
  integer: 'integer',
  bigint: 'bigint',
  decimal: 'decimal',
  numeric: 'decimal',
  float: 'float',
  double: 'double',
  real: 'double',
  'double precision': 'double',
  bit: 'bit',
  char: 'text',
  varchar: 'text',
  tinytext: 'text',
  text: 'text',
  mediumtext: 'text',
  longtext: 'text',
  uuid: 'text',
  inet4: 'text',
  inet6: 'text',
  binary: 'binary',
  varbinary: 'binary',
  tinyblob: 'binary',
  blob: 'binary',
  mediumblob: 'binary',
  longblob: 'binary',
  date: 'date',
  datetime: 'datetime',
  timestamp: 'timestamp',
  time: 'time',
  year: 'year',
  json: 'json',
  enum: 'enum',
  set: 'set',
  geometry: 'geometry',
  point: 'geometry',
  linestring: 'geometry',
  polygon: 'geometry',
  multipoint: 'geometry',
  multilinestring: 'geometry',
  multipolygon: 'geometry',
  geometrycollection: 'geometry',
  geomcollection: 'geometry',
}

/**
 * The class of a MySQL type, from its DDL spelling (`int(11) unsigned`, `datetime(6)`,
 * `enum('a','b')`, `json`) or a bare DATA_TYPE. Unknown spellings are 'other'.
 */
export function typeClassOf(type: string): MysqlTypeClass {
  const base = /^\s*([a-z][a-z0-9]*(?: precision)?)/i.exec(type)?.[1]?.toLowerCase() ?? ''
  return TYPE_CLASSES[base] ?? 'other'
}

/**
 * The wire kind of a MySQL column type. Decisions (docs/adapters-mysql.md):
 * - every TINYINT, TINYINT(1) and BOOLEAN included, is 'integer': TINYINT(1) holds -128..127 and
 *   BOOLEAN is only its alias, so mapping it to 'boolean' would lose values;
 * - SET is 'text' (the labels comma-separated, as MySQL prints them);
 * - DATETIME is 'timestamp', TIMESTAMP is 'timestamptz' (read and written in UTC);
 * - geometry types are 'binary' (MySQL's internal SRID + WKB bytes, which it accepts back).
 */
export function kindOfType(type: string): ValueKind {
  switch (typeClassOf(type)) {
    case 'integer':
    case 'year':
      return 'integer'
    case 'bigint':
      return 'bigint'
    case 'decimal':
      return 'decimal'
    case 'float':
    case 'double':
      return 'float'
    case 'bit':
      return 'bit'
    case 'text':
    case 'set':
      return 'text'
    case 'binary':
    case 'geometry':
      return 'binary'
    case 'date':
      return 'date'
    case 'datetime':
      return 'timestamp'
    case 'timestamp':
      return 'timestamptz'
    case 'time':
      return 'time'
    case 'json':
      return 'json'
    case 'enum':
      return 'enum'
    case 'other':
      return 'unknown'
  }
}

/** The labels of an `enum('a','b')` / `set(…)` type, in order. */
export function parseEnumLabels(type: string): string[] {
  const open = type.indexOf('(')
  const labels: string[] = []
  if (open < 0) return labels
  const re = /'((?:[^'\\]|''|\\.)*)'/g
  let match: RegExpExecArray | null
  while ((match = re.exec(type.slice(open))) !== null) {
    labels.push(unescapeSqlString(match[1]))
  }
  return labels
}

function unescapeSqlString(text: string): string {
  return text.replace(/''/g, "'").replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '0': '\0', Z: '\x1a', b: '\b' })[c] ?? c)
}

/** The (first) parenthesised number of a type: `bit(5)` → 5, `datetime(6)` → 6, `datetime` → undefined. */
export function typeLength(type: string): number | undefined {
  const match = /\(\s*(\d+)/.exec(type)
  return match ? Number(match[1]) : undefined
}

/** `name` quoted as a MySQL identifier (backticks doubled). */
export function quoteIdentifier(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`'
}

/**
 * The SQL expression that reads `column` exactly: FLOAT widened to DOUBLE (the text protocol
 * prints FLOAT with 6 digits), everything else as it is.
 */
export function valueExpression(column: Pick<ColumnSchema, 'name' | 'type'>, qualifier?: string): string {
  const ref = (qualifier ? `${qualifier}.` : '') + quoteIdentifier(column.name)
  return typeClassOf(column.type) === 'float' ? `CAST(${ref} AS DOUBLE)` : ref
}

/** `valueExpression` aliased to the column's own name, for a SELECT list. */
export function selectExpression(column: Pick<ColumnSchema, 'name' | 'type'>, qualifier?: string): string {
  return `${valueExpression(column, qualifier)} AS ${quoteIdentifier(column.name)}`
}

/** mysql2 parses geometry into objects; this typeCast keeps the raw bytes the encoder expects. */
export function rawGeometryTypeCast(field: { readonly type: string; buffer(): Buffer | null }, next: () => unknown): unknown {
  return field.type === 'GEOMETRY' ? field.buffer() : next()
}

/** Whether any of the columns needs `rawGeometryTypeCast`. */
export function hasGeometry(columns: readonly Pick<ColumnSchema, 'type'>[]): boolean {
  return columns.some((c) => typeClassOf(c.type) === 'geometry')
}

// ---------------------------------------------------------------------------------------------
// Reading: driver value → wire value

/** Turns the driver's value for one column into its wire value. */
export type Encoder = (raw: unknown) => WireValue

/**
 * The float4 value `x` (a double that holds a float exactly) as the shortest decimal that reads
 * back as the same float4: 1.100000023841858 → 1.1.
 */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x
  const target = Math.fround(x)
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(target.toPrecision(digits))
    if (Math.fround(candidate) === target) return candidate
  }
  return target
}

/**
 * Server text of a DATETIME/TIMESTAMP/TIME without the fraction's trailing zeros (and the dot when
 * nothing is left). The same result as format/values trimFraction, without a regex: this runs for
 * every temporal value of a backup.
 */
function trimTemporal(text: string): string {
  let end = text.length
  if (text.charCodeAt(end - 1) !== 48 || text.indexOf('.') < 0) return text
  while (text.charCodeAt(end - 1) === 48) end--
  if (text.charCodeAt(end - 1) === 46) end--
  return text.slice(0, end)
}

/** "YYYY-MM-DD HH:MM:SS[.f]" → "YYYY-MM-DDTHH:MM:SS[.f]" (zero dates too). */
function isoDateTime(text: string): string {
  const trimmed = trimTemporal(text)
  return trimmed.length > 10 && trimmed.charCodeAt(10) === 32 ? `${trimmed.slice(0, 10)}T${trimmed.slice(11)}` : trimmed
}

function bitsOf(buffer: Buffer, width: number): string {
  let bits = ''
  for (const byte of buffer) bits += byte.toString(2).padStart(8, '0')
  return bits.slice(Math.max(0, bits.length - width)).padStart(width, '0')
}

/** The encoder for a column of this MySQL type (as described by mysql-introspector). */
export function encoderFor(column: Pick<ColumnSchema, 'type'>): Encoder {
  const cls = typeClassOf(column.type)
  switch (cls) {
    case 'integer':
    case 'year':
      return (raw) => (raw === null ? null : Number(raw))
    case 'bigint':
    case 'decimal':
      return (raw) => (raw === null ? null : String(raw))
    case 'float':
      return (raw) => (raw === null ? null : encodeFloat(shortestFloat32(Number(raw))))
    case 'double':
      return (raw) => (raw === null ? null : encodeFloat(Number(raw)))
    case 'bit': {
      const width = typeLength(column.type) ?? 1
      return (raw) => (raw === null ? null : bitsOf(raw as Buffer, width))
    }
    case 'binary':
    case 'geometry':
      return (raw) => (raw === null ? null : (raw as Buffer).toString('base64'))
    case 'datetime':
      return (raw) => (raw === null ? null : isoDateTime(String(raw)))
    case 'timestamp':
      return (raw) => (raw === null ? null : `${isoDateTime(String(raw))}Z`)
    case 'time':
      return (raw) => (raw === null ? null : trimTemporal(String(raw)))
    case 'date':
    case 'text':
    case 'json':
    case 'enum':
    case 'set':
      return (raw) => (raw === null ? null : String(raw))
    case 'other':
      return (raw) => (raw === null ? null : Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw))
  }
}

// ---------------------------------------------------------------------------------------------
// Writing: wire value → SQL literal for the target column

/** Where a value is going, for error messages and decoding. */
export interface TargetColumn {
  readonly name: string
  readonly type: string
}

function cannotHold(column: TargetColumn, value: WireValue, why: string): DatabaseError {
  const shown = JSON.stringify(value)
  return new DatabaseError(
    `Column ${quoteIdentifier(column.name)} (${column.type}) cannot hold ${shown.length > 80 ? shown.slice(0, 77) + '...' : shown}: ${why}.`,
    { details: { column: column.name } },
  )
}

const INTEGER_TEXT = /^[+-]?\d+$/
const INTEGRAL_DECIMAL_TEXT = /^([+-]?\d+)(?:\.0*)?$/
const FLOAT_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

const NEEDS_ESCAPE = /[\0\n\r\b\t\x1a'"\\]/

/**
 * Escapes a string for a single-quoted MySQL literal. Correct because every mergeback session
 * sets an sql_mode without NO_BACKSLASH_ESCAPES and the connection character set utf8mb4.
 */
export function quoteString(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return `'${text}'`
  return (
    "'" +
    text.replace(/[\0\n\r\b\t\x1a'"\\]/g, (c) => {
      switch (c) {
        case '\0':
          return '\\0'
        case '\n':
          return '\\n'
        case '\r':
          return '\\r'
        case '\b':
          return '\\b'
        case '\t':
          return '\\t'
        case '\x1a':
          return '\\Z'
        default:
          return '\\' + c
      }
    }) +
    "'"
  )
}

function jsonText(value: WireValue): string {
  return JSON.stringify(value)
}

function integerText(column: TargetColumn, value: WireValue): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  if (typeof value === 'boolean') return value ? '1' : '0'
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return BigInt(value).toString()
    throw cannotHold(column, value, 'it is not an integer')
  }
  if (typeof value === 'string') {
    const text = value.trim()
    if (INTEGER_TEXT.test(text)) return text
    const integral = INTEGRAL_DECIMAL_TEXT.exec(text)
    if (integral) return integral[1]
    if (text === 'true' || text === 'false') return text === 'true' ? '1' : '0'
    throw cannotHold(column, value, 'it is not an integer')
  }
  throw cannotHold(column, value, 'it is not an integer')
}

/** Exact decimal text without exponent: "1.5e-7" → "0.00000015", "-12e3" → "-12000". */
export function plainDecimal(text: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text)
  if (!m) return text
  const [, sign, whole, fraction = '', exponent] = m
  if (exponent === undefined) return text
  const digits = (whole + fraction).replace(/^0+(?=\d)/, '')
  let point = whole.length + Number(exponent) - (whole + fraction).length + digits.length
  let body = digits
  if (point <= 0) {
    body = '0'.repeat(1 - point) + body
    point = 1
  } else if (point > body.length) body = body + '0'.repeat(point - body.length)
  const integer = body.slice(0, point).replace(/^0+(?=\d)/, '')
  const rest = body.slice(point).replace(/0+$/, '')
  return `${sign === '-' ? '-' : ''}${integer}${rest ? '.' + rest : ''}`
}

/**
 * The value as plain decimal text, refused when it has more fractional digits than the column's
 * scale (MySQL would round it and only leave a note, even in strict mode).
 */
function decimalText(column: TargetColumn, value: WireValue, scale: number): string {
  let text: string
  if (typeof value === 'boolean') text = value ? '1' : '0'
  else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw cannotHold(column, value, 'MySQL has no NaN or Infinity')
    text = plainDecimal(String(value))
  } else if (typeof value === 'string' && FLOAT_TEXT.test(value.trim())) text = plainDecimal(value.trim())
  else if (typeof value === 'string' && /^[+-]?(NaN|Infinity)$/.test(value.trim())) throw cannotHold(column, value, 'MySQL has no NaN or Infinity')
  else throw cannotHold(column, value, 'it is not a decimal number')
  const fraction = /\.(\d*)$/.exec(text)?.[1] ?? ''
  if (/[1-9]/.test(fraction.slice(scale))) throw cannotHold(column, value, `it has more decimal places than the column's ${scale}`)
  return text
}

function floatText(column: TargetColumn, value: WireValue, float4: boolean): string {
  if (typeof value === 'boolean') return value ? '1' : '0'
  let number: number
  if (typeof value === 'number') number = value
  else if (typeof value === 'string' && FLOAT_TEXT.test(value.trim())) number = Number(value.trim())
  else if (typeof value === 'string' && /^[+-]?(NaN|Infinity)$/.test(value.trim())) throw cannotHold(column, value, 'MySQL has no NaN or Infinity')
  else throw cannotHold(column, value, 'it is not a number')
  if (float4) {
    // The float4 value itself, written as the double that holds it exactly: the shortest form
    // of FLT_MAX (3.4028235e38) is above FLT_MAX as a double, and MySQL would call it out of range.
    number = Math.fround(number)
  }
  if (!Number.isFinite(number)) throw cannotHold(column, value, Number.isNaN(number) ? 'MySQL has no NaN' : 'it is out of range')
  // JS's shortest round-trip form; a trailing e0 makes it a DOUBLE literal, which MySQL parses with strtod.
  if (Object.is(number, -0)) return '-0e0'
  const text = String(number)
  return /e/i.test(text) ? text : `${text}e0`
}

/** The bits of a BIT value, most significant first. */
function bitText(column: TargetColumn, value: WireValue): string {
  if (typeof value === 'boolean') return value ? '1' : '0'
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return BigInt(value).toString(2)
  if (typeof value === 'string' && /^[01]+$/.test(value)) return value
  throw cannotHold(column, value, 'a BIT value is a string of 0s and 1s')
}

function binaryBytes(column: TargetColumn, value: WireValue, sourceKind: ValueKind | undefined): Buffer {
  if (typeof value === 'string') {
    if (sourceKind === 'binary' || sourceKind === 'unknown' || sourceKind === undefined) {
      try {
        return base64ToBytes(value)
      } catch (error) {
        throw new FormatError(`Column ${quoteIdentifier(column.name)} (${column.type}) expects base64 binary: ${(error as Error).message}.`, {
          cause: error,
          details: { column: column.name },
        })
      }
    }
    // A character value from another engine's text column: its UTF-8 bytes.
    return Buffer.from(value, 'utf8')
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && value.type === 'Buffer' && Array.isArray(value.data)) {
    // Node's JSON form of a Buffer, as JSON.stringify writes it in hand-made backups.
    return Buffer.from(value.data as number[])
  }
  throw cannotHold(column, value, 'binary values are base64 strings')
}

function textText(value: WireValue): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return jsonText(value)
}

interface DateTimeParts {
  date: string
  time: string
  fraction: string
}

const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/
const DATETIME_TEXT = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0')
}

/** Parses a wire date/timestamp, shifting a zoned value into UTC. Zero dates are kept as they are. */
function parseDateTime(column: TargetColumn, text: string): DateTimeParts {
  const m = DATETIME_TEXT.exec(text.trim())
  if (!m) throw cannotHold(column, text, 'it is not an ISO-8601 date or timestamp')
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone] = m
  const zero = Number(y) === 0 || Number(mo) === 0 || Number(d) === 0
  if (!zone || zero || /^z$/i.test(zone) || /^[+-]00(:?00)?$/.test(zone)) {
    return { date: `${y}-${mo}-${d}`, time: `${h}:${mi}:${s}`, fraction }
  }
  const sign = zone.startsWith('-') ? -1 : 1
  const digits = zone.slice(1).replace(':', '')
  const offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'))
  const instant = new Date(0)
  instant.setUTCFullYear(Number(y), Number(mo) - 1, Number(d))
  instant.setUTCHours(Number(h), Number(mi) - offsetMinutes, Number(s), 0)
  return {
    date: `${pad(instant.getUTCFullYear(), 4)}-${pad(instant.getUTCMonth() + 1)}-${pad(instant.getUTCDate())}`,
    time: `${pad(instant.getUTCHours())}:${pad(instant.getUTCMinutes())}:${pad(instant.getUTCSeconds())}`,
    fraction,
  }
}

function checkFraction(column: TargetColumn, value: WireValue, fraction: string, precision: number): string {
  if (/[1-9]/.test(fraction.slice(precision))) {
    throw cannotHold(column, value, `it has more fractional-second digits than the column's ${precision}`)
  }
  return fraction.slice(0, precision).replace(/0+$/, '')
}

function dateText(column: TargetColumn, value: WireValue): string {
  if (typeof value !== 'string') throw cannotHold(column, value, 'a date is a "YYYY-MM-DD" string')
  if (DATE_TEXT.test(value)) return value
  const parts = parseDateTime(column, value)
  // A timestamp fits a DATE only when it is midnight (as ORMs write dates): never drop a time.
  if (parts.time !== '00:00:00' || /[1-9]/.test(parts.fraction)) throw cannotHold(column, value, 'a DATE has no time of day')
  return parts.date
}

/** The common case, a wire timestamp without zone (or with Z), needs no date arithmetic. */
const PLAIN_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z?$/

function dateTimeText(column: TargetColumn, value: WireValue, precision: number): string {
  if (typeof value !== 'string') throw cannotHold(column, value, 'a timestamp is an ISO-8601 string')
  const plain = PLAIN_TIMESTAMP.exec(value)
  if (plain && (plain[3] === undefined || plain[3].length <= precision)) return `${plain[1]} ${plain[2]}${plain[3] ? '.' + plain[3] : ''}`
  const parts = parseDateTime(column, value)
  const fraction = checkFraction(column, value, parts.fraction, precision)
  return `${parts.date} ${parts.time}${fraction ? '.' + fraction : ''}`
}

function timeText(column: TargetColumn, value: WireValue, precision: number): string {
  const m = typeof value === 'string' ? /^-?\d{1,3}:\d{2}(?::\d{2}(?:\.(\d+))?)?$/.exec(value.trim()) : null
  if (!m) throw cannotHold(column, value, 'a TIME is "[-]HHH:MM:SS[.ffffff]"')
  checkFraction(column, value, m[1] ?? '', precision)
  return (value as string).trim()
}

function yearText(column: TargetColumn, value: WireValue): string {
  const text = typeof value === 'number' && Number.isInteger(value) ? String(value) : typeof value === 'string' ? value.trim() : ''
  if (!/^\d{1,4}$/.test(text)) throw cannotHold(column, value, 'a YEAR is an integer')
  // MySQL reads 1–69 as 2001–2069 and 70–99 as 1970–1999: never let it guess.
  if (Number(text) >= 1 && Number(text) <= 99) throw cannotHold(column, value, 'MySQL would read a YEAR of 1–99 as 1970–2069')
  // Four digits: as text (LOAD DATA), "0" would mean 2000, "0000" means the year 0.
  return text.padStart(4, '0')
}

/** The scale of a DECIMAL(p, s) type; 0 when it has none. */
export function decimalScale(type: string): number {
  return Number(/\(\s*\d+\s*,\s*(\d+)\s*\)/.exec(type)?.[1] ?? 0)
}

/** A JSON column's text: a json value's exact text; anything else as the JSON it denotes. */
function jsonValueText(value: WireValue, sourceKind: ValueKind | undefined): string {
  if (typeof value === 'string') {
    // A json column's wire value is its exact text. A string from a column of another kind is a
    // JSON value only when it parses as one; otherwise it is a JSON string.
    if (sourceKind === 'json') return value
    try {
      JSON.parse(value)
      return value
    } catch {
      return JSON.stringify(value)
    }
  }
  return jsonText(value)
}

/**
 * How one column's values are written, resolved once per column and called once per value.
 * `literal` gives the SQL literal (INSERT, WHERE); `field` the text of a LOAD DATA field (not yet
 * escaped for the file; null for NULL), assigned to the column as `load` says: as it is, through
 * UNHEX() (bytes travel as hex), or through CONV(…, 2, 10) (bits). Both throw DatabaseError
 * (details.column) when MySQL cannot hold the value (NaN, a time of day into a DATE, more fraction
 * digits than the column keeps) and FormatError when the value is malformed for its kind
 * (binary that is not base64). A missing value (undefined) is the caller's business (DEFAULT).
 */
export interface ValueWriter {
  literal(value: WireValue): string
  field(value: WireValue): string | null
  readonly load: 'plain' | 'hex' | 'bits'
}

function writer(text: (value: WireValue) => string, literal: (text: string) => string): ValueWriter {
  return {
    literal: (value) => (value === null ? 'NULL' : literal(text(value))),
    field: (value) => (value === null ? null : text(value)),
    load: 'plain',
  }
}

const bare = (text: string): string => text

/** The writer for values of `column` (the target column); `sourceKind` is the backup column's kind when known. */
export function valueWriter(column: TargetColumn, sourceKind?: ValueKind): ValueWriter {
  switch (typeClassOf(column.type)) {
    case 'integer':
    case 'bigint':
      return writer((value) => integerText(column, value), bare)
    case 'year':
      return writer((value) => yearText(column, value), bare)
    case 'decimal': {
      const scale = decimalScale(column.type)
      return writer((value) => decimalText(column, value, scale), bare)
    }
    case 'float':
      return writer((value) => floatText(column, value, true), bare)
    case 'double':
      return writer((value) => floatText(column, value, false), bare)
    case 'bit':
      return {
        literal: (value) => (value === null ? 'NULL' : `b'${bitText(column, value)}'`),
        field: (value) => (value === null ? null : bitText(column, value)),
        load: 'bits',
      }
    case 'binary':
    case 'geometry':
      return {
        literal: (value) => (value === null ? 'NULL' : `X'${binaryBytes(column, value, sourceKind).toString('hex')}'`),
        field: (value) => (value === null ? null : binaryBytes(column, value, sourceKind).toString('hex')),
        load: 'hex',
      }
    case 'date':
      return writer((value) => dateText(column, value), quoteString)
    case 'datetime':
    case 'timestamp': {
      const precision = typeLength(column.type) ?? 0
      return writer((value) => dateTimeText(column, value, precision), quoteString)
    }
    case 'time': {
      const precision = typeLength(column.type) ?? 0
      return writer((value) => timeText(column, value, precision), quoteString)
    }
    case 'json':
      return writer((value) => jsonValueText(value, sourceKind), quoteString)
    case 'text':
    case 'enum':
    case 'set':
    case 'other':
      return writer(textText, quoteString)
  }
}

/** One value's SQL literal, for the odd value such as a key; NULL for null and undefined. */
export function sqlLiteral(column: TargetColumn, value: WireValue | undefined, sourceKind?: ValueKind): string {
  return value === undefined ? 'NULL' : valueWriter(column, sourceKind).literal(value)
}

/**
 * Escapes a LOAD DATA field for `FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY
 * '\n'`: backslash, tab, newline, carriage return and NUL get a backslash; NULL is `\N`.
 */
export function loadDataField(text: string | null): string {
  if (text === null) return '\\N'
  return LOAD_DATA_SPECIAL.test(text) ? text.replace(LOAD_DATA_SPECIALS, (c) => LOAD_DATA_ESCAPES[c]) : text
}

const LOAD_DATA_SPECIAL = /[\\\t\n\r\0]/
const LOAD_DATA_SPECIALS = /[\\\t\n\r\0]/g
const LOAD_DATA_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' }
