/**
 * For the tests of the restores' line rewriters (postgres-copy-lines.ts, mysql-load-lines.ts),
 * which the reader takes for its own check of a record line (reader.ts, LineConverter): a walk
 * that converts a line must have read one JSON.parse accepts, whose fields are the columns, and
 * must leave the key values' bounds where JSON.parse's values are.
 */
import fc from 'fast-check'
import { expect } from 'vitest'
import { keyValues, recordShape, scanRecord, type RecordShape } from '../../src/format/record-scan.js'
import { TextOutput } from '../../src/adapters/json-line-text.js'

/** A rewriter's walk over `bytes[start, end)`, given the output and the key's places and bounds. */
export type LineWalk = (bytes: Buffer, start: number, end: number, out: TextOutput, keyPlace: Int32Array, keyBounds: Int32Array) => boolean

/**
 * Runs `walk` on `line` (padded: the walk must not look past its end or before its start) and,
 * when it converts, checks the line as the module comment says; answers the key values, or
 * undefined when the walk declined (having written nothing).
 */
export function checkedWalk(walk: LineWalk, line: string, columns: readonly string[], primaryKey: readonly string[]): unknown[] | undefined {
  const bytes = Buffer.from(`[[${line}]]`)
  const shape: RecordShape = recordShape(columns, primaryKey)
  shape.keyBounds.fill(-1)
  const out = new TextOutput(16)
  if (!walk(bytes, 2, bytes.length - 2, out, shape.keyPlace, shape.keyBounds)) {
    expect(out.length).toBe(0)
    return undefined
  }
  const key = keyValues(bytes, shape)
  let parsed: unknown
  try {
    // The bytes' text: a lone surrogate of `line` is U+FFFD in them.
    parsed = JSON.parse(bytes.toString('utf8', 2, bytes.length - 2))
  } catch {
    expect.fail(`converted a line JSON.parse refuses: ${line}`)
  }
  expect(Object.keys(parsed as object)).toEqual(columns)
  const want = primaryKey.map((name) => (parsed as Record<string, unknown>)[name])
  key.forEach((value, i) => expect(Object.is(value, want[i]) || (typeof value === 'object' && JSON.stringify(value) === JSON.stringify(want[i]))).toBe(true))
  // What scanRecord says of the same bytes, where it does not leave the line to JSON.parse (escaped names).
  const scanned = scanRecord(bytes, 2, bytes.length - 2, shape)
  if (scanned !== undefined) expect(scanned).toEqual(key)
  return key
}

/**
 * The property: lines of `rows` damaged by one to three edits are converted only when they are
 * what JSON.parse accepts with the columns as fields, and then their key is JSON.parse's
 * (`check`: checkedWalk with the rewriter's plan, for a key of `keys`).
 */
export function checkDamagedLines(check: (line: string, key: readonly string[]) => unknown[] | undefined, rows: fc.Arbitrary<unknown>, keys: readonly (readonly string[])[], extra: readonly string[] = []): void {
  let converted = 0
  fc.assert(
    fc.property(damagedLines(rows, extra), fc.constantFrom(...keys), (line, key) => {
      if (check(line, key) !== undefined) converted++
    }),
    { numRuns: 8000 },
  )
  // Some edits leave a valid line (a digit for a digit, …): those must convert too.
  expect(converted).toBeGreaterThan(50)
}

/** JSON.stringify of rows, damaged by one to three edits (inserted or replacing) of JSON's bytes and `extra` pieces. */
function damagedLines(rows: fc.Arbitrary<unknown>, extra: readonly string[] = []): fc.Arbitrary<string> {
  const pieces = ['', '"', '\\', ',', ':', '{', '}', '[', ']', '0', '1', '-', '.', 'e', 'E', '+', 'u', ' ', '\u0001', '\u001f', 't', 'n', 'ull', 'rue', 'E5', '00', '\\u12', ...extra]
  return fc
    .tuple(rows, fc.array(fc.tuple(fc.nat(), fc.constantFrom(...pieces)), { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([r, edits, replace]) => {
      let out = JSON.stringify(r)
      for (const [at, piece] of edits) {
        const i = at % (out.length + 1)
        out = out.slice(0, i) + piece + out.slice(i + (replace ? 1 : 0))
      }
      return out
    })
}

/**
 * Base64 of up to 12 random bytes, damaged: one of `pieces` inserted or put in place of a
 * character, or the text cut short, at a random place (for the binary columns' conversions).
 */
export function damagedBase64(pieces: readonly string[]): fc.Arbitrary<string> {
  return fc.tuple(fc.uint8Array({ maxLength: 12 }), fc.nat(), fc.constantFrom(...pieces), fc.nat(3)).map(([bytes, at, piece, cut]) => {
    const text = Buffer.from(bytes).toString('base64')
    const where = at % (text.length + 1)
    return cut === 0 ? text.slice(0, where) : cut === 1 ? text.slice(0, where) + piece + text.slice(where) : text.slice(0, where) + piece + text.slice(where + 1)
  })
}
