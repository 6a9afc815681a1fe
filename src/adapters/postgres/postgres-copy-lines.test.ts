import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Row, ValueKind } from '../adapter.js'
import { CopyOutput, copyLinePlan, lineToCopy } from './postgres-copy-lines.js'
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
  const out = new CopyOutput(16)
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

  it('has no plan for arrays, documents and unknown types', () => {
    expect(copyLinePlan([{ name: 'a', kind: 'array' }])).toBeUndefined()
    expect(copyLinePlan([{ name: 'a', kind: 'unknown' }])).toBeUndefined()
  })
})
