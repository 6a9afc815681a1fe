import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Row, ValueKind } from '../adapter.js'
import { recordShape } from '../../format/record-scan.js'
import { TextOutput } from '../json-line-text.js'
import { checkDamagedLines, checkedWalk, damagedBase64 } from '../../../test/helpers/line-walk.js'
import { PASSED_ON, lineToLoad, loadLineConverter, loadLinePlan, type LoadLineColumn } from './mysql-load-lines.js'
import { loadDataField, valueWriter } from './mysql-values.js'

const column = (name: string, kind: ValueKind, type: string): LoadLineColumn => ({ name, kind, target: { name, type } })

const COLUMNS: LoadLineColumn[] = [
  column('id', 'integer', 'int(11)'),
  column('big', 'bigint', 'bigint(20) unsigned'),
  column('flag', 'integer', 'tinyint(1)'),
  column('amount', 'decimal', 'decimal(30,4)'),
  column('day', 'date', 'date'),
  column('at', 'timestamp', 'datetime(3)'),
  column('stamp', 'timestamptz', 'timestamp(6)'),
  column('clock', 'time', 'time(2)'),
  column('bits', 'text', 'bit(12)'),
  column('photo', 'binary', 'mediumblob'),
  column('meta', 'json', 'json'),
  column('text', 'text', 'varchar(191)'),
  column('Odd "name"\t', 'text', 'text'),
  column('role', 'enum', "enum('USER','STAFF')"),
]

/** What LoadChannel.add makes of a row: each value through its column's writer, then loadDataField; false where a writer refuses it. */
function reference(row: Row, columns = COLUMNS): string | false {
  try {
    return `${columns.map((c) => loadDataField(valueWriter(c.target, c.kind).field(row[c.name]!))).join('\t')}\n`
  } catch {
    return false
  }
}

function convert(line: string, columns = COLUMNS): string | false {
  const plan = loadLinePlan(columns)!
  const out = new TextOutput(16)
  const bytes = Buffer.from(line)
  if (!lineToLoad(bytes, 0, bytes.length, plan, out)) {
    expect(out.length).toBe(0)
    return false
  }
  return out.finish().toString('utf8')
}

const digits = (min: number, max: number): fc.Arbitrary<string> => fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((d) => d.join(''))
const anyText = fc.string({ unit: 'binary', maxLength: 30 })
const day = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString())
const row = fc.record({
  id: fc.option(fc.oneof(fc.integer(), fc.integer().map(String), fc.constantFrom(-0, 1.5, 1e21, 2 ** 53 + 2, ' 7', '+7', '1.0', 'x', true, false))),
  big: fc.option(fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String), fc.constantFrom(123456789012345, 1234567890123456, 9007199254740993, '1e3'))),
  flag: fc.option(fc.oneof(fc.boolean(), fc.constantFrom(0, 1))),
  amount: fc.option(
    fc.oneof(
      fc.tuple(fc.constantFrom('', '-', '+'), digits(1, 26), fc.option(digits(0, 6))).map(([s, w, f]) => (f === null ? `${s}${w}` : `${s}${w}.${f}`)),
      fc.constantFrom('1e5', '1.5E-2', '.5', '5.', 'NaN', 1.25, 0, true),
    ),
  ),
  day: fc.option(fc.oneof(day.map((d) => d.slice(0, 10)), fc.constantFrom('0000-00-00', '2024-1-01', '2024-01-01T00:00:00Z', '2024-01-01T10:00:00'))),
  at: fc.option(fc.oneof(day.map((d) => d.slice(0, 23)), day.map((d) => d.slice(0, 19)), day, fc.constantFrom('2024-01-01T10:00:00.1234', '0000-00-00T00:00:00', '2024-01-01T10:00:00+02:00', '2024-01-01 10:00:00', '2024-01-01T10:00:00.'))),
  stamp: fc.option(fc.oneof(day, fc.constantFrom('2024-01-01T10:00:00.123456Z', '2024-01-01T10:00:00.1234567Z', '2024-01-01T10:00:00.000000Z'))),
  clock: fc.option(fc.constantFrom('10:00:00', '-838:59:59', '10:00', '10:00:00.12', '10:00:00.123', '10:00:00.120', ' 10:00:00', '1:2:3', '100:00:00.5', '10:00:00.')),
  bits: fc.option(fc.oneof(digits(1, 12).map((d) => d.replace(/[2-9]/g, '1')), fc.constantFrom(true, false, 5, '', '012'))),
  photo: fc.option(fc.oneof(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')), fc.constantFrom('QR==', 'QUJ=', 'A', 'AA=', '----'))),
  meta: fc.option(fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), fc.jsonValue({ maxDepth: 1 }))),
  text: fc.option(fc.oneof(anyText, fc.constantFrom(1, 1.5, true))),
  'Odd "name"\t': fc.option(anyText),
  role: fc.option(fc.constantFrom('USER', 'STAFF')),
})

/** Rows of values every column writer passes through unchanged: the lines the walk converts. */
const cleanRow = fc.record({
  id: fc.option(fc.integer()),
  big: fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String)),
  flag: fc.option(fc.boolean()),
  amount: fc.option(fc.tuple(fc.constantFrom('', '-'), digits(1, 26), digits(1, 4)).map(([s, w, f]) => `${s}${w}.${f}`)),
  day: fc.option(day.map((d) => d.slice(0, 10))),
  at: fc.option(day.map((d) => d.slice(0, 23))),
  stamp: fc.option(day),
  clock: fc.option(fc.constantFrom('10:00:00', '-838:59:59', '10:00:00.12')),
  bits: fc.option(digits(1, 12).map((d) => d.replace(/[2-9]/g, '1'))),
  photo: fc.option(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64'))),
  meta: fc.option(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v))),
  text: fc.option(anyText.filter((t) => !/[\ud800-\udfff]/.test(t))),
  'Odd "name"\t': fc.option(anyText.filter((t) => !/[\ud800-\udfff]/.test(t))),
  role: fc.option(fc.constantFrom('USER', 'STAFF')),
})

describe('record line → LOAD DATA text', () => {
  it('gives exactly the bytes LoadChannel gives, or declines (property)', () => {
    let converted = 0
    fc.assert(
      fc.property(row, (r) => {
        const line = JSON.stringify(r)
        const result = convert(line)
        if (result === false) return
        converted++
        expect(result).toBe(reference(r as Row))
      }),
      { numRuns: 4000 },
    )
    // Random rows convert only when every field is one the writer takes (about 1 to 2 % of them:
    // 37 to 80 seen); the bound only says that some do, without failing on an unlucky seed.
    expect(converted).toBeGreaterThan(10)
    // And every line of values the writers pass through.
    fc.assert(
      fc.property(cleanRow, (r) => {
        expect(convert(JSON.stringify(r))).toBe(reference(r as Row))
      }),
      { numRuns: 2000 },
    )
  })

  it('converts the values each column writer passes through unchanged (NULL, escapes, unicode, big numbers, fractions, bits, bytes)', () => {
    const r: Row = {
      id: -2147483648,
      big: '18446744073709551615',
      flag: true,
      amount: '-12345678901234567890123456.1230',
      day: '0000-00-00',
      at: '2024-02-29T23:59:59.123',
      stamp: '2024-01-01T10:00:00.000001Z',
      clock: '-838:59:59.5',
      bits: '101',
      photo: Buffer.from([0, 9, 10, 13, 92, 255]).toString('base64'),
      meta: '{"a": "\\n\\t\\\\", "b": [1, 2.50, null]}',
      text: 'a\\b\n\r\t"/\u0000\u0001\u007f é 🎉 \u2028 \\N',
      'Odd "name"\t': '',
      role: null,
    }
    const line = JSON.stringify(r)
    expect(convert(line)).toBe(reference(r))
    // An escaped spelling of the same characters (\u escapes of specials and of an astral pair).
    expect(convert(line.replace('"a\\\\b', '"a\\u005cb').replace('🎉', '\\ud83c\\udf89'))).toBe(reference(r))
    // Every value null: `\N` each.
    const nulls = Object.fromEntries(COLUMNS.map((c) => [c.name, null]))
    expect(convert(JSON.stringify(nulls))).toBe(`${COLUMNS.map(() => '\\N').join('\t')}\n`)
  })

  it('declines what a column writer would change or refuse, and lines not exactly as written', () => {
    const r: Row = { id: 1, big: '9', flag: 0, amount: '1.5', day: '2024-01-01', at: '2024-01-01T00:00:00', stamp: '2024-01-01T00:00:00Z', clock: '10:00', bits: '1', photo: 'AA==', meta: '1', text: 't', 'Odd "name"\t': 'o', role: 'USER' }
    const line = JSON.stringify(r)
    expect(convert(line)).toBe(reference(r))
    const { id, ...rest } = r
    for (const bad of [
      JSON.stringify({ big: '9', id: 1, ...rest }),
      JSON.stringify(rest),
      JSON.stringify({ ...r, extra: 1 }),
      line.replace('"id":1', '"id": 1'),
      line.replace('"id":1', '"id":-0'),
      line.replace('"id":1', '"id":1.0'),
      line.replace('"id":1', '"id":1e0'),
      line.replace('"id":1', '"id":9007199254740993'),
      line.replace('"id":1', '"id":" 1"'),
      line.replace('"amount":"1.5"', '"amount":1.5'),
      line.replace('"amount":"1.5"', '"amount":"1.00001"'),
      line.replace('"amount":"1.5"', '"amount":"1e2"'),
      line.replace('"at":"2024-01-01T00:00:00"', '"at":"2024-01-01T00:00:00.1234"'),
      line.replace('"at":"2024-01-01T00:00:00"', '"at":"2024-01-01T02:00:00+02:00"'),
      line.replace('"clock":"10:00"', '"clock":"10:00:00.123"'),
      line.replace('"bits":"1"', '"bits":1'),
      line.replace('"photo":"AA=="', '"photo":"AB=="'),
      line.replace('"photo":"AA=="', '"photo":"A=="'),
      line.replace('"meta":"1"', '"meta":1'),
      line.replace('"text":"t"', '"text":1'),
      line.replace('"text":"t"', '"text":["t"]'),
      line.replace('"text":"t"', '"text":"\\ud800"'),
      line.replace('"text":"t"', '"text":"\u0001"'),
      `${line} `,
    ]) {
      expect(convert(bad), bad).toBe(false)
    }
    expect(id).toBe(1)
  })

  it('converts a binary value exactly when base64ToBytes takes its base64, to the same hex (property, damaged base64)', () => {
    const columns = [column('b', 'binary', 'varbinary(40)')]
    const base64 = damagedBase64(['=', '==', '\\\\', '-', '_', ' ', 'é', 'A', 'B', '/', '+', '0', ''])
    let converted = 0
    fc.assert(
      fc.property(base64, (text) => {
        const got = convert(`{"b":${JSON.stringify(text)}}`, columns)
        if (got === false) {
          // Declined only what the writer refuses.
          expect(reference({ b: text }, columns)).toBe(false)
          return
        }
        converted++
        expect(got).toBe(reference({ b: text }, columns))
      }),
      { numRuns: 4000 },
    )
    expect(converted).toBeGreaterThan(500)
  })

  it('has no plan for columns whose writer rewrites every value (FLOAT, DOUBLE, YEAR, bytes or JSON of another kind)', () => {
    expect(loadLinePlan([column('f', 'float', 'float')])).toBeUndefined()
    expect(loadLinePlan([column('f', 'float', 'double')])).toBeUndefined()
    expect(loadLinePlan([column('y', 'integer', 'year(4)')])).toBeUndefined()
    expect(loadLinePlan([column('b', 'text', 'blob')])).toBeUndefined()
    expect(loadLinePlan([column('j', 'text', 'json')])).toBeUndefined()
    expect(loadLinePlan([column('b', 'unknown', 'blob')])).toBeDefined()
  })
})

describe('loadLineConverter', () => {
  it('passes on, marked, a line the walk declines, and converts the rest', () => {
    const columns = [column('id', 'integer', 'int'), column('t', 'text', 'text')]
    const converter = loadLineConverter(loadLinePlan(columns)!)
    const shape = recordShape(['id', 't'], ['id'])
    const good = Buffer.from('{"id":1,"t":"a\\tb"}')
    const declined = Buffer.from('{"id":1.5,"t":"x"}')
    expect(converter.convertChecked(good, 0, good.length, shape)).toBe(true)
    expect(converter.convertChecked(declined, 0, declined.length, shape)).toBe(false)
    converter.convert(declined)
    converter.convert(Buffer.from('{"id":2,"t":null}'))
    const text = converter.take()
    expect(text.toString('utf8')).toBe(`1\ta\\tb\n${String.fromCharCode(PASSED_ON)}{"id":1.5,"t":"x"}\n2\t\\N\n`)
    expect(converter.take().length).toBe(0)
  })
})

/**
 * The reader takes lineToLoad's walk for its own check of a line (reader.ts, LineConverter): when
 * it converts a line, the line must be one JSON.parse accepts whose fields are the columns, and
 * the key values read from the bounds it leaves must be JSON.parse's.
 */
describe('lineToLoad as the check of a record line', () => {
  const KEYS: readonly (readonly string[])[] = [['id'], ['text', 'big'], ['amount'], ['Odd "name"\t', 'flag', 'photo', 'meta', 'at']]

  function checked(line: string, primaryKey: readonly string[]): unknown[] | undefined {
    const plan = loadLinePlan(COLUMNS)!
    return checkedWalk((bytes, start, end, out, keyPlace, keyBounds) => lineToLoad(bytes, start, end, plan, out, keyPlace, keyBounds), line, COLUMNS.map((c) => c.name), primaryKey)
  }

  it('converts only what JSON.parse accepts with the columns as fields, and reads the key as JSON.parse does (property, damaged lines)', () => {
    checkDamagedLines(checked, cleanRow, KEYS, ['T', 'Z', '='])
  }, 120_000)

  it('reads the key of well-formed lines (property)', () => {
    fc.assert(
      fc.property(fc.oneof(row, cleanRow), fc.constantFrom(...KEYS), (r, key) => {
        const line = JSON.stringify(r)
        const got = checked(line, key)
        expect(got !== undefined).toBe(convert(line) !== false)
      }),
      { numRuns: 2000 },
    )
  }, 120_000)
})
