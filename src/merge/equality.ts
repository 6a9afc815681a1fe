/**
 * "Equals" for the merge (DESIGN.md §4): the engine's own equality for each column type, applied
 * to wire values.
 *
 * Every value is reduced to a *canonical key* — a string that two values share exactly when the
 * engine would call them equal — and equality is string equality of keys. The same keys make
 * record fingerprints (plan files) and composite-key lookups, so the three can never disagree.
 *
 * Per kind (the kind of the *current* column: the database we merge into decides what is equal):
 * - integer, bigint, decimal: the number's value (1.50 = 1.5 = "1.5" = 1.5e0; -0 = 0);
 *   NaN = NaN (PostgreSQL numeric), ±Infinity equal themselves.
 * - float: as doubles, NaN = NaN and -0 = 0 (PostgreSQL float8 ordering).
 * - boolean: true/false; also 1/0, "t"/"f", "true"/"false", "yes"/"no", "on"/"off" (a seed file
 *   merged into SQLite, which stores booleans as integers).
 * - text, enum, bit, unknown: the exact string; `char(n)` ignores trailing spaces and `citext`
 *   ignores case, as PostgreSQL compares them. A text column whose declared type names a date
 *   or time (SQLite's DATE, DATETIME, TIMESTAMP, which it stores as text or numbers) compares
 *   values that read as date-times as instants.
 * - binary: the bytes (base64 spellings, PostgreSQL `\x…` hex, EJSON `$binary`, Node's
 *   `{ type: "Buffer", data }` all reduce to the bytes).
 * - date / timestamp / timestamptz: the same day / instant whatever the spelling and precision
 *   (`…00.100Z` = `…00.1Z`; see timestamps.ts).
 * - time: the same time of day (trailing fraction zeros ignored); timetz also the same offset.
 * - interval: PostgreSQL's interval equality (1 day = 24 hours, 1 month = 30 days).
 * - json, document: the same JSON value with object key order ignored, numbers by value; for
 *   documents the Extended JSON wrappers reduce to what they wrap ({$numberInt:"1"} = 1).
 * - array: element-wise by `elementKind`, same length, nested arrays recursively.
 * A value that does not parse as its kind falls back to its canonical JSON text, so it still
 * equals itself.
 *
 * `toTargetWire` converts a backup value to the current column's wire encoding when the two
 * kinds differ (a seed "Smart Backup" has no column types: every value is `unknown`), using the
 * same readings, so that what is compared is what is written.
 */
import { isLosslessNumber, parse as parseLosslessJson } from 'lossless-json'
import type { ValueKind, WireValue } from '../adapters/adapter.js'
import { formatDate, formatInstant, instantKey, parseDateTimeText, parseInstant } from './timestamps.js'

/** What equality needs to know about a column. */
export interface ColumnKind {
  readonly kind: ValueKind
  readonly elementKind?: ValueKind
  /** The engine's type name (`character(3)`, `citext`), for the few types whose equality it changes. */
  readonly type?: string
}

/** Canonical key of a value in a column, or null for SQL NULL / an absent field. */
export function canonicalKey(column: ColumnKind, value: WireValue | undefined): string | null {
  if (value === null || value === undefined) return null
  return canonicalOfKind(column.kind, value, column)
}

/** The engine's equality for two wire values of one column. NULL equals NULL (IS NOT DISTINCT FROM). */
export function valuesEqual(column: ColumnKind, a: WireValue | undefined, b: WireValue | undefined): boolean {
  if (a === b && a !== undefined) return true
  return canonicalKey(column, a) === canonicalKey(column, b)
}

function canonicalOfKind(kind: ValueKind, value: WireValue, column: ColumnKind | undefined): string {
  switch (kind) {
    case 'integer':
    case 'bigint':
    case 'decimal':
      return numericKey(value)
    case 'float':
      return floatKey(value)
    case 'boolean': {
      const b = readBoolean(value)
      return b === undefined ? fallbackKey(value) : b ? 't' : 'f'
    }
    case 'text':
    case 'enum':
    case 'bit':
    case 'unknown':
      return textKey(value, column?.type)
    case 'binary': {
      const bytes = readBytes(value)
      return bytes === undefined ? fallbackKey(value) : `b:${bytes.toString('base64')}`
    }
    case 'date':
      return dateKey(value)
    case 'timestamp':
    case 'timestamptz': {
      const instant = parseInstant(value)
      return instant ? `i:${instantKey(instant)}` : fallbackKey(value)
    }
    case 'time':
      return typeof value === 'string' ? timeKey(value) : fallbackKey(value)
    case 'interval':
      return typeof value === 'string' ? intervalKey(value) : fallbackKey(value)
    case 'json':
      return jsonKey(value)
    case 'document':
      return documentKey(value)
    case 'array': {
      if (!Array.isArray(value)) return fallbackKey(value)
      const element = column?.elementKind ?? 'unknown'
      // Nested arrays (more dimensions) keep the element kind at every level, as PostgreSQL does.
      const inner: ColumnKind = { kind: element, elementKind: element }
      return `[${value
        .map((item) => {
          if (item === null) return 'null'
          return JSON.stringify(Array.isArray(item) ? canonicalOfKind('array', item, inner) : canonicalOfKind(element, item, inner))
        })
        .join(',')}]`
    }
  }
}

/** A value that does not read as its kind still equals itself, and nothing of that kind. */
function fallbackKey(value: WireValue): string {
  return `?:${typeof value === 'string' ? value : canonicalJson(value)}`
}

// ---------------------------------------------------------------------------------------------
// Numbers

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/

/**
 * A decimal number's value as "<sign><digits>e<exponent>" with no leading or trailing zeros in the
 * digits, or undefined when the text is not a number. "1.50", "01.5" and "15e-1" all give "15e-1".
 */
export function canonicalDecimal(text: string): string | undefined {
  const t = text.trim()
  const special = t.toLowerCase()
  if (special === 'nan') return 'NaN'
  if (special === 'infinity' || special === '+infinity' || special === 'inf' || special === '+inf') return 'Infinity'
  if (special === '-infinity' || special === '-inf') return '-Infinity'
  const m = DECIMAL.exec(t)
  if (!m) return undefined
  const whole = m[2] ?? ''
  const fraction = m[3] ?? ''
  if (whole.length + fraction.length === 0) return undefined
  let digits = (whole + fraction).replace(/^0+/, '')
  if (digits === '') return '0'
  let exponent = Number(m[4] ?? '0') - fraction.length
  const trimmed = digits.replace(/0+$/, '')
  exponent += digits.length - trimmed.length
  digits = trimmed
  return `${m[1] === '-' ? '-' : ''}${digits}e${exponent}`
}

function numericKey(value: WireValue): string {
  if (typeof value === 'boolean') return value ? '1e0' : '0'
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return wholeNumberKey(String(value))
    return canonicalDecimal(numberText(value)) ?? fallbackKey(value)
  }
  if (typeof value === 'string') return (isWholeNumberText(value) ? wholeNumberKey(value) : canonicalDecimal(value)) ?? fallbackKey(value)
  return fallbackKey(value)
}

/** Whether `text` is an optional '-' and digits without a leading zero (or "0"): the keys and counts most numbers are. */
function isWholeNumberText(text: string): boolean {
  let at = text.charCodeAt(0) === 0x2d ? 1 : 0
  const first = text.charCodeAt(at)
  if (first === 0x30) return text.length === 1
  if (!(first >= 0x31 && first <= 0x39)) return false
  for (at++; at < text.length; at++) {
    const c = text.charCodeAt(at)
    if (c < 0x30 || c > 0x39) return false
  }
  return true
}

/** canonicalDecimal of a whole number's text (isWholeNumberText), without its regular expression: merge keys meet this for every record. */
function wholeNumberKey(text: string): string {
  if (text === '0') return '0'
  let end = text.length
  while (text.charCodeAt(end - 1) === 0x30) end--
  return `${end === text.length ? text : text.slice(0, end)}e${text.length - end}`
}

function floatKey(value: WireValue): string {
  let n: number
  if (typeof value === 'number') n = value
  else if (typeof value === 'string') {
    const t = value.trim()
    const special = canonicalDecimal(t)
    if (special === undefined) return fallbackKey(value)
    n = special === 'NaN' ? NaN : special === 'Infinity' ? Infinity : special === '-Infinity' ? -Infinity : Number(t)
  } else if (typeof value === 'boolean') n = value ? 1 : 0
  else return fallbackKey(value)
  if (Number.isNaN(n)) return 'NaN'
  if (n === 0) return '0' // -0 = 0
  return canonicalDecimal(numberText(n)) ?? fallbackKey(value)
}

/** A JS number as plain decimal text (JS may print 1e21 / 1e-7; both still parse in canonicalDecimal). */
function numberText(n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Infinity) return 'Infinity'
  if (n === -Infinity) return '-Infinity'
  return String(n)
}

/** "1.5e3" → "1500", "12e-3" → "0.012": plain decimal text of a canonical or JS number. */
export function plainDecimal(text: string): string {
  const canonical = canonicalDecimal(text)
  if (canonical === undefined || canonical === 'NaN' || canonical.endsWith('Infinity')) return canonical ?? text
  if (canonical === '0') return '0'
  const [mantissa, exp] = canonical.split('e') as [string, string]
  const negative = mantissa.startsWith('-')
  const digits = negative ? mantissa.slice(1) : mantissa
  const exponent = Number(exp)
  let out: string
  if (exponent >= 0) out = digits + '0'.repeat(exponent)
  else if (-exponent < digits.length) out = `${digits.slice(0, digits.length + exponent)}.${digits.slice(digits.length + exponent)}`
  else out = `0.${'0'.repeat(-exponent - digits.length)}${digits}`
  return negative ? `-${out}` : out
}

// ---------------------------------------------------------------------------------------------
// Booleans, text, bytes

const TRUE_WORDS = new Set(['t', 'true', 'y', 'yes', 'on', '1'])
const FALSE_WORDS = new Set(['f', 'false', 'n', 'no', 'off', '0'])

function readBoolean(value: WireValue): boolean | undefined {
  if (typeof value === 'boolean') return value
  if (typeof value === 'number') return value === 1 ? true : value === 0 ? false : undefined
  if (typeof value === 'string') {
    const t = value.trim().toLowerCase()
    if (TRUE_WORDS.has(t)) return true
    if (FALSE_WORDS.has(t)) return false
  }
  return undefined
}

// PostgreSQL's blank-padded character(n): trailing spaces are insignificant in comparisons.
const BLANK_PADDED = /^(character|char|bpchar)(\s*\(|\s*$)/i

// SQLite has no date type: DATE/DATETIME/TIMESTAMP columns are text (or numbers) to it.
const DATE_TIME_TYPE = /date|time/i

/** How textKey reads a text column of a declared type: found once per type name. */
interface TextMode {
  /** The type names a date or time: values that read as date-times compare as instants. */
  readonly dateTime: boolean
  /** What else the type ignores: trailing spaces (character(n)), case (citext). */
  readonly fold: 'none' | 'blank-padded' | 'citext'
}
const PLAIN_TEXT: TextMode = { dateTime: false, fold: 'none' }
const textModes = new Map<string, TextMode>()

function textModeOf(type: string | undefined): TextMode {
  if (!type) return PLAIN_TEXT
  let mode = textModes.get(type)
  if (mode === undefined) {
    const dateTime = DATE_TIME_TYPE.test(type)
    const fold = BLANK_PADDED.test(type) ? 'blank-padded' : /^citext$/i.test(type) ? 'citext' : 'none'
    mode = !dateTime && fold === 'none' ? PLAIN_TEXT : { dateTime, fold }
    // Bounded, in case a caller makes up type names without end.
    if (textModes.size < 1000) textModes.set(type, mode)
  }
  return mode
}

function textKey(value: WireValue, type: string | undefined): string {
  const mode = textModeOf(type)
  if (mode === PLAIN_TEXT && typeof value === 'string') return `s:${value}`
  if (mode.dateTime) {
    // The same instant written two ways ("2024-01-15 10:30:00" by the app, "…T10:30:00.000Z" by a
    // seed file, epoch milliseconds by an ORM) is one value to the application that wrote it.
    const instant = parseInstant(value)
    if (instant) return `i:${instantKey(instant)}`
  }
  let text = typeof value === 'string' ? value : typeof value === 'object' ? canonicalJson(value) : String(value)
  if (mode.fold === 'blank-padded') text = text.replace(/ +$/, '')
  else if (mode.fold === 'citext') text = text.toLowerCase()
  return `s:${text}`
}

const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/
const PG_HEX = /^\\x([0-9a-fA-F]*)$/

function readBytes(value: WireValue): Buffer | undefined {
  if (typeof value === 'string') {
    const hex = PG_HEX.exec(value)
    if (hex) return hex[1].length % 2 === 0 ? Buffer.from(hex[1], 'hex') : undefined
    return BASE64.test(value) ? Buffer.from(value, 'base64') : undefined
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const binary = value.$binary
    if (binary && typeof binary === 'object' && !Array.isArray(binary) && typeof binary.base64 === 'string') {
      return Buffer.from(binary.base64, 'base64')
    }
    if (value.type === 'Buffer' && Array.isArray(value.data) && value.data.every((b) => typeof b === 'number')) {
      return Buffer.from(value.data as number[])
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Dates and times

function dateKey(value: WireValue): string {
  const text = dateText(value)
  return text === undefined ? fallbackKey(value) : `d:${text}`
}

/** "YYYY-MM-DD" (or infinity / BC forms) for a date, or a timestamp's UTC date. */
function dateText(value: WireValue): string | undefined {
  if (typeof value === 'string') {
    const special = value.trim().toLowerCase()
    if (special === 'infinity' || special === '-infinity') return special
    const parts = parseDateTimeText(value)
    if (!parts) return undefined
    if (!parts.hasTime && parts.offsetSeconds === null) return formatDate(parts.epochDay)
  }
  const instant = parseInstant(value)
  if (!instant) return undefined
  if (instant.infinite) return instant.infinite > 0 ? 'infinity' : '-infinity'
  return formatDate(Math.floor(instant.seconds / 86400))
}

const TIME = /^(-?)(\d{1,3}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$/

function timeKey(text: string): string {
  const m = TIME.exec(text.trim())
  if (!m) return fallbackKey(text)
  const seconds = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4] ?? 0)
  const fraction = (m[5] ?? '').slice(0, 9).padEnd(9, '0')
  let offset = ''
  if (m[6] !== undefined) {
    const zone = m[6] === 'Z' ? '+00' : m[6]
    const digits = zone.slice(1).replace(/:/g, '').padEnd(6, '0')
    offset = `${zone[0] === '-' && digits !== '000000' ? '-' : '+'}${digits}`
  }
  return `t:${m[1]}${seconds}.${fraction}${offset}`
}

const ISO_INTERVAL = /^(-)?P(?:(-?\d+(?:\.\d+)?)Y)?(?:(-?\d+(?:\.\d+)?)M)?(?:(-?\d+(?:\.\d+)?)W)?(?:(-?\d+(?:\.\d+)?)D)?(?:T(?:(-?\d+(?:\.\d+)?)H)?(?:(-?\d+(?:\.\d+)?)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$/

/** Microseconds as BigInt of a decimal text times a unit. */
function micros(text: string | undefined, unitMicros: bigint): bigint {
  if (!text) return 0n
  const negative = text.startsWith('-')
  const [whole, fraction = ''] = text.replace(/^-/, '').split('.') as [string, string?]
  const scaledFraction = fraction ? (BigInt(fraction.slice(0, 12).padEnd(12, '0')) * unitMicros) / 10n ** 12n : 0n
  const total = BigInt(whole) * unitMicros + scaledFraction
  return negative ? -total : total
}

const MICROS_PER_DAY = 86_400_000_000n

/**
 * PostgreSQL compares intervals by one linear value: months count 30 days, days 24 hours. Text
 * that is not ISO-8601 (another IntervalStyle) compares as text.
 */
function intervalKey(text: string): string {
  const m = ISO_INTERVAL.exec(text.trim())
  if (!m || text.trim() === 'P' || /T$/.test(text.trim())) return fallbackKey(text)
  const total =
    micros(m[2], 12n * 30n * MICROS_PER_DAY) +
    micros(m[3], 30n * MICROS_PER_DAY) +
    micros(m[4], 7n * MICROS_PER_DAY) +
    micros(m[5], MICROS_PER_DAY) +
    micros(m[6], 3_600_000_000n) +
    micros(m[7], 60_000_000n) +
    micros(m[8], 1_000_000n)
  return `p:${m[1] ? -total : total}`
}

// ---------------------------------------------------------------------------------------------
// JSON and documents

/**
 * A canonical text of a JSON value: object keys sorted, numbers by value (canonicalDecimal),
 * strings JSON-quoted. Works on parsed wire values (not on JSON text).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number') return `#${canonicalDecimal(numberText(value))}`
  if (isLosslessNumber(value)) return `#${canonicalDecimal(value.value) ?? value.value}`
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.keys(value as object)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
  return `{${entries.join(',')}}`
}

/** Parses JSON text keeping numbers exact; undefined when it is not JSON. */
function parseJsonText(text: string): unknown {
  try {
    return parseLosslessJson(text)
  } catch {
    return undefined
  }
}

function jsonKey(value: WireValue): string {
  if (typeof value !== 'string') return `j:${canonicalJson(value)}` // a seed file's JSON column holds the value itself
  const parsed = parseJsonText(value)
  // Text that is not JSON (e.g. duplicate keys that the parser refuses) compares as its text.
  return parsed === undefined ? `j?:${value.trim()}` : `j:${canonicalJson(parsed)}`
}

/**
 * MongoDB Extended JSON: wrappers reduce to what they wrap so canonical and relaxed forms compare
 * equal, and numbers compare by value across int/long/double/decimal as MongoDB does.
 */
function documentKey(value: WireValue): string {
  return `o:${canonicalJson(unwrapExtendedJson(value))}`
}

function unwrapExtendedJson(value: WireValue): unknown {
  if (Array.isArray(value)) return value.map(unwrapExtendedJson)
  if (typeof value === 'number') return { $number: canonicalDecimal(numberText(value)) }
  if (value === null || typeof value !== 'object') return value
  const keys = Object.keys(value)
  if (keys.length === 1) {
    const key = keys[0]
    const inner = value[key]
    switch (key) {
      case '$numberInt':
      case '$numberLong':
      case '$numberDouble':
      case '$numberDecimal':
        if (typeof inner === 'string') {
          const canonical = canonicalDecimal(inner)
          if (canonical !== undefined) return { $number: canonical }
        }
        break
      case '$date': {
        const instant = parseInstant(value)
        if (instant) return { $date: instantKey(instant) }
        break
      }
      case '$oid':
        if (typeof inner === 'string') return { $oid: inner.toLowerCase() }
        break
    }
  }
  const out: Record<string, unknown> = {}
  for (const key of keys) out[key] = unwrapExtendedJson(value[key])
  return out
}

// ---------------------------------------------------------------------------------------------
// Conversion to the current column's encoding

/**
 * The backup value `value` (encoded for `from`) in the wire encoding of the current column `to`,
 * when the conversion is exact; otherwise the value unchanged (the destination then decodes it,
 * or refuses it with a DatabaseError). Identity when both kinds are the same.
 */
export function toTargetWire(from: ValueKind, to: ColumnKind, value: WireValue): WireValue {
  if (value === null || from === to.kind) return value
  switch (to.kind) {
    case 'integer': {
      if (typeof value === 'boolean') return value ? 1 : 0
      if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) {
        const n = Number(value)
        return Number.isSafeInteger(n) ? n : value
      }
      return value
    }
    case 'bigint':
    case 'decimal': {
      if (typeof value === 'boolean') return value ? '1' : '0'
      if (typeof value === 'number') return plainDecimal(numberText(value))
      return value
    }
    case 'float': {
      if (typeof value === 'boolean') return value ? 1 : 0
      if (typeof value === 'string') {
        const key = canonicalDecimal(value)
        if (key === undefined) return value
        if (key === 'NaN' || key === 'Infinity' || key === '-Infinity') return key
        const n = Number(value)
        return Object.is(n, -0) ? '-0' : n
      }
      return value
    }
    case 'boolean':
      return readBoolean(value) ?? value
    case 'text':
    case 'enum':
    case 'bit':
    case 'unknown':
      if (typeof value === 'string') return value
      if (typeof value === 'object') return JSON.stringify(value)
      return String(value)
    case 'binary': {
      if (typeof value === 'string' && !PG_HEX.test(value)) return value
      const bytes = readBytes(value)
      return bytes ? bytes.toString('base64') : value
    }
    case 'date':
      return dateText(value) ?? value
    case 'timestamp':
    case 'timestamptz': {
      const instant = parseInstant(value)
      return instant ? formatInstant(instant, to.kind === 'timestamptz') : value
    }
    case 'json':
      if (typeof value !== 'string') return JSON.stringify(value)
      // A string from a file without types is JSON text when it parses, else a JSON string value.
      return parseJsonText(value) === undefined ? JSON.stringify(value) : value
    case 'array':
      // An array that another engine kept as JSON text (MariaDB JSON, SQLite JSON): its elements
      // are already the element kind's wire values.
      if (typeof value === 'string' && (from === 'json' || from === 'text') && value.trimStart().startsWith('[')) {
        try {
          const parsed: unknown = JSON.parse(value)
          if (Array.isArray(parsed)) return parsed as WireValue
        } catch {
          // not JSON: compared as it is
        }
      }
      if (!Array.isArray(value) || !to.elementKind) return value
      // Elements of an untyped array: each converted as the element kind (nested arrays recurse).
      return value.map((item) => toTargetWire(from, { kind: Array.isArray(item) ? 'array' : to.elementKind!, elementKind: to.elementKind }, item))
    case 'time':
    case 'interval':
    case 'document':
      return value
  }
}
