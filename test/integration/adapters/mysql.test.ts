/**
 * The MySQL/MariaDB adapter on the real MariaDB of this machine (issue #4): every value type with
 * its extremes and NULLs, restore into an empty database and into an existing one, skip-existing
 * (also without a key), all-or-nothing (also when tables had to be created), foreign keys,
 * AUTO_INCREMENT, generated columns, the merge operations, snapshot isolation, and bad input.
 */
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseSchema, Destination, Row, Source, TableSchema, ValueKind } from '../../../src/adapters/adapter.js'
import { mysqlAdapter } from '../../../src/adapters/mysql/mysql-adapter.js'
import { quoteIdentifier } from '../../../src/adapters/mysql/mysql-values.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { ConnectionError, DatabaseError, UsageError } from '../../../src/errors.js'
import { createMysqlDatabase, type TestDatabase, databasesOfFile, mysqlQuery } from '../../helpers/databases.js'
import { BIG_BLOB, BIG_TEXT, MATRIX_EXPECTED, MATRIX_KINDS, MATRIX_ROWS, TYPE_MATRIX } from '../../fixtures/types/mysql-types.js'
import { describeAdapterSuite, type AdapterTestDatabase, type AdapterTestFactory, type PortableTable } from './adapter-suite.js'

const databases = databasesOfFile(() => createMysqlDatabase())
const freshDatabase = databases.fresh
afterAll(async () => {
  await databases.dropAll()
})

const sql = mysqlQuery

const openSource = (url: string): Promise<Source> => mysqlAdapter.openSource(parseDatabaseUrl(url))
const openDestination = (url: string): Promise<Destination> => mysqlAdapter.openDestination(parseDatabaseUrl(url))

async function* batchesOf(rows: readonly Row[], size = 2): AsyncGenerator<Row[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size)
}

interface Snapshot {
  schema: DatabaseSchema
  rows: Record<string, Row[]>
}

async function backup(url: string): Promise<Snapshot> {
  const source = await openSource(url)
  try {
    const schema = await source.describe()
    const rows: Record<string, Row[]> = {}
    for (const table of schema.tables) {
      rows[table.name] = []
      for await (const batch of source.readTable(table, { batchSize: 3 })) rows[table.name].push(...batch)
    }
    return { schema, rows }
  } finally {
    await source.close()
  }
}

/** restore as the engine runs it: prepare, writeRows per table, finish, commit; rollback on error. */
async function restore(url: string, snapshot: Snapshot, options: { drop?: boolean; dryRun?: boolean; rows?: Record<string, Row[]> } = {}) {
  const destination = await openDestination(url)
  try {
    const prepared = await destination.prepare(snapshot.schema, { mode: 'restore', drop: options.drop ?? false })
    const results: Record<string, { inserted: number; skipped: number }> = {}
    for (const table of snapshot.schema.tables) {
      results[table.name] = await destination.writeRows(table, batchesOf((options.rows ?? snapshot.rows)[table.name] ?? []))
    }
    await destination.finish()
    if (options.dryRun) await destination.rollback()
    else await destination.commit()
    return { prepared, results }
  } catch (error) {
    await destination.rollback(error)
    throw error
  } finally {
    await destination.close()
  }
}

describe('MySQL adapter: every value type, exactly', () => {
  let snapshot: Snapshot

  it('backs up each type to its wire value', async () => {
    const db = await freshDatabase()
    await sql(db.url, TYPE_MATRIX, MATRIX_ROWS)
    snapshot = await backup(db.url)
    const table = snapshot.schema.tables.find((t) => t.name === 'matrix') as TableSchema
    expect(Object.fromEntries(table.columns.map((c) => [c.name, c.kind]))).toMatchObject(MATRIX_KINDS)
    expect(table.columns.find((c) => c.name === 'en')?.enumValues).toEqual(['small', 'medium', 'large'])
    expect(table.columns.find((c) => c.name === 'js')?.type).toBe('json')
    expect(table.options).toMatchObject({ engine: 'InnoDB', charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' })
    expect(snapshot.rows.matrix).toEqual(MATRIX_EXPECTED)
    // Key order follows the table's columns.
    expect(Object.keys(snapshot.rows.matrix[0])).toEqual(table.columns.map((c) => c.name))
  })

  it('restores into an empty database: same definition, identical values', async () => {
    const target = await freshDatabase()
    const { prepared, results } = await restore(target.url, snapshot)
    expect(prepared.created).toEqual(['matrix'])
    expect(results.matrix).toEqual({ inserted: 4, skipped: 0 })
    const again = await backup(target.url)
    expect(again.rows).toEqual(snapshot.rows)
    expect(again.schema.tables[0].options?.definition).toBe(snapshot.schema.tables[0].options?.definition)
  })

  it('restores into an existing schema; a TIMESTAMP is stored as the UTC instant, whatever zone reads it later', async () => {
    const target = await freshDatabase()
    await sql(target.url, TYPE_MATRIX)
    const { prepared, results } = await restore(target.url, snapshot)
    expect(prepared.created).toEqual([])
    expect(results.matrix).toEqual({ inserted: 4, skipped: 0 })
    const rows = await sql(target.url, "SET time_zone = '+05:00'", 'SELECT CAST(ts AS CHAR) AS ts FROM matrix WHERE id = 4')
    expect(rows[0].ts).toBe('2024-07-01 03:00:00.500000')
    expect((await backup(target.url)).rows).toEqual(snapshot.rows)
  })

  it('restoring the same rows again changes nothing and counts them as skipped', async () => {
    const target = await freshDatabase()
    await restore(target.url, snapshot)
    const { results } = await restore(target.url, snapshot)
    expect(results.matrix).toEqual({ inserted: 0, skipped: 4 })
    expect((await backup(target.url)).rows).toEqual(snapshot.rows)
  })
})

/**
 * The two write paths: LOAD DATA LOCAL INFILE through a staging table (the default), and multi-row
 * INSERT (servers with local_infile off, URLs with local-infile=0, rows that omit columns).
 * MySQL reports a bad value of a LOCAL load as a warning, which mergeback turns into the error.
 */
const WRITE_PATHS = [
  {
    path: 'LOAD DATA',
    query: '',
    action: 'loading rows into',
    notNull: ['1263', 'ER_WARN_NULL_TO_NOTNULL'],
    tooLong: ['1265', 'WARN_DATA_TRUNCATED'],
    beyondPacket: 'written',
  },
  {
    path: 'INSERT',
    query: '?local-infile=0',
    action: 'inserting into',
    notNull: ['1048', 'ER_BAD_NULL_ERROR'],
    tooLong: ['1406', 'ER_DATA_TOO_LONG'],
    beyondPacket: 'refused',
  },
] as const

/** A table of an INT key and one text column, as describe() gives it. */
function idAndText(name: string, column: string, type: string): TableSchema {
  return {
    name,
    columns: [
      { name: 'id', type: 'int(11)', kind: 'integer', nullable: false },
      { name: column, type, kind: 'text', nullable: true },
    ],
    primaryKey: ['id'],
    uniqueConstraints: [],
    indexes: [],
    foreignKeys: [],
  }
}

describe.each(WRITE_PATHS)('MySQL adapter: the $path write path', ({ query, action, notNull, tooLong, beyondPacket }) => {
  it('writes the whole type matrix exactly, then skips all of it the second time', async () => {
    const source = await freshDatabase()
    await sql(source.url, TYPE_MATRIX, MATRIX_ROWS)
    const snapshot = await backup(source.url)
    const target = await freshDatabase()
    expect((await restore(target.url + query, snapshot)).results.matrix).toEqual({ inserted: 4, skipped: 0 })
    expect((await backup(target.url)).rows.matrix).toEqual(MATRIX_EXPECTED)
    expect((await restore(target.url + query, snapshot)).results.matrix).toEqual({ inserted: 0, skipped: 4 })
  })

  it('names table, key, column and the server\'s code when a value does not fit', async () => {
    const target = await freshDatabase()
    await sql(target.url, "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(5) NOT NULL, CONSTRAINT chk_name CHECK (name <> 'bad'))", "INSERT INTO t VALUES (1, 'kept')")
    const table: TableSchema = {
      name: 't',
      columns: [
        { name: 'id', type: 'int(11)', kind: 'integer', nullable: false },
        { name: 'name', type: 'varchar(5)', kind: 'text', nullable: false },
      ],
      primaryKey: ['id'],
      uniqueConstraints: [],
      indexes: [],
      foreignKeys: [],
    }
    const schema: DatabaseSchema = { engine: 'mysql', database: '', tables: [table], warnings: [] }
    const nullName = (await restore(target.url + query, { schema, rows: { t: [{ id: 2, name: 'ok' }, { id: 3, name: null }] } }).catch((e: unknown) => e)) as DatabaseError
    expect(nullName).toBeInstanceOf(DatabaseError)
    expect(nullName).toMatchObject({ table: 't', key: { id: 3 }, engineCode: notNull[0] })
    expect(nullName.message).toContain(`Failed ${action} t (key {"id":3}): `)
    expect(nullName.message).toContain(`[${notNull[1]}]`)
    const long = (await restore(target.url + query, { schema, rows: { t: [{ id: 4, name: 'far too long' }] } }).catch((e: unknown) => e)) as DatabaseError
    expect(long).toMatchObject({ table: 't', key: { id: 4 }, engineCode: tooLong[0] })
    // A field the table lacks is refused, not dropped.
    const stray = (await restore(target.url + query, { schema, rows: { t: [{ id: 6, name: 'x', nickname: 'lost?' }] } }).catch((e: unknown) => e)) as UsageError
    expect(stray).toBeInstanceOf(UsageError)
    expect(stray.message).toBe('A row of "t" has a field "nickname" that is not a column of the table: writing would lose it.')
    // A LOCAL load only skips a row that fails a CHECK: that skip must not pass for a duplicate.
    const rows = { t: [{ id: 1, name: 'kept' }, { id: 5, name: 'bad' }] }
    const check = (await restore(target.url + query, { schema, rows }).catch((e: unknown) => e)) as DatabaseError
    expect(check).toMatchObject({ table: 't', engineCode: '4025', constraint: 'chk_name' })
    expect(await sql(target.url, 'SELECT id, name FROM t')).toEqual([{ id: 1, name: 'kept' }])
  })

  it(`a value just under max_allowed_packet is written; one beyond it is ${beyondPacket}`, async () => {
    const target = await freshDatabase()
    await sql(target.url, 'CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB)')
    const [{ packet }] = await sql(target.url, 'SELECT @@max_allowed_packet AS packet')
    const table: TableSchema = {
      name: 'blobs',
      columns: [
        { name: 'id', type: 'int(11)', kind: 'integer', nullable: false },
        { name: 'data', type: 'longblob', kind: 'binary', nullable: true },
      ],
      primaryKey: ['id'],
      uniqueConstraints: [],
      indexes: [],
      foreignKeys: [],
    }
    const schema: DatabaseSchema = { engine: 'mysql', database: '', tables: [table], warnings: [] }
    // Bytes travel as hex (LOAD DATA) or X'…' (INSERT): twice their size on the wire.
    const under = Buffer.alloc(Number(packet) / 2 - 4096, 7)
    await restore(target.url + query, { schema, rows: { blobs: [{ id: 1, data: under.toString('base64') }, { id: 2, data: '' }] } })
    const beyond = Buffer.alloc(Math.floor(Number(packet) * 0.75), 7)
    const outcome = await restore(target.url + query, { schema, rows: { blobs: [{ id: 3, data: beyond.toString('base64') }] } }).catch((e: unknown) => e)
    if (beyondPacket === 'refused') {
      expect(outcome).toBeInstanceOf(DatabaseError)
      expect((outcome as DatabaseError).message).toMatch(/more than the server's max_allowed_packet .* raise max_allowed_packet/)
    } else expect(outcome).not.toBeInstanceOf(Error)
    const stored = await sql(target.url, 'SELECT id, LENGTH(data) AS n, MD5(data) = MD5(REPEAT(CHAR(7), LENGTH(data))) AS same FROM blobs ORDER BY id')
    expect(stored).toEqual([
      { id: 1, n: under.length, same: 1 },
      { id: 2, n: 0, same: 1 },
      ...(beyondPacket === 'written' ? [{ id: 3, n: beyond.length, same: 1 }] : []),
    ])
  })

  it('streams a large table in bounded statements', async () => {
    const target = await freshDatabase()
    await sql(target.url, 'CREATE TABLE big (id INT PRIMARY KEY, payload TEXT)')
    const table = idAndText('big', 'payload', 'text')
    const rows = Array.from({ length: 60_000 }, (_, i) => ({ id: i + 1, payload: `${i}\t\\N\n${'p'.repeat(1000)}` }))
    const { results } = await restore(target.url + query, { schema: { engine: 'mysql', database: '', tables: [table], warnings: [] }, rows: { big: rows } })
    expect(results.big).toEqual({ inserted: 60_000, skipped: 0 })
    // More duplicates than one LOAD statement's warnings can list: still all skipped, none refused.
    const again = await restore(target.url + query, { schema: { engine: 'mysql', database: '', tables: [table], warnings: [] }, rows: { big: rows } })
    expect(again.results.big).toEqual({ inserted: 0, skipped: 60_000 })
    expect(await sql(target.url, "SELECT COUNT(*) AS n, SUM(payload = CONCAT(id - 1, '\t\\\\N\n', REPEAT('p', 1000))) AS same FROM big")).toEqual([{ n: '60000', same: '60000' }])
  })

  it('writes texts of 1- to 4-byte characters exactly, whatever their length against the 64 KiB pieces of the upload', async () => {
    const target = await freshDatabase()
    await sql(target.url, 'CREATE TABLE texts (id INT PRIMARY KEY, body LONGTEXT) CHARACTER SET utf8mb4')
    const table = idAndText('texts', 'body', 'longtext')
    // Lengths around a piece's 65 536 bytes, a third of it (a line that may not fit in one) and
    // beyond it (a line sent alone), in characters of each UTF-8 width and the escaped bytes.
    const alphabet = ['a', 'é', '€', '😀', '\t', '\n', '\\', '\r', '\0']
    const lengths = [0, 1, 21_840, 21_845, 21_846, 30_000, 65_535, 65_536, 70_000, 3, 200_000, 5, 21_000, 22_000]
    const mixed = lengths.map((length, i) => Array.from({ length }, (_, k) => alphabet[(k * 7 + i) % alphabet.length]).join(''))
    // Three bytes per UTF-16 unit: lines whose bytes overrun the piece that their length would fit.
    const wide = [10_000, 15_000, 21_845, 21_846, 100].map((length) => '€'.repeat(length))
    const rows = [...mixed, ...wide].map((body, i) => ({ id: i + 1, body }))
    const { results } = await restore(target.url + query, { schema: { engine: 'mysql', database: '', tables: [table], warnings: [] }, rows: { texts: rows } })
    expect(results.texts).toEqual({ inserted: rows.length, skipped: 0 })
    const stored = await sql(target.url, 'SELECT id, body FROM texts ORDER BY id')
    expect(stored.map((r) => r.body)).toEqual(rows.map((r) => r.body))
  })
})

const SHOP = `
CREATE TABLE customer (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100) NOT NULL, name VARCHAR(50) NOT NULL,
  UNIQUE KEY uq_email (email)) ENGINE=InnoDB;
CREATE TABLE orders (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT UNSIGNED NOT NULL, total DECIMAL(10,2) NOT NULL,
  net DECIMAL(10,2) AS (total / 1.2) VIRTUAL, tax DECIMAL(10,2) AS (total - total / 1.2) STORED,
  KEY ix_customer_total (customer_id, total), CONSTRAINT fk_order_customer FOREIGN KEY (customer_id) REFERENCES customer (id)) ENGINE=InnoDB;
CREATE TABLE allocation (room INT NOT NULL, reg VARCHAR(20) NOT NULL, note TEXT, PRIMARY KEY (room, reg)) ENGINE=InnoDB;
CREATE TABLE log (level VARCHAR(10), message TEXT) ENGINE=InnoDB;
INSERT INTO customer VALUES (1, 'a@x', 'Ann'), (2, 'b@x', 'Bob'), (9007199254740993, 'big@x', 'Big');
INSERT INTO orders (id, customer_id, total) VALUES (1, 1, 12.00), (2, 2, 24.00), (100, 9007199254740993, 1.20);
INSERT INTO allocation VALUES (1, 'r1', 'one'), (1, 'r2', NULL), (2, 'r1', 'two');
INSERT INTO log VALUES ('info', 'hello'), ('info', 'hello'), (NULL, NULL), ('warn', 'x');`

async function shopDatabase(): Promise<{ db: TestDatabase; snapshot: Snapshot }> {
  const db = await freshDatabase()
  await sql(db.url, ...SHOP.split(';').filter((s) => s.trim()))
  return { db, snapshot: await backup(db.url) }
}

describe('MySQL adapter: schema, keys and restore semantics', () => {
  it('describes keys, indexes, foreign keys and generated columns', async () => {
    const { snapshot } = await shopDatabase()
    const byName = Object.fromEntries(snapshot.schema.tables.map((t) => [t.name, t]))
    expect(snapshot.schema.tables.map((t) => t.name)).toEqual(['allocation', 'customer', 'log', 'orders'])
    expect(byName.allocation.primaryKey).toEqual(['room', 'reg'])
    expect(byName.customer.uniqueConstraints).toEqual([{ name: 'uq_email', columns: ['email'] }])
    expect(byName.customer.columns[0]).toMatchObject({ name: 'id', type: 'bigint(20) unsigned', kind: 'bigint', autoIncrement: true })
    expect(byName.orders.indexes).toEqual([expect.objectContaining({ name: 'ix_customer_total', columns: ['customer_id', 'total'], unique: false })])
    expect(byName.orders.foreignKeys).toEqual([
      { name: 'fk_order_customer', columns: ['customer_id'], referencedTable: 'customer', referencedColumns: ['id'], onDelete: 'RESTRICT', onUpdate: 'RESTRICT' },
    ])
    expect(byName.orders.columns.find((c: { name: string }) => c.name === 'net')).toMatchObject({ generated: '`total` / 1.2' })
    expect(byName.log.primaryKey).toEqual([])
    expect(snapshot.rows.orders[2]).toEqual({ id: 100, customer_id: '9007199254740993', total: '1.20', net: '1.00', tax: '0.20' })
  })

  it('reads rows in primary-key order and keyless tables in insertion order', async () => {
    const { snapshot } = await shopDatabase()
    expect(snapshot.rows.allocation.map((r) => `${r.room}/${r.reg}`)).toEqual(['1/r1', '1/r2', '2/r1'])
    expect(snapshot.rows.log.map((r) => r.message)).toEqual(['hello', 'hello', null, 'x'])
  })

  it('creates missing tables in FK-cycle-free any order, never writes generated columns, moves AUTO_INCREMENT on', async () => {
    const { snapshot } = await shopDatabase()
    const target = await freshDatabase()
    // Children before parents: foreign key checks are off during the load.
    const reversed = { ...snapshot, schema: { ...snapshot.schema, tables: [...snapshot.schema.tables].reverse() } }
    const { prepared, results } = await restore(target.url, reversed)
    expect([...prepared.created].sort()).toEqual(['allocation', 'customer', 'log', 'orders'])
    expect(results.orders).toEqual({ inserted: 3, skipped: 0 })
    expect((await backup(target.url)).rows).toEqual(snapshot.rows)
    await sql(target.url, "INSERT INTO orders (customer_id, total) VALUES (1, 6.00)")
    expect(await sql(target.url, 'SELECT MAX(id) AS id FROM orders')).toEqual([{ id: 101 }])
  })

  it('skips existing rows by primary key and by unique key, without swallowing other errors', async () => {
    const { db, snapshot } = await shopDatabase()
    await sql(db.url, "UPDATE customer SET name = 'Ann (current)' WHERE id = 1", 'DELETE FROM allocation WHERE room = 2')
    const rows = {
      ...snapshot.rows,
      customer: [...snapshot.rows.customer, { id: '50', email: 'a@x', name: 'Same email, new id' }],
    }
    const { results } = await restore(db.url, snapshot, { rows })
    expect(results.customer).toEqual({ inserted: 0, skipped: 4 })
    expect(results.allocation).toEqual({ inserted: 1, skipped: 2 })
    expect(await sql(db.url, 'SELECT name FROM customer WHERE id = 1')).toEqual([{ name: 'Ann (current)' }])

    // INSERT IGNORE would turn this NOT NULL violation into a silent '' — it must fail instead,
    // on the LOAD DATA path (where MySQL reports it as a warning) and on the INSERT path alike.
    const broken = { ...snapshot.rows, customer: [{ id: '60', email: 'new@x', name: null }] }
    const failure = (await restore(db.url, snapshot, { rows: broken }).catch((error: unknown) => error)) as DatabaseError
    expect(failure).toBeInstanceOf(DatabaseError)
    expect(failure).toMatchObject({ table: 'customer', key: { id: '60' }, engineCode: '1263' })
    expect(failure.message).toBe(
      `Failed loading rows into customer (key {"id":"60"}): Column set to default value; NULL supplied to NOT NULL column 'name' at row 1 [ER_WARN_NULL_TO_NOTNULL]`,
    )
    // A row without the email field goes through INSERT … DEFAULT; email has no default.
    const partial = { ...snapshot.rows, customer: [{ id: '61', name: 'No email' }] }
    const insertFailure = (await restore(db.url, snapshot, { rows: partial }).catch((error: unknown) => error)) as DatabaseError
    expect(insertFailure).toMatchObject({ table: 'customer', engineCode: '1364' })
    expect(insertFailure.message).toMatch(/Field 'email' doesn't have a default value/)
    expect(await sql(db.url, 'SELECT COUNT(*) AS n FROM customer WHERE id = 60')).toEqual([{ n: '0' }])
  })

  it('names the row of a failing load', async () => {
    const { db, snapshot } = await shopDatabase()
    const rows = { ...snapshot.rows, allocation: [{ room: 7, reg: 'ok', note: null }, { room: 99999999999, reg: 'bad', note: null }] }
    const failure = (await restore(db.url, snapshot, { rows }).catch((error: unknown) => error)) as DatabaseError
    expect(failure).toBeInstanceOf(DatabaseError)
    expect(failure.table).toBe('allocation')
    expect(failure.key).toEqual({ room: 99999999999, reg: 'bad' })
    expect(failure.message).toMatch(/Out of range value for column 'room'/)
  })

  it('keyless tables: whole-row identity, counting duplicates, NULL equal to NULL', async () => {
    const { db, snapshot } = await shopDatabase()
    await sql(db.url, "DELETE FROM log WHERE level = 'warn'", "INSERT INTO log VALUES ('debug', 'only here')")
    const rows = { ...snapshot.rows, log: [...snapshot.rows.log, { level: 'info', message: 'hello' }, { level: null, message: null }] }
    // The table holds hello×2, NULL×1, debug; the backup has hello×3, NULL×2, warn.
    const { results } = await restore(db.url, snapshot, { rows })
    expect(results.log).toEqual({ inserted: 3, skipped: 3 })
    const counts = await sql(db.url, 'SELECT level, message, COUNT(*) AS n FROM log GROUP BY level, message ORDER BY level, message')
    expect(counts).toEqual([
      { level: null, message: null, n: '2' },
      { level: 'debug', message: 'only here', n: '1' },
      { level: 'info', message: 'hello', n: '3' },
      { level: 'warn', message: 'x', n: '1' },
    ])
    const { results: again } = await restore(db.url, snapshot, { rows })
    expect(again.log).toEqual({ inserted: 0, skipped: 6 })
  })

  it('drop empties only the selected tables, without cascading', async () => {
    const { db, snapshot } = await shopDatabase()
    await sql(db.url, "INSERT INTO allocation VALUES (5, 'extra', NULL)")
    const only = { schema: { ...snapshot.schema, tables: snapshot.schema.tables.filter((t) => t.name === 'allocation') }, rows: snapshot.rows }
    const { prepared, results } = await restore(db.url, only, { drop: true })
    expect(prepared.emptied).toEqual(['allocation'])
    expect(results.allocation).toEqual({ inserted: 3, skipped: 0 })
    expect(await sql(db.url, 'SELECT COUNT(*) AS n FROM allocation')).toEqual([{ n: '3' }])
    expect(await sql(db.url, 'SELECT COUNT(*) AS n FROM orders')).toEqual([{ n: '3' }])
  })
})

describe('MySQL adapter: all or nothing', () => {
  it.each(WRITE_PATHS)('$path: an orphan row loads unchecked and finish() refuses it, naming table, constraint, key and missing parent', async ({ query }) => {
    const { db, snapshot } = await shopDatabase()
    await sql(db.url, 'DELETE FROM orders', 'DELETE FROM customer WHERE id = 2')
    const customers = snapshot.rows.customer.filter((c) => c.id !== '2')
    // customer is written before orders here; checks are off during the load all the same.
    const failure = (await restore(db.url + query, snapshot, { rows: { ...snapshot.rows, customer: customers } }).catch((e: unknown) => e)) as DatabaseError
    expect(failure).toBeInstanceOf(DatabaseError)
    expect(failure).toMatchObject({ table: 'orders', constraint: 'fk_order_customer', key: { id: 2 }, engineCode: '1452' })
    expect(failure.message).toBe(
      'Foreign key fk_order_customer on table orders: the row with key {"id":2} references customer (id = "2"), which does not exist.',
    )
    expect(await sql(db.url, 'SELECT COUNT(*) AS n FROM orders')).toEqual([{ n: '0' }])
  })

  it('with children written before their parents, finish() finds the orphan and names its missing parent', async () => {
    const { db, snapshot } = await shopDatabase()
    await sql(db.url, 'DELETE FROM orders', 'DELETE FROM customer WHERE id = 2')
    const customers = snapshot.rows.customer.filter((c) => c.id !== '2')
    const reversed = { schema: { ...snapshot.schema, tables: [...snapshot.schema.tables].reverse() }, rows: { ...snapshot.rows, customer: customers } }
    const failure = (await restore(db.url, reversed).catch((e: unknown) => e)) as DatabaseError
    expect(failure).toBeInstanceOf(DatabaseError)
    expect(failure).toMatchObject({ table: 'orders', constraint: 'fk_order_customer', key: { id: 2 }, engineCode: '1452' })
    expect(failure.message).toBe(
      'Foreign key fk_order_customer on table orders: the row with key {"id":2} references customer (id = "2"), which does not exist.',
    )
    expect(await sql(db.url, 'SELECT COUNT(*) AS n FROM orders')).toEqual([{ n: '0' }])
  })

  it('emptying a parent with drop is refused up front when unselected children still point at it', async () => {
    const { db, snapshot } = await shopDatabase()
    const only = { schema: { ...snapshot.schema, tables: snapshot.schema.tables.filter((t) => t.name === 'customer') }, rows: { customer: [] } }
    const failure = (await restore(db.url, only, { drop: true }).catch((e: unknown) => e)) as UsageError
    expect(failure).toBeInstanceOf(UsageError)
    expect(failure.message).toBe(
      'Cannot empty "customer": table "orders", which is not selected, has rows referencing it (foreign key fk_order_customer). Select "orders" too, or restore without drop.',
    )
    expect(await sql(db.url, 'SELECT COUNT(*) AS n FROM customer')).toEqual([{ n: '3' }])
    // With the children selected too, the same drop goes through; only an orphan would stop it in finish().
    const both = { schema: { ...snapshot.schema, tables: snapshot.schema.tables.filter((t) => t.name === 'customer' || t.name === 'orders') }, rows: snapshot.rows }
    const { prepared } = await restore(db.url, both, { drop: true })
    expect(prepared.emptied).toEqual(['customer', 'orders'])
  })

  it('a failed restore with drop leaves the existing data exactly as it was', async () => {
    const { db, snapshot } = await shopDatabase()
    const before = await backup(db.url)
    const rows = { ...snapshot.rows, log: [{ level: 'x'.repeat(11), message: 'too long for VARCHAR(10)' }] }
    const failure = await restore(db.url, snapshot, { drop: true, rows }).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(DatabaseError)
    expect(failure).toMatchObject({ table: 'log', engineCode: '1265' })
    expect((failure as DatabaseError).message).toMatch(/Data truncated for column 'level' at row 1/)
    expect(await backup(db.url)).toEqual(before)
  })

  it('a failed restore into an empty database drops the tables it created', async () => {
    const { snapshot } = await shopDatabase()
    const target = await freshDatabase()
    const rows = { ...snapshot.rows, orders: [{ id: 1, customer_id: '1', total: 'not a number' }] }
    const failure = await restore(target.url, snapshot, { rows }).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(DatabaseError)
    expect(await sql(target.url, 'SHOW TABLES')).toEqual([])
  })

  it('a dry run rolls back data and drops created tables', async () => {
    const { snapshot } = await shopDatabase()
    const target = await freshDatabase()
    const { results } = await restore(target.url, snapshot, { dryRun: true })
    expect(results.customer).toEqual({ inserted: 3, skipped: 0 })
    expect(await sql(target.url, 'SHOW TABLES')).toEqual([])
  })

  it('merge mode creates nothing: a missing table or column is a UsageError before any change', async () => {
    const { snapshot } = await shopDatabase()
    const target = await freshDatabase()
    await sql(target.url, 'CREATE TABLE customer (id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(100))')
    const destination = await openDestination(target.url)
    try {
      await expect(destination.prepare(snapshot.schema, { mode: 'merge', drop: false })).rejects.toThrow(/table "allocation", "log", "orders" does not exist/)
      const customerOnly = { ...snapshot.schema, tables: snapshot.schema.tables.filter((t) => t.name === 'customer') }
      await expect(destination.prepare(customerOnly, { mode: 'restore', drop: false })).rejects.toThrow(UsageError)
      await expect(destination.prepare(customerOnly, { mode: 'restore', drop: false })).rejects.toThrow(/no column "name"/)
    } finally {
      await destination.close()
    }
    expect(await sql(target.url, 'SHOW TABLES')).toEqual([{ [`Tables_in_${target.name}`]: 'customer' }])
  })
})

describe('MySQL adapter: merge operations', () => {
  it('readByKeys finds composite and 64-bit keys exactly, in one query per chunk', async () => {
    const { db } = await shopDatabase()
    const destination = await openDestination(db.url)
    try {
      const allocations = await destination.readByKeys('allocation', ['room', 'reg'], [
        { room: 1, reg: 'r2' },
        { room: 2, reg: 'r1' },
        { room: 3, reg: 'missing' },
      ])
      expect(allocations.sort((a, b) => Number(a.room) - Number(b.room))).toEqual([
        { room: 1, reg: 'r2', note: null },
        { room: 2, reg: 'r1', note: 'two' },
      ])
      // 9007199254740992 and …993 are the same double: only exact integer literals tell them apart.
      expect(await destination.readByKeys('customer', ['id'], [{ id: '9007199254740992' }])).toEqual([])
      expect(await destination.readByKeys('customer', ['id'], [{ id: '9007199254740993' }])).toEqual([{ id: '9007199254740993', email: 'big@x', name: 'Big' }])
      const many = Array.from({ length: 2500 }, (_, i) => ({ id: String(i) }))
      expect((await destination.readByKeys('customer', ['id'], many)).map((r) => r.id).sort()).toEqual(['1', '2'])
    } finally {
      await destination.close()
    }
  })

  it('updateRows sets only the given columns, set-wise, inside the transaction', async () => {
    const { db } = await shopDatabase()
    const destination = await openDestination(db.url)
    try {
      await destination.prepare({ engine: 'mysql', database: db.name, tables: [], warnings: [] }, { mode: 'merge', drop: false })
      const changed = await destination.updateRows('allocation', ['room', 'reg'], [
        { room: 1, reg: 'r1', note: 'updated' },
        { room: 1, reg: 'r2', note: null },
        { room: 9, reg: 'none', note: 'no such row' },
      ])
      expect(changed).toBe(2)
      expect(await destination.updateRows('customer', ['id'], [{ id: '2', name: 'Robert' }])).toBe(1)
      expect(await destination.countRows('allocation')).toBe(3)
      // Not visible outside before commit.
      expect(await sql(db.url, "SELECT note FROM allocation WHERE room = 1 AND reg = 'r1'")).toEqual([{ note: 'one' }])
      await destination.finish()
      await destination.commit()
    } finally {
      await destination.close()
    }
    expect(await sql(db.url, 'SELECT room, reg, note FROM allocation ORDER BY room, reg')).toEqual([
      { room: 1, reg: 'r1', note: 'updated' },
      { room: 1, reg: 'r2', note: null },
      { room: 2, reg: 'r1', note: 'two' },
    ])
    expect(await sql(db.url, 'SELECT email, name FROM customer WHERE id = 2')).toEqual([{ email: 'b@x', name: 'Robert' }])
  })

  it('a rollback after updates and inserts restores every row', async () => {
    const { db } = await shopDatabase()
    const before = await backup(db.url)
    const destination = await openDestination(db.url)
    try {
      await destination.updateRows('customer', ['id'], [{ id: '1', name: 'changed' }])
      const table = before.schema.tables.find((t) => t.name === 'customer') as TableSchema
      await destination.writeRows(table, batchesOf([{ id: '77', email: 'n@x', name: 'New' }]))
      await destination.rollback(new Error('test'))
    } finally {
      await destination.close()
    }
    expect(await backup(db.url)).toEqual(before)
  })
})

describe('MySQL adapter: rows from other engines and from Smart Backup files', () => {
  it('creates tables from another engine\'s kinds and converts the values exactly', async () => {
    const target = await freshDatabase()
    const events: TableSchema = {
      name: 'Event',
      columns: [
        { name: 'id', type: 'uuid', kind: 'text', nullable: false },
        { name: 'seq', type: 'bigint', kind: 'bigint', nullable: false, identity: 'by-default' },
        { name: 'open', type: 'boolean', kind: 'boolean', nullable: false },
        { name: 'price', type: 'numeric(12,4)', kind: 'decimal', nullable: true },
        { name: 'startsAt', type: 'timestamp with time zone', kind: 'timestamptz', nullable: true },
        { name: 'meta', type: 'jsonb', kind: 'json', nullable: true },
        { name: 'photo', type: 'bytea', kind: 'binary', nullable: true },
        { name: 'status', type: 'event_status', kind: 'enum', nullable: true, enumValues: ['draft', 'live'] },
      ],
      primaryKey: ['id'],
      uniqueConstraints: [{ name: 'Event_seq_key', columns: ['seq'] }],
      indexes: [],
      foreignKeys: [],
    }
    const rows: Row[] = [
      {
        id: '123e4567-e89b-42d3-a456-426614174000',
        seq: '9223372036854775807',
        open: true,
        price: '12.3400',
        startsAt: '2024-03-01T09:30:00.123456Z',
        meta: '{"a": 1}',
        photo: 'AAEC',
        status: 'live',
      },
    ]
    const { prepared, results } = await restore(target.url, { schema: { engine: 'postgres', database: 'pg', tables: [events], warnings: [] }, rows: { Event: rows } })
    expect(prepared.created).toEqual(['Event'])
    expect(results.Event).toEqual({ inserted: 1, skipped: 0 })
    const back = await backup(target.url)
    expect(back.rows.Event).toEqual([{ ...rows[0], open: 1, startsAt: '2024-03-01T09:30:00.123456' }])
  })

  it('converts untyped Smart Backup values into the target column types', async () => {
    const target = await freshDatabase()
    await sql(
      target.url,
      `CREATE TABLE User (id VARCHAR(20) PRIMARY KEY, active TINYINT(1) NOT NULL, createdAt DATETIME(3) NOT NULL, seenAt TIMESTAMP(3) NULL,
        born DATE NULL, settings JSON NULL, score DOUBLE NULL, visits BIGINT NULL)`,
    )
    const untyped = (name: string) => ({ name, type: '', kind: 'unknown' as const, nullable: true })
    const table: TableSchema = {
      name: 'User',
      columns: ['id', 'active', 'createdAt', 'seenAt', 'born', 'settings', 'score', 'visits'].map(untyped),
      primaryKey: ['id'],
      uniqueConstraints: [],
      indexes: [],
      foreignKeys: [],
    }
    const rows: Row[] = [
      {
        id: 'user123',
        active: true,
        createdAt: '2024-01-15T10:30:00.000Z',
        seenAt: '2024-01-15T12:00:00.250+02:00',
        born: '1990-05-01T00:00:00.000Z',
        settings: { theme: 'dark', tags: ['a'] },
        score: 4.5,
        visits: 12,
      },
      { id: 'user456', active: false, createdAt: '2024-01-16T00:00:00Z' },
    ]
    const { results } = await restore(target.url, { schema: { engine: 'mysql', database: '', tables: [table], warnings: [] }, rows: { User: rows } })
    expect(results.User).toEqual({ inserted: 2, skipped: 0 })
    expect((await backup(target.url)).rows.User).toEqual([
      {
        id: 'user123',
        active: 1,
        createdAt: '2024-01-15T10:30:00',
        seenAt: '2024-01-15T10:00:00.25Z',
        born: '1990-05-01',
        settings: '{"theme":"dark","tags":["a"]}',
        score: 4.5,
        visits: '12',
      },
      { id: 'user456', active: 0, createdAt: '2024-01-16T00:00:00', seenAt: null, born: null, settings: null, score: null, visits: null },
    ])
  })

  it('refuses a value MySQL cannot hold, naming table, key and column', async () => {
    const target = await freshDatabase()
    await sql(target.url, 'CREATE TABLE m (id INT PRIMARY KEY, x DOUBLE)')
    const table: TableSchema = {
      name: 'm',
      columns: [
        { name: 'id', type: 'integer', kind: 'integer', nullable: false },
        { name: 'x', type: 'double precision', kind: 'float', nullable: true },
      ],
      primaryKey: ['id'],
      uniqueConstraints: [],
      indexes: [],
      foreignKeys: [],
    }
    const failure = (await restore(target.url, { schema: { engine: 'postgres', database: '', tables: [table], warnings: [] }, rows: { m: [{ id: 1, x: 1 }, { id: 2, x: 'NaN' }] } }).catch(
      (e: unknown) => e,
    )) as DatabaseError
    expect(failure).toBeInstanceOf(DatabaseError)
    expect(failure).toMatchObject({ table: 'm', key: { id: 2 } })
    expect(failure.message).toMatch(/`x` \(double\) cannot hold "NaN"/)
    expect(await sql(target.url, 'SELECT COUNT(*) AS n FROM m')).toEqual([{ n: '0' }])
  })
})

describe('MySQL adapter: reading', () => {
  it('sees one snapshot: rows committed after open are invisible', async () => {
    const { db } = await shopDatabase()
    const source = await openSource(db.url)
    try {
      const schema = await source.describe({ tables: ['allocation'] })
      await sql(db.url, "INSERT INTO allocation VALUES (3, 'late', NULL)")
      const rows: Row[] = []
      for await (const batch of source.readTable(schema.tables[0])) rows.push(...batch)
      expect(rows).toHaveLength(3)
      const stats = await source.stats()
      expect(stats.tables.find((t) => t.name === 'allocation')?.rows).toBe(3)
    } finally {
      await source.close()
    }
  })

  it('streams in batches and leaving early stops the query but keeps the snapshot usable', async () => {
    const db = await freshDatabase()
    await sql(db.url, 'CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(100))', "INSERT INTO big SELECT seq, REPEAT('p', 100) FROM seq_1_to_200000")
    const source = await openSource(db.url)
    try {
      const [table] = (await source.describe()).tables
      const sizes: number[] = []
      for await (const batch of source.readTable(table, { batchSize: 1000 })) {
        sizes.push(batch.length)
        if (sizes.length === 3) break
      }
      expect(sizes).toEqual([1000, 1000, 1000])
      let total = 0
      let last = 0
      for await (const batch of source.readTable(table, { batchSize: 7000 })) {
        expect(batch[0].id).toBe(last + 1)
        last = batch[batch.length - 1].id as number
        total += batch.length
      }
      expect(total).toBe(200000)
      expect((await source.stats()).tables).toEqual([{ name: 'big', rows: 200000, sizeBytes: expect.any(Number) }])
    } finally {
      await source.close()
    }
  })

  it('close() stops a read its consumer abandoned (an iterator never finished nor returned)', { timeout: 20_000 }, async () => {
    const db = await freshDatabase()
    await sql(db.url, 'CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200))', "INSERT INTO big SELECT seq, REPEAT('p', 200) FROM seq_1_to_100000")
    const source = await openSource(db.url)
    const [table] = (await source.describe()).tables
    const iterator = source.readTable(table, { batchSize: 100 })[Symbol.asyncIterator]()
    expect((await iterator.next()).value).toHaveLength(100)
    await source.close()
    await expect(iterator.next()).rejects.toThrow(/closed during the read/)
  })

  it('an abort signal stops a read with its reason', async () => {
    const db = await freshDatabase()
    await sql(db.url, 'CREATE TABLE big (id INT PRIMARY KEY)', 'INSERT INTO big SELECT seq FROM seq_1_to_50000')
    const source = await openSource(db.url)
    try {
      const [table] = (await source.describe()).tables
      const controller = new AbortController()
      const read = async () => {
        for await (const batch of source.readTable(table, { batchSize: 100, signal: controller.signal })) {
          if (batch[0].id === 501) controller.abort(new Error('stop here'))
        }
      }
      await expect(read()).rejects.toThrow('stop here')
      expect((await source.stats()).tables[0].rows).toBe(50000)
    } finally {
      await source.close()
    }
  })

  it('describe() with an unknown table is a UsageError listing the tables', async () => {
    const { db } = await shopDatabase()
    const source = await openSource(db.url)
    try {
      await expect(source.describe({ tables: ['customer', 'nope'] })).rejects.toThrow(UsageError)
      await expect(source.describe({ tables: ['nope'] })).rejects.toThrow(/"nope" not found .* It has: allocation, customer, log, orders/)
      expect((await source.describe({ tables: ['orders'] })).tables.map((t) => t.name)).toEqual(['orders'])
    } finally {
      await source.close()
    }
  })
})

describe('MySQL adapter: bad connections fail fast with a clear, redacted message', () => {
  const admin = new URL(parseDatabaseUrl(process.env.MERGEBACK_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql').url)

  it('wrong password', async () => {
    const url = `mysql://root:wrong-secret@${admin.host}/mysql`
    const failure = (await openSource(url).catch((e: unknown) => e)) as ConnectionError
    expect(failure).toBeInstanceOf(ConnectionError)
    expect(failure.retryable).toBe(false)
    expect(failure.message).toMatch(/refused the credentials for mysql:\/\/root:\*\*\*@/)
    expect(failure.message).not.toContain('wrong-secret')
  })

  it('unknown database', async () => {
    const failure = (await openDestination(`mariadb://root@${admin.host}/no_such_database_mb`).catch((e: unknown) => e)) as ConnectionError
    expect(failure).toBeInstanceOf(ConnectionError)
    expect(failure.message).toBe(`Database "no_such_database_mb" does not exist on the MySQL server at mariadb://root@${admin.host}/no_such_database_mb.`)
  })

  it('nothing listening', async () => {
    const failure = (await openSource('mysql://root:pw@127.0.0.1:1/x').catch((e: unknown) => e)) as ConnectionError
    expect(failure).toBeInstanceOf(ConnectionError)
    expect(failure.message).toMatch(/Could not connect to MySQL at mysql:\/\/root:\*\*\*@127.0.0.1:1\/x: ECONNREFUSED/)
  })

  it('a host that never answers gives up after connectTimeoutMs', { timeout: 10_000 }, async () => {
    const config = parseDatabaseUrl('mysql://root@10.255.255.1:3306/x', { connectTimeoutMs: 500 })
    const failure = (await mysqlAdapter.openSource(config).catch((e: unknown) => e)) as ConnectionError
    expect(failure).toBeInstanceOf(ConnectionError)
    expect(failure.message).toMatch(/10\.255\.255\.1/)
  })
})

// ---------------------------------------------------------------------------------------------
// The shared conformance suite (test/integration/adapters/adapter-suite.ts) on MariaDB
// ---------------------------------------------------------------------------------------------

const ADMIN = new URL(process.env.MERGEBACK_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql')

/** A user with a password, so the suite can check that the password never shows. Dropped after the file. */
const PASSWORD_USER = { name: `mb_${process.pid}_${Math.random().toString(36).slice(2, 8)}`, password: 'suite-secret-pw' }
let passwordUserReady: Promise<void> | undefined
function passwordUser(): Promise<void> {
  passwordUserReady ??= sql(
    ADMIN.toString(),
    `CREATE USER '${PASSWORD_USER.name}'@'%' IDENTIFIED BY '${PASSWORD_USER.password}'`,
    `GRANT ALL ON \`mbtest\\_%\`.* TO '${PASSWORD_USER.name}'@'%'`,
  ).then(() => undefined)
  return passwordUserReady
}
afterAll(async () => {
  if (passwordUserReady) await sql(ADMIN.toString(), `DROP USER IF EXISTS '${PASSWORD_USER.name}'@'%'`)
})

function portableDdl(table: PortableTable): string {
  const keyed = new Set([...(table.primaryKey ?? []), ...(table.unique ?? []).flat(), ...(table.indexes ?? []).flatMap((i) => i.columns)])
  const lines = table.columns.map((c) => {
    const type = c.type === 'integer' ? 'INT' : keyed.has(c.name) ? 'VARCHAR(255)' : 'TEXT'
    return `${quoteIdentifier(c.name)} ${type}${c.nullable === false ? ' NOT NULL' : ''}${c.autoIncrement ? ' AUTO_INCREMENT' : ''}`
  })
  const list = (columns: readonly string[]) => columns.map(quoteIdentifier).join(', ')
  if (table.primaryKey && table.primaryKey.length > 0) lines.push(`PRIMARY KEY (${list(table.primaryKey)})`)
  for (const unique of table.unique ?? []) lines.push(`UNIQUE KEY (${list(unique)})`)
  for (const index of table.indexes ?? []) lines.push(`KEY ${quoteIdentifier(index.name)} (${list(index.columns)})`)
  for (const fk of table.foreignKeys ?? []) {
    lines.push(`CONSTRAINT ${quoteIdentifier(fk.name)} FOREIGN KEY (${list(fk.columns)}) REFERENCES ${quoteIdentifier(fk.referencedTable)} (${list(fk.referencedColumns)})`)
  }
  return `CREATE TABLE ${quoteIdentifier(table.name)} (${lines.join(', ')}) ENGINE=InnoDB`
}

const mysqlFactory: AdapterTestFactory = {
  engine: 'mysql',
  adapter: mysqlAdapter,
  features: { compositeKeys: true, keylessTables: true, foreignKeys: true, notNull: true, autoIncrement: true, indexes: true, schemaChecks: true },
  async createDatabase(): Promise<AdapterTestDatabase> {
    const db = await createMysqlDatabase()
    const connection = await mysql.createConnection({ uri: db.url, multipleStatements: false })
    return {
      config: parseDatabaseUrl(db.url),
      async createTable(table) {
        await connection.query(portableDdl(table))
      },
      async insertRows(table, rows) {
        const columns = Object.keys(rows[0])
        for (let i = 0; i < rows.length; i += 2000) {
          const values = rows.slice(i, i + 2000).map((row) => columns.map((c) => row[c]))
          await connection.query(`INSERT INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) VALUES ?`, [values])
        }
      },
      async insertWithGeneratedKey(table, _keyColumn, row) {
        const columns = Object.keys(row)
        const [result] = await connection.query<mysql.ResultSetHeader>(`INSERT INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) VALUES (?)`, [
          columns.map((c) => row[c]),
        ])
        return result.insertId
      },
      async exec(native) {
        await connection.query(native)
      },
      async drop() {
        await connection.end()
        await db.drop()
      },
    }
  },
  unreachableConfig: () => parseDatabaseUrl('mysql://root:suite-secret-pw@127.0.0.1:1/mbtest_unreachable', { connectTimeoutMs: 2000 }),
  missingDatabaseConfig: () => {
    // The user exists by then (beforeAll below) and may use any mbtest_* database: this one is missing.
    return parseDatabaseUrl(`mysql://${PASSWORD_USER.name}:${PASSWORD_USER.password}@${ADMIN.host}/mbtest_no_such_database`)
  },
  typeMatrix: { setup: [TYPE_MATRIX, MATRIX_ROWS], expected: { matrix: MATRIX_EXPECTED }, kinds: { matrix: MATRIX_KINDS } },
  async readBlockedOnClient(db) {
    // MariaDB says "Writing to net", MySQL 8 "Sending to client", while the socket is full.
    const rows = await sql(
      ADMIN.toString(),
      `SELECT STATE AS state FROM information_schema.PROCESSLIST WHERE DB = '${db.config.database}' AND INFO LIKE 'SELECT %FROM \`big\`%'`,
    )
    return rows.some((r) => r.state === 'Writing to net' || r.state === 'Sending to client')
  },
}

beforeAll(passwordUser)
describeAdapterSuite(mysqlFactory)
