/**
 * MongoDB documents ⇄ wire rows: canonical Extended JSON v2, exact in both directions.
 *
 * A MongoDB row on the wire is the document in *canonical* Extended JSON (the `bson` package's
 * `EJSON.serialize(doc, { relaxed: false })`), keys in document order. Canonical form keeps every
 * BSON type apart: Int32 `{"$numberInt":"1"}`, Int64 `{"$numberLong":"1"}`, Double
 * `{"$numberDouble":"1.0"}` (and "-0.0", "NaN", "Infinity"), Decimal128, ObjectId, Date (as
 * milliseconds, so pre-1970 and far-future dates are exact), Binary with its subtype, Timestamp,
 * RegExp with its flags, MinKey/MaxKey, Code (with scope), Symbol.
 *
 * Why our own encoder and decoder instead of calling `EJSON.serialize` / `EJSON.deserialize`
 * (the property tests in mongodb-values.test.ts check that the encoder agrees with
 * `EJSON.serialize` byte for byte, and that decode∘encode gives the same BSON bytes):
 * - `EJSON.serialize` turns a BSON date outside JavaScript's range (±8.64e15 ms) into
 *   `{"$numberLong":"NaN"}`, and `EJSON.deserialize` turns such a date into the epoch, silently.
 *   We refuse both with a clear error instead.
 * - Plain JSON numbers (relaxed EJSON and plain JSON files written by other tools) must become
 *   what the Node driver would have stored for that JavaScript number: Int32 when it is an integer
 *   in 32-bit range, Double otherwise. `EJSON.deserialize({ relaxed: false })` makes Int64 of large
 *   integers; `{ relaxed: true }` makes `{"$numberDouble":"1.0"}` an Int32. Neither is right for
 *   mixed input, which files in the seed's layout are.
 * - Wrappers are recognised only with exactly their own keys. `{"$oid": "…", "x": 1}` is a
 *   document with two fields, not an ObjectId that silently loses `x`.
 * - The legacy `{"$regex": "…", "$options": "…"}` form is *not* decoded as a regular expression:
 *   applications store queries as data (saved filters), and such a document must come back as the
 *   document it was. Canonical output uses `$regularExpression` for regular expressions.
 * - A subtype-4 binary of a length other than 16 bytes is legal BSON; `EJSON.deserialize` throws
 *   on it.
 * - It is one walk instead of serialize → stringify → parse.
 *
 * What cannot survive, and why (docs/mongodb.md repeats this for users):
 * - Field names that are array indices ("0", "1", …) come first in ascending order, because the
 *   driver builds JavaScript objects. Such documents compare equal (field order is not a
 *   difference) but are restored with those fields first.
 * - The deprecated BSON `undefined` becomes null, and the deprecated DBPointer becomes a DBRef
 *   document: the driver reads them that way.
 * - NaN payload bits: JavaScript has one NaN.
 *
 * `mongoEqualityKey()` is the server's equality of `_id` values as a string: numbers of any BSON
 * type compare by mathematical value (1 = 1.0 = NumberLong(1) = NumberDecimal("1.00")), as the
 * unique `_id` index does.
 */
import { Binary, BSONRegExp, BSONSymbol, Code, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } from 'bson'
import type { Row, WireValue } from '../adapter.js'
import { FormatError, InternalError } from '../../errors.js'

/** A MongoDB document as the driver hands it over (with `promoteValues: false`). */
export type BsonDocument = Record<string, unknown>

/** Read options that keep every BSON type apart (Int32 vs Double vs Long, regex flags, binary subtypes). */
export const EXACT_BSON_OPTIONS = {
  promoteValues: false,
  promoteLongs: false,
  promoteBuffers: false,
  bsonRegExp: true,
  useBigInt64: false,
} as const

const INT32_MIN = -2147483648
const INT32_MAX = 2147483647
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
/** JavaScript's Date range, in ms from the epoch (ECMA-262 §21.4.1.1). */
const MAX_DATE_MS = 8.64e15

// ---------------------------------------------------------------------------------------------
// Encoding: driver value → canonical Extended JSON
// ---------------------------------------------------------------------------------------------

/**
 * Encodes a document read from MongoDB as a wire row (canonical Extended JSON, keys in document
 * order). Throws FormatError for a date outside JavaScript's range, which the driver cannot read
 * exactly (the message names the field).
 */
export function encodeDocument(document: BsonDocument): Row {
  return encodeObject(document, '') as Row
}

/** Encodes one BSON value (e.g. an `_id`) in canonical Extended JSON. */
export function encodeValue(value: unknown): WireValue {
  return encode(value, '')
}

function encodeObject(document: Record<string, unknown>, path: string): Record<string, WireValue> {
  const out: Record<string, WireValue> = {}
  for (const key of Object.keys(document)) {
    setOwn(out, key, encode(document[key], path ? `${path}.${key}` : key))
  }
  return out
}

function encode(value: unknown, path: string): WireValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      return encodeJsNumber(value)
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) throw new FormatError(`Field ${fieldName(path)}: ${value} does not fit a 64-bit integer.`)
      return { $numberLong: value.toString() }
    case 'undefined':
      // BSON's deprecated `undefined`: the driver cannot write it back, null is what it becomes.
      return null
    case 'object':
      break
    default:
      throw new InternalError(`Field ${fieldName(path)}: cannot encode a JavaScript ${typeof value} as BSON.`)
  }
  if (value === null) return null
  if (Array.isArray(value)) return value.map((item, index) => encode(item, `${path}.${index}`))
  if (value instanceof Date) {
    const ms = value.getTime()
    if (Number.isNaN(ms)) {
      throw new FormatError(
        `Field ${fieldName(path)} holds a date outside JavaScript's range (±8.64e15 ms, years -271821..275760); ` +
          'the MongoDB driver cannot read it exactly, so it cannot be backed up.',
      )
    }
    return { $date: { $numberLong: String(ms) } }
  }
  if (value instanceof RegExp) {
    // Only the flags BSON knows (a JavaScript `g` or `y` has no meaning in a stored pattern), sorted as BSON requires.
    const options = [...value.flags].filter((flag) => 'ilmsux'.includes(flag)).sort().join('')
    return { $regularExpression: { pattern: value.source, options } }
  }
  const bsontype = (value as { _bsontype?: unknown })._bsontype
  if (typeof bsontype !== 'string') {
    if (value instanceof Uint8Array) return encodeBinary(new Binary(value))
    return encodeObject(value as Record<string, unknown>, path)
  }
  return encodeBsonValue(bsontype, value, path)
}

function encodeBsonValue(bsontype: string, value: unknown, path: string): WireValue {
  switch (bsontype) {
    case 'ObjectId':
      return { $oid: (value as ObjectId).toHexString() }
    case 'Int32':
      return { $numberInt: String((value as Int32).value) }
    case 'Double':
      return { $numberDouble: doubleText((value as Double).value) }
    case 'Long':
      return { $numberLong: (value as Long).toString() }
    case 'Decimal128':
      return { $numberDecimal: (value as Decimal128).toString() }
    case 'Binary':
      return encodeBinary(value as Binary)
    case 'Timestamp':
      return { $timestamp: { t: (value as Timestamp).t, i: (value as Timestamp).i } }
    case 'BSONRegExp':
      return { $regularExpression: { pattern: (value as BSONRegExp).pattern, options: (value as BSONRegExp).options } }
    case 'MinKey':
      return { $minKey: 1 }
    case 'MaxKey':
      return { $maxKey: 1 }
    case 'BSONSymbol':
      return { $symbol: (value as BSONSymbol).value }
    case 'Code': {
      const code = value as Code
      return code.scope ? { $code: code.code, $scope: encodeObject(code.scope, `${path}.$scope`) } : { $code: code.code }
    }
    case 'DBRef': {
      // A DBRef is stored as the subdocument { $ref, $id, $db?, …fields }: written back as a
      // plain document it gives the same BSON bytes.
      const ref = value as { collection: string; oid: unknown; db?: string; fields: Record<string, unknown> }
      const out: Record<string, WireValue> = { $ref: ref.collection, $id: encode(ref.oid, `${path}.$id`) }
      if (ref.db) out.$db = ref.db
      for (const key of Object.keys(ref.fields)) setOwn(out, key, encode(ref.fields[key], `${path}.${key}`))
      return out
    }
    default:
      throw new InternalError(`Field ${fieldName(path)}: unknown BSON type ${bsontype}.`)
  }
}

/** A plain JavaScript number as the driver's BSON serializer stores it: Int32 when it fits, else Double. */
function encodeJsNumber(value: number): WireValue {
  if (Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX && !Object.is(value, -0)) return { $numberInt: String(value) }
  return { $numberDouble: doubleText(value) }
}

/** The canonical text of a double, exactly as `bson` writes it ("1.0", "-0.0", "1.5", "1e+300", "NaN"). */
function doubleText(value: number): string {
  if (Object.is(value, -0)) return '-0.0'
  return Number.isInteger(value) ? value.toFixed(1) : String(value)
}

function encodeBinary(binary: Binary): WireValue {
  const bytes = binary.value()
  return {
    $binary: {
      base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
      subType: binary.sub_type.toString(16).padStart(2, '0'),
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding: canonical or relaxed Extended JSON (or plain JSON) → driver value
// ---------------------------------------------------------------------------------------------

/**
 * Decodes a wire row into a document the driver writes exactly. Accepts canonical and relaxed
 * Extended JSON v2 and plain JSON (numbers become Int32 when they are 32-bit integers, else
 * Double, as the Node driver stores a JavaScript number). Throws FormatError naming the field
 * for a malformed wrapper (bad ObjectId, out-of-range date, invalid decimal, …).
 */
export function decodeDocument(row: Row): BsonDocument {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) {
    throw new FormatError(`A MongoDB document must be a JSON object, got ${describeJson(row)}.`)
  }
  return decodeObject(row, '')
}

/** Decodes one wire value (e.g. an `_id` from a key) into the BSON value it stands for. */
export function decodeValue(value: WireValue): unknown {
  return decode(value, '')
}

/** Canonical form of a row that may be relaxed EJSON or plain JSON: encode(decode(row)). */
export function canonicalizeDocument(row: Row): Row {
  return encodeDocument(decodeDocument(row))
}

function decodeObject(object: Record<string, WireValue>, path: string): BsonDocument {
  const out: BsonDocument = {}
  for (const key of Object.keys(object)) {
    if (key.includes('\0')) throw new FormatError(`Field ${fieldName(path ? `${path}.${key}` : key)}: field names cannot contain NUL characters.`)
    setOwn(out, key, decode(object[key], path ? `${path}.${key}` : key))
  }
  return out
}

function decode(value: WireValue, path: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new FormatError(`Field ${fieldName(path)}: ${value} is not a JSON number.`)
    return Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX && !Object.is(value, -0) ? new Int32(value) : new Double(value)
  }
  if (Array.isArray(value)) return value.map((item, index) => decode(item, `${path}.${index}`))
  if (typeof value !== 'object') throw new FormatError(`Field ${fieldName(path)}: ${describeJson(value)} is not JSON.`)
  const keys = Object.keys(value)
  if (keys.length >= 1 && keys.length <= 2 && keys[0].startsWith('$')) {
    const wrapped = decodeWrapper(value, keys, path)
    if (wrapped !== NOT_A_WRAPPER) return wrapped
  }
  return decodeObject(value, path)
}

const NOT_A_WRAPPER = Symbol('not a wrapper')

/** One Extended JSON type wrapper, recognised only with exactly its own keys. */
function decodeWrapper(value: { [key: string]: WireValue }, keys: string[], path: string): unknown {
  const has = (...names: string[]) => keys.length === names.length && names.every((name) => name in value)
  const bad = (what: string) => new FormatError(`Field ${fieldName(path)}: ${what} (${truncate(JSON.stringify(value))}).`)
  try {
    if (has('$oid')) {
      const hex = value.$oid
      if (typeof hex !== 'string' || !/^[0-9a-fA-F]{24}$/.test(hex)) throw bad('$oid must be 24 hexadecimal digits')
      return new ObjectId(hex)
    }
    if (has('$numberInt')) {
      const text = value.$numberInt
      if (typeof text !== 'string' || !/^-?\d+$/.test(text)) throw bad('$numberInt must be a decimal integer string')
      const n = Number(text)
      if (n < INT32_MIN || n > INT32_MAX) throw bad('$numberInt is outside the 32-bit range')
      return new Int32(n)
    }
    if (has('$numberLong')) return new Long(parseInt64(value.$numberLong, () => bad('$numberLong must be a 64-bit decimal integer string')))
    if (has('$numberDouble')) {
      const text = value.$numberDouble
      if (typeof text !== 'string' || !/^(-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|-?Infinity|NaN)$/.test(text)) {
        throw bad('$numberDouble must be a decimal number string, "Infinity", "-Infinity" or "NaN"')
      }
      return new Double(Number(text))
    }
    if (has('$numberDecimal')) {
      if (typeof value.$numberDecimal !== 'string') throw bad('$numberDecimal must be a string')
      return Decimal128.fromString(value.$numberDecimal)
    }
    if (has('$binary')) {
      const inner = value.$binary
      if (inner === null || typeof inner !== 'object' || Array.isArray(inner) || !('base64' in inner) || !('subType' in inner) || Object.keys(inner).length !== 2) {
        throw bad('$binary must be { "base64": …, "subType": … }')
      }
      return makeBinary(inner.base64, inner.subType, bad)
    }
    if (has('$binary', '$type')) return makeBinary(value.$binary, value.$type, bad)
    if (has('$uuid')) {
      const text = value.$uuid
      if (typeof text !== 'string' || !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(text)) {
        throw bad('$uuid must be a UUID in 8-4-4-4-12 hexadecimal form')
      }
      return new Binary(Buffer.from(text.replace(/-/g, ''), 'hex'), Binary.SUBTYPE_UUID)
    }
    if (has('$date')) return new Date(dateMilliseconds(value.$date, bad))
    if (has('$timestamp')) {
      const ts = value.$timestamp
      if (ts === null || typeof ts !== 'object' || Array.isArray(ts) || Object.keys(ts).length !== 2 || !isUint32(ts.t) || !isUint32(ts.i)) {
        throw bad('$timestamp must be { "t": uint32, "i": uint32 }')
      }
      return new Timestamp({ t: ts.t as number, i: ts.i as number })
    }
    if (has('$regularExpression')) {
      const re = value.$regularExpression
      if (re === null || typeof re !== 'object' || Array.isArray(re) || typeof re.pattern !== 'string' || typeof re.options !== 'string' || Object.keys(re).length !== 2) {
        throw bad('$regularExpression must be { "pattern": string, "options": string }')
      }
      if (!/^[ilmsux]*$/.test(re.options)) throw bad('regular expression options may only be i, l, m, s, u, x')
      return new BSONRegExp(re.pattern, re.options)
    }
    if (has('$code')) {
      if (typeof value.$code !== 'string') throw bad('$code must be a string')
      return new Code(value.$code)
    }
    if (has('$code', '$scope')) {
      const scope = value.$scope
      if (typeof value.$code !== 'string' || scope === null || typeof scope !== 'object' || Array.isArray(scope)) {
        throw bad('$code with $scope must be { "$code": string, "$scope": object }')
      }
      return new Code(value.$code, decodeObject(scope, `${path}.$scope`))
    }
    if (has('$symbol')) {
      if (typeof value.$symbol !== 'string') throw bad('$symbol must be a string')
      return new BSONSymbol(value.$symbol)
    }
    if (has('$minKey')) {
      if (value.$minKey !== 1) throw bad('$minKey must be 1')
      return new MinKey()
    }
    if (has('$maxKey')) {
      if (value.$maxKey !== 1) throw bad('$maxKey must be 1')
      return new MaxKey()
    }
    if (has('$undefined')) {
      if (value.$undefined !== true) throw bad('$undefined must be true')
      return null
    }
    if (has('$dbPointer')) {
      // The driver reads a DBPointer as a DBRef; written back it is the { $ref, $id } document.
      const pointer = value.$dbPointer
      if (pointer === null || typeof pointer !== 'object' || Array.isArray(pointer) || typeof pointer.$ref !== 'string' || !('$id' in pointer)) {
        throw bad('$dbPointer must be { "$ref": string, "$id": { "$oid": … } }')
      }
      return { $ref: pointer.$ref, $id: decode(pointer.$id, `${path}.$id`) }
    }
  } catch (error) {
    if (error instanceof FormatError) throw error
    throw bad((error as Error).message)
  }
  return NOT_A_WRAPPER
}

function makeBinary(base64: WireValue | undefined, subType: WireValue | undefined, bad: (what: string) => FormatError): Binary {
  if (typeof base64 !== 'string' || base64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) {
    throw bad('binary data must be standard, padded base64')
  }
  if (typeof subType !== 'string' || !/^[0-9a-fA-F]{1,2}$/.test(subType)) throw bad('binary subType must be one or two hexadecimal digits')
  return new Binary(Buffer.from(base64, 'base64'), parseInt(subType, 16))
}

function dateMilliseconds(date: WireValue, bad: (what: string) => FormatError): number {
  let ms: number
  if (typeof date === 'string') {
    ms = Date.parse(date)
    if (Number.isNaN(ms) || !/^[+-]?\d{4,6}-\d\d-\d\dT/.test(date)) throw bad('$date must be an ISO-8601 date-time')
  } else if (typeof date === 'number') {
    // Legacy Extended JSON (mongoexport v1) writes milliseconds as a plain number.
    if (!Number.isInteger(date)) throw bad('$date milliseconds must be an integer')
    ms = date
  } else if (date !== null && typeof date === 'object' && !Array.isArray(date) && Object.keys(date).length === 1 && '$numberLong' in date) {
    const big = parseInt64(date.$numberLong, () => bad('$date.$numberLong must be a 64-bit decimal integer string'))
    if (big > BigInt(MAX_DATE_MS) || big < -BigInt(MAX_DATE_MS)) {
      throw bad('the date is outside JavaScript\'s range (±8.64e15 ms); the MongoDB driver cannot write it exactly')
    }
    ms = Number(big)
  } else {
    throw bad('$date must be { "$numberLong": … }, an ISO-8601 string or milliseconds')
  }
  if (Math.abs(ms) > MAX_DATE_MS) throw bad('the date is outside JavaScript\'s range (±8.64e15 ms)')
  return ms
}

function parseInt64(text: WireValue | undefined, bad: () => FormatError): bigint {
  if (typeof text !== 'string' || !/^-?\d+$/.test(text)) throw bad()
  const n = BigInt(text)
  if (n < INT64_MIN || n > INT64_MAX) throw bad()
  return n
}

function isUint32(value: WireValue | undefined): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff
}

// ---------------------------------------------------------------------------------------------
// Equality and type names
// ---------------------------------------------------------------------------------------------

/**
 * A string that is equal for two BSON values exactly when MongoDB's unique `_id` index considers
 * them the same value (ignoring collations): numbers of any type compare by mathematical value,
 * -0 equals 0, every NaN is equal, embedded documents compare field by field in order.
 * Used to match `_id`s the server returns with the ones we asked for.
 */
export function mongoEqualityKey(value: unknown): string {
  return JSON.stringify(equalityForm(value))
}

function equalityForm(value: unknown): unknown {
  if (value === null || value === undefined) return null
  switch (typeof value) {
    case 'number':
      return { n: exactDecimalOfDouble(value) }
    case 'bigint':
      return { n: normalizeDecimal(value.toString()) }
    case 'string':
    case 'boolean':
      return value
  }
  if (Array.isArray(value)) return { a: value.map(equalityForm) }
  const bsontype = (value as { _bsontype?: unknown })._bsontype
  switch (bsontype) {
    case 'Int32':
    case 'Double':
      return { n: exactDecimalOfDouble((value as Int32 | Double).value) }
    case 'Long':
      return { n: normalizeDecimal((value as Long).toString()) }
    case 'Decimal128':
      return { n: normalizeDecimal((value as Decimal128).toString()) }
    case undefined:
      if (value instanceof Date) return { $date: value.getTime() }
      if (value instanceof Uint8Array) return encodeBinary(new Binary(value))
      return { o: Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, equalityForm(item)]) }
    default:
      return encodeValue(value)
  }
}

/** The exact decimal value of a double as "<sign><digits>e<exponent>" (normalized), or a special. */
function exactDecimalOfDouble(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity'
  if (value === 0) return '0'
  // Every finite double is m·2^e with integer m; m·2^e = m·5^-e · 10^e for e < 0.
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, value)
  const bits = view.getBigUint64(0)
  const negative = bits >> 63n === 1n
  const exponentBits = Number((bits >> 52n) & 0x7ffn)
  const fraction = bits & ((1n << 52n) - 1n)
  const mantissa = exponentBits === 0 ? fraction : fraction | (1n << 52n)
  const exponent = (exponentBits === 0 ? 1 : exponentBits) - 1075
  const text = exponent >= 0 ? `${mantissa << BigInt(exponent)}` : `${mantissa * 5n ** BigInt(-exponent)}e${exponent}`
  return normalizeDecimal(`${negative ? '-' : ''}${text}`)
}

/** "-001.2300E+5" → "-123e3": sign, significant digits without trailing zeros, exponent. */
function normalizeDecimal(text: string): string {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text)
  if (!match) {
    if (/^[+-]?(inf|infinity)$/i.test(text)) return text.startsWith('-') ? '-Infinity' : 'Infinity'
    return 'NaN'
  }
  const [, sign, intPart = '', fracPart = '', exp = '0'] = match
  let digits = (intPart + fracPart).replace(/^0+/, '')
  if (digits === '') return '0'
  let exponent = Number(exp) - fracPart.length
  const trimmed = digits.replace(/0+$/, '')
  exponent += digits.length - trimmed.length
  digits = trimmed
  return `${sign === '-' ? '-' : ''}${digits}e${exponent}`
}

/** The BSON type alias (as `$type` names it: "objectId", "string", "int", …) of a driver value. */
export function bsonTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  switch (typeof value) {
    case 'string':
      return 'string'
    case 'boolean':
      return 'bool'
    case 'number':
      return Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX ? 'int' : 'double'
    case 'bigint':
      return 'long'
  }
  if (Array.isArray(value)) return 'array'
  if (value instanceof Date) return 'date'
  const names: Record<string, string> = {
    ObjectId: 'objectId',
    Int32: 'int',
    Double: 'double',
    Long: 'long',
    Decimal128: 'decimal',
    Binary: 'binData',
    Timestamp: 'timestamp',
    BSONRegExp: 'regex',
    MinKey: 'minKey',
    MaxKey: 'maxKey',
    BSONSymbol: 'symbol',
    Code: 'javascript',
    DBRef: 'object',
  }
  const bsontype = (value as { _bsontype?: unknown })._bsontype
  return typeof bsontype === 'string' ? (names[bsontype] ?? bsontype) : 'object'
}

/** A short, printable form of a wire key for messages: `{"$oid":"…"}` → `ObjectId("…")`. */
export function describeKey(wire: WireValue): string {
  if (wire !== null && typeof wire === 'object' && !Array.isArray(wire)) {
    const keys = Object.keys(wire)
    if (keys.length === 1) {
      const inner = wire[keys[0]]
      if (keys[0] === '$oid' && typeof inner === 'string') return `ObjectId("${inner}")`
      if ((keys[0] === '$numberInt' || keys[0] === '$numberDouble') && typeof inner === 'string') return inner
      if (keys[0] === '$numberLong' && typeof inner === 'string') return `NumberLong(${inner})`
    }
  }
  return truncate(JSON.stringify(wire))
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // A field literally named "__proto__" must become a field, not the object's prototype.
  if (key === '__proto__') Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true })
  else target[key] = value
}

function fieldName(path: string): string {
  return path ? `"${path}"` : '(document)'
}

function describeJson(value: unknown): string {
  return Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value
}

function truncate(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}
