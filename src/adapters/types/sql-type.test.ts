import { describe, expect, it } from 'vitest'
import { emitIndexDefinition, parseIndexDefinition } from './index-definition.js'
import { normalizeExpression } from './sql-expression.js'
import { SqlSyntaxError } from './sql-lexer.js'
import { normalizeType } from './sql-type.js'

describe('column types: parsed and re-emitted', () => {
  it.each([
    ['postgres', 'character varying(255)', 'character varying(255)'],
    ['postgres', 'timestamp(3) with time zone', 'timestamp(3) with time zone'],
    ['postgres', 'NUMERIC(10, 2)', 'numeric(10,2)'],
    ['postgres', 'integer[]', 'integer[]'],
    ['postgres', 'public."Status"[]', '"public"."Status"[]'],
    ['postgres', '"char"', '"char"'],
    ['postgres', 'interval day to second(3)', 'interval day to second(3)'],
    ['postgres', 'citext', 'citext'],
    ['postgres', 'hstore', '"hstore"'],
    ['mysql', 'int(11) unsigned', 'int(11) unsigned'],
    ['mysql', "enum('a','it''s','b\\\\c')", "enum('a','it''s','b\\\\c')"],
    ['mysql', 'varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin', 'varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin'],
    ['sqlite', 'UNSIGNED BIG INT', 'UNSIGNED BIG INT'],
    ['sqlite', 'NUMERIC(10, -2)', 'NUMERIC(10,-2)'],
  ] as const)('%s %s', (engine, text, expected) => {
    expect(normalizeType(text, engine)).toBe(expected)
  })

  it.each([
    ['postgres', "text, w text DEFAULT pg_read_file('/etc/hostname')"],
    ['postgres', 'text DEFAULT (1)'],
    ['postgres', 'text; DROP TABLE victim'],
    ['postgres', 'text /* x */'],
    ['postgres', "E'x'"],
    ['postgres', 'numeric(1,2,3)'],
    ['mysql', "enum('a'), w int"],
    ['mysql', 'int; DROP TABLE x'],
    ['mysql', 'text COLLATE `x` , y int'],
    ['sqlite', 'TEXT DEFAULT 1'],
    ['sqlite', 'TEXT, w TEXT'],
    ['sqlite', 'TEXT PRIMARY KEY'],
    ['postgres', ''],
    ['postgres', 'x'.repeat(5000)],
  ] as const)('refuses %s %j', (engine, text) => {
    expect(() => normalizeType(text, engine)).toThrow(SqlSyntaxError)
  })
})

describe('expressions: plain ones over the table columns, re-emitted', () => {
  it.each([
    ['postgres', "'abc'::text", [], "('abc')::text"],
    ['postgres', "'active'::\"Status\"", [], '(\'active\')::"Status"'],
    ['postgres', '((price > (0)::numeric))', ['price'], '("price" > (0)::numeric)'],
    ['postgres', "deleted_at IS NULL AND status IN ('a','b')", ['deleted_at', 'status'], '(("deleted_at" IS NULL) AND ("status" IN (\'a\', \'b\')))'],
    ['postgres', "ARRAY['a'::text, 'b'::text]", [], "ARRAY[('a')::text, ('b')::text]"],
    ['mysql', 'current_timestamp()', [], 'current_timestamp()'],
    ['mysql', '`a` + `b`', ['a', 'b'], '(`a` + `b`)'],
    ['mysql', "'it\\'s'", [], "'it''s'"],
    ['sqlite', "datetime('now')", [], "datetime('now')"],
  ] as const)('%s %s', (dialect, text, columns, expected) => {
    expect(normalizeExpression(text, { dialect, columns })).toBe(expected)
  })

  it.each([
    ['postgres', "pg_read_file('/etc/hostname')", []],
    ['postgres', '(SELECT 1)', []],
    ['postgres', 'secret', ['a']],
    ['postgres', 'a; DROP TABLE victim', ['a']],
    ['postgres', 'pg_catalog.now()', []],
    ['mysql', "load_file('/etc/passwd')", []],
    ['mysql', 'sleep(10)', []],
    ['sqlite', "readfile('/etc/passwd')", []],
    ['sqlite', '(SELECT secret FROM victim)', []],
  ] as const)('refuses %s %s', (dialect, text, columns) => {
    expect(() => normalizeExpression(text, { dialect, columns })).toThrow(SqlSyntaxError)
  })

  it('refuses nesting past 64 levels without overflowing the stack', () => {
    expect(() => normalizeExpression('('.repeat(10000) + '1' + ')'.repeat(10000), { dialect: 'postgres', columns: [] })).toThrow(SqlSyntaxError)
  })
})

describe('index definitions: rebuilt from their parts', () => {
  it('keeps method, expression, opclass, order, INCLUDE and a plain predicate; drops WITH', () => {
    const parsed = parseIndexDefinition(
      'CREATE UNIQUE INDEX "idx" ON public."T" USING btree (lower((email)::text), name text_pattern_ops DESC NULLS LAST) INCLUDE (a) WITH (fillfactor=90) WHERE (deleted_at IS NULL)',
      'postgres',
      'T',
      ['email', 'name', 'a', 'deleted_at'],
    )
    expect(emitIndexDefinition(parsed)).toBe(
      'CREATE UNIQUE INDEX "idx" ON "T" USING btree ((lower(("email")::text)), "name" "text_pattern_ops" DESC NULLS LAST) INCLUDE ("a") WHERE ("deleted_at" IS NULL)',
    )
  })

  it.each([
    ['CREATE INDEX i ON public.victim USING btree (secret)'],
    ['CREATE INDEX i ON public.t USING btree (a) WHERE (a > (SELECT 1))'],
    ["CREATE INDEX i ON public.t USING btree (pg_read_file(a))"],
    ['CREATE INDEX i ON public.t USING evil (a)'],
  ])('refuses %s', (definition) => {
    expect(() => parseIndexDefinition(definition, 'postgres', 't', ['a'])).toThrow(SqlSyntaxError)
  })

  it('rebuilds a SQLite index with a collation and a predicate', () => {
    const parsed = parseIndexDefinition('CREATE INDEX IF NOT EXISTS main."i" ON [t] (a COLLATE NOCASE DESC) WHERE a IS NOT NULL', 'sqlite', 't', ['a'])
    expect(emitIndexDefinition(parsed)).toBe('CREATE INDEX "i" ON "t" ("a" COLLATE "nocase" DESC) WHERE ("a" IS NOT NULL)')
  })
})
