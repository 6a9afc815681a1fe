import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ValueKind } from '../adapter.js'
import {
  affinityOf,
  decodeBase64,
  decodeValue,
  encodeValue,
  isStorageTag,
  kindOf,
  sqliteTypeFor,
  ValueDecodeError,
  type Affinity,
  type SqliteValue,
} from './sqlite-values.js'

describe('affinityOf', () => {
  it.each([
    ['INTEGER', 'INTEGER'],
    ['BIGINT UNSIGNED', 'INTEGER'],
    ['FLOATING POINT', 'INTEGER'], // contains INT: SQLite's rule 1 wins
    ['VARCHAR(255)', 'TEXT'],
    ['nvarchar', 'TEXT'],
    ['CLOB', 'TEXT'],
    ['BLOB', 'BLOB'],
    ['', 'BLOB'],
    ['REAL', 'REAL'],
    ['double precision', 'REAL'],
    ['FLOAT', 'REAL'],
    ['NUMERIC', 'NUMERIC'],
    ['DECIMAL(10,5)', 'NUMERIC'],
    ['BOOLEAN', 'NUMERIC'],
    ['DATETIME', 'NUMERIC'],
    ['STRING', 'NUMERIC'],
  ])('%s → %s', (type, affinity) => {
    expect(affinityOf(type)).toBe(affinity)
  })
})

describe('kindOf', () => {
  it.each([
    ['INTEGER', 'bigint'],
    ['tinyint', 'bigint'],
    ['REAL', 'float'],
    ['TEXT', 'text'],
    ['VARCHAR(20)', 'text'],
    ['BLOB', 'binary'],
    ['', 'unknown'],
    ['BOOLEAN', 'boolean'],
    ['bool', 'boolean'],
    ['NUMERIC', 'decimal'],
    ['DECIMAL(10,2)', 'decimal'],
    ['JSON', 'json'],
    ['jsonb', 'json'],
    ['DATETIME', 'text'],
    ['DATE', 'text'],
    ['TIMESTAMP', 'text'],
    ['UUID', 'text'],
  ])('%s → %s', (type, kind) => {
    expect(kindOf(type)).toBe(kind)
  })
})

describe('encodeValue', () => {
  it('writes each kind in its wire encoding', () => {
    expect(encodeValue(null, 'bigint')).toBeNull()
    expect(encodeValue(-9223372036854775808n, 'bigint')).toBe('-9223372036854775808')
    expect(encodeValue(0.1, 'float')).toBe(0.1)
    expect(encodeValue(Infinity, 'float')).toBe('Infinity')
    expect(encodeValue(-Infinity, 'float')).toBe('-Infinity')
    expect(encodeValue(-0, 'float')).toBe('-0')
    expect(encodeValue(150n, 'decimal')).toBe('150')
    expect(encodeValue(1.5, 'decimal')).toBe('1.5')
    expect(encodeValue(1e21, 'decimal')).toBe('1e+21')
    expect(encodeValue(Infinity, 'decimal')).toBe('Infinity')
    expect(encodeValue(1n, 'boolean')).toBe(true)
    expect(encodeValue(0n, 'boolean')).toBe(false)
    expect(encodeValue('héllo 🎉', 'text')).toBe('héllo 🎉')
    expect(encodeValue(Buffer.from([0, 255]), 'binary')).toBe('AP8=')
    expect(encodeValue(Buffer.alloc(0), 'binary')).toBe('')
    expect(encodeValue('{"a":1}', 'json')).toBe('{"a":1}')
  })

  it('writes numbers of text and json columns (NUMERIC affinity) as their text', () => {
    expect(encodeValue(1767261600000n, 'text')).toBe('1767261600000')
    expect(encodeValue(2.5, 'text')).toBe('2.5')
    expect(encodeValue(1e20, 'text')).toBe('100000000000000000000')
    expect(encodeValue(5n, 'json')).toBe('5')
  })

  it('tags what the kind cannot carry', () => {
    expect(encodeValue('abc', 'bigint')).toEqual({ $sqlite: 'text', value: 'abc' })
    expect(encodeValue(1.5, 'bigint')).toEqual({ $sqlite: 'real', value: '1.5' })
    expect(encodeValue(Buffer.from('hi'), 'text')).toEqual({ $sqlite: 'blob', value: 'aGk=' })
    expect(encodeValue(Infinity, 'text')).toEqual({ $sqlite: 'real', value: 'Infinity' })
    expect(encodeValue(2, 'text')).toEqual({ $sqlite: 'real', value: '2' })
    expect(encodeValue('N/A', 'decimal')).toEqual({ $sqlite: 'text', value: 'N/A' })
    expect(encodeValue(2n, 'boolean')).toEqual({ $sqlite: 'integer', value: '2' })
    expect(encodeValue('x', 'binary')).toEqual({ $sqlite: 'text', value: 'x' })
    expect(encodeValue(7n, 'binary')).toEqual({ $sqlite: 'integer', value: '7' })
  })

  it('writes untyped columns as plain JSON where that is unambiguous', () => {
    expect(encodeValue('text', 'unknown')).toBe('text')
    expect(encodeValue(42n, 'unknown')).toBe(42)
    expect(encodeValue(0.25, 'unknown')).toBe(0.25)
    expect(encodeValue(2, 'unknown')).toEqual({ $sqlite: 'real', value: '2' })
    expect(encodeValue(-0, 'unknown')).toEqual({ $sqlite: 'real', value: '-0' })
    expect(encodeValue(9007199254740993n, 'unknown')).toEqual({ $sqlite: 'integer', value: '9007199254740993' })
    expect(encodeValue(Buffer.from([1]), 'unknown')).toEqual({ $sqlite: 'blob', value: 'AQ==' })
  })
})

describe('decodeValue', () => {
  const refuses = (fn: () => unknown, reason: 'malformed' | 'unrepresentable') => {
    try {
      fn()
    } catch (error) {
      expect(error).toBeInstanceOf(ValueDecodeError)
      expect((error as ValueDecodeError).reason).toBe(reason)
      return
    }
    throw new Error('expected a refusal')
  }

  it('decodes tags exactly, whatever the column', () => {
    expect(decodeValue({ $sqlite: 'integer', value: '-9223372036854775808' }, 'text', 'TEXT')).toBe(-9223372036854775808n)
    expect(decodeValue({ $sqlite: 'real', value: '-0' }, 'unknown', 'BLOB')).toBe(-0)
    expect(decodeValue({ $sqlite: 'text', value: 'abc' }, 'bigint', 'INTEGER')).toBe('abc')
    expect(decodeValue({ $sqlite: 'blob', value: 'AP8=' }, 'text', 'TEXT')).toEqual(Buffer.from([0, 255]))
    refuses(() => decodeValue({ $sqlite: 'integer', value: '1.5' }, 'bigint', 'INTEGER'), 'malformed')
  })

  it('binds numbers of numeric-affinity text columns as numbers, exactly', () => {
    expect(decodeValue('1767261600000', 'text', 'NUMERIC')).toBe(1767261600000n)
    // 17 significant digits: SQLite's own text conversion would keep 15.
    expect(decodeValue('0.12345678901234568', 'text', 'NUMERIC')).toBe(0.12345678901234568)
    expect(decodeValue('2026-01-01', 'text', 'NUMERIC')).toBe('2026-01-01')
    expect(decodeValue('007', 'text', 'TEXT')).toBe('007')
    refuses(() => decodeValue('007', 'text', 'NUMERIC'), 'unrepresentable')
    refuses(() => decodeValue(' 12', 'text', 'INTEGER'), 'unrepresentable')
    refuses(() => decodeValue('1e3', 'json', 'NUMERIC'), 'unrepresentable')
  })

  it('reads integers and decimals by value', () => {
    expect(decodeValue('9223372036854775807', 'bigint', 'INTEGER')).toBe(9223372036854775807n)
    expect(decodeValue(42, 'integer', 'INTEGER')).toBe(42n)
    expect(decodeValue('120.50', 'decimal', 'NUMERIC')).toBe(120.5)
    expect(decodeValue('100', 'decimal', 'NUMERIC')).toBe(100n)
    expect(decodeValue('1e+21', 'decimal', 'NUMERIC')).toBe(1e21)
    expect(decodeValue('Infinity', 'decimal', 'NUMERIC')).toBe(Infinity)
    expect(decodeValue('12345678901234567890.5', 'decimal', 'TEXT')).toBe('12345678901234567890.5')
    refuses(() => decodeValue('12345678901234567890.5', 'decimal', 'NUMERIC'), 'unrepresentable')
    refuses(() => decodeValue('18446744073709551615', 'bigint', 'INTEGER'), 'unrepresentable')
    refuses(() => decodeValue('NaN', 'decimal', 'NUMERIC'), 'unrepresentable')
    refuses(() => decodeValue('12abc', 'bigint', 'INTEGER'), 'malformed')
    refuses(() => decodeValue(2 ** 60, 'integer', 'INTEGER'), 'malformed')
    refuses(() => decodeValue('9007199254740993', 'bigint', 'REAL'), 'unrepresentable')
  })

  it('reads floats, refusing what SQLite would change', () => {
    expect(decodeValue(0.1, 'float', 'REAL')).toBe(0.1)
    expect(decodeValue('-Infinity', 'float', 'REAL')).toBe(-Infinity)
    expect(decodeValue('-0', 'float', 'BLOB')).toBe(-0)
    refuses(() => decodeValue('-0', 'float', 'REAL'), 'unrepresentable')
    refuses(() => decodeValue('NaN', 'float', 'REAL'), 'unrepresentable')
    refuses(() => decodeValue('fast', 'float', 'REAL'), 'malformed')
  })

  it('reads booleans, binary and structured values', () => {
    expect(decodeValue(true, 'boolean', 'NUMERIC')).toBe(1n)
    expect(decodeValue(false, 'unknown', 'BLOB')).toBe(0n)
    expect(decodeValue('t', 'boolean', 'NUMERIC')).toBe(1n)
    expect(decodeValue(true, 'text', 'TEXT')).toBe('true')
    refuses(() => decodeValue('maybe', 'boolean', 'NUMERIC'), 'malformed')
    expect(decodeValue('', 'binary', 'BLOB')).toEqual(Buffer.alloc(0))
    refuses(() => decodeValue('a b', 'binary', 'BLOB'), 'malformed')
    refuses(() => decodeValue(12, 'binary', 'BLOB'), 'malformed')
    expect(decodeValue(['a', 1], 'array', 'TEXT')).toBe('["a",1]')
    expect(decodeValue({ a: { b: null } }, 'unknown', 'BLOB')).toBe('{"a":{"b":null}}')
    expect(decodeValue(undefined, 'text', 'TEXT')).toBeNull()
  })

  it('round-trips every SQLite value through encode and decode, per kind and affinity', () => {
    // Values a column of each declared type can hold: what SQLite's affinity leaves stored.
    const columns: [string, ValueKind, Affinity][] = [
      ['INTEGER', 'bigint', 'INTEGER'],
      ['REAL', 'float', 'REAL'],
      ['NUMERIC', 'decimal', 'NUMERIC'],
      ['TEXT', 'text', 'TEXT'],
      ['BLOB', 'binary', 'BLOB'],
      ['', 'unknown', 'BLOB'],
      ['BOOLEAN', 'boolean', 'NUMERIC'],
      ['DATETIME', 'text', 'NUMERIC'],
      ['JSON', 'json', 'NUMERIC'],
    ]
    const storedValue = (affinity: Affinity): fc.Arbitrary<SqliteValue> => {
      const integers = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
      const reals = fc.double({ noNaN: true })
      const texts = fc.string({ unit: 'grapheme' })
      const blobs = fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b))
      switch (affinity) {
        case 'TEXT':
          return fc.oneof(texts, blobs)
        case 'REAL':
          return fc.oneof(reals.filter((r) => !Object.is(r, -0)), texts.filter((t) => !/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(t)), blobs)
        case 'BLOB':
          return fc.oneof(integers, reals, texts, blobs)
        default:
          return fc.oneof(
            integers,
            reals.filter((r) => !Object.is(r, -0) && !(Number.isInteger(r) && Math.abs(r) < 2 ** 63)),
            texts.filter((t) => !/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(t)),
            blobs,
          )
      }
    }
    for (const [type, kind, affinity] of columns) {
      expect(kindOf(type)).toBe(kind)
      fc.assert(
        fc.property(storedValue(affinity), (value) => {
          const wire = encodeValue(value, kind)
          const back = decodeValue(JSON.parse(JSON.stringify(wire)), kind, affinity)
          if (Buffer.isBuffer(value)) expect(back).toEqual(value)
          else expect(Object.is(back, value) || back === value).toBe(true)
        }),
        { numRuns: 300 },
      )
    }
  })
})

describe('decodeBase64', () => {
  it('accepts standard padded base64 only', () => {
    expect(decodeBase64('aGk=')).toEqual(Buffer.from('hi'))
    expect(() => decodeBase64('aGk')).toThrow(ValueDecodeError)
    expect(() => decodeBase64('aG-k')).toThrow(ValueDecodeError)
  })

  it('judges text that is not canonical by the pattern, as before the round trip', () => {
    // Non-zero bits after the last byte: not what Buffer writes, still standard padded base64.
    expect(decodeBase64('aGl=')).toEqual(Buffer.from('hi'))
    expect(decodeBase64('')).toEqual(Buffer.alloc(0))
    for (const bad of ['aG_k', 'aGk= ', ' aGk=', 'aG\nk', 'aGk=aGk=', 'a===', 'aGk==']) expect(() => decodeBase64(bad)).toThrow(ValueDecodeError)
  })

  it('decodes any bytes written by Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(decodeBase64(Buffer.from(bytes).toString('base64'))).toEqual(Buffer.from(bytes))
      }),
    )
  })
})

describe('isStorageTag', () => {
  it('recognizes exactly the tag shape', () => {
    expect(isStorageTag({ $sqlite: 'real', value: '1' })).toBe(true)
    expect(isStorageTag({ $sqlite: 'date', value: '1' })).toBe(false)
    expect(isStorageTag({ $sqlite: 'real', value: '1', extra: 1 })).toBe(false)
    expect(isStorageTag(['$sqlite'])).toBe(false)
  })
})

describe('sqliteTypeFor', () => {
  it('keeps a SQLite type, and maps other engines’ types onto types SQLite reads the same way', () => {
    expect(sqliteTypeFor({ type: 'DATETIME', kind: 'text' }, 'sqlite')).toBe('DATETIME')
    expect(sqliteTypeFor({ type: 'int4', kind: 'integer' }, 'postgres')).toBe('INTEGER')
    expect(sqliteTypeFor({ type: 'varchar(255)', kind: 'text' }, 'mysql')).toBe('varchar(255)')
    expect(sqliteTypeFor({ type: 'uuid', kind: 'text' }, 'postgres')).toBe('TEXT')
    expect(sqliteTypeFor({ type: 'numeric(10,2)', kind: 'decimal' }, 'postgres')).toBe('numeric(10,2)')
    // Wider than a double's 15 digits (money reaches 92233720368547758.07): kept as text.
    expect(sqliteTypeFor({ type: 'money', kind: 'decimal' }, 'postgres')).toBe('DECIMAL TEXT')
    expect(sqliteTypeFor({ type: 'numeric', kind: 'decimal' }, 'postgres')).toBe('DECIMAL TEXT')
    expect(sqliteTypeFor({ type: 'numeric(20,2)', kind: 'decimal' }, 'postgres')).toBe('DECIMAL TEXT')
    expect(sqliteTypeFor({ type: 'double precision', kind: 'float' }, 'postgres')).toBe('REAL')
    expect(sqliteTypeFor({ type: 'bytea', kind: 'binary' }, 'postgres')).toBe('BLOB')
    expect(sqliteTypeFor({ type: 'timestamp with time zone', kind: 'timestamptz' }, 'postgres')).toBe('TIMESTAMPTZ TEXT')
    expect(sqliteTypeFor({ type: 'integer[]', kind: 'array' }, 'postgres')).toBe('JSON')
    expect(sqliteTypeFor({ type: 'jsonb', kind: 'json' }, 'postgres')).toBe('jsonb')
    expect(sqliteTypeFor({ type: 'enum(\'a\')', kind: 'enum' }, 'mysql')).toBe('TEXT')
    expect(sqliteTypeFor({ type: '', kind: 'unknown' }, 'mongodb')).toBe('')
  })
})
