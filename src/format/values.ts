/**
 * Small pure helpers for the wire encoding of values (docs/format.md §Values), shared by the
 * adapters so that every engine spells the same value the same way:
 *
 * - `encodeFloat` / `decodeFloat`: a double as a JSON number, or one of the strings "NaN",
 *   "Infinity", "-Infinity", "-0" for the values JSON cannot carry.
 * - `bytesToBase64` / `base64ToBytes`: binary as standard, padded base64 without line breaks.
 *   Decoding is strict: Node's own decoder silently skips characters it does not know, which
 *   would turn a damaged value into different bytes instead of an error.
 * - `trimFraction`: the fractional seconds of a time or timestamp without trailing zeros.
 * - `canonicalJson`: one text per JSON value whatever the key order, for comparing JSON and
 *   document values (the merge's "key order irrelevant" equality, DESIGN.md §4).
 *
 * Nothing here does I/O or keeps state.
 */
import type { WireValue } from '../adapters/adapter.js'
import { FormatError, InternalError } from '../errors.js'

/** The wire strings for the doubles JSON has no number for. */
const FLOAT_SPECIALS: ReadonlyMap<string, number> = new Map([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['-0', -0],
])

/**
 * A double in wire encoding: the number itself when it is finite and not -0 (JSON.stringify
 * writes the shortest text that reads back as the same double), else "NaN", "Infinity",
 * "-Infinity" or "-0". Sources call it for every REAL / DOUBLE / float4 / float8 value.
 */
export function encodeFloat(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return 'Infinity'
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity'
  if (Object.is(value, -0)) return '-0'
  return value
}

/**
 * The double a float wire value stands for: the inverse of `encodeFloat`. Destinations call it
 * for `kind: 'float'` columns. Anything other than a number or one of the four special strings
 * is a FormatError (the file does not hold what its column type says).
 */
export function decodeFloat(value: WireValue): number {
  if (typeof value === 'number') return value
  if (typeof value === 'string') {
    const special = FLOAT_SPECIALS.get(value)
    if (special !== undefined) return special
  }
  throw new FormatError(`${describe(value)} is not a float value (a JSON number, "NaN", "Infinity", "-Infinity" or "-0")`)
}

/** Binary in wire encoding: standard-alphabet base64 with padding and no line breaks; "" for no bytes. */
export function bytesToBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/**
 * The bytes of a binary wire value. Accepts exactly what `bytesToBase64` writes (standard
 * alphabet, `=` padding, no whitespace, unused bits zero); anything else is a FormatError, never
 * a best-effort decode.
 */
export function base64ToBytes(text: string): Buffer {
  if (typeof text !== 'string') throw new FormatError(`${describe(text)} is not a base64 string`)
  const bytes = Buffer.from(text, 'base64')
  // Re-encoding is the cheapest complete check: Node's decoder ignores unknown characters, accepts
  // the URL-safe alphabet and missing padding, so only a canonical text survives the round trip.
  if (bytes.toString('base64') !== text) {
    throw new FormatError(`${describe(text)} is not valid base64 (standard alphabet, padded, no line breaks)`)
  }
  return bytes
}

/** The fractional seconds after `:SS`, split into kept digits and trailing zeros. */
const FRACTION = /(:\d{2})\.(\d*?)0*(?=\D|$)/

/**
 * Removes trailing zeros from the fractional seconds of a time or timestamp text, and the dot
 * when nothing is left: "10:30:00.120000Z" → "10:30:00.12Z", "10:30:00.000000" → "10:30:00".
 * Text without fractional seconds (dates, "infinity", intervals) is returned unchanged. Sources
 * use it so that every engine writes the same text for the same instant.
 */
export function trimFraction(text: string): string {
  return text.replace(FRACTION, (_match, seconds: string, digits: string) => (digits === '' ? seconds : `${seconds}.${digits}`))
}

/** A value shortened for an error message (values can be megabytes long). */
function describe(value: unknown): string {
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
