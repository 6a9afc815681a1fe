import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { civilFromDays, compareInstants, daysFromCivil, formatInstant, parseInstant, timestampFieldFor } from './timestamps.js'

describe('timestampFieldFor', () => {
  it('takes the first of updatedAt, updated_at, modifiedAt, modified_at', () => {
    expect(timestampFieldFor(['id', 'modified_at', 'updated_at'])).toBe('updated_at')
    expect(timestampFieldFor(['id', 'modifiedAt'])).toBe('modifiedAt')
    expect(timestampFieldFor(['id', 'name'])).toBeNull()
  })
  it('uses --timestamp-field where the table has it, else the default list', () => {
    expect(timestampFieldFor(['id', 'changed', 'updatedAt'], 'changed')).toBe('changed')
    expect(timestampFieldFor(['id', 'updatedAt'], 'changed')).toBe('updatedAt')
  })
})

describe('parseInstant', () => {
  it('reads every spelling of one instant the same', () => {
    const spellings = [
      '2024-01-15T10:30:00Z',
      '2024-01-15T10:30:00.000Z',
      '2024-01-15 10:30:00',
      '2024-01-15T10:30:00',
      '2024-01-15 11:30:00+01',
      '2024-01-15T05:30:00-05:00',
      '2024-01-15T16:00:00+0530',
      1705314600000,
      '1705314600000',
      { $date: '2024-01-15T10:30:00Z' },
      { $date: { $numberLong: '1705314600000' } },
    ]
    const first = parseInstant(spellings[0])!
    for (const s of spellings) expect(compareInstants(parseInstant(s)!, first), JSON.stringify(s)).toBe(0)
  })
  it('orders by microseconds and beyond', () => {
    const a = parseInstant('2024-01-15T10:30:00.000001Z')!
    const b = parseInstant('2024-01-15T10:30:00Z')!
    expect(compareInstants(a, b)).toBe(1)
    expect(compareInstants(b, a)).toBe(-1)
  })
  it('handles infinity, BC and far years', () => {
    const inf = parseInstant('infinity')!
    const minus = parseInstant('-infinity')!
    const bc = parseInstant('0044-03-15 10:00:00 BC')!
    const far = parseInstant('+012345-01-01T00:00:00Z')!
    expect(compareInstants(inf, far)).toBe(1)
    expect(compareInstants(minus, bc)).toBe(-1)
    expect(compareInstants(bc, parseInstant('0001-01-01T00:00:00Z')!)).toBe(-1)
    expect(compareInstants(inf, parseInstant('Infinity')!)).toBe(0)
  })
  it('is null for what is not a date/time', () => {
    for (const v of ['soon', '2024-13-01', '', true, null, undefined, ['2024-01-01'], { a: 1 }]) expect(parseInstant(v as never)).toBeNull()
  })
  it('agrees with Date for the years Date can hold (property)', () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true }), (d) => {
        const instant = parseInstant(d.toISOString())!
        return instant.seconds * 1000 + instant.nanos / 1e6 === d.getTime()
      }),
    )
  })
  it('formatInstant writes the wire text back (property)', () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true, min: new Date('0001-01-01'), max: new Date('9999-12-31') }), (d) => {
        const instant = parseInstant(d.toISOString())!
        const text = formatInstant(instant, true)
        return compareInstants(parseInstant(text)!, instant) === 0 && text.endsWith('Z')
      }),
    )
  })
})

describe('calendar arithmetic', () => {
  it('civilFromDays inverts daysFromCivil (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -300000, max: 300000 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), (y, m, d) => {
        expect(civilFromDays(daysFromCivil(y, m, d))).toEqual([y, m, d])
      }),
    )
    expect(daysFromCivil(1970, 1, 1)).toBe(0)
    expect(daysFromCivil(2000, 3, 1)).toBe(11017)
  })
})
