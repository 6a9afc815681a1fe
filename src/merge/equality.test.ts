import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { ValueKind, WireValue } from '../adapters/adapter.js'
import { canonicalDecimal, canonicalKey, plainDecimal, toTargetWire, valuesEqual, type ColumnKind } from './equality.js'

const col = (kind: ValueKind, extra: Partial<ColumnKind> = {}): ColumnKind => ({ kind, ...extra })

describe('valuesEqual', () => {
  const equal: Array<[string, ColumnKind, WireValue, WireValue]> = [
    ['numeric scale', col('decimal'), '1.50', '1.5'],
    ['numeric leading zeros and exponent', col('decimal'), '001.5', '15e-1'],
    ['numeric zero signs', col('decimal'), '-0.00', '0'],
    ['numeric NaN = NaN (PostgreSQL)', col('decimal'), 'NaN', 'NaN'],
    ['numeric from a JSON number', col('decimal'), 2.5, '2.50'],
    ['bigint string vs number', col('bigint'), '42', 42],
    ['integer from boolean (SQLite)', col('integer'), true, 1],
    ['float NaN', col('float'), 'NaN', 'NaN'],
    ['float -0 = 0', col('float'), '-0', 0],
    ['float string vs number', col('float'), '1.10', 1.1],
    ['float infinity', col('float'), 'Infinity', 'infinity'],
    ['boolean from SQLite integer', col('boolean'), true, 1],
    ['boolean words', col('boolean'), 'f', false],
    ['text exact', col('text'), 'abc', 'abc'],
    ['char(n) padding', col('text', { type: 'character(5)' }), 'ab   ', 'ab'],
    ['citext case', col('text', { type: 'citext' }), 'ABC', 'abc'],
    ['binary base64 padding/whitespace', col('binary'), 'AQID', 'AQI D'],
    ['binary PostgreSQL hex', col('binary'), 'AQID', '\\x010203'],
    ['binary EJSON', col('binary'), 'AQID', { $binary: { base64: 'AQID', subType: '00' } }],
    ['binary Node Buffer JSON', col('binary'), 'AQID', { type: 'Buffer', data: [1, 2, 3] }],
    ['empty binary', col('binary'), '', ''],
    ['date from an ISO timestamp at midnight UTC', col('date'), '2024-01-15', '2024-01-15T00:00:00.000Z'],
    ['timestamptz precision', col('timestamptz'), '2024-01-15T10:30:00Z', '2024-01-15T10:30:00.000Z'],
    ['timestamptz fraction', col('timestamptz'), '2024-01-15T10:30:00.1Z', '2024-01-15T10:30:00.100000Z'],
    ['timestamptz offsets', col('timestamptz'), '2024-01-15T10:30:00Z', '2024-01-15 12:30:00+02'],
    ['timestamptz half-hour offset', col('timestamptz'), '2024-01-15T05:00:00Z', '2024-01-15T10:30:00+05:30'],
    ['timestamptz vs epoch millis', col('timestamptz'), '2024-01-15T10:30:00.123Z', 1705314600123],
    ['timestamptz vs EJSON $date', col('timestamptz'), '2024-01-15T10:30:00.123Z', { $date: { $numberLong: '1705314600123' } }],
    ['timestamp naive vs seed Z (Prisma timestamp(3))', col('timestamp'), '2024-01-15T10:30:00', '2024-01-15T10:30:00.000Z'],
    ['timestamp SQLite space', col('timestamp'), '2024-01-15 10:30:00', '2024-01-15T10:30:00'],
    ['timestamp infinity', col('timestamp'), 'infinity', 'Infinity'],
    ['time trailing zeros', col('time'), '10:30:00.500', '10:30:00.5'],
    ['timetz offset spellings', col('time'), '10:30:00+02', '10:30:00+02:00'],
    ['interval 1 day = 24 hours', col('interval'), 'P1D', 'PT24H'],
    ['interval 1 month = 30 days', col('interval'), 'P1M', 'P30D'],
    ['interval fraction', col('interval'), 'PT1.5S', 'PT1.500S'],
    ['json key order', col('json'), '{"a":1,"b":[1,2]}', '{ "b": [1, 2], "a": 1 }'],
    ['json numbers by value', col('json'), '{"a":1.0}', '{"a":1}'],
    ['json big numbers exact', col('json'), '{"a":12345678901234567890}', '{"a":12345678901234567890.0}'],
    ['json value vs text (seed file)', col('json'), { b: 1, a: 'x' }, '{"a":"x","b":1}'],
    ['document key order', col('document'), { a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 }],
    ['document numbers across wrappers', col('document'), { n: { $numberInt: '1' } }, { n: { $numberDouble: '1.0' } }],
    ['document relaxed vs canonical numbers', col('document'), { n: 5 }, { n: { $numberLong: '5' } }],
    ['document dates', col('document'), { d: { $date: '2024-01-15T10:30:00Z' } }, { d: { $date: { $numberLong: '1705314600000' } } }],
    ['array element-wise', col('array', { elementKind: 'decimal' }), ['1.50', null], ['1.5', null]],
    ['nested arrays', col('array', { elementKind: 'integer' }), [[1, 2], [3, 4]], [['1', '2'], ['3', '4']]],
    ['null = null', col('text'), null, null],
    ['unknown text', col('unknown'), '(1,2)', '(1,2)'],
    ['SQLite DATETIME text as instants', col('text', { type: 'DATETIME' }), '2024-01-15 10:30:00', '2024-01-15T10:30:00.000Z'],
    ['SQLite DATETIME epoch millis as text', col('text', { type: 'DATETIME' }), '1705314600000', '2024-01-15T10:30:00.000Z'],
  ]
  it.each(equal)('%s', (_name, column, a, b) => {
    expect(valuesEqual(column, a, b)).toBe(true)
    expect(valuesEqual(column, b, a)).toBe(true)
  })

  const different: Array<[string, ColumnKind, WireValue, WireValue]> = [
    ['numeric', col('decimal'), '1.5', '1.51'],
    ['numeric NaN vs number', col('decimal'), 'NaN', '0'],
    ['float', col('float'), 1.1, 1.2],
    ['text case', col('text'), 'abc', 'ABC'],
    ['text trailing space (varchar)', col('text', { type: 'varchar(5)' }), 'ab ', 'ab'],
    ['timestamp-looking text in a text column', col('text', { type: 'TEXT' }), '2024-01-15 10:30:00', '2024-01-15T10:30:00.000Z'],
    ['SQLite DATETIME other instant', col('text', { type: 'DATETIME' }), '2024-01-15 10:30:01', '2024-01-15T10:30:00.000Z'],
    ['binary', col('binary'), 'AQID', 'AQIE'],
    ['timestamptz one microsecond', col('timestamptz'), '2024-01-15T10:30:00.000001Z', '2024-01-15T10:30:00Z'],
    ['timestamptz vs naive other zone', col('timestamptz'), '2024-01-15T10:30:00+01', '2024-01-15T10:30:00'],
    ['timetz different offsets', col('time'), '10:30:00+02', '08:30:00+00'],
    ['json arrays keep order', col('json'), '[1,2]', '[2,1]'],
    ['json string vs number', col('json'), '{"a":"1"}', '{"a":1}'],
    ['array length', col('array', { elementKind: 'integer' }), [1], [1, null]],
    ['null vs value', col('text'), null, ''],
    ['null vs zero', col('integer'), null, 0],
    ['boolean', col('boolean'), true, false],
    ['date', col('date'), '2024-01-15', '2024-01-16'],
    ['interval', col('interval'), 'P1D', 'PT23H'],
  ]
  it.each(different)('%s differs', (_name, column, a, b) => {
    expect(valuesEqual(column, a, b)).toBe(false)
    expect(valuesEqual(column, b, a)).toBe(false)
  })

  it('treats an absent field like null', () => {
    expect(valuesEqual(col('text'), undefined, null)).toBe(true)
    expect(valuesEqual(col('text'), undefined, 'x')).toBe(false)
  })

  it('falls back to the text for values that do not read as their kind, which still equal themselves', () => {
    expect(valuesEqual(col('timestamptz'), 'not a time', 'not a time')).toBe(true)
    expect(valuesEqual(col('timestamptz'), 'not a time', 'also not')).toBe(false)
    expect(valuesEqual(col('json'), '{"a":1,"a":2}', '{"a":1,"a":2}')).toBe(true)
  })

  it('every value round-trips: equal to itself under its kind (property)', () => {
    const samples: Array<[ValueKind, fc.Arbitrary<WireValue>]> = [
      ['integer', fc.integer()],
      ['bigint', fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)],
      ['decimal', fc.tuple(fc.bigInt(), fc.nat(20)).map(([n, s]) => plainDecimal(`${n}e-${s}`))],
      ['float', fc.double({ noDefaultInfinity: false }).map((d) => (Number.isNaN(d) ? 'NaN' : d === Infinity ? 'Infinity' : d === -Infinity ? '-Infinity' : Object.is(d, -0) ? '-0' : d))],
      ['text', fc.string()],
      ['json', fc.jsonValue().map((v) => JSON.stringify(v))],
      ['timestamptz', fc.date({ noInvalidDate: true }).map((d) => d.toISOString())],
      ['binary', fc.uint8Array().map((b) => Buffer.from(b).toString('base64'))],
    ]
    for (const [kind, arb] of samples) {
      fc.assert(fc.property(arb, (v) => valuesEqual(col(kind), v, structuredClone(v))))
    }
  })
})

describe('canonicalDecimal / plainDecimal', () => {
  it('reduces spellings of one number to one key', () => {
    expect(canonicalDecimal('1.50')).toBe(canonicalDecimal('15e-1'))
    expect(canonicalDecimal('100')).toBe('1e2')
    expect(canonicalDecimal('-0.000')).toBe('0')
    expect(canonicalDecimal('abc')).toBeUndefined()
    expect(canonicalDecimal('.')).toBeUndefined()
  })
  it('gives whole numbers, as numbers and as text, the key of their regular-expression reading (property)', () => {
    const integer = col('integer')
    for (const text of ['0', '-0', '00', '007', '-', '', '+5', ' 5', '5 ', '10', '-120', '9007199254740993', '1e3', '12a']) {
      expect(canonicalKey(integer, text), text).toBe(canonicalDecimal(text) ?? `?:${text}`)
    }
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.bigInt().map(String), fc.stringMatching(/^-?[0-9]{0,25}$/)), (value) => {
        const text = typeof value === 'number' ? String(value) : value
        return canonicalKey(integer, value) === (canonicalDecimal(text) ?? `?:${text}`)
      }),
    )
  })
  it('writes plain decimal text', () => {
    expect(plainDecimal('1e21')).toBe('1000000000000000000000')
    expect(plainDecimal('1.5e-7')).toBe('0.00000015')
    expect(plainDecimal('-12.50')).toBe('-12.5')
  })
  it('keeps the value (property)', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => Number(plainDecimal(String(d))) === (Object.is(d, -0) ? 0 : d)))
  })
})

describe('toTargetWire', () => {
  it('converts a seed file value to the current column kind', () => {
    expect(toTargetWire('unknown', col('timestamptz'), '2024-01-15T10:30:00.000Z')).toBe('2024-01-15T10:30:00Z')
    expect(toTargetWire('unknown', col('timestamp'), '2024-01-15T10:30:00.000Z')).toBe('2024-01-15T10:30:00')
    expect(toTargetWire('unknown', col('timestamptz'), '2024-01-15T12:30:00.5+02:00')).toBe('2024-01-15T10:30:00.5Z')
    expect(toTargetWire('unknown', col('integer'), true)).toBe(1)
    expect(toTargetWire('unknown', col('bigint'), 12)).toBe('12')
    expect(toTargetWire('unknown', col('decimal'), 0.1)).toBe('0.1')
    expect(toTargetWire('unknown', col('float'), '2.5')).toBe(2.5)
    expect(toTargetWire('unknown', col('boolean'), 1)).toBe(true)
    expect(toTargetWire('unknown', col('json'), { a: 1 })).toBe('{"a":1}')
    expect(toTargetWire('unknown', col('json'), 'plain words')).toBe('"plain words"')
    expect(toTargetWire('unknown', col('json'), '{"a":1}')).toBe('{"a":1}')
    expect(toTargetWire('unknown', col('binary'), '\\x0102')).toBe('AQI=')
    expect(toTargetWire('unknown', col('date'), '2024-01-15T00:00:00.000Z')).toBe('2024-01-15')
    expect(toTargetWire('unknown', col('text'), 5)).toBe('5')
    expect(toTargetWire('unknown', col('array', { elementKind: 'timestamptz' }), ['2024-01-15T10:30:00.000Z'])).toEqual(['2024-01-15T10:30:00Z'])
  })
  it('is the identity for the same kind and for null', () => {
    expect(toTargetWire('decimal', col('decimal'), '1.50')).toBe('1.50')
    expect(toTargetWire('unknown', col('integer'), null)).toBeNull()
  })
  it('leaves values it cannot convert exactly as they are', () => {
    expect(toTargetWire('unknown', col('integer'), '12345678901234567890')).toBe('12345678901234567890')
    expect(toTargetWire('unknown', col('timestamptz'), 'yesterday')).toBe('yesterday')
  })
  it('converted values compare equal to the original under the target kind (property)', () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true, min: new Date('0001-01-01'), max: new Date('9999-12-31') }), (d) => {
        const iso = d.toISOString()
        return valuesEqual(col('timestamptz'), toTargetWire('unknown', col('timestamptz'), iso), iso)
      }),
    )
  })
})

describe('canonicalKey', () => {
  it('is null for NULL and absent, and distinguishes kinds of text', () => {
    expect(canonicalKey(col('text'), null)).toBeNull()
    expect(canonicalKey(col('text'), undefined)).toBeNull()
    expect(canonicalKey(col('text'), 'null')).not.toBeNull()
  })
})
