import { describe, expect, it } from 'vitest'
import type { ColumnSchema, TableSchema } from '../adapter.js'
import { UsageError } from '../../errors.js'
import {
  checkCrossEngine,
  checkIdentifiers,
  identifierFits,
  mysqlColumnType,
  mysqlKeyLengths,
  mysqlTableTypes,
  portableDefault,
  postgresColumnType,
  sqliteColumnType,
  sqliteEnumCheck,
  uniqueObjectName,
  valueRefusal,
} from './type-mapping.js'

const col = (name: string, type: string, kind: ColumnSchema['kind'], extra: Partial<ColumnSchema> = {}): ColumnSchema => ({ name, type, kind, nullable: true, ...extra })
const table = (name: string, columns: ColumnSchema[], extra: Partial<TableSchema> = {}): TableSchema => ({
  name,
  columns,
  primaryKey: [],
  uniqueConstraints: [],
  indexes: [],
  foreignKeys: [],
  ...extra,
})
const noWarn = (): void => {}

describe('identifiers', () => {
  it('knows each engine’s limit: PostgreSQL 63 bytes, MariaDB 64 characters', () => {
    expect(identifierFits('a'.repeat(63), 'postgres')).toBe(true)
    expect(identifierFits('a'.repeat(64), 'postgres')).toBe(false)
    expect(identifierFits('é'.repeat(32), 'postgres')).toBe(false) // 64 bytes
    expect(identifierFits('é'.repeat(64), 'mysql')).toBe(true)
    expect(identifierFits('a'.repeat(65), 'mysql')).toBe(false)
    expect(identifierFits('a'.repeat(500), 'sqlite')).toBe(true)
  })

  it('refuses table and column names the target cannot take, naming them', () => {
    const long = 'c'.repeat(64)
    expect(() => checkIdentifiers([table('t', [col(long, 'int', 'integer')])], 'mysql', 'postgres')).toThrow(UsageError)
    expect(() => checkIdentifiers([table('t', [col(long, 'int', 'integer')])], 'mysql', 'postgres')).toThrow(new RegExp(`column "t"."${long}"`))
    expect(() => checkIdentifiers([table('t', [col(long, 'int', 'integer')])], 'mysql', 'mysql')).not.toThrow()
  })

  it('makes index and constraint names short enough and unique, the same way every time', () => {
    const used = new Set<string>()
    expect(uniqueObjectName('fk_user', 'mysql', used)).toBe('fk_user')
    const second = uniqueObjectName('fk_user', 'mysql', used)
    expect(second).toMatch(/^fk_user_[0-9a-f]{8}$/)
    expect(uniqueObjectName('FK_USER', 'mysql', new Set(['fk_user']))).toMatch(/^FK_USER_[0-9a-f]{8}$/)
    const long = uniqueObjectName('i'.repeat(100), 'postgres', new Set())
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63)
    expect(uniqueObjectName('i'.repeat(100), 'postgres', new Set())).toBe(long)
  })
})

describe('column types', () => {
  it('gives MySQL unsigned integers the next wider signed PostgreSQL type, and keeps TINYINT(1) an integer', () => {
    expect(postgresColumnType(col('a', 'tinyint(1)', 'integer'), 't', 'mysql')).toBe('smallint')
    expect(postgresColumnType(col('a', 'tinyint(3) unsigned', 'integer'), 't', 'mysql')).toBe('smallint')
    expect(postgresColumnType(col('a', 'smallint(5) unsigned', 'integer'), 't', 'mysql')).toBe('integer')
    expect(postgresColumnType(col('a', 'int(10) unsigned', 'integer'), 't', 'mysql')).toBe('bigint')
    expect(postgresColumnType(col('a', 'bigint(20) unsigned', 'bigint'), 't', 'mysql')).toBe('numeric(20,0)')
    expect(postgresColumnType(col('a', 'uuid', 'text'), 't', 'mysql')).toBe('uuid')
    expect(postgresColumnType(col('a', 'VARCHAR(10)', 'text'), 't', 'sqlite')).toBe('text') // SQLite does not enforce the length
    expect(postgresColumnType(col('a', 'varchar(10)', 'text'), 't', 'mysql')).toBe('varchar(10)')
  })

  it('maps PostgreSQL types onto MariaDB without losing anything', () => {
    const map = (type: string, kind: ColumnSchema['kind'], key?: number): string => mysqlColumnType(col('a', type, kind), 'postgres', key, noWarn)
    expect(map('timestamp(3) with time zone', 'timestamptz')).toBe('DATETIME(3)')
    expect(map('timestamp with time zone', 'timestamptz')).toBe('DATETIME(6)')
    expect(map('numeric(12,2)', 'decimal')).toBe('DECIMAL(12,2)')
    expect(map('numeric(70,2)', 'decimal')).toBe('DECIMAL(65,30)')
    expect(map('character(5)', 'text')).toBe('VARCHAR(5)')
    expect(map('uuid', 'text')).toBe('CHAR(36)')
    expect(map('jsonb', 'json')).toBe('JSON')
    expect(map('integer[]', 'array')).toBe('JSON')
    expect(map('bytea', 'binary')).toBe('LONGBLOB')
    expect(map('bytea', 'binary', 100)).toBe('VARBINARY(100)')
    expect(map('text', 'text', 255)).toBe('VARCHAR(255)')
    expect(map('smallint', 'integer')).toBe('SMALLINT')
    expect(map('integer', 'integer')).toBe('INT')
  })

  it('sizes text keys so that every index fits InnoDB’s 3072 bytes', () => {
    const t = table('t', [col('a', 'text', 'text'), col('b', 'text', 'text'), col('c', 'varchar(20)', 'text'), col('d', 'text', 'text'), col('n', 'integer', 'integer')], {
      primaryKey: ['a', 'b', 'c', 'd', 'n'],
    })
    const lengths = mysqlKeyLengths(t, 'postgres')
    const bytes = [...lengths.values()].reduce((sum, n) => sum + n * 4, 0) + 8
    expect(bytes).toBeLessThanOrEqual(3072)
    expect(lengths.get('c')).toBe(20)
    expect(lengths.has('n')).toBe(false)
    expect(mysqlKeyLengths(table('u', [col('a', 'text', 'text')], { primaryKey: ['a'] }), 'postgres').get('a')).toBe(255)
  })

  it('types a foreign-key column as the column it references (InnoDB refuses SMALLINT → INT)', () => {
    const parent = table('film', [col('id', 'integer', 'integer')], { primaryKey: ['id'] })
    const child = table('film_actor', [col('film_id', 'smallint', 'integer'), col('tag', 'text', 'text')], {
      foreignKeys: [
        { name: 'fk', columns: ['film_id'], referencedTable: 'film', referencedColumns: ['id'] },
        { name: 'fk2', columns: ['tag'], referencedTable: 'tag', referencedColumns: ['code'] },
      ],
    })
    const tag = table('tag', [col('code', 'varchar(40)', 'text')], { primaryKey: ['code'] })
    const types = mysqlTableTypes(child, 'postgres', [parent, child, tag], noWarn)
    expect(types.get('film_id')).toBe('INT')
    expect(types.get('tag')).toBe('VARCHAR(40)')
  })

  it('keeps SQLite values by affinity: wide decimals and times as text, enums checked', () => {
    expect(sqliteColumnType(col('a', 'numeric(10,2)', 'decimal'), 'postgres')).toBe('NUMERIC(10,2)')
    expect(sqliteColumnType(col('a', 'numeric', 'decimal'), 'postgres')).toBe('DECIMAL TEXT')
    expect(sqliteColumnType(col('a', 'decimal(65,30)', 'decimal'), 'mysql')).toBe('DECIMAL TEXT')
    expect(sqliteColumnType(col('a', 'datetime(6)', 'timestamp'), 'mysql')).toBe('DATETIME TEXT')
    expect(sqliteColumnType(col('a', 'bigint unsigned', 'bigint'), 'mysql')).toBe('INTEGER')
    expect(sqliteEnumCheck(col('e', "enum('a','it''s')", 'enum', { enumValues: ['a', "it's"] }), (n) => `"${n}"`)).toBe(`CHECK ("e" IN ('a', 'it''s'))`)
  })
})

describe('defaults', () => {
  it('rewrites the current time and literals, and leaves other expressions out', () => {
    expect(portableDefault('current_timestamp()', 'postgres')).toBe('CURRENT_TIMESTAMP')
    expect(portableDefault('current_timestamp(6)', 'postgres')).toBe('CURRENT_TIMESTAMP(6)')
    expect(portableDefault("'draft'", 'postgres')).toBe("'draft'")
    expect(portableDefault('1', 'postgres', 'boolean')).toBe('true')
    expect(portableDefault("'0'", 'postgres', 'boolean')).toBe('false')
    expect(portableDefault('uuid()', 'postgres')).toBeUndefined()
  })
})

describe('values a target cannot hold', () => {
  const target = (kind: ColumnSchema['kind'], type: string) => ({ name: 'c', kind, type })
  it('refuses what would be rounded, shifted or lost, and nothing else', () => {
    expect(valueRefusal('NaN', col('n', 'numeric', 'decimal'), target('decimal', 'decimal(65,30)'), 'mysql')).toMatch(/NaN/)
    expect(valueRefusal('1.005', col('n', 'numeric', 'decimal'), target('decimal', 'decimal(10,2)'), 'mysql')).toMatch(/rounded/)
    expect(valueRefusal('12345678901.5', col('n', 'numeric', 'decimal'), target('decimal', 'decimal(10,2)'), 'mysql')).toMatch(/before the point/)
    expect(valueRefusal('1.50', col('n', 'numeric', 'decimal'), target('decimal', 'decimal(10,2)'), 'mysql')).toBeUndefined()
    expect(valueRefusal('infinity', col('t', 'timestamp', 'timestamp'), target('timestamp', 'datetime(6)'), 'mysql')).toMatch(/infinity/)
    expect(valueRefusal('0044-03-15 BC', col('d', 'date', 'date'), target('date', 'date'), 'mysql')).toMatch(/before the year 1/)
    expect(valueRefusal('2024-01-15T10:30:00.1234567Z', col('t', 'timestamptz', 'timestamptz'), target('timestamp', 'datetime(6)'), 'mysql')).toMatch(/fractional/)
    expect(valueRefusal('2024-01-15T10:30:00.123456Z', col('t', 'timestamptz', 'timestamptz'), target('timestamp', 'datetime(6)'), 'mysql')).toBeUndefined()
    expect(valueRefusal('10:30:00+02', col('t', 'timetz', 'time'), target('time', 'time(6)'), 'mysql')).toMatch(/offset/)
    expect(valueRefusal('-838:59:59', col('t', 'time', 'time'), target('time', 'time(6) without time zone'), 'postgres')).toMatch(/00:00:00 to 24:00:00/)
    expect(valueRefusal('24:00:00', col('t', 'time', 'time'), target('time', 'time(6) without time zone'), 'postgres')).toBeUndefined()
    expect(valueRefusal('0000-00-00', col('d', 'date', 'date'), target('date', 'date'), 'postgres')).toMatch(/zero date/)
    expect(valueRefusal('NaN', col('f', 'double', 'float'), target('float', 'REAL'), 'sqlite')).toMatch(/NULL/)
    expect(valueRefusal('18446744073709551615', col('b', 'bigint unsigned', 'bigint'), target('bigint', 'INTEGER'), 'sqlite')).toMatch(/64-bit/)
    expect(valueRefusal({ $sqlite: 'text', value: 'abc' }, col('i', 'INTEGER', 'bigint'), target('bigint', 'bigint'), 'postgres')).toMatch(/SQLite stored a text value/)
    expect(valueRefusal(null, col('i', 'INTEGER', 'bigint'), target('bigint', 'bigint'), 'postgres')).toBeUndefined()
    expect(valueRefusal('x'.repeat(256), col('k', 'text', 'text'), target('text', 'varchar(255)'), 'mysql')).toMatch(/255 characters/)
    expect(valueRefusal('😀'.repeat(255), col('k', 'text', 'text'), target('text', 'varchar(255)'), 'mysql')).toBeUndefined()
    expect(valueRefusal('x'.repeat(11), col('k', 'TEXT', 'text'), target('text', 'character varying(10)'), 'postgres')).toMatch(/10 characters/)
    expect(valueRefusal(Buffer.alloc(300).toString('base64'), col('b', 'bytea', 'binary'), target('binary', 'varbinary(255)'), 'mysql')).toMatch(/255 bytes/)
  })
})

describe('directions', () => {
  it('refuses a MongoDB backup of whole documents into SQL, saying so, and lets every SQL pair through', () => {
    const mongo = { engine: 'mongodb' as const, tables: [table('users', [col('_id', '', 'document', { nullable: false })], { primaryKey: ['_id'] })] }
    for (const to of ['postgres', 'mysql', 'sqlite'] as const) {
      expect(() => checkCrossEngine(mongo, to)).toThrow(/MongoDB backup into .* is not offered.*"users"/)
    }
    expect(() => checkCrossEngine(mongo, 'mongodb')).not.toThrow()
    const sql = { engine: 'postgres' as const, tables: [table('t', [col('id', 'integer', 'integer')])] }
    for (const to of ['mysql', 'sqlite'] as const) expect(() => checkCrossEngine(sql, to)).not.toThrow()
  })
})
