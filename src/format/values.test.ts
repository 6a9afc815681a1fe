import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FormatError, InternalError } from '../errors.js'
import { base64ToBytes, bytesToBase64, decodeFloat, encodeFloat, trimFraction } from './values.js'

describe('encodeFloat / decodeFloat', () => {
  it.each<[number, number | string]>([
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
    [-0, '-0'],
    [0, 0],
    [1.1, 1.1],
    [5e-324, 5e-324],
    [-1.7976931348623157e308, -1.7976931348623157e308],
  ])('encodes %s as %j', (value, wire) => {
    expect(encodeFloat(value)).toBe(wire)
  })

  it('round-trips every double through JSON text exactly (NaN, infinities and -0 included)', () => {
    fc.assert(
      fc.property(fc.double(), (value) => {
        const back = decodeFloat(JSON.parse(JSON.stringify(encodeFloat(value))) as number | string)
        expect(Object.is(back, value)).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it.each(['nan', 'inf', '1.5', '', ' NaN', '-Infinity ', 'null'])('refuses the string %j', (wire) => {
    expect(() => decodeFloat(wire)).toThrow(FormatError)
  })

  it.each([null, true, [1], { $numberDouble: '1' }])('refuses %j', (wire) => {
    expect(() => decodeFloat(wire)).toThrow(/is not a float value/)
  })
})

describe('bytesToBase64 / base64ToBytes', () => {
  it('round-trips any bytes, writing standard padded base64', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = bytesToBase64(bytes)
        expect(text).toMatch(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/)
        expect(new Uint8Array(base64ToBytes(text))).toEqual(bytes)
      }),
    )
  })

  it('encodes a view into a larger buffer without the bytes around it', () => {
    const backing = new Uint8Array([9, 9, 0, 1, 2, 255, 9])
    expect(bytesToBase64(backing.subarray(2, 6))).toBe('AAEC/w==')
  })

  it('encodes no bytes as the empty string, and back', () => {
    expect(bytesToBase64(new Uint8Array())).toBe('')
    expect(base64ToBytes('')).toEqual(Buffer.alloc(0))
  })

  it.each([
    ['a character outside the alphabet', 'AAE*'],
    ['the URL-safe alphabet', 'AA-_'],
    ['missing padding', 'AAE'],
    ['a line break', 'AAEC\n/w=='],
    ['a space', 'AAEC /w=='],
    ['padding in the middle', 'AA==AAAA'],
    ['too much padding', 'AA==='],
    ['non-zero unused bits', 'AB=='],
    ['a lone character', 'A'],
  ])('refuses %s', (_name, text) => {
    expect(() => base64ToBytes(text)).toThrow(FormatError)
  })

  it('refuses a value that is not a string', () => {
    expect(() => base64ToBytes(42 as unknown as string)).toThrow(/not a base64 string/)
  })

  it('keeps error messages short for huge values', () => {
    const error = (() => {
      try {
        base64ToBytes(`${'A'.repeat(100_000)}*`)
      } catch (caught) {
        return caught as Error
      }
      return undefined
    })()
    expect(error?.message.length).toBeLessThan(200)
  })
})

describe('trimFraction', () => {
  it.each([
    ['2024-01-15T10:30:00.123000Z', '2024-01-15T10:30:00.123Z'],
    ['2024-01-15T10:30:00.000000', '2024-01-15T10:30:00'],
    ['2024-01-15T10:30:00.000001', '2024-01-15T10:30:00.000001'],
    ['2024-01-15T10:30:00.100000+02:00', '2024-01-15T10:30:00.1+02:00'],
    ['2024-01-15 10:30:00.50 BC', '2024-01-15 10:30:00.5 BC'],
    ['10:30:00.500000', '10:30:00.5'],
    ['10:30:00.000000-05:30', '10:30:00-05:30'],
    ['-838:59:59.000000', '-838:59:59'],
    ['10:30:00.', '10:30:00'],
    ['10:30:00', '10:30:00'],
    ['2024-01-15', '2024-01-15'],
    ['infinity', 'infinity'],
    ['P1DT2H3M4.500S', 'P1DT2H3M4.500S'],
    ['', ''],
  ])('%j → %j', (input, output) => {
    expect(trimFraction(input)).toBe(output)
  })
})

