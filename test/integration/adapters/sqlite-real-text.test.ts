/**
 * sqlRealText (src/adapters/sqlite/sqlite-values.ts): SQLite spells a real as JavaScript's
 * String(x) where that is provably exact, or not at all. SQLite increments compare ranges of rows
 * by the digest of lines spelled this way (issue #18, round eight), so a wrong spelling could only
 * make a range read again, never hide a change; these tests hold it to exactly String(x).
 */
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SQL_REAL_MAX_PLACES, sqlRealText } from '../../../src/adapters/sqlite/sqlite-values.js'
import { nextDouble } from '../../helpers/doubles.js'

describe('sqlRealText', () => {
  // The real bound as a double; the SQL spelling must be NULL or exactly String(x) (JavaScript's shortest round trip).
  const db = new Database(':memory:')
  const spell = db.prepare(`SELECT ${sqlRealText('x')} FROM (SELECT CAST(? AS REAL) AS x)`).pluck()
  const spelled = (x: number): string | null => spell.get(x) as string | null

  it('spells a real exactly as String(x) or not at all, over random bit patterns and random decimals', () => {
    const bits = Buffer.alloc(8)
    let count = 0
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 8, maxLength: 8 }), (bytes) => {
        bits.set(bytes)
        const x = bits.readDoubleLE(0)
        if (!Number.isFinite(x)) return
        const text = spelled(x)
        if (text !== null) expect(text).toBe(String(x))
      }),
      { numRuns: 20_000 },
    )
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 16n), max: 10n ** 16n }), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: -2, max: 2 }), (m, digits, places, ulps) => {
        // Decimals of 1 to 16 significant digits and 0 to 9 places.
        let x = Number(m % 10n ** BigInt(digits)) / 10 ** places
        if (x === 0) return
        // A few ulps off the nearest double of the decimal: those must not be spelled as the decimal.
        for (let i = 0; i < Math.abs(ulps); i++) x = nextDouble(x, ulps > 0)
        const text = spelled(x)
        if (text !== null) {
          count++
          expect(text).toBe(String(x))
        }
      }),
      { numRuns: 30_000 },
    )
    expect(count).toBeGreaterThan(3_000)
  })

  it('spells the usual decimals, and leaves zero, -0, subnormals, huge and tiny magnitudes and long fractions to JavaScript', () => {
    for (const x of [1, -1, 0.1, 0.2, 0.3, 123.45, -123.45, 4.35, 1e-6, 0.000123, 999999999999999, 1e14, 2 ** 49, 99.99, 1234567.891]) expect(spelled(x), String(x)).toBe(String(x))
    for (const x of [0, -0, 5e-324, 2.2250738585072014e-308, 1e-7, 1.5e-6 / 10, 1e15, 1e16, 2 ** 53, 1e21, 1e300, -1.7976931348623157e308, 0.1 + 0.2, 1 / 3, Math.PI, 0.1234567]) {
      expect(spelled(x), String(x)).toBeNull()
    }
    expect(SQL_REAL_MAX_PLACES).toBe(6)
  })
})
