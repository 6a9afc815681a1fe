import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { DatabaseError, FormatError } from '../../errors.js'
import {
  encoderFor,
  kindOfType,
  loadDataField,
  parseEnumLabels,
  plainDecimal,
  quoteIdentifier,
  quoteString,
  selectExpression,
  shortestFloat32,
  sqlLiteral,
  typeClassOf,
  typeLength,
  valueWriter,
} from './mysql-values.js'

const col = (type: string, name = 'c') => ({ name, type })

describe('kindOfType', () => {
  it.each([
    ['tinyint(1)', 'integer'],
    ['tinyint(4) unsigned', 'integer'],
    ['int(10) unsigned', 'integer'],
    ['mediumint(9)', 'integer'],
    ['bigint(20) unsigned', 'bigint'],
    ['bigint(20)', 'bigint'],
    ['decimal(65,30)', 'decimal'],
    ['float', 'float'],
    ['double', 'float'],
    ['bit(5)', 'bit'],
    ['varchar(255)', 'text'],
    ['longtext', 'text'],
    ['char(36)', 'text'],
    ['uuid', 'text'],
    ['inet6', 'text'],
    ["set('a','b')", 'text'],
    ["enum('a','b')", 'enum'],
    ['varbinary(16)', 'binary'],
    ['longblob', 'binary'],
    ['point', 'binary'],
    ['date', 'date'],
    ['datetime(6)', 'timestamp'],
    ['timestamp(6)', 'timestamptz'],
    ['time(6)', 'time'],
    ['year(4)', 'integer'],
    ['json', 'json'],
    ['vector(3)', 'unknown'],
  ])('%s is %s', (type, kind) => {
    expect(kindOfType(type)).toBe(kind)
  })
})

describe('type helpers', () => {
  it('parses enum and set labels, with quotes and backslashes', () => {
    expect(parseEnumLabels("enum('a','it''s','b\\\\c','x,y')")).toEqual(['a', "it's", 'b\\c', 'x,y'])
    expect(parseEnumLabels('int')).toEqual([])
  })
  it('reads type lengths', () => {
    expect(typeLength('bit(5)')).toBe(5)
    expect(typeLength('datetime(6)')).toBe(6)
    expect(typeLength('datetime')).toBeUndefined()
  })
  it('quotes identifiers and strings', () => {
    expect(quoteIdentifier('a`b')).toBe('`a``b`')
    expect(quoteString(`it's "x"\\\n\r\t\0\x1a\b`)).toBe(`'it\\'s \\"x\\"\\\\\\n\\r\\t\\0\\Z\\b'`)
  })
  it('widens FLOAT to DOUBLE when selecting', () => {
    expect(selectExpression(col('float', 'f'))).toBe('CAST(`f` AS DOUBLE) AS `f`')
    expect(selectExpression(col('double', 'd'))).toBe('`d` AS `d`')
    expect(typeClassOf('double precision')).toBe('double')
  })
})

describe('shortestFloat32', () => {
  it('gives the shortest decimal of a float4', () => {
    expect(shortestFloat32(1.100000023841858)).toBe(1.1)
    expect(shortestFloat32(123456792)).toBe(123456790)
    expect(shortestFloat32(3.4028234663852886e38)).toBe(3.4028235e38)
    expect(shortestFloat32(1.401298464324817e-45)).toBe(1e-45)
    expect(shortestFloat32(0)).toBe(0)
  })
  it('round-trips every float4', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (f) => {
        const shortest = shortestFloat32(f)
        expect(Math.fround(shortest)).toBe(Math.fround(f))
        if (shortest !== 0) expect(Math.abs(shortest).toExponential().replace(/e.*$|\./g, '').length).toBeLessThanOrEqual(9)
      }),
    )
  })
})

describe('encoders (driver value → wire)', () => {
  it('encodes each class', () => {
    expect(encoderFor(col('int(11)'))(42)).toBe(42)
    expect(encoderFor(col('bigint(20) unsigned'))('18446744073709551615')).toBe('18446744073709551615')
    expect(encoderFor(col('decimal(10,2)'))('1.50')).toBe('1.50')
    expect(encoderFor(col('float'))(1.100000023841858)).toBe(1.1)
    expect(encoderFor(col('double'))(0.30000000000000004)).toBe(0.30000000000000004)
    expect(encoderFor(col('bit(5)'))(Buffer.from([0x0a]))).toBe('01010')
    expect(encoderFor(col('bit(12)'))(Buffer.from([0x0f, 0xff]))).toBe('111111111111')
    expect(encoderFor(col('blob'))(Buffer.alloc(0))).toBe('')
    expect(encoderFor(col('blob'))(Buffer.from([0, 255]))).toBe('AP8=')
    expect(encoderFor(col('datetime(6)'))('2024-01-02 03:04:05.120000')).toBe('2024-01-02T03:04:05.12')
    expect(encoderFor(col('datetime'))('2024-01-02 03:04:05')).toBe('2024-01-02T03:04:05')
    expect(encoderFor(col('datetime(6)'))('2024-01-02 03:04:05.000000')).toBe('2024-01-02T03:04:05')
    expect(encoderFor(col('timestamp(6)'))('2038-01-19 03:14:07.999999')).toBe('2038-01-19T03:14:07.999999Z')
    expect(encoderFor(col('time(6)'))('-838:59:59.000000')).toBe('-838:59:59')
    expect(encoderFor(col('time(6)'))('25:00:00.500000')).toBe('25:00:00.5')
    expect(encoderFor(col('time'))('10:00:00')).toBe('10:00:00')
    expect(encoderFor(col('time(1)'))('100:00:00.0')).toBe('100:00:00')
    expect(encoderFor(col('datetime(6)'))('2024-01-02 03:04:00.000010')).toBe('2024-01-02T03:04:00.00001')
    expect(encoderFor(col('datetime'))('2020-10-10 00:00:00')).toBe('2020-10-10T00:00:00')
    expect(encoderFor(col('timestamp(3)'))('0000-00-00 00:00:00.000')).toBe('0000-00-00T00:00:00Z')
    expect(encoderFor(col('date'))('0000-00-00')).toBe('0000-00-00')
    expect(encoderFor(col('json'))('{"a":  1.0}')).toBe('{"a":  1.0}')
    expect(encoderFor(col('year(4)'))(2155)).toBe(2155)
    expect(encoderFor(col('int(11)'))(null)).toBeNull()
  })
  it('encodes the float values JSON has no number for', () => {
    expect(encoderFor(col('double'))(-0)).toBe('-0')
    expect(encoderFor(col('double'))(Number.NaN)).toBe('NaN')
  })
})

describe('sqlLiteral (wire → SQL literal for the target column)', () => {
  it('writes integers unquoted, so comparisons never go through doubles', () => {
    expect(sqlLiteral(col('bigint(20) unsigned'), '18446744073709551615')).toBe('18446744073709551615')
    expect(sqlLiteral(col('bigint(20)'), '-9223372036854775808')).toBe('-9223372036854775808')
    expect(sqlLiteral(col('int(11)'), 7)).toBe('7')
    expect(sqlLiteral(col('tinyint(1)'), true)).toBe('1')
    expect(sqlLiteral(col('tinyint(1)'), false)).toBe('0')
    expect(sqlLiteral(col('int(11)'), '12.000')).toBe('12')
  })
  it('refuses non-integers in integer columns', () => {
    expect(() => sqlLiteral(col('int(11)'), 1.5)).toThrow(DatabaseError)
    expect(() => sqlLiteral(col('int(11)'), '1.5')).toThrow(/not an integer/)
    expect(() => sqlLiteral(col('int(11)'), '1; DROP TABLE x')).toThrow(DatabaseError)
  })
  it('writes decimals exactly, never letting MySQL round them', () => {
    expect(sqlLiteral(col('decimal(65,30)'), '-12345678901234567890123456789012345.123456789012345678901234567890')).toBe(
      '-12345678901234567890123456789012345.123456789012345678901234567890',
    )
    expect(sqlLiteral(col('decimal(10,2)'), 1.5)).toBe('1.5')
    expect(sqlLiteral(col('decimal(10,7)'), 1e-7)).toBe('0.0000001')
    expect(sqlLiteral(col('decimal(10,2)'), '1.500000')).toBe('1.500000')
    expect(() => sqlLiteral(col('decimal(10,2)'), '1.005')).toThrow(/more decimal places than the column's 2/)
    expect(() => sqlLiteral(col('decimal(10,0)'), 0.5)).toThrow(DatabaseError)
    expect(() => sqlLiteral(col('decimal(10,2)'), 'NaN')).toThrow(/no NaN/)
  })
  it('turns exponent notation into plain decimal text', () => {
    expect(plainDecimal('1.5e-7')).toBe('0.00000015')
    expect(plainDecimal('-12e3')).toBe('-12000')
    expect(plainDecimal('1.25E+2')).toBe('125')
    expect(plainDecimal('.5e1')).toBe('5')
    expect(plainDecimal('0e0')).toBe('0')
    expect(plainDecimal('123.456')).toBe('123.456')
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        expect(Number(plainDecimal(String(x)))).toBe(x === 0 ? 0 : x)
      }),
    )
  })
  it('writes floats as DOUBLE literals', () => {
    expect(sqlLiteral(col('double'), 0.30000000000000004)).toBe('0.30000000000000004e0')
    expect(sqlLiteral(col('double'), 1.7976931348623157e308)).toBe('1.7976931348623157e+308')
    expect(sqlLiteral(col('float'), 1.1)).toBe('1.100000023841858e0')
    expect(sqlLiteral(col('float'), 3.4028235e38)).toBe('3.4028234663852886e+38')
    expect(() => sqlLiteral(col('float'), 1e39)).toThrow(/out of range/)
    expect(sqlLiteral(col('double'), '1.5')).toBe('1.5e0')
    expect(sqlLiteral(col('double'), '-0')).toBe('-0e0')
    expect(() => sqlLiteral(col('double'), 'Infinity')).toThrow(/no NaN or Infinity/)
    expect(() => sqlLiteral(col('double'), 'abc')).toThrow(DatabaseError)
  })
  it('writes bits, binary and JSON', () => {
    expect(sqlLiteral(col('bit(5)'), '01010')).toBe("b'01010'")
    expect(() => sqlLiteral(col('bit(5)'), '012')).toThrow(DatabaseError)
    expect(sqlLiteral(col('blob'), 'AP8=', 'binary')).toBe("X'00ff'")
    expect(sqlLiteral(col('blob'), '', 'binary')).toBe("X''")
    expect(sqlLiteral(col('blob'), 'héllo', 'text')).toBe(`X'${Buffer.from('héllo').toString('hex')}'`)
    expect(sqlLiteral(col('blob'), { type: 'Buffer', data: [1, 2] }, 'unknown')).toBe("X'0102'")
    expect(() => sqlLiteral(col('blob'), 'not base64!', 'binary')).toThrow(FormatError)
    expect(sqlLiteral(col('json'), '{"a":  1.0}', 'json')).toBe(`'{\\"a\\":  1.0}'`)
    expect(sqlLiteral(col('json'), { a: [1, true] }, 'unknown')).toBe(`'{\\"a\\":[1,true]}'`)
    expect(sqlLiteral(col('json'), 'plain text', 'unknown')).toBe(`'\\"plain text\\"'`)
  })
  it('writes text, converting non-strings to their text', () => {
    expect(sqlLiteral(col('varchar(10)'), 'a😀')).toBe("'a😀'")
    expect(sqlLiteral(col('varchar(10)'), 5)).toBe("'5'")
    expect(sqlLiteral(col('longtext'), { a: 1 })).toBe(`'{\\"a\\":1}'`)
    expect(sqlLiteral(col("enum('a','b')"), 'b')).toBe("'b'")
  })
  it('writes dates and times, shifting zoned timestamps into UTC', () => {
    expect(sqlLiteral(col('date'), '2024-02-29')).toBe("'2024-02-29'")
    expect(sqlLiteral(col('date'), '0000-00-00')).toBe("'0000-00-00'")
    expect(sqlLiteral(col('date'), '2024-01-15T00:00:00.000Z')).toBe("'2024-01-15'")
    expect(() => sqlLiteral(col('date'), '2024-01-15T10:30:00.000Z')).toThrow(/no time of day/)
    expect(sqlLiteral(col('datetime(6)'), '2024-01-15T10:30:00.123456')).toBe("'2024-01-15 10:30:00.123456'")
    expect(sqlLiteral(col('datetime(3)'), '2024-01-15T10:30:00.000Z')).toBe("'2024-01-15 10:30:00.000'")
    expect(sqlLiteral(col('datetime'), '2024-01-15T10:30:00.000Z')).toBe("'2024-01-15 10:30:00'")
    expect(sqlLiteral(col('timestamp(6)'), '2024-01-15T10:30:00.5+02:00')).toBe("'2024-01-15 08:30:00.5'")
    expect(sqlLiteral(col('timestamp(6)'), '2024-01-01T01:00:00-05:30')).toBe("'2024-01-01 06:30:00'")
    expect(sqlLiteral(col('timestamp(6)'), '2024-01-01T00:30:00+01')).toBe("'2023-12-31 23:30:00'")
    expect(sqlLiteral(col('datetime(6)'), '0000-00-00T00:00:00Z')).toBe("'0000-00-00 00:00:00'")
    expect(sqlLiteral(col('datetime'), '2024-01-15')).toBe("'2024-01-15 00:00:00'")
    expect(() => sqlLiteral(col('datetime'), '2024-01-15T10:30:00.5Z')).toThrow(/fractional-second digits/)
    expect(() => sqlLiteral(col('datetime(6)'), 'infinity')).toThrow(DatabaseError)
    expect(sqlLiteral(col('time(6)'), '-838:59:59')).toBe("'-838:59:59'")
    expect(sqlLiteral(col('time(6)'), '25:00:00.5')).toBe("'25:00:00.5'")
    expect(() => sqlLiteral(col('time'), '12:00:00+02')).toThrow(DatabaseError)
    expect(() => sqlLiteral(col('time(0)'), '10:00:00.5')).toThrow(/fractional-second digits/)
    expect(sqlLiteral(col('year(4)'), 2155)).toBe('2155')
    expect(sqlLiteral(col('year(4)'), 0)).toBe('0000')
    expect(() => sqlLiteral(col('year(4)'), 69)).toThrow(/1970–2069/)
  })
  it('writes NULL for null and the column default for a missing value', () => {
    expect(sqlLiteral(col('int(11)'), null)).toBe('NULL')
    expect(sqlLiteral(col('int(11)'), undefined)).toBe('NULL')
  })
  it('gives LOAD DATA fields, with bytes as hex and bits as binary digits', () => {
    expect(valueWriter(col('blob'), 'binary')).toMatchObject({ load: 'hex' })
    expect(valueWriter(col('blob'), 'binary').field('AP8=')).toBe('00ff')
    expect(valueWriter(col('bit(5)')).load).toBe('bits')
    expect(valueWriter(col('bit(5)')).field(5)).toBe('101')
    expect(valueWriter(col('int(11)')).field(null)).toBeNull()
    expect(valueWriter(col('datetime(6)')).field('2024-01-15T10:30:00.5Z')).toBe('2024-01-15 10:30:00.5')
    expect(valueWriter(col('varchar(10)')).field('a\tb')).toBe('a\tb')
    expect(loadDataField('a\tb\nc\\d\r\0')).toBe('a\\tb\\nc\\\\d\\r\\0')
    expect(loadDataField('\\N')).toBe('\\\\N')
    expect(loadDataField(null)).toBe('\\N')
    expect(loadDataField('')).toBe('')
  })
  it('names the column in its errors', () => {
    try {
      sqlLiteral(col('double', 'price'), 'NaN')
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(DatabaseError)
      expect((error as DatabaseError).message).toContain('`price` (double)')
      expect((error as DatabaseError).details.column).toBe('price')
    }
  })
})
