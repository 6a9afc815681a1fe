import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FormatError } from '../../errors.js'
import { parseKey } from './postgres-connection.js'
import { createIndexSql, createTableDdl, columnType, escapeCopyText, foreignKeySql, quoteIdent, quoteLiteral, unescapeCopyText } from './postgres-sql.js'
import { arrayLiteral, kindOfType, parsePgArray, textDecoder, wireToPgText, type PgTypeFacts } from './postgres-values.js'

const base = (name: string, extra: Partial<PgTypeFacts> = {}): PgTypeFacts => ({ name, typtype: 'b', category: 'X', delimiter: ',', ...extra })
const arrayOf = (element: PgTypeFacts): PgTypeFacts => ({ name: `_${element.name}`, typtype: 'b', category: 'A', delimiter: element.delimiter, element })

describe('kindOfType', () => {
  it('maps PostgreSQL types to value kinds', () => {
    expect(kindOfType(base('int4'))).toEqual({ kind: 'integer' })
    expect(kindOfType(base('int8'))).toEqual({ kind: 'bigint' })
    expect(kindOfType(base('numeric'))).toEqual({ kind: 'decimal' })
    expect(kindOfType(base('money'))).toEqual({ kind: 'decimal' })
    expect(kindOfType(base('float4'))).toEqual({ kind: 'float' })
    expect(kindOfType(base('timetz'))).toEqual({ kind: 'time' })
    expect(kindOfType(base('jsonb'))).toEqual({ kind: 'json' })
    expect(kindOfType(base('varbit'))).toEqual({ kind: 'bit' })
    expect(kindOfType(base('uuid'))).toEqual({ kind: 'text' })
    expect(kindOfType(base('citext'))).toEqual({ kind: 'text' })
    expect(kindOfType(base('mood', { typtype: 'e' }))).toEqual({ kind: 'enum' })
    expect(kindOfType(base('int4range', { typtype: 'r' }))).toEqual({ kind: 'text' })
    expect(kindOfType(base('geometry'))).toEqual({ kind: 'unknown' })
    expect(kindOfType(arrayOf(base('int8')))).toEqual({ kind: 'array', elementKind: 'bigint' })
    expect(kindOfType(arrayOf(base('mood', { typtype: 'e' })))).toEqual({ kind: 'array', elementKind: 'enum' })
    expect(kindOfType(arrayOf(base('geometry')))).toEqual({ kind: 'array', elementKind: 'unknown' })
  })
})

describe('textDecoder (PostgreSQL text output → wire)', () => {
  it('decodes numbers exactly', () => {
    expect(textDecoder('integer')('-2147483648')).toBe(-2147483648)
    expect(textDecoder('bigint')('-9223372036854775808')).toBe('-9223372036854775808')
    expect(textDecoder('decimal')('1.50')).toBe('1.50')
    const float = textDecoder('float')
    expect(float('1.1')).toBe(1.1)
    expect(float('5e-324')).toBe(5e-324)
    expect(float('1.7976931348623157e+308')).toBe(1.7976931348623157e308)
    expect(float('-0')).toBe('-0')
    expect(float('NaN')).toBe('NaN')
    expect(float('-Infinity')).toBe('-Infinity')
  })

  it('decodes booleans, binary and time stamps', () => {
    expect(textDecoder('boolean')('t')).toBe(true)
    expect(textDecoder('boolean')('f')).toBe(false)
    expect(textDecoder('binary')('\\x')).toBe('')
    expect(textDecoder('binary')('\\x00ff10')).toBe(Buffer.from([0, 255, 16]).toString('base64'))
    expect(textDecoder('timestamp')('2024-01-15 10:30:00.5')).toBe('2024-01-15T10:30:00.5')
    expect(textDecoder('timestamp')('0044-03-15 10:00:00 BC')).toBe('0044-03-15T10:00:00 BC')
    expect(textDecoder('timestamp')('infinity')).toBe('infinity')
    expect(textDecoder('timestamptz')('2024-01-15 08:30:00.123456+00')).toBe('2024-01-15T08:30:00.123456Z')
    expect(textDecoder('timestamptz')('0044-03-15 10:00:00+00 BC')).toBe('0044-03-15T10:00:00Z BC')
    expect(textDecoder('timestamptz')('-infinity')).toBe('-infinity')
    expect(textDecoder('date')('0044-03-15 BC')).toBe('0044-03-15 BC')
  })

  it('decodes arrays by element kind, nested and with NULLs', () => {
    expect(textDecoder('array', 'integer')('{{1,2},{3,NULL}}')).toEqual([
      [1, 2],
      [3, null],
    ])
    expect(textDecoder('array', 'text')('{"a\\"b",NULL,"c\\\\d","NULL","","x,y"}')).toEqual(['a"b', null, 'c\\d', 'NULL', '', 'x,y'])
    expect(textDecoder('array', 'float')('{NaN,-0,1.5}')).toEqual(['NaN', '-0', 1.5])
    expect(textDecoder('array', 'binary')('{"\\\\x00ff",NULL}')).toEqual(['AP8=', null])
    expect(textDecoder('array', 'timestamptz')('{"2024-01-15 08:30:00+00",infinity}')).toEqual(['2024-01-15T08:30:00Z', 'infinity'])
    expect(textDecoder('array', 'text', ';')('{(1,1),(0,0);(2,2),(1,1)}')).toEqual(['(1,1),(0,0)', '(2,2),(1,1)'])
  })
})

describe('parsePgArray', () => {
  it('accepts empty arrays and lower-bound decorations', () => {
    expect(parsePgArray('{}')).toEqual([])
    expect(parsePgArray('[0:1]={7,8}')).toEqual(['7', '8'])
    expect(parsePgArray('[1:1][1:2]={{a,b}}')).toEqual([['a', 'b']])
  })

  it('rejects malformed text with a FormatError', () => {
    for (const text of ['', '{', '{1,2', '{"a}', '{1}x', '1,2']) expect(() => parsePgArray(text), text).toThrow(FormatError)
  })

  it('reads back every literal arrayLiteral writes (property)', () => {
    const element = fc.option(fc.string({ unit: 'binary' }), { nil: null })
    fc.assert(
      fc.property(fc.array(element), fc.array(fc.array(element, { minLength: 2, maxLength: 2 }), { minLength: 1 }), (flat, nested) => {
        const encode = (value: unknown): string | null => (value === null ? null : (value as string))
        expect(parsePgArray(arrayLiteral(flat, encode))).toEqual(flat)
        expect(parsePgArray(arrayLiteral(nested, encode))).toEqual(nested)
      }),
    )
  })
})

describe('wireToPgText (wire → PostgreSQL input text, by target kind)', () => {
  it('writes typed wire values back as PostgreSQL reads them', () => {
    expect(wireToPgText(null, 'text', 'text')).toBeNull()
    expect(wireToPgText(undefined, 'text', 'text')).toBeNull()
    expect(wireToPgText(42, 'integer', 'integer')).toBe('42')
    expect(wireToPgText('-9223372036854775808', 'bigint', 'bigint')).toBe('-9223372036854775808')
    expect(wireToPgText(5e-324, 'float', 'float')).toBe('5e-324')
    expect(wireToPgText(1e308, 'float', 'float')).toBe('1e+308')
    expect(wireToPgText('-0', 'float', 'float')).toBe('-0')
    expect(wireToPgText(true, 'boolean', 'boolean')).toBe('t')
    expect(wireToPgText('', 'binary', 'binary')).toBe('\\x')
    expect(wireToPgText('AP8=', 'binary', 'binary')).toBe('\\x00ff')
    expect(wireToPgText('{"a":  1}', 'json', 'json')).toBe('{"a":  1}')
    expect(wireToPgText('"str"', 'json', 'json')).toBe('"str"')
    expect(wireToPgText('2024-01-15T10:30:00Z BC', 'timestamptz', 'timestamptz')).toBe('2024-01-15T10:30:00Z BC')
    expect(wireToPgText([[1, null], [3, 4]], 'array', 'array', 'integer', 'integer')).toBe('{{"1",NULL},{"3","4"}}')
    expect(wireToPgText(['a"b', 'c\\d', null], 'array', 'array', 'text', 'text')).toBe('{"a\\"b","c\\\\d",NULL}')
    expect(wireToPgText(['AP8='], 'array', 'array', 'binary', 'binary')).toBe('{"\\\\x00ff"}')
  })

  it('converts untyped (Smart Backup) values to the target type', () => {
    expect(wireToPgText(true, 'unknown', 'boolean')).toBe('t')
    expect(wireToPgText(0, 'unknown', 'boolean')).toBe('f')
    expect(wireToPgText('true', 'unknown', 'boolean')).toBe('true')
    expect(wireToPgText(12.5, 'unknown', 'decimal')).toBe('12.5')
    expect(wireToPgText(true, 'unknown', 'integer')).toBe('1')
    expect(wireToPgText({ $numberLong: '9007199254740993' }, 'document', 'bigint')).toBe('9007199254740993')
    expect(wireToPgText({ theme: 'dark' }, 'unknown', 'json')).toBe('{"theme":"dark"}')
    expect(wireToPgText('plain', 'unknown', 'json')).toBe('"plain"')
    expect(wireToPgText('{"a":1}', 'text', 'json')).toBe('{"a":1}')
    expect(wireToPgText(['x'], 'unknown', 'json')).toBe('["x"]')
    expect(wireToPgText({ a: 1 }, 'unknown', 'text')).toBe('{"a":1}')
    expect(wireToPgText(1705314600000, 'unknown', 'timestamptz')).toBe('2024-01-15T10:30:00.000Z')
    expect(wireToPgText({ $date: '2024-01-15T10:30:00Z' }, 'document', 'timestamptz')).toBe('2024-01-15T10:30:00Z')
    expect(wireToPgText({ $date: { $numberLong: '0' } }, 'document', 'timestamp')).toBe('1970-01-01T00:00:00.000Z')
    expect(wireToPgText({ type: 'Buffer', data: [1, 2, 255] }, 'unknown', 'binary')).toBe('\\x0102ff')
    expect(wireToPgText({ $binary: { base64: 'AQI=', subType: '00' } }, 'document', 'binary')).toBe('\\x0102')
    expect(wireToPgText('{1,2}', 'unknown', 'array', 'integer')).toBe('{1,2}')
  })

  it('refuses values that cannot be what the target column holds', () => {
    expect(() => wireToPgText('not base64!', 'binary', 'binary')).toThrow(FormatError)
    expect(() => wireToPgText('AP8', 'binary', 'binary')).toThrow(FormatError)
    expect(() => wireToPgText({ a: 1 }, 'unknown', 'integer')).toThrow(FormatError)
    expect(() => wireToPgText({ a: 1 }, 'unknown', 'array', 'integer')).toThrow(FormatError)
    expect(() => wireToPgText(5, 'unknown', 'binary')).toThrow(FormatError)
  })

  it('round-trips every finite double through its text (property)', () => {
    const decode = textDecoder('float')
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        if (Object.is(value, -0)) return
        expect(decode(wireToPgText(value, 'float', 'float')!)).toBe(value)
      }),
    )
  })
})

describe('COPY text escaping', () => {
  it('escapes exactly backslash, newline, carriage return and tab', () => {
    expect(escapeCopyText('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e')
    expect(escapeCopyText('Zoë 🎉 "q"')).toBe('Zoë 🎉 "q"')
    expect(unescapeCopyText('\\\\N')).toBe('\\N')
    expect(unescapeCopyText('\\b\\f\\v\\x')).toBe('\b\f\vx')
  })

  it('unescapes what it escapes (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const escaped = escapeCopyText(text)
        expect(escaped).not.toMatch(/[\n\r\t]/)
        expect(unescapeCopyText(escaped)).toBe(text)
      }),
    )
  })
})

describe('SQL text', () => {
  it('quotes identifiers and literals', () => {
    expect(quoteIdent('Audit Log')).toBe('"Audit Log"')
    expect(quoteIdent('a"b')).toBe('"a""b"')
    expect(quoteLiteral("it's")).toBe("'it''s'")
    expect(quoteLiteral('back\\slash')).toBe("'back\\slash'")
  })

  it('parses the key out of a violation detail', () => {
    expect(parseKey('Key (id)=(5) already exists.')).toEqual({ id: '5' })
    expect(parseKey('Key (room_id, "Guest")=(1, ann) is not present in table "room".')).toEqual({ room_id: '1', Guest: 'ann' })
    expect(parseKey('Key (a, b)=(x, y, z) already exists.')).toEqual({ 'a, b': 'x, y, z' })
    expect(parseKey('Failing row contains (1, null).')).toBeUndefined()
    expect(parseKey(undefined)).toBeUndefined()
  })

  it('chooses PostgreSQL types for other engines by kind', () => {
    const column = (kind: never, type = '') => ({ name: 'c', type, kind, nullable: true })
    expect(columnType(column('integer' as never, 'int(10) unsigned'), 't', 'mysql')).toBe('bigint')
    expect(columnType(column('integer' as never, 'smallint unsigned'), 't', 'mysql')).toBe('integer')
    expect(columnType(column('bigint' as never, 'bigint(20) unsigned'), 't', 'mysql')).toBe('numeric(20,0)')
    expect(columnType(column('decimal' as never, 'decimal(10,2)'), 't', 'mysql')).toBe('numeric(10,2)')
    expect(columnType(column('float' as never, 'float'), 't', 'mysql')).toBe('real')
    expect(columnType(column('float' as never, 'REAL'), 't', 'sqlite')).toBe('double precision')
    expect(columnType(column('text' as never, 'varchar(255)'), 't', 'mysql')).toBe('varchar(255)')
    expect(columnType(column('text' as never, 'TEXT'), 't', 'sqlite')).toBe('text')
    expect(columnType(column('document' as never), 't', 'mongodb')).toBe('jsonb')
    expect(columnType(column('enum' as never, "enum('a','b')"), 'order', 'mysql')).toBe('"order_c"')
    expect(columnType(column('bit' as never, 'bit(8)'), 't', 'mysql')).toBe('bit(8)')
    expect(columnType({ name: 'c', type: '', kind: 'array', elementKind: 'bigint', nullable: true }, 't', 'mongodb')).toBe('bigint[]')
    expect(columnType(column('unknown' as never), 't', 'postgres')).toBe('text')
    expect(columnType(column('integer' as never, 'numeric(10,2)[]'), 't', 'postgres')).toBe('numeric(10,2)[]')
  })

  it('writes CREATE TABLE from another engine with identity, literal defaults and unnamed constraints', () => {
    const ddl = createTableDdl(
      {
        name: 'User',
        columns: [
          { name: 'id', type: 'int(11)', kind: 'integer', nullable: false, autoIncrement: true },
          { name: 'email', type: 'varchar(255)', kind: 'text', nullable: false, default: "''" },
          { name: 'created', type: 'datetime(6)', kind: 'timestamp', nullable: true, default: 'current_timestamp(6)' },
          { name: 'score', type: 'int(11)', kind: 'integer', nullable: true, default: 'uuid()' },
          { name: 'total', type: 'int(11)', kind: 'integer', nullable: true, generated: '`a` + 1' },
        ],
        primaryKey: ['id'],
        uniqueConstraints: [{ name: 'email', columns: ['email'] }],
        indexes: [{ name: 'idx_created', columns: ['created'], unique: false }],
        foreignKeys: [],
      },
      'mysql',
      'app',
      new Set(),
    )
    expect(ddl.statements).toEqual([
      'CREATE TABLE "app"."User" (\n' +
        '  "id" integer GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n' +
        `  "email" varchar(255) DEFAULT '' NOT NULL,\n` +
        '  "created" timestamp(6) without time zone DEFAULT CURRENT_TIMESTAMP(6),\n' +
        '  "score" integer,\n' +
        '  "total" integer,\n' +
        '  PRIMARY KEY ("id"),\n' +
        '  UNIQUE ("email")\n' +
        ')',
      'CREATE INDEX ON "app"."User" ("created")',
    ])
    expect(ddl.warnings).toHaveLength(2)
    expect(ddl.warnings.join('\n')).toContain('uuid()')
  })

  it('keeps PostgreSQL names unless taken, turns serial back into serial, and retargets index definitions', () => {
    const taken = new Set(['t_code_key'])
    const ddl = createTableDdl(
      {
        name: 't',
        columns: [
          { name: 'id', type: 'bigint', kind: 'bigint', nullable: false, default: "nextval('t_id_seq'::regclass)", autoIncrement: true },
          { name: 'code', type: 'text', kind: 'text', nullable: true },
        ],
        primaryKey: ['id'],
        uniqueConstraints: [{ name: 't_code_key', columns: ['code'] }],
        indexes: [{ name: 'Lower Code', columns: ['lower(code)'], unique: true, definition: 'CREATE UNIQUE INDEX "Lower Code" ON public.t USING btree (lower(code)) WHERE (code IS NOT NULL)' }],
        foreignKeys: [],
        options: { checks: [{ name: 'code_len', definition: 'CHECK ((length(code) < 10)) NOT VALID' }] },
      },
      'postgres',
      'copy',
      taken,
    )
    expect(ddl.statements).toEqual([
      'CREATE TABLE "copy"."t" (\n  "id" bigserial NOT NULL,\n  "code" text,\n  PRIMARY KEY ("id"),\n  UNIQUE ("code")\n)',
      'ALTER TABLE "copy"."t" ADD CONSTRAINT "code_len" CHECK ((length(code) < 10)) NOT VALID',
      'CREATE UNIQUE INDEX "Lower Code" ON "copy"."t" USING btree (lower(code)) WHERE (code IS NOT NULL)',
    ])
    expect(taken.has('Lower Code')).toBe(true)
  })

  it('creates untyped (Smart Backup) columns as text, and says so', () => {
    const ddl = createTableDdl(
      {
        name: 'User',
        columns: [
          { name: 'id', type: '', kind: 'unknown', nullable: true },
          { name: 'email', type: '', kind: 'unknown', nullable: true },
        ],
        primaryKey: ['id'],
        uniqueConstraints: [],
        indexes: [],
        foreignKeys: [],
      },
      'postgres',
      'public',
      new Set(),
    )
    expect(ddl.statements).toEqual(['CREATE TABLE "public"."User" (\n  "id" text,\n  "email" text,\n  PRIMARY KEY ("id")\n)'])
    expect(ddl.warnings).toEqual([expect.stringContaining('"id", "email" as text')])
  })

  it('writes index and foreign key statements', () => {
    expect(createIndexSql({ name: 'i', columns: ['a', 'b c'], unique: false }, 'sqlite', 'public', 'T', false)).toBe('CREATE INDEX ON "public"."T" ("a", "b c")')
    expect(
      createIndexSql({ name: 'x', columns: ['a'], unique: false, definition: 'CREATE INDEX x ON ONLY "Weird ""S"""."T T" USING gin (a)' }, 'postgres', 's', 'T T', true),
    ).toBe('CREATE INDEX "x" ON "s"."T T" USING gin (a)')
    expect(
      foreignKeySql('public', 'child', {
        name: 'fk',
        columns: ['a', 'b'],
        referencedTable: 'Parent',
        referencedColumns: ['x', 'y'],
        onDelete: 'CASCADE',
        onUpdate: 'NO ACTION',
        deferrable: true,
      }),
    ).toBe('ALTER TABLE "public"."child" ADD CONSTRAINT "fk" FOREIGN KEY ("a", "b") REFERENCES "public"."Parent" ("x", "y") ON DELETE CASCADE DEFERRABLE')
  })
})
