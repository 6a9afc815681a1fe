import { describe, expect, it } from 'vitest'
import { asciiLower, generatedColumnExpressions, isPlainCreate } from './sqlite-introspector.js'

describe('generatedColumnExpressions', () => {
  it('reads each generated column’s expression from CREATE TABLE text', () => {
    const sql = `CREATE TABLE "t" (
      id INTEGER PRIMARY KEY, -- a comment with AS (nothing)
      "a, b" TEXT DEFAULT ('x,y'),
      [full name] TEXT GENERATED ALWAYS AS (first || ' ' || last) VIRTUAL,
      \`size\` INTEGER AS (length(body) * (2 + 1)) STORED,
      /* AS (nope) */ plain TEXT CHECK (plain <> 'AS (x)'),
      "q""uote" AS ('a)b'),
      CONSTRAINT c CHECK (id > 0)
    )`
    expect([...generatedColumnExpressions(sql)]).toEqual([
      ['full name', "first || ' ' || last"],
      ['size', 'length(body) * (2 + 1)'],
      ['q"uote', "'a)b'"],
    ])
  })

  it('returns nothing for text without a column list', () => {
    expect(generatedColumnExpressions('CREATE TABLE t AS SELECT 1').size).toBe(0)
  })
})

describe('isPlainCreate', () => {
  it('accepts a plain statement for the named object', () => {
    expect(isPlainCreate('CREATE TABLE "Audit Log" (a)', 'table', 'Audit Log')).toBe(true)
    expect(isPlainCreate('create table if not exists main.user (a)', 'table', 'User')).toBe(true)
    expect(isPlainCreate('CREATE UNIQUE INDEX ix ON "User" (email)', 'index', 'ix', 'User')).toBe(true)
    expect(isPlainCreate('CREATE TRIGGER tr AFTER UPDATE ON t BEGIN SELECT 1; END', 'trigger', 'tr', 't')).toBe(true)
  })

  it('refuses other names, CREATE TABLE AS, TEMP objects and other schemas', () => {
    expect(isPlainCreate('CREATE TABLE other (a)', 'table', 'User')).toBe(false)
    expect(isPlainCreate('CREATE TABLE "User" AS SELECT * FROM secrets', 'table', 'User')).toBe(false)
    expect(isPlainCreate('CREATE TEMP TABLE "User" (a)', 'table', 'User')).toBe(false)
    expect(isPlainCreate('CREATE TABLE aux.User (a)', 'table', 'User')).toBe(false)
    expect(isPlainCreate('CREATE INDEX ix ON other (a)', 'index', 'ix', 'User')).toBe(false)
    expect(isPlainCreate('DROP TABLE "User"', 'table', 'User')).toBe(false)
  })
})

describe('asciiLower', () => {
  it('folds ASCII letters only, as SQLite does for names', () => {
    expect(asciiLower('ÜserTABLE')).toBe('Üsertable')
  })
})
