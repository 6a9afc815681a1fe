import { describe, expect, it } from 'vitest'
import type { TableSchema } from './adapter.js'
import { compareCodePoints, compareIntegers, keyOrder } from './key-order.js'

const table = (columns: [string, string, string][], key: string[]): TableSchema =>
  ({ name: 't', primaryKey: key, columns: columns.map(([name, type, kind]) => ({ name, type, kind, nullable: false })), indexes: [], foreignKeys: [] }) as unknown as TableSchema

describe('key order', () => {
  it('orders strings by code point (as UTF-8 bytes do), not by UTF-16 code unit', () => {
    const words = ['', 'B', 'a', 'é', 'ｚ', '😀', '\uffff', 'ab', 'a\u0001', '~']
    const byBytes = [...words].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    expect([...words].sort(compareCodePoints)).toEqual(byBytes)
    // UTF-16 puts the emoji (a surrogate pair) before U+FF5A; code points after it.
    expect(compareCodePoints('😀', 'ｚ')).toBeGreaterThan(0)
    expect('😀' < 'ｚ').toBe(true)
  })

  it('orders integers exactly, as numbers or as bigint strings beyond 2^53', () => {
    expect(compareIntegers('-9223372036854775808', '9223372036854775807')).toBeLessThan(0)
    expect(compareIntegers('9007199254740993', '9007199254740992')).toBeGreaterThan(0)
    expect(compareIntegers(10, 9)).toBeGreaterThan(0)
    expect(compareIntegers('-10', '-9')).toBeLessThan(0)
    expect(compareIntegers('42', '42')).toBe(0)
  })

  it('compares key texts column by column, and has no order for a key outside it', () => {
    const order = keyOrder(table([['a', 'character varying(20)', 'text'], ['b', 'integer', 'integer']], ['a', 'b']))!
    expect(order('["x",10]', '["x",9]')).toBeGreaterThan(0)
    expect(order('["B",10]', '["a",1]')).toBeLessThan(0)
    expect(order('["a\\n",1]', '["a",1]')).toBeGreaterThan(0)
    expect(order('["a",1]', '["a",1]')).toBe(0)
    expect(keyOrder(table([['id', 'uuid', 'text']], ['id']))).toBeDefined()
    expect(keyOrder(table([['d', 'date', 'date']], ['d']))).toBeUndefined()
    expect(keyOrder(table([['c', 'character(4)', 'text']], ['c']))).toBeUndefined()
    expect(keyOrder(table([['c', 'citext', 'text']], ['c']))).toBeUndefined()
    expect(keyOrder(table([['c', 'text', 'text']], []))).toBeUndefined()
  })
})
