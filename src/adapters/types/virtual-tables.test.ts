import { describe, expect, it } from 'vitest'
import { checkVirtualTable, createVirtualTableSql, parseVirtualTable, VirtualTableError } from './virtual-tables.js'

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`

describe('virtual table definitions (issue #14)', () => {
  it('reads FTS5 and R*Tree definitions into fields and builds the same table from them', () => {
    const fts = parseVirtualTable(`CREATE VIRTUAL TABLE "my memo" USING fts5("a b", body UNINDEXED, tokenize = "unicode61 remove_diacritics 2", prefix='2 3', detail=column)`)
    expect(fts).toEqual({
      module: 'fts5',
      columns: [{ name: 'a b', unindexed: false }, { name: 'body', unindexed: true }],
      options: { tokenize: 'unicode61 remove_diacritics 2', prefix: '2 3', detail: 'column' },
    })
    expect(createVirtualTableSql('my memo', fts, quote)).toBe(
      `CREATE VIRTUAL TABLE main."my memo" USING fts5("a b", "body" UNINDEXED, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3', detail = 'column')`,
    )
    expect(parseVirtualTable('CREATE VIRTUAL TABLE t USING rtree_i32(id, x0, x1, +[label], +"n")')).toEqual({ module: 'rtree_i32', columns: ['id', 'x0', 'x1'], auxColumns: ['label', 'n'] })
  })

  it('refuses what it cannot rebuild from checked fields', () => {
    expect(() => parseVirtualTable('CREATE VIRTUAL TABLE t USING fts4(a)')).toThrow(/module fts4 is not one/)
    expect(() => parseVirtualTable(`CREATE VIRTUAL TABLE t USING fts5(a, tokenize = "unicode61 tokenchars '-_'")`)).toThrow(VirtualTableError)
    expect(() => parseVirtualTable(`CREATE VIRTUAL TABLE t USING fts5(a, content='doc')`)).toThrow(/content/)
    expect(() => checkVirtualTable({ module: 'fts5', columns: [{ name: 'a' }], options: { prefix: "2'); DROP TABLE x; --" } })).toThrow(/prefix/)
    expect(() => checkVirtualTable({ module: 'rtree', columns: ['id', 'a'], auxColumns: [] })).toThrow(/pairs of coordinates/)
    expect(() => checkVirtualTable({ module: 'rtree', columns: ['id', 'a', 'b\u0000'], auxColumns: [] })).toThrow(/not a plain name/)
    expect(() => checkVirtualTable({ module: 'csv', columns: [] })).toThrow(/module "csv"/)
  })
})
