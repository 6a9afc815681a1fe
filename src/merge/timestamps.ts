/**
 * Date and time values as the merge sees them: points on one time line, whatever the text.
 *
 * Wire values arrive in several spellings for the same instant — `timestamptz` ISO text with `Z`
 * (`2024-01-15T10:30:00Z`), naive `timestamp` text, SQLite's `2024-01-15 10:30:00`, a seed's
 * `2024-01-15T10:30:00.000Z`, PostgreSQL's text output `2024-01-15 10:30:00+00`, MongoDB
 * Extended JSON `{ "$date": … }` and epoch milliseconds (Prisma on SQLite, relaxed EJSON).
 * `parseInstant` turns all of them into `{ seconds, nanos }` since the Unix epoch, computed with
 * plain integer calendar arithmetic (proleptic Gregorian, astronomical years), so years before
 * 1 AD or after 9999 work and no `Date` range or local time zone is involved.
 *
 * Rules, in one place so equality, coercion and preserveNewer agree:
 * - A value with an offset (`Z`, `+02`, `+05:30`) is that instant.
 * - A value without one is read as UTC. For a naive `timestamp` column this is the identity
 *   (naive values compare by their wall-clock text); for a zoned column it matches what
 *   PostgreSQL does with `TimeZone = UTC`, the zone every mergeback session uses.
 * - A number, or text that is only a number, is epoch milliseconds.
 * - `infinity` / `-infinity` sort after / before every instant and equal only themselves.
 * - Anything else is not a timestamp (`null`): preserveNewer then treats it as missing.
 *
 * Also here: which column is a table's modification timestamp (DESIGN.md §4).
 */
import type { WireValue } from '../adapters/adapter.js'

/** An instant: whole seconds since 1970-01-01T00:00:00Z plus nanoseconds (0 ≤ nanos < 1e9). */
export interface Instant {
  readonly seconds: number
  readonly nanos: number
  /** Set for PostgreSQL's `infinity` (1) / `-infinity` (-1); seconds and nanos are then 0. */
  readonly infinite?: 1 | -1
}

/** A parsed date/time text, before it is placed on the time line. */
export interface DateTimeParts {
  /** Days since 1970-01-01 of the calendar date. */
  readonly epochDay: number
  /** Seconds since midnight (may be 86400 for PostgreSQL's `24:00:00`). */
  readonly secondOfDay: number
  readonly nanos: number
  /** Offset east of UTC in seconds, or null when the text has none. */
  readonly offsetSeconds: number | null
  /** Whether the text had a time part at all. */
  readonly hasTime: boolean
}

/**
 * The first of these that a table has is its modification timestamp, unless the user names one
 * with `--timestamp-field` (DESIGN.md §4).
 */
export const TIMESTAMP_FIELD_CANDIDATES = ['updatedAt', 'updated_at', 'modifiedAt', 'modified_at'] as const

/**
 * The timestamp column for a table with these columns: `override` when the table has it, else the
 * first candidate it has, else null (no timestamp: differing records are conflicts).
 * Callers check once that an override exists in at least one selected table (a typo guard).
 */
export function timestampFieldFor(columns: Iterable<string>, override?: string): string | null {
  const names = new Set(columns)
  if (override !== undefined && names.has(override)) return override
  return TIMESTAMP_FIELD_CANDIDATES.find((name) => names.has(name)) ?? null
}

// YYYY-MM-DD, optional time, optional fraction, optional offset, optional " BC".
// The year may carry a sign and up to six digits (ISO-8601 expanded years, JS toISOString()).
const DATE_TIME =
  /^([+-]?\d{4,6})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?(\s+BC)?$/

const EPOCH_MILLIS = /^[+-]?\d+(\.\d+)?$/

/** Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const mp = (month + 9) % 12
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** The inverse of daysFromCivil: [year, month, day] (astronomical year: 0 is 1 BC). */
export function civilFromDays(epochDay: number): [number, number, number] {
  const z = epochDay + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day]
}

function parseOffset(text: string | undefined): number | null {
  if (text === undefined) return null
  if (text === 'Z' || text === 'z' || text === 'UTC') return 0
  const sign = text[0] === '-' ? -1 : 1
  const digits = text.slice(1).replace(/:/g, '')
  const hours = Number(digits.slice(0, 2))
  const minutes = digits.length >= 4 ? Number(digits.slice(2, 4)) : 0
  const seconds = digits.length >= 6 ? Number(digits.slice(4, 6)) : 0
  return sign * (hours * 3600 + minutes * 60 + seconds)
}

/** Parses date/time text into its parts, or null when it is not one. Accepts every spelling listed in the module header. */
export function parseDateTimeText(text: string): DateTimeParts | null {
  const m = DATE_TIME.exec(text.trim())
  if (!m) return null
  let year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  if (m[9]) year = 1 - year // "0044-03-15 BC" is astronomical year -43
  if (month < 1 || month > 12 || day < 1 || day > 31) return null
  const hasTime = m[4] !== undefined
  const hour = hasTime ? Number(m[4]) : 0
  const minute = hasTime ? Number(m[5]) : 0
  const second = m[6] !== undefined ? Number(m[6]) : 0
  if (hour > 24 || minute > 59 || second > 60) return null
  const fraction = m[7] ?? ''
  const nanos = fraction ? Number(fraction.slice(0, 9).padEnd(9, '0')) : 0
  return {
    epochDay: daysFromCivil(year, month, day),
    secondOfDay: hour * 3600 + minute * 60 + second,
    nanos,
    offsetSeconds: parseOffset(m[8]),
    hasTime,
  }
}

function instantFromParts(parts: DateTimeParts): Instant {
  const offset = parts.offsetSeconds ?? 0
  return { seconds: parts.epochDay * 86400 + parts.secondOfDay - offset, nanos: parts.nanos }
}

function instantFromMillis(ms: number): Instant | null {
  if (!Number.isFinite(ms)) return null
  const whole = Math.floor(ms)
  const seconds = Math.floor(whole / 1000)
  const nanos = (whole - seconds * 1000) * 1_000_000 + Math.round((ms - whole) * 1_000_000)
  return { seconds, nanos }
}

/**
 * The instant a wire value stands for, or null when it is not a date/time (see the module header
 * for the accepted spellings). Never throws.
 */
export function parseInstant(value: WireValue | undefined): Instant | null {
  if (value === null || value === undefined || typeof value === 'boolean') return null
  if (typeof value === 'number') return instantFromMillis(value)
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase()
    if (text === 'infinity' || text === '+infinity') return { seconds: 0, nanos: 0, infinite: 1 }
    if (text === '-infinity') return { seconds: 0, nanos: 0, infinite: -1 }
    // A number written as text: epoch milliseconds (SQLite's text encoding of an ORM's integer dates).
    if (EPOCH_MILLIS.test(text)) return instantFromMillis(Number(text))
    const parts = parseDateTimeText(value)
    return parts ? instantFromParts(parts) : null
  }
  if (!Array.isArray(value) && '$date' in value) {
    // MongoDB Extended JSON: canonical { $date: { $numberLong: "ms" } }, relaxed { $date: "ISO" }.
    const date = value.$date
    if (typeof date === 'string') return parseInstant(date)
    if (typeof date === 'number') return instantFromMillis(date)
    if (date && typeof date === 'object' && !Array.isArray(date) && typeof date.$numberLong === 'string') {
      return instantFromMillis(Number(date.$numberLong))
    }
  }
  return null
}

/** -1, 0 or 1 as `a` is before, at or after `b`. */
export function compareInstants(a: Instant, b: Instant): -1 | 0 | 1 {
  const ia = a.infinite ?? 0
  const ib = b.infinite ?? 0
  if (ia !== ib) return ia < ib ? -1 : 1
  if (ia !== 0) return 0
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1
  if (a.nanos !== b.nanos) return a.nanos < b.nanos ? -1 : 1
  return 0
}

/** A string that is equal for two values exactly when they are the same instant. */
export function instantKey(instant: Instant): string {
  if (instant.infinite) return instant.infinite > 0 ? 'infinity' : '-infinity'
  return `${instant.seconds}.${String(instant.nanos).padStart(9, '0')}`
}

function pad(n: number, width: number): string {
  const text = String(Math.abs(n)).padStart(width, '0')
  return n < 0 ? `-${text}` : text
}

/** "YYYY-MM-DD" of a day number; years outside 1..9999 as PostgreSQL writes them ("… BC", 5 digits). */
export function formatDate(epochDay: number): string {
  const [year, month, day] = civilFromDays(epochDay)
  if (year <= 0) return `${pad(1 - year, 4)}-${pad(month, 2)}-${pad(day, 2)} BC`
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`
}

/**
 * The wire text of an instant: "YYYY-MM-DDTHH:MM:SS[.fraction]" in UTC, fraction trimmed of
 * trailing zeros, with "Z" when `zoned` (the `timestamptz` encoding) and without it for a naive
 * `timestamp`. BC years are written PostgreSQL's way.
 */
export function formatInstant(instant: Instant, zoned: boolean): string {
  if (instant.infinite) return instant.infinite > 0 ? 'infinity' : '-infinity'
  const epochDay = Math.floor(instant.seconds / 86400)
  let rest = instant.seconds - epochDay * 86400
  const hour = Math.floor(rest / 3600)
  rest -= hour * 3600
  const minute = Math.floor(rest / 60)
  const second = rest - minute * 60
  const fraction = instant.nanos ? `.${String(instant.nanos).padStart(9, '0').replace(/0+$/, '')}` : ''
  const date = formatDate(epochDay)
  const bc = date.endsWith(' BC')
  const time = `${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${fraction}`
  return `${bc ? date.slice(0, -3) : date}T${time}${zoned ? 'Z' : ''}${bc ? ' BC' : ''}`
}
