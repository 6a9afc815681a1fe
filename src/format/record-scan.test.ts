/**
 * scanRecord against what the reader did before it (JSON.parse of the line, then its field and
 * key checks): whenever the scan answers, JSON.parse accepts the line, every field is a column
 * and the key values are JSON.parse's; whenever JSON.parse accepts a line whose fields are all
 * columns and whose names have no escapes, the scan answers (so the fast path is taken).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { recordShape, scanRecord } from './record-scan.js'

const COLUMNS = new Set(['id', 'name', 'n', 'doc', 'ü', '__proto__', 'a"b'])
const KEYS: readonly (readonly string[])[] = [[], ['id'], ['id', 'n'], ['doc']]

/** What the reader computed with JSON.parse: undefined where it would not take the line as is. */
function reference(text: string, columns: ReadonlySet<string> | undefined, primaryKey: readonly string[]): { key: unknown[]; plainNames: boolean } | undefined {
  let record: unknown
  try {
    record = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined
  if (columns !== undefined) for (const key in record) if (!columns.has(key)) return undefined
  return { key: primaryKey.map((column) => (record as Record<string, unknown>)[column]), plainNames: !namesAsWritten(text).some((n) => n.includes('\\')) }
}

/**
 * The field names of a line JSON.parse accepts, as written (escapes kept). Strings are read whole
 * from their opening quote, so a value's closing quote is never taken for a name's opening one
 * (a regex did: `"\u0000", ":a\"b" :` read the name `, `, and the escaped one was missed).
 */
function namesAsWritten(text: string): string[] {
  const names: string[] = []
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '"') continue
    let end = i + 1
    while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1
    let after = end + 1
    while (after < text.length && ' \t\r\n'.includes(text[after]!)) after++
    if (text[after] === ':') names.push(text.slice(i + 1, end))
    i = end
  }
  return names
}

function check(text: string, primaryKey: readonly string[], anyField = false): void {
  // Padding around the line: the scan must not look past its end or before its start.
  const buffer = Buffer.from(`{"x":[${text}`)
  const start = 6
  const columns = anyField ? undefined : COLUMNS
  const got = scanRecord(Buffer.concat([buffer, Buffer.from('}]')]), start, buffer.length, recordShape(columns && [...columns], primaryKey))
  const want = reference(text, columns, primaryKey)
  if (got !== undefined) {
    expect(want).toBeDefined()
    expect(got).toEqual(want!.key)
    // Object.is: -0 and 0, which the key set tells apart as numbers.
    got.forEach((value, i) => expect(Object.is(value, want!.key[i]) || typeof value === 'object').toBe(true))
  } else if (want !== undefined && want.plainNames) {
    // Only fields given with escapes (or a text the regex above misreads) may take the slow path.
    expect.fail(`the scan refused a line JSON.parse takes: ${text}`)
  }
}

const column = fc.constantFrom(...COLUMNS, 'other', 'i\\u0064')
const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(-0, 1e21, 0.1, 'a\u2028b', '\u0000', '"\\'))
const record = fc.array(fc.tuple(column, value), { maxLength: 6 }).chain((fields) =>
  fc.constantFrom('', ' ', '\t', '\r\n').map((gap) => `{${gap}${fields.map(([k, v]) => `"${k.replace(/"/g, '\\"')}"${gap}:${gap}${JSON.stringify(v)}`).join(`,${gap}`)}${gap}}`),
)
/** A record's text with a few bytes changed, inserted or removed: mostly text JSON.parse refuses. */
const damaged = fc.tuple(record, fc.array(fc.tuple(fc.nat(), fc.constantFrom('', '"', '\\', ',', ':', '{', '}', '[', ']', '0', '-', '.', 'e', '+', 'u', 'x', ' ', '\n', '\u0001', '\u001f', '\u007f', 't', 'n', 'ull', 'rue', 'E5', '00')), { minLength: 1, maxLength: 3 }), fc.boolean()).map(
  ([text, edits, replace]) => {
    let out = text
    for (const [at, piece] of edits) {
      const i = at % (out.length + 1)
      out = out.slice(0, i) + piece + out.slice(i + (replace ? 1 : 0))
    }
    return out
  },
)

describe('scanRecord is JSON.parse plus the field and key checks', () => {
  it('on well-formed records', () => {
    fc.assert(fc.property(record, fc.constantFrom(...KEYS), fc.boolean(), (text, key, anyField) => check(text, key, anyField)), { numRuns: 3000 })
  })

  it('a field name with an escape after a string value may take the slow path (a counterexample the test once misjudged)', () => {
    check('{ "n" : "\\u0000", ":a\\"b" : 1.0028298796167441e+186, "id" : "a b" }', [], true)
  })

  it('on damaged records', () => {
    fc.assert(fc.property(damaged, fc.constantFrom(...KEYS), fc.boolean(), (text, key, anyField) => check(text, key, anyField)), { numRuns: 20000 })
  })

  it('on hand-picked edge cases', () => {
    const cases = [
      '{}', ' {} ', '{', '}', '{}}', '{}{}', '{"id":1,}', '{,"id":1}', '{"id" 1}', '{"id":01}', '{"id":1.}', '{"id":.5}', '{"id":-}', '{"id":1e}',
      '{"id":1E+2}', '{"id":-0}', '{"id":"\\u00e9"}', '{"id":"\\u00g9"}', '{"id":"\\x"}', '{"id":"a\tb"}', '{"id":"a\u001fb"}', '{"id":tru}', '{"id":nulll}', '{"id":[1,]}',
      '{"id":[,1]}', '{"id":{"a":1,}}', '{"id":{"a"}}', '{"id":[[[]]]}', '{"id":1,"id":2}', '{"__proto__":1}', '{"a\\"b":1}', '{"\\u0069d":1}', '{"ü":"ü"}',
      '{"id":"\\ud800"}', '{"doc":{"x":[1,{"y":null}]},"id":true}', '{"id":1}x', '{"id":1} ', '{"id":"unterminated}', '{"id":1e400}', '{"id":123456789012345}', '{"id":1234567890123456789}', '{"id":-0,"n":-12}', '{"id":"plain","n":"esc\\"aped"}', '{"id":""}',
    ]
    for (const text of cases) for (const key of KEYS) for (const anyField of [false, true]) check(text, key, anyField)
  })
})

/** The deepest nesting of arrays and objects in a JSON value's text, empty ones counted (strings skipped). */
function depthOf(text: string): number {
  let depth = 0
  let deepest = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++
    } else if (c === '{' || c === '[') deepest = Math.max(deepest, ++depth)
    else if (c === '}' || c === ']') depth--
  }
  return deepest
}

describe('scanRecord with a nesting room (the reader then skips its own nesting check)', () => {
  const nested = fc.array(fc.tuple(fc.constantFrom('id', 'doc', 'n'), fc.jsonValue({ maxDepth: 6 })), { maxLength: 4 }).map(
    (fields) => `{${fields.map(([k, v]) => `"${k}":${JSON.stringify(v)}`).join(',')}}`,
  )

  it('answers exactly for the well-formed records no deeper than the room', () => {
    fc.assert(
      fc.property(nested, fc.integer({ min: 0, max: 9 }), (text, room) => {
        const bytes = Buffer.from(text)
        const shape = recordShape(undefined, ['id'])
        const unlimited = scanRecord(bytes, 0, bytes.length, shape)
        expect(unlimited).toBeDefined()
        const limited = scanRecord(bytes, 0, bytes.length, shape, room)
        if (depthOf(text) <= room) expect(limited).toEqual(unlimited)
        else expect(limited).toBeUndefined()
      }),
      { numRuns: 3000 },
    )
  })

  it('counts empty arrays and objects, and the record itself', () => {
    const shape = recordShape(undefined, [])
    const at = (text: string, room: number) => scanRecord(Buffer.from(text), 0, Buffer.byteLength(text), shape, room)
    expect(at('{}', 0)).toBeUndefined()
    expect(at('{}', 1)).toEqual([])
    expect(at('{"a":[]}', 1)).toBeUndefined()
    expect(at('{"a":[]}', 2)).toEqual([])
    expect(at('{"a":[{}]}', 2)).toBeUndefined()
    expect(at('{"a":[{}]}', 3)).toEqual([])
    expect(at('{"a":[{"b":{}}],"c":[[]]}', 3)).toBeUndefined()
    expect(at('{"a":[{"b":{}}],"c":[[]]}', 4)).toEqual([])
  })

  it('gives up a line of a million brackets at the room, not at its end', () => {
    const text = `{"a":${'['.repeat(1_000_000)}`
    expect(scanRecord(Buffer.from(text), 0, text.length, recordShape(undefined, []), 256)).toBeUndefined()
  })
})
