/**
 * The SQLite factory for the adapter conformance suite (adapter-suite.ts): files in a fresh
 * temporary directory, tables made with SQLite's own DDL, and the SQLite type matrix — every
 * affinity with its extremes, and the storage-class tags of values a column's kind cannot carry.
 *
 * SQLite INTEGER columns are 64-bit and so `bigint` (decimal strings, docs/adapters-sqlite.md):
 * `expectedRow` tells the suite that its portable integer columns come back as strings.
 */
import Database from 'better-sqlite3'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { sqliteAdapter } from '../../../src/adapters/sqlite/sqlite-adapter.js'
import { makeSqlitePath } from '../../helpers/databases.js'
import type { AdapterTestDatabase, AdapterTestFactory, AdapterTypeMatrix, PlainValue, PortableTable } from './adapter-suite.js'

const q = (name: string): string => `"${name.replaceAll('"', '""')}"`

function withFile<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file)
  try {
    return fn(db)
  } finally {
    db.close()
  }
}

function insert(db: Database.Database, table: string, row: Record<string, PlainValue>): bigint | number {
  const columns = Object.keys(row)
  const sql = `INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`
  return db.prepare(sql).run(...columns.map((c) => row[c])).lastInsertRowid
}

function createTableSql(table: PortableTable): string[] {
  const rowidKey = table.primaryKey?.length === 1 && table.columns.find((c) => c.name === table.primaryKey?.[0])?.autoIncrement
  const columns = table.columns.map((c) => {
    let definition = `${q(c.name)} ${c.type === 'integer' ? 'INTEGER' : 'TEXT'}`
    if (rowidKey && c.name === table.primaryKey?.[0]) definition += ' PRIMARY KEY'
    if (c.nullable === false) definition += ' NOT NULL'
    return definition
  })
  if (table.primaryKey?.length && !rowidKey) columns.push(`PRIMARY KEY (${table.primaryKey.map(q).join(', ')})`)
  for (const unique of table.unique ?? []) columns.push(`UNIQUE (${unique.map(q).join(', ')})`)
  for (const key of table.foreignKeys ?? []) {
    columns.push(`CONSTRAINT ${q(key.name)} FOREIGN KEY (${key.columns.map(q).join(', ')}) REFERENCES ${q(key.referencedTable)} (${key.referencedColumns.map(q).join(', ')})`)
  }
  return [
    `CREATE TABLE ${q(table.name)} (${columns.join(', ')})`,
    ...(table.indexes ?? []).map((i) => `CREATE INDEX ${q(i.name)} ON ${q(table.name)} (${i.columns.map(q).join(', ')})`),
  ]
}

const BLOB_100K = Buffer.alloc(100_000, 0xa5)

/** Every affinity and storage class, written out by hand (not copied from the adapter). */
export const sqliteTypeMatrix: AdapterTypeMatrix = {
  setup: [
    `CREATE TABLE types_sqlite (
       id INTEGER PRIMARY KEY, i INTEGER, n NUMERIC, d DECIMAL(10,2), r REAL, t TEXT, b BLOB, u,
       flag BOOLEAN, at DATETIME, j JSON)`,
    `INSERT INTO types_sqlite VALUES
       (1, -9223372036854775808, 0.30000000000000004, 120.5, 5e-324, '', x'', '', 0, '2026-01-15T10:30:00.000Z', '{"a": [1, 2.50]}'),
       (2, 9223372036854775807, -12, 100, -1.7976931348623157e308, 'Zoë 🎉 "q" ''s''' || char(10) || 'tab' || char(9), x'00ff', 42, 1, 1767261600000, '5'),
       (3, 0, 1e999, -0.01, 1e999, 'x', ${'x' + "'" + BLOB_100K.toString('hex') + "'"}, 0.25, NULL, '2026-01-15 10:30:00', 'null'),
       (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
       (5, 'abc', 'N/A', x'cafe', 'x', x'01', 'text', 2.0, 2, 2.5, x'7b7d'),
       (6, 1.5, -1e999, NULL, -1e999, NULL, 7, 9007199254740993, 'yes', 1e999, NULL),
       (7, NULL, NULL, NULL, NULL, NULL, NULL, -0.0, NULL, NULL, NULL),
       (8, NULL, NULL, NULL, NULL, NULL, NULL, x'', NULL, NULL, NULL)`,
  ],
  kinds: {
    types_sqlite: { id: 'bigint', i: 'bigint', n: 'decimal', d: 'decimal', r: 'float', t: 'text', b: 'binary', u: 'unknown', flag: 'boolean', at: 'text', j: 'json' },
  },
  expected: {
    types_sqlite: [
      { id: '1', i: '-9223372036854775808', n: '0.30000000000000004', d: '120.5', r: 5e-324, t: '', b: '', u: '', flag: false, at: '2026-01-15T10:30:00.000Z', j: '{"a": [1, 2.50]}' },
      { id: '2', i: '9223372036854775807', n: '-12', d: '100', r: -1.7976931348623157e308, t: 'Zoë 🎉 "q" \'s\'\ntab\t', b: 'AP8=', u: 42, flag: true, at: '1767261600000', j: '5' },
      { id: '3', i: '0', n: 'Infinity', d: '-0.01', r: 'Infinity', t: 'x', b: BLOB_100K.toString('base64'), u: 0.25, flag: null, at: '2026-01-15 10:30:00', j: 'null' },
      { id: '4', i: null, n: null, d: null, r: null, t: null, b: null, u: null, flag: null, at: null, j: null },
      {
        id: '5',
        i: { $sqlite: 'text', value: 'abc' },
        n: { $sqlite: 'text', value: 'N/A' },
        d: { $sqlite: 'blob', value: 'yv4=' },
        r: { $sqlite: 'text', value: 'x' },
        t: { $sqlite: 'blob', value: 'AQ==' },
        b: { $sqlite: 'text', value: 'text' },
        u: { $sqlite: 'real', value: '2' },
        flag: { $sqlite: 'integer', value: '2' },
        at: '2.5',
        j: { $sqlite: 'blob', value: 'e30=' },
      },
      {
        id: '6',
        i: { $sqlite: 'real', value: '1.5' },
        n: '-Infinity',
        d: null,
        r: '-Infinity',
        t: null,
        b: { $sqlite: 'integer', value: '7' },
        u: { $sqlite: 'integer', value: '9007199254740993' },
        flag: { $sqlite: 'text', value: 'yes' },
        at: { $sqlite: 'real', value: 'Infinity' },
        j: null,
      },
      { id: '7', i: null, n: null, d: null, r: null, t: null, b: null, u: { $sqlite: 'real', value: '-0' }, flag: null, at: null, j: null },
      { id: '8', i: null, n: null, d: null, r: null, t: null, b: null, u: { $sqlite: 'blob', value: '' }, flag: null, at: null, j: null },
    ],
  },
}

/** SQLite for describeAdapterSuite: one temporary file per database, written with better-sqlite3 directly. */
export const sqliteSuiteFactory: AdapterTestFactory = {
  engine: 'sqlite',
  adapter: sqliteAdapter,
  features: { compositeKeys: true, keylessTables: true, foreignKeys: true, notNull: true, autoIncrement: true, indexes: true },
  async createDatabase(): Promise<AdapterTestDatabase> {
    const { file, url, cleanup } = makeSqlitePath()
    withFile(file, () => undefined)
    return {
      config: parseDatabaseUrl(url),
      async createTable(table) {
        withFile(file, (db) => {
          for (const statement of createTableSql(table)) db.exec(statement)
        })
      },
      async insertRows(table, rows) {
        withFile(file, (db) => db.transaction(() => rows.forEach((row) => insert(db, table, row)))())
      },
      async insertWithGeneratedKey(table, _keyColumn, row) {
        return Number(withFile(file, (db) => insert(db, table, row)))
      },
      async exec(sql) {
        withFile(file, (db) => db.exec(sql))
      },
      async drop() {
        cleanup()
      },
    }
  },
  typeMatrix: sqliteTypeMatrix,
  expectedRow(table, row) {
    const integers = new Set(table.columns.filter((c) => c.type === 'integer').map((c) => c.name))
    return Object.fromEntries(Object.entries(row).map(([name, value]) => [name, integers.has(name) && typeof value === 'number' ? String(value) : value]))
  },
}
