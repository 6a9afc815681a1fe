import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Row, ValueKind } from '../adapter.js'
import { copyLinePlan, lineToCopy } from './postgres-copy-lines.js'
import { TextOutput } from '../json-line-text.js'
import { checkDamagedLines, checkedWalk, damagedBase64 } from '../../../test/helpers/line-walk.js'
import { escapeCopyText } from './postgres-sql.js'
import { wireToPgText } from './postgres-values.js'

const COLUMNS: { name: string; kind: ValueKind }[] = [
  { name: 'id', kind: 'integer' },
  { name: 'big', kind: 'bigint' },
  { name: 'num', kind: 'decimal' },
  { name: 'f', kind: 'float' },
  { name: 'flag', kind: 'boolean' },
  { name: 'text', kind: 'text' },
  { name: 'Odd "name"\t', kind: 'text' },
  { name: 'photo', kind: 'binary' },
  { name: 'meta', kind: 'json' },
  { name: 'at', kind: 'timestamptz' },
]

/** What writeRows makes of a row (copyText in postgres-destination.ts). */
function reference(row: Row, columns = COLUMNS): string {
  return `${columns.map((c) => {
    const text = wireToPgText(row[c.name], c.kind, c.kind)
    return text === null ? '\\N' : escapeCopyText(text)
  }).join('\t')}\n`
}

function convert(line: string, columns = COLUMNS): string | false {
  const plan = copyLinePlan(columns)!
  const out = new TextOutput(16)
  const bytes = Buffer.from(line)
  if (!lineToCopy(bytes, 0, bytes.length, plan, out)) return false
  return out.finish().toString('utf8')
}

const anyText = fc.string({ unit: 'binary', maxLength: 30 })
const row = fc.record({
  id: fc.option(fc.integer()),
  big: fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)),
  num: fc.option(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => d.toFixed(3)), fc.constantFrom('NaN', 'Infinity'))),
  f: fc.option(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)), fc.constantFrom('NaN', '-0', '-Infinity'))),
  flag: fc.option(fc.boolean()),
  text: fc.option(anyText),
  'Odd "name"\t': fc.option(anyText),
  photo: fc.option(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64'))),
  meta: fc.option(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v))),
  at: fc.option(fc.date({ noInvalidDate: true }).map((d) => d.toISOString().replace('.000', ''))),
})

describe('record line → COPY text', () => {
  it('gives exactly what writeRows gives, or declines (property)', () => {
    let converted = 0
    fc.assert(
      fc.property(row, (r) => {
        const line = JSON.stringify(r)
        const result = convert(line)
        const hasNul = Object.values(r).some((v) => typeof v === 'string' && /\0|[\ud800-\udfff]/.test(v))
        if (result === false) {
          // Declined only for what COPY text cannot hold or JSON cannot spell alike: NUL, lone surrogates.
          expect(hasNul || /\\u[dD][89abAB]/.test(line) || /[\ud800-\udfff]/.test(line)).toBe(true)
          return
        }
        converted++
        expect(result).toBe(reference(r as Row))
      }),
      { numRuns: 2000 },
    )
    expect(converted).toBeGreaterThan(1000)
  })

  it('handles escapes, astral characters and COPY specials', () => {
    const r: Row = { id: 1, big: '9', num: '1.50', f: 1e-7, flag: false, text: 'a\\b\n\r\t"/\u0001\u007f é 🎉 \u2028', 'Odd "name"\t': '', photo: '', meta: '{"a": "\\n"}', at: null }
    expect(convert(JSON.stringify(r))).toBe(reference(r))
  })

  it('declines lines that are not exactly as written: key order, missing or extra columns, spaces, wrong types, arrays', () => {
    const r: Row = { id: 1, big: '9', num: '1', f: 1, flag: true, text: 't', 'Odd "name"\t': 'o', photo: 'AA==', meta: '1', at: '2024-01-01T00:00:00Z' }
    const line = JSON.stringify(r)
    expect(convert(line)).toBe(reference(r))
    const { id, ...rest } = r
    for (const bad of [
      JSON.stringify({ big: '9', id: 1, ...rest }),
      JSON.stringify(rest),
      JSON.stringify({ ...r, extra: 1 }),
      line.replace('"id":1', '"id": 1'),
      line.replace('"id":1', '"id":"1"'),
      line.replace('"flag":true', '"flag":1'),
      line.replace('"text":"t"', '"text":["t"]'),
      line.replace('"text":"t"', '"text":"\\u0000"'),
      line.replace('"text":"t"', '"text":"\\ud800"'),
      line.replace('"photo":"AA=="', '"photo":"A=="'),
      `${line} `,
    ]) {
      expect(convert(bad), bad).toBe(false)
    }
    expect(id).toBe(1)
  })

  it('converts a binary value exactly when wireToPgText takes its base64, to the same text (property, damaged base64)', () => {
    const columns: { name: string; kind: ValueKind }[] = [{ name: 'b', kind: 'binary' }]
    const base64 = damagedBase64(['=', '==', '\\\\', '-', '_', ' ', 'é', 'A', '/', '+', '0', ''])
    fc.assert(
      fc.property(fc.oneof(base64, fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString('base64'))), (text) => {
        let expected: string | false
        try {
          expected = `${escapeCopyText(wireToPgText(text, 'binary', 'binary')!)}\n`
        } catch {
          expected = false
        }
        expect(convert(`{"b":${JSON.stringify(text)}}`, columns)).toBe(expected)
      }),
      { numRuns: 4000 },
    )
    // The bits a padded group leaves over are dropped, as Buffer.from drops them.
    expect(convert('{"b":"QR=="}', columns)).toBe('\\\\x41\n')
    expect(convert('{"b":"QUJ="}', columns)).toBe('\\\\x4142\n')
  })

  it('has no plan for arrays, documents and unknown types', () => {
    expect(copyLinePlan([{ name: 'a', kind: 'array' }])).toBeUndefined()
    expect(copyLinePlan([{ name: 'a', kind: 'unknown' }])).toBeUndefined()
  })
})

/**
 * The reader takes lineToCopy's walk for its own check of a line (reader.ts, LineConverter): when
 * it converts a line, the line must be one JSON.parse accepts whose fields are the columns, and
 * the key values read from the bounds it leaves must be JSON.parse's (what scanRecord answers).
 */
describe('lineToCopy as the check of a record line', () => {
  const KEYS: readonly (readonly string[])[] = [['id'], ['text', 'big'], ['f'], ['Odd "name"\t', 'flag', 'photo', 'meta']]
  const SKIPPED = [...COLUMNS.slice(0, 3), { name: 'gen', kind: 'skip' as const }, ...COLUMNS.slice(3)]

  /** lineToCopy with key bounds; the key values when it converts, else undefined. */
  function checked(line: string, primaryKey: readonly string[], columns: readonly { name: string; kind: ValueKind | 'skip' }[] = COLUMNS): unknown[] | undefined {
    const plan = copyLinePlan(columns)!
    return checkedWalk((bytes, start, end, out, keyPlace, keyBounds) => lineToCopy(bytes, start, end, plan, out, keyPlace, keyBounds), line, columns.map((c) => c.name), primaryKey)
  }

  it('converts only what JSON.parse accepts with the columns as fields, and reads the key as JSON.parse does (property, damaged lines)', () => {
    checkDamagedLines(checked, row, KEYS)
  }, 120_000)

  it('reads the key of well-formed lines, a passed-over column included (property)', () => {
    fc.assert(
      fc.property(row, fc.constantFrom(...KEYS), fc.oneof(fc.constant(null), fc.integer(), fc.boolean(), fc.string()), (r, key, gen) => {
        const line = JSON.stringify(r)
        const got = checked(line, key)
        if (convert(line) !== false) expect(got).toBeDefined()
        const { id, big, num, ...rest } = r
        checked(JSON.stringify({ id, big, num, gen, ...rest }), ['gen', 'id'], SKIPPED)
      }),
      { numRuns: 2000 },
    )
  }, 120_000)

  it('refuses numbers outside the JSON grammar, in every column that takes a number', () => {
    const r: Row = { id: 1, big: '9', num: '1', f: 1, flag: true, text: 't', 'Odd "name"\t': 'o', photo: 'AA==', meta: '1', at: null }
    const line = JSON.stringify(r)
    expect(checked(line, ['id'])).toEqual([1])
    for (const bad of ['1-2', '--1', '-', '01', '1.', '.5', '+1', '1e', '1e+', '1.5.5', '1ee5', '0x10', '1E+-2']) {
      expect(checked(line.replace('"id":1', `"id":${bad}`), ['id']), bad).toBeUndefined()
      expect(checked(line.replace('"f":1', `"f":${bad}`), ['id']), bad).toBeUndefined()
      const { id, big, num, ...rest } = r
      const generated = JSON.stringify({ id, big, num, gen: 0, ...rest }).replace('"gen":0', `"gen":${bad}`)
      expect(checked(generated, ['id'], SKIPPED), bad).toBeUndefined()
    }
    for (const good of ['-0', '0', '1.5e-3', '1E+21', '-12.25']) expect(checked(line.replace('"f":1', `"f":${good}`), ['f'])).toEqual([Number(good)])
    expect(Object.is(checked(line.replace('"id":1', '"id":-0'), ['id'])![0], -0)).toBe(true)
  })
})
