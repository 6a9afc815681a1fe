/**
 * The SQLite adapter against real SQLite files: round trips of every kind and storage class,
 * streaming and early exit, restore semantics (skip by key, whole-row identity, drop), merge
 * support, foreign keys, and the unhappy paths (missing file, not a database, failed restore
 * leaves the file byte-identical or removes the file it created).
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import type { ConnectionConfig, DatabaseSchema, Destination, Row, TableSchema } from '../../../src/adapters/adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { sqliteAdapter } from '../../../src/adapters/sqlite/sqlite-adapter.js'
import { ConnectionError, DatabaseError, FormatError, NotFoundError, UsageError } from '../../../src/errors.js'
import { makeSqlitePath, makeTempDir } from '../../helpers/databases.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

function newFile(): { file: string; config: ConnectionConfig } {
  const { file, url, cleanup } = makeSqlitePath()
  cleanups.push(cleanup)
  return { file, config: parseDatabaseUrl(url) }
}

function sqlite(file: string, sql: string): void {
  const db = new Database(file)
  try {
    db.exec(sql)
  } finally {
    db.close()
  }
}

function query<T = Record<string, unknown>>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true })
  db.defaultSafeIntegers(true)
  try {
    return db.prepare(sql).all(...params) as T[]
  } finally {
    db.close()
  }
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

/** Every row of every table with each value's storage class, to compare two databases exactly. */
function snapshot(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true })
  db.defaultSafeIntegers(true)
  try {
    const tables = (db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map(
      (t) => t.name,
    )
    const result: Record<string, unknown[]> = {}
    for (const table of tables) {
      const columns = (db.prepare(`SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0`).all(table) as { name: string }[]).map((c) => c.name)
      const select = columns.map((c) => `"${c}", typeof("${c}") AS "${c}:type"`).join(', ')
      const rows = db.prepare(`SELECT ${select} FROM "${table}" ORDER BY ${columns.map((c) => `"${c}"`).join(', ')}`).all()
      result[table] = rows.map((row) =>
        Object.fromEntries(
          Object.entries(row as Record<string, unknown>).map(([k, v]) => [
            k,
            Buffer.isBuffer(v) ? `blob:${v.toString('hex')}` : typeof v === 'bigint' ? `int:${v}` : Object.is(v, -0) ? 'real:-0' : typeof v === 'number' ? `real:${v}` : v,
          ]),
        ),
      )
    }
    return result
  } finally {
    db.close()
  }
}

async function readAll(config: ConnectionConfig, options: { tables?: string[]; batchSize?: number } = {}): Promise<{ schema: DatabaseSchema; rows: Record<string, Row[]> }> {
  const source = await sqliteAdapter.openSource(config)
  try {
    const schema = await source.describe({ tables: options.tables })
    const rows: Record<string, Row[]> = {}
    for (const table of schema.tables) {
      rows[table.name] = []
      for await (const batch of source.readTable(table, { batchSize: options.batchSize })) rows[table.name].push(...batch)
    }
    return { schema, rows }
  } finally {
    await source.close()
  }
}

async function* batchesOf(rows: readonly Row[], size = 100): AsyncGenerator<Row[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size)
}

/** Restores `data` (as read by readAll) into `config`, the way the engine does. */
async function restoreInto(
  config: ConnectionConfig,
  data: { schema: DatabaseSchema; rows: Record<string, Row[]> },
  options: { drop?: boolean; dryRun?: boolean; tables?: string[] } = {},
): Promise<Record<string, { inserted: number; skipped: number }>> {
  const destination = await sqliteAdapter.openDestination(config)
  try {
    const tables = data.schema.tables.filter((t) => !options.tables || options.tables.includes(t.name))
    await destination.prepare({ ...data.schema, tables }, { mode: 'restore', drop: Boolean(options.drop) })
    const results: Record<string, { inserted: number; skipped: number }> = {}
    for (const table of tables) results[table.name] = await destination.writeRows(table, batchesOf(data.rows[table.name] ?? []))
    await destination.finish()
    if (options.dryRun) await destination.rollback()
    else await destination.commit()
    return results
  } catch (error) {
    await destination.rollback(error)
    throw error
  } finally {
    await destination.close()
  }
}

const EVENT_SCHEMA = `
CREATE TABLE "User" (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT,
  createdAt DATETIME NOT NULL,
  updatedAt DATETIME NOT NULL
);
CREATE TABLE Room (id INTEGER PRIMARY KEY, name TEXT NOT NULL, photo BLOB, capacity INTEGER NOT NULL CHECK (capacity > 0));
CREATE TABLE Registration (
  id TEXT PRIMARY KEY,
  userId TEXT NOT NULL REFERENCES "User"(id),
  status TEXT NOT NULL DEFAULT 'pending',
  metadata JSON,
  amount DECIMAL(10,2),
  paid BOOLEAN NOT NULL DEFAULT 0,
  updatedAt DATETIME NOT NULL
);
CREATE INDEX registration_user_idx ON Registration(userId);
CREATE TABLE RoomAllocation (
  roomId INTEGER NOT NULL REFERENCES Room(id),
  registrationId TEXT NOT NULL REFERENCES Registration(id),
  night DATE NOT NULL,
  PRIMARY KEY (roomId, registrationId)
) WITHOUT ROWID;
CREATE TABLE "Audit Log" (at TEXT, actor TEXT, note TEXT);
INSERT INTO "User" VALUES
  ('u1', 'ana@example.com', 'Ana Müller', '2026-01-01T10:00:00.123Z', '2026-01-02T10:00:00.000Z'),
  ('u2', 'bo@example.com', '博 王 🎉', '2026-01-01T11:00:00.000Z', '2026-01-03T11:00:00.000Z'),
  ('u3', 'cy@example.com', NULL, 1767261600000, 1767261600000);
INSERT INTO Room (name, photo, capacity) VALUES ('Aurora', x'89504e470d0a1a0a', 2), ('Birch', x'', 3), ('Cedar', NULL, 1);
INSERT INTO Registration VALUES
  ('r1', 'u1', 'confirmed', '{"diet": "vegan", "big": 12345678901234567890123}', 120.5, 1, '2026-02-01T00:00:00Z'),
  ('r2', 'u2', 'pending', '{"notes": "line1\\nline2 \\"quoted\\""}', 80, 0, '2026-02-02T00:00:00Z'),
  ('r3', 'u3', 'cancelled', NULL, NULL, 0, '2026-02-03T00:00:00Z');
INSERT INTO RoomAllocation VALUES (1, 'r1', '2026-03-01'), (2, 'r2', '2026-03-01');
INSERT INTO "Audit Log" VALUES ('2026-01-01', 'system', 'created'), ('2026-01-01', 'system', 'created'), (NULL, NULL, NULL);
`

describe('SQLite source', () => {
  it('describes tables, kinds, keys, indexes and foreign keys', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const source = await sqliteAdapter.openSource(config)
    try {
      const schema = await source.describe()
      expect(schema.engine).toBe('sqlite')
      expect(schema.database).toBe('test.db')
      expect(schema.tables.map((t) => t.name)).toEqual(['Audit Log', 'Registration', 'Room', 'RoomAllocation', 'User'])
      const byName = Object.fromEntries(schema.tables.map((t) => [t.name, t]))
      const kinds = (t: string) => Object.fromEntries(byName[t].columns.map((c) => [c.name, `${c.type}:${c.kind}`]))
      expect(kinds('Registration')).toEqual({
        id: 'TEXT:text',
        userId: 'TEXT:text',
        status: 'TEXT:text',
        metadata: 'JSON:json',
        amount: 'DECIMAL(10,2):decimal',
        paid: 'BOOLEAN:boolean',
        updatedAt: 'DATETIME:text',
      })
      expect(kinds('Room')).toEqual({ id: 'INTEGER:bigint', name: 'TEXT:text', photo: 'BLOB:binary', capacity: 'INTEGER:bigint' })
      const room = byName.Room
      expect(room.primaryKey).toEqual(['id'])
      expect(room.columns[0]).toMatchObject({ autoIncrement: true, nullable: false })
      expect(byName.RoomAllocation.primaryKey).toEqual(['roomId', 'registrationId'])
      expect(byName.RoomAllocation.options).toMatchObject({ withoutRowid: true })
      expect(byName.RoomAllocation.foreignKeys).toEqual([
        { name: 'RoomAllocation_roomId_fkey', columns: ['roomId'], referencedTable: 'Room', referencedColumns: ['id'], onDelete: 'NO ACTION', onUpdate: 'NO ACTION' },
        {
          name: 'RoomAllocation_registrationId_fkey',
          columns: ['registrationId'],
          referencedTable: 'Registration',
          referencedColumns: ['id'],
          onDelete: 'NO ACTION',
          onUpdate: 'NO ACTION',
        },
      ])
      expect(byName.User.uniqueConstraints).toEqual([{ name: 'User_email_key', columns: ['email'] }])
      expect(byName.Registration.indexes).toEqual([
        { name: 'registration_user_idx', columns: ['userId'], unique: false, definition: 'CREATE INDEX registration_user_idx ON Registration(userId)' },
      ])
      expect(byName.Registration.columns.find((c) => c.name === 'status')).toMatchObject({ default: "'pending'", nullable: false })
      expect(byName['Audit Log'].primaryKey).toEqual([])
      expect(schema.warnings).toEqual([])
    } finally {
      await source.close()
    }
  })

  it('reads rows in key order (rowid order without a key) in the wire encoding', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const { rows } = await readAll(config)
    expect(rows.User).toEqual([
      { id: 'u1', email: 'ana@example.com', name: 'Ana Müller', createdAt: '2026-01-01T10:00:00.123Z', updatedAt: '2026-01-02T10:00:00.000Z' },
      { id: 'u2', email: 'bo@example.com', name: '博 王 🎉', createdAt: '2026-01-01T11:00:00.000Z', updatedAt: '2026-01-03T11:00:00.000Z' },
      // Epoch milliseconds in a DATETIME column are kept, as their decimal text.
      { id: 'u3', email: 'cy@example.com', name: null, createdAt: '1767261600000', updatedAt: '1767261600000' },
    ])
    expect(rows.Room).toEqual([
      { id: '1', name: 'Aurora', photo: 'iVBORw0KGgo=', capacity: '2' },
      { id: '2', name: 'Birch', photo: '', capacity: '3' },
      { id: '3', name: 'Cedar', photo: null, capacity: '1' },
    ])
    expect(rows.Registration[0]).toEqual({
      id: 'r1',
      userId: 'u1',
      status: 'confirmed',
      metadata: '{"diet": "vegan", "big": 12345678901234567890123}',
      amount: '120.5',
      paid: true,
      updatedAt: '2026-02-01T00:00:00Z',
    })
    expect(rows.Registration[1]).toMatchObject({ amount: '80', paid: false })
    expect(rows.RoomAllocation).toEqual([
      { roomId: '1', registrationId: 'r1', night: '2026-03-01' },
      { roomId: '2', registrationId: 'r2', night: '2026-03-01' },
    ])
    expect(rows['Audit Log']).toEqual([
      { at: '2026-01-01', actor: 'system', note: 'created' },
      { at: '2026-01-01', actor: 'system', note: 'created' },
      { at: null, actor: null, note: null },
    ])
  })

  it('tags values whose storage class the column kind cannot carry', async () => {
    const { file, config } = newFile()
    sqlite(
      file,
      `CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, n NUMERIC, r REAL, s TEXT, b BLOB, u, flag BOOLEAN);
       INSERT INTO t VALUES (1, 'abc', 'N/A', 'x', x'00ff', 'text in blob', 'plain', 2);
       INSERT INTO t VALUES (2, 1.5, 1e999, -1e999, 'ok', x'', 42, 0);
       INSERT INTO t VALUES (3, 9223372036854775807, -9223372036854775808, 0.1, '', 7, 2.0, 1);
       INSERT INTO t VALUES (4, -9223372036854775808, 12345678901234567890, 1e308, 'x', 1.5, 9007199254740993, 'yes');
       INSERT INTO t VALUES (5, NULL, NULL, NULL, NULL, NULL, -0.0, NULL);
       INSERT INTO t VALUES (6, NULL, NULL, NULL, NULL, NULL, x'cafe', NULL);
       INSERT INTO t VALUES (7, NULL, NULL, NULL, NULL, NULL, 0.25, NULL);`,
    )
    const { rows } = await readAll(config)
    expect(rows.t).toEqual([
      {
        id: '1',
        i: { $sqlite: 'text', value: 'abc' },
        n: { $sqlite: 'text', value: 'N/A' },
        r: { $sqlite: 'text', value: 'x' },
        s: { $sqlite: 'blob', value: 'AP8=' },
        b: { $sqlite: 'text', value: 'text in blob' },
        u: 'plain',
        flag: { $sqlite: 'integer', value: '2' },
      },
      { id: '2', i: { $sqlite: 'real', value: '1.5' }, n: 'Infinity', r: '-Infinity', s: 'ok', b: '', u: 42, flag: false },
      { id: '3', i: '9223372036854775807', n: '-9223372036854775808', r: 0.1, s: '', b: { $sqlite: 'integer', value: '7' }, u: { $sqlite: 'real', value: '2' }, flag: true },
      {
        id: '4',
        i: '-9223372036854775808',
        n: '12345678901234567000',
        r: 1e308,
        s: 'x',
        b: { $sqlite: 'real', value: '1.5' },
        u: { $sqlite: 'integer', value: '9007199254740993' },
        flag: { $sqlite: 'text', value: 'yes' },
      },
      { id: '5', i: null, n: null, r: null, s: null, b: null, u: { $sqlite: 'real', value: '-0' }, flag: null },
      { id: '6', i: null, n: null, r: null, s: null, b: null, u: { $sqlite: 'blob', value: 'yv4=' }, flag: null },
      { id: '7', i: null, n: null, r: null, s: null, b: null, u: 0.25, flag: null },
    ])
  })

  it('streams in batches, and a break finalizes the statement', async () => {
    const { file, config } = newFile()
    sqlite(file, `CREATE TABLE n (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2500) INSERT INTO n SELECT i, 'v' || i FROM c;`)
    const source = await sqliteAdapter.openSource(config)
    try {
      const [table] = (await source.describe()).tables
      const sizes: number[] = []
      for await (const batch of source.readTable(table, { batchSize: 1000 })) sizes.push(batch.length)
      expect(sizes).toEqual([1000, 1000, 500])
      let seen = 0
      for await (const batch of source.readTable(table, { batchSize: 100 })) {
        seen += batch.length
        if (seen >= 300) break
      }
      expect(seen).toBe(300)
      // Reading again after the break works: the first statement was finalized.
      const again: Row[] = []
      for await (const batch of source.readTable(table, { batchSize: 2000 })) again.push(...batch)
      expect(again).toHaveLength(2500)
      expect(again[2499]).toEqual({ id: '2500', v: 'v2500' })
      const iterator = source.readTable(table, { batchSize: 10 })[Symbol.asyncIterator]()
      await iterator.next()
      await expect(
        (async () => {
          for await (const _ of { [Symbol.asyncIterator]: () => iterator }) throw new Error('consumer failed')
        })(),
      ).rejects.toThrow('consumer failed')
    } finally {
      await source.close()
    }
    // Closed cleanly: the file can be written at once.
    sqlite(file, `INSERT INTO n VALUES (2501, 'x')`)
  })

  it('sees one snapshot while another connection writes', async () => {
    const { file, config } = newFile()
    sqlite(file, `PRAGMA journal_mode = WAL; CREATE TABLE n (id INTEGER PRIMARY KEY); INSERT INTO n VALUES (1), (2);`)
    const source = await sqliteAdapter.openSource(config)
    try {
      sqlite(file, `INSERT INTO n VALUES (3)`)
      const [table] = (await source.describe()).tables
      const rows: Row[] = []
      for await (const batch of source.readTable(table)) rows.push(...batch)
      expect(rows).toEqual([{ id: '1' }, { id: '2' }])
      expect((await source.stats()).tables).toEqual([{ name: 'n', rows: 2, sizeBytes: expect.any(Number) }])
    } finally {
      await source.close()
    }
  })

  it('reports stats: version, file size, rows and bytes per table', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const source = await sqliteAdapter.openSource(config)
    try {
      const stats = await source.stats()
      expect(stats).toMatchObject({ engine: 'sqlite', database: 'test.db', sizeBytes: fs.statSync(file).size })
      expect(stats.version).toMatch(/^3\.\d+\.\d+$/)
      expect(stats.tables.map((t) => [t.name, t.rows])).toEqual([
        ['Audit Log', 3],
        ['Registration', 3],
        ['Room', 3],
        ['RoomAllocation', 2],
        ['User', 3],
      ])
      for (const table of stats.tables) expect(table.sizeBytes).toBeGreaterThan(0)
    } finally {
      await source.close()
    }
  })

  it('skips virtual tables it does not carry (FTS4; FTS5 and R*Tree are carried: 14-sqlite-virtual-tables) with a warning, and describes generated columns and expression indexes', async () => {
    const { file, config } = newFile()
    sqlite(
      file,
      `CREATE TABLE doc (id INTEGER PRIMARY KEY, title TEXT, body TEXT,
         "upper title" TEXT GENERATED ALWAYS AS (upper(title)) VIRTUAL,
         size INTEGER AS (length(body) + (1 * 2)) STORED);
       CREATE INDEX doc_lower ON doc (lower(title));
       CREATE UNIQUE INDEX doc_partial ON doc (title) WHERE body IS NOT NULL;
       CREATE VIRTUAL TABLE doc_fts USING fts4(title, body);
       CREATE VIEW doc_titles AS SELECT title FROM doc;
       INSERT INTO doc (title, body) VALUES ('a', 'xyz');`,
    )
    const { schema, rows } = await readAll(config)
    expect(schema.tables.map((t) => t.name)).toEqual(['doc'])
    expect(schema.warnings).toEqual([expect.stringMatching(/"doc_fts" is NOT backed up, nor its rows \(the module fts4 is not one mergeback carries/)])
    const doc = schema.tables[0]
    expect(doc.columns.map((c) => [c.name, c.generated])).toEqual([
      ['id', undefined],
      ['title', undefined],
      ['body', undefined],
      ['upper title', 'upper(title)'],
      ['size', 'length(body) + (1 * 2)'],
    ])
    expect(doc.indexes).toEqual([
      { name: 'doc_lower', columns: [], unique: false, definition: 'CREATE INDEX doc_lower ON doc (lower(title))', options: { expression: true } },
      {
        name: 'doc_partial',
        columns: ['title'],
        unique: true,
        definition: 'CREATE UNIQUE INDEX doc_partial ON doc (title) WHERE body IS NOT NULL',
        options: { partial: true },
      },
    ])
    expect(rows.doc).toEqual([{ id: '1', title: 'a', body: 'xyz', 'upper title': 'A', size: '5' }])
    await expect(readAll(config, { tables: ['doc_fts'] })).rejects.toThrow(UsageError)
  })

  it('refuses an unknown table name, a missing file, a directory and a file that is not a database', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    await expect(readAll(config, { tables: ['Nope'] })).rejects.toThrow(/Table "Nope" does not exist in test.db. It has: Audit Log, Registration/)

    const missing = path.join(path.dirname(file), 'missing.db')
    await expect(sqliteAdapter.openSource(parseDatabaseUrl(`sqlite:${missing}`))).rejects.toThrow(NotFoundError)
    expect(fs.existsSync(missing)).toBe(false)

    await expect(sqliteAdapter.openSource(parseDatabaseUrl(`sqlite:${path.dirname(file)}`))).rejects.toThrow(UsageError)

    const junk = path.join(path.dirname(file), 'junk.db')
    fs.writeFileSync(junk, 'this is not a database, just some text that is long enough to have a header'.repeat(20))
    const before = sha256(junk)
    await expect(sqliteAdapter.openSource(parseDatabaseUrl(`sqlite:${junk}`))).rejects.toThrow(/is not a SQLite database/)
    await expect(sqliteAdapter.openDestination(parseDatabaseUrl(`sqlite:${junk}`))).rejects.toThrow(UsageError)
    expect(sha256(junk)).toBe(before)
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['junk.db', 'test.db'])
  })
})

describe('SQLite round trips', () => {
  it('restores a backup into a new file identically, storage classes included', async () => {
    const { file, config } = newFile()
    sqlite(
      file,
      EVENT_SCHEMA +
        `CREATE TABLE odd (id INTEGER PRIMARY KEY AUTOINCREMENT, i INTEGER, n NUMERIC, r REAL, s TEXT, b BLOB, u, flag BOOLEAN, d DATETIME, j JSON,
           g TEXT GENERATED ALWAYS AS (s || '!') VIRTUAL);
         CREATE TRIGGER odd_touch AFTER UPDATE OF s ON odd BEGIN UPDATE odd SET d = 'touched' WHERE id = new.id; END;
         INSERT INTO odd (i, n, r, s, b, u, flag, d, j) VALUES
           ('abc', 'N/A', 'x', x'00ff', 'text in blob', 'plain', 2, 'not a date', '{"a": [1, 2.50]}'),
           (1.5, 1e999, -1e999, 'tab\there ''quoted'' "double"', x'', 42, 0, 1767261600000, 5),
           (9223372036854775807, -9223372036854775808, 0.1, '', 7, 2.0, 1, 2.5, 'null'),
           (-9223372036854775808, 12345678901234567890, 1e308, 'x', 1.5, 9007199254740993, 'yes', 1e999, '[]'),
           (NULL, 0.30000000000000004, 5e-324, NULL, NULL, -0.0, NULL, NULL, NULL),
           (0, 99.99, -2.2250738585072014e-308, 'emoji 👩‍👩‍👧 and ' || char(0x1F600) || ' and a NUL: ' || char(0) || '.', randomblob(100000), x'cafe', 0, '2026-01-01 10:00:00', '"text"'),
           (NULL, NULL, NULL, 'line1' || char(10) || 'line2' || char(13), NULL, 0.25, NULL, NULL, NULL);
         DELETE FROM odd WHERE id = 7;
         INSERT INTO odd (s, u) VALUES ('after delete', '');
         CREATE TABLE "empty table" (a TEXT PRIMARY KEY);`,
    )
    const data = await readAll(config)
    const target = newFile()
    const results = await restoreInto(target.config, data)
    expect(results.odd).toEqual({ inserted: 7, skipped: 0 })
    expect(results['empty table']).toEqual({ inserted: 0, skipped: 0 })
    expect(snapshot(target.file)).toEqual(snapshot(file))
    // Schema objects come back too: the trigger, the AUTOINCREMENT counter, the index.
    expect(query(target.file, `SELECT name FROM sqlite_schema WHERE type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name`)).toEqual([
      { name: 'odd_touch' },
      { name: 'registration_user_idx' },
    ])
    expect(query(target.file, `SELECT seq FROM sqlite_sequence WHERE name = 'odd'`)).toEqual([{ seq: 8n }])
    // And a second backup of the copy is the same backup.
    expect(await readAll(target.config)).toEqual(data)
  })

  it('restoring twice skips everything, counting duplicates of a keyless table', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const data = await readAll(config)
    const target = newFile()
    await restoreInto(target.config, data)
    const first = snapshot(target.file)
    const again = await restoreInto(target.config, data)
    expect(again).toEqual({
      'Audit Log': { inserted: 0, skipped: 3 },
      Registration: { inserted: 0, skipped: 3 },
      Room: { inserted: 0, skipped: 3 },
      RoomAllocation: { inserted: 0, skipped: 2 },
      User: { inserted: 0, skipped: 3 },
    })
    expect(snapshot(target.file)).toEqual(first)

    // One of the two identical audit rows and the NULL row gone: exactly those come back.
    sqlite(target.file, `DELETE FROM "Audit Log" WHERE rowid IN (2, 3)`)
    const third = await restoreInto(target.config, data, { tables: ['Audit Log'] })
    expect(third['Audit Log']).toEqual({ inserted: 2, skipped: 1 })
    expect(query(target.file, `SELECT count(*) AS n FROM "Audit Log"`)).toEqual([{ n: 3n }])
  })

  it('restores 100k rows in batches', async () => {
    const { file, config } = newFile()
    sqlite(
      file,
      `CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, tag BLOB);
       WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
       INSERT INTO big SELECT i, 'name ' || i, i / 7.0, CASE WHEN i % 10 = 0 THEN randomblob(16) END FROM c;`,
    )
    const source = await sqliteAdapter.openSource(config)
    const target = newFile()
    const destination = await sqliteAdapter.openDestination(target.config)
    try {
      const schema = await source.describe()
      await destination.prepare(schema, { mode: 'restore', drop: false })
      let batches = 0
      const counted = async function* () {
        for await (const batch of source.readTable(schema.tables[0], { batchSize: 5000 })) {
          batches++
          yield batch
        }
      }
      expect(await destination.writeRows(schema.tables[0], counted())).toEqual({ inserted: 100000, skipped: 0 })
      expect(batches).toBe(20)
      expect(await destination.countRows('big')).toBe(100000)
      await destination.finish()
      await destination.commit()
    } finally {
      await destination.close()
      await source.close()
    }
    expect(snapshot(target.file)).toEqual(snapshot(file))
  })
})

describe('SQLite destination', () => {
  it('a failed restore leaves an existing file byte-identical', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const data = await readAll(config)
    const before = sha256(file)
    const broken = {
      ...data,
      rows: { ...data.rows, Room: [...data.rows.Room, { id: '9', name: 'Zero', photo: null, capacity: '0' }] },
    }
    // Drop empties every table, then the CHECK (capacity > 0) fails on the new row.
    const error = await restoreInto(config, broken, { drop: true }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DatabaseError)
    expect(error).toMatchObject({ table: 'Room', key: '9', engineCode: 'SQLITE_CONSTRAINT_CHECK', constraint: 'capacity > 0' })
    expect((error as Error).message).toMatch(/CHECK constraint failed: capacity > 0 \(key "9"\) in table "Room"/)
    expect(sha256(file)).toBe(before)
    expect(fs.readdirSync(path.dirname(file))).toEqual(['test.db'])
  })

  it('a failed or dry-run restore into a new file leaves no file behind', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const data = await readAll(config)
    const target = newFile()
    await restoreInto(target.config, data, { dryRun: true })
    expect(fs.existsSync(target.file)).toBe(false)
    const broken = { ...data, rows: { ...data.rows, User: [{ id: 'u9', email: null, name: 'x', createdAt: 'x', updatedAt: 'x' }] } }
    await expect(restoreInto(target.config, broken)).rejects.toMatchObject({ engineCode: 'SQLITE_CONSTRAINT_NOTNULL', key: 'u9' })
    expect(fs.readdirSync(path.dirname(target.file))).toEqual([])
  })

  it('a missing directory is NotFoundError, and the destination never makes it', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    await expect(sqliteAdapter.openDestination(parseDatabaseUrl(`sqlite:${path.join(dir, 'no', 'such.db')}`))).rejects.toThrow(NotFoundError)
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it('a locked database is a retryable ConnectionError', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const holder = new Database(file)
    holder.exec('BEGIN IMMEDIATE')
    try {
      const error = await sqliteAdapter.openDestination({ ...config, connectTimeoutMs: 50 }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConnectionError)
      expect(error).toMatchObject({ retryable: true })
    } finally {
      holder.exec('ROLLBACK')
      holder.close()
    }
  })

  it('skips rows whose key exists but fails on another unique key, NOT NULL or CHECK', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const { schema } = await readAll(config)
    const user = schema.tables.find((t) => t.name === 'User') as TableSchema
    const attempt = async (rows: Row[]) => {
      const destination = await sqliteAdapter.openDestination(config)
      try {
        await destination.prepare({ ...schema, tables: [user] }, { mode: 'restore', drop: false })
        return await destination.writeRows(user, batchesOf(rows))
      } finally {
        await destination.close()
      }
    }
    const row = { id: 'u1', email: 'new@example.com', name: 'x', createdAt: 'a', updatedAt: 'b' }
    expect(await attempt([row, { ...row, id: 'u4' }])).toEqual({ inserted: 1, skipped: 1 })
    await expect(attempt([{ ...row, id: 'u5', email: 'ana@example.com' }])).rejects.toMatchObject({
      engineCode: 'SQLITE_CONSTRAINT_UNIQUE',
      table: 'User',
      key: 'u5',
      constraint: 'User.email',
    })
    await expect(attempt([{ ...row, id: 'u6', createdAt: null }])).rejects.toMatchObject({ engineCode: 'SQLITE_CONSTRAINT_NOTNULL', key: 'u6' })
    // Nothing was committed by any attempt.
    expect(query(file, `SELECT count(*) AS n FROM "User"`)).toEqual([{ n: 3n }])
  })

  it('inserts in multi-row groups across batches: duplicates inside a group are skipped, a failing row is still named', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const { schema } = await readAll(config)
    const user = schema.tables.find((t) => t.name === 'User') as TableSchema
    const attempt = async (rows: Row[]) => {
      const destination = await sqliteAdapter.openDestination(config)
      try {
        await destination.prepare({ ...schema, tables: [user] }, { mode: 'restore', drop: false })
        const result = await destination.writeRows(user, batchesOf(rows, 37))
        await destination.finish()
        await destination.commit()
        return result
      } finally {
        await destination.close()
      }
    }
    const make = (i: number): Row => ({ id: `g${i}`, email: `g${i}@example.com`, name: `n${i}`, createdAt: 'a', updatedAt: 'b' })
    // 300 rows in batches of 37 (groups span batches), with every 10th row repeated in place and an existing key.
    const rows = Array.from({ length: 300 }, (_, i) => make(i)).flatMap((row, i) => (i % 10 === 0 ? [row, row] : [row]))
    rows.splice(150, 0, { ...make(0), id: 'u1' })
    expect(await attempt(rows)).toEqual({ inserted: 300, skipped: 31 })
    expect(query(file, `SELECT count(*) AS n FROM "User"`)).toEqual([{ n: 303n }])
    // A NOT NULL violation deep inside a group: the error names that row's key; nothing is written.
    const failing: Row[] = Array.from({ length: 200 }, (_, i) => ({ ...make(i), id: `h${i}`, email: `h${i}@example.com` }))
    failing[130] = { ...failing[130], createdAt: null }
    await expect(attempt(failing)).rejects.toMatchObject({ engineCode: 'SQLITE_CONSTRAINT_NOTNULL', table: 'User', key: 'h130' })
    const unique: Row[] = Array.from({ length: 200 }, (_, i) => ({ ...make(i), id: `k${i}`, email: `k${i}@example.com` }))
    unique[99] = { ...unique[99], email: 'g5@example.com' }
    await expect(attempt(unique)).rejects.toMatchObject({ engineCode: 'SQLITE_CONSTRAINT_UNIQUE', key: 'k99', constraint: 'User.email' })
    expect(query(file, `SELECT count(*) AS n FROM "User"`)).toEqual([{ n: 303n }])
  })

  it('builds the indexes of the tables it creates after their rows, and keeps their names and definitions', async () => {
    const { file, config } = newFile()
    sqlite(file, `${EVENT_SCHEMA}\nCREATE INDEX "User_name_idx" ON "User" (name); CREATE UNIQUE INDEX "User_name_email_key" ON "User" (name, email);`)
    const data = await readAll(config)
    const target = newFile()
    await restoreInto(target.config, data)
    const indexes = (f: string) => query(f, `SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'index' ORDER BY name`)
    expect(indexes(target.file)).toEqual(indexes(file))
    expect(snapshot(target.file)).toEqual(snapshot(file))
    // A failure after the writes leaves no file, deferred indexes or not.
    const orphan = { ...data, rows: { ...data.rows, Registration: [...data.rows.Registration, { ...data.rows.Registration[0], id: 'r9', userId: 'u99' }] } }
    const third = newFile()
    await expect(restoreInto(third.config, orphan)).rejects.toMatchObject({ constraint: 'Registration_userId_fkey' })
    expect(fs.existsSync(third.file)).toBe(false)
  })

  it("builds a keyed table's unique indexes after its rows too: rows they refuse fail finish() and leave no file", async () => {
    const { file, config } = newFile()
    sqlite(file, `CREATE TABLE item (id TEXT PRIMARY KEY, code TEXT NOT NULL); CREATE UNIQUE INDEX item_code ON item (code); INSERT INTO item VALUES ('a', 'x'), ('b', 'y');`)
    const data = await readAll(config)
    const target = newFile()
    // A row repeating a key is skipped whatever its other values: the key is checked first.
    const repeated = { ...data, rows: { item: [...data.rows.item, { id: 'a', code: 'y' }] } }
    expect(await restoreInto(target.config, repeated)).toEqual({ item: { inserted: 2, skipped: 1 } })
    expect(query(target.file, `SELECT sql FROM sqlite_schema WHERE name = 'item_code'`)).toEqual([{ sql: 'CREATE UNIQUE INDEX item_code ON item (code)' }])
    const twice = { ...data, rows: { item: [...data.rows.item, { id: 'c', code: 'x' }] } }
    const third = newFile()
    const error = await restoreInto(third.config, twice).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DatabaseError)
    expect(error).toMatchObject({ engineCode: 'SQLITE_CONSTRAINT_UNIQUE', table: 'item', constraint: 'item.code' })
    expect(fs.existsSync(third.file)).toBe(false)
  })

  it('takes rows in any order and fails at finish() on a foreign key, naming table, key and constraint', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const data = await readAll(config)
    const target = newFile()
    // Children before parents: deferred foreign keys make the order irrelevant.
    const reversed = { ...data, schema: { ...data.schema, tables: [...data.schema.tables].reverse() } }
    await restoreInto(target.config, reversed)
    expect(snapshot(target.file)).toEqual(snapshot(file))

    const orphan = { ...data, rows: { ...data.rows, Registration: [...data.rows.Registration, { ...data.rows.Registration[0], id: 'r9', userId: 'u99' }] } }
    const third = newFile()
    const error = await restoreInto(third.config, orphan).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DatabaseError)
    expect(error).toMatchObject({ table: 'Registration', key: 'r9', constraint: 'Registration_userId_fkey', engineCode: 'SQLITE_CONSTRAINT_FOREIGNKEY' })
    expect((error as Error).message).toBe(
      'Foreign key Registration_userId_fkey failed in table "Registration": the row with key "r9" references "User"(id) = "u99", which does not exist.',
    )
    expect(fs.existsSync(third.file)).toBe(false)
    // An existing empty file, like a new one, has its keys checked by finish() alone (not row by row).
    const empty = newFile()
    fs.writeFileSync(empty.file, '')
    await expect(restoreInto(empty.config, orphan)).rejects.toMatchObject({ table: 'Registration', key: 'r9', constraint: 'Registration_userId_fkey' })
    expect(fs.statSync(empty.file).size).toBe(0)
  })

  it('ignores foreign-key violations that were already in the file', async () => {
    const { file, config } = newFile()
    sqlite(file, `PRAGMA foreign_keys = OFF;` + EVENT_SCHEMA + `INSERT INTO Registration VALUES ('r0', 'ghost', 'pending', NULL, NULL, 0, 'x');`)
    const data = await readAll(config)
    const extra = { ...data, rows: { ...data.rows, Registration: [...data.rows.Registration, { ...data.rows.Registration[1], id: 'r4' }] } }
    expect(data.rows.Registration[1]).toMatchObject({ id: 'r1', userId: 'u1' })
    const results = await restoreInto(config, extra)
    expect(results.Registration).toEqual({ inserted: 1, skipped: 4 })
  })

  it('drop empties only the selected tables, and refuses to cascade into others', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const data = await readAll(config)
    sqlite(file, `INSERT INTO "User" VALUES ('u7', 'seven@example.com', 'Seven', 'x', 'y'); INSERT INTO "Audit Log" VALUES ('later', 'me', 'kept')`)
    const results = await restoreInto(config, data, { drop: true, tables: ['User', 'Registration', 'Room', 'RoomAllocation'] })
    expect(results.User).toEqual({ inserted: 3, skipped: 0 })
    expect(query(file, `SELECT id FROM "User" ORDER BY id`)).toEqual([{ id: 'u1' }, { id: 'u2' }, { id: 'u3' }])
    expect(query(file, `SELECT count(*) AS n FROM "Audit Log"`)).toEqual([{ n: 4n }])

    // A table outside the selection with rows referencing a selected one: refused, whatever
    // its ON DELETE action (CASCADE would delete them, NO ACTION could leave them dangling).
    sqlite(file, `CREATE TABLE note (id INTEGER PRIMARY KEY, userId TEXT REFERENCES "User"(id) ON DELETE CASCADE); INSERT INTO note VALUES (1, 'u1');`)
    const before = sha256(file)
    await expect(restoreInto(config, data, { drop: true, tables: ['User', 'Registration', 'RoomAllocation'] })).rejects.toThrow(
      /Cannot empty "User": table "note", which is not being restored, has rows referencing it \(note_userId_fkey, ON DELETE CASCADE\)/,
    )
    await expect(restoreInto(config, data, { drop: true, tables: ['User'] })).rejects.toMatchObject({ code: 'DROP_REFERENCED' })
    expect(sha256(file)).toBe(before)

    // Emptying a parent whose rows do not all come back fails on the child left dangling.
    sqlite(file, `DROP TABLE note`)
    const withoutNote = sha256(file)
    const noUsers = { ...data, rows: { ...data.rows, User: data.rows.User.filter((u) => u.id !== 'u3') } }
    await expect(restoreInto(config, noUsers, { drop: true, tables: ['User', 'Registration', 'RoomAllocation'] })).rejects.toMatchObject({
      table: 'Registration',
      key: 'r3',
      constraint: 'Registration_userId_fkey',
    })
    expect(sha256(file)).toBe(withoutNote)
  })

  it('merge: refuses missing tables and columns, reads by keys, updates, counts', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const data = await readAll(config)
    const missingTable = { ...data.schema, tables: [...data.schema.tables, { ...data.schema.tables[0], name: 'Ghost' }] }
    const destination = await sqliteAdapter.openDestination(config)
    try {
      await expect(destination.prepare(missingTable, { mode: 'merge', drop: false })).rejects.toThrow(/"Ghost" does not exist .* a merge creates nothing/)
      const user = data.schema.tables.find((t) => t.name === 'User') as TableSchema
      const extraColumn = { ...user, columns: [...user.columns, { name: 'phone', type: 'TEXT', kind: 'text' as const, nullable: true }] }
      await expect(destination.prepare({ ...data.schema, tables: [extraColumn] }, { mode: 'merge', drop: false })).rejects.toMatchObject({
        code: 'SCHEMA_MISMATCH',
      })
      await destination.prepare(data.schema, { mode: 'merge', drop: false })

      const keys = Array.from({ length: 3000 }, (_, i) => ({ id: `u${i}` }))
      const found = await destination.readByKeys('User', ['id'], keys)
      expect(found.map((r) => r.id).sort()).toEqual(['u1', 'u2', 'u3'])
      expect(found.find((r) => r.id === 'u3')).toEqual(data.rows.User[2])

      const allocations = await destination.readByKeys('RoomAllocation', ['roomId', 'registrationId'], [
        { roomId: '2', registrationId: 'r2' },
        { roomId: 1, registrationId: 'r2' },
        { roomId: '1', registrationId: 'r1' },
      ])
      expect(allocations).toHaveLength(2)

      expect(await destination.updateRows('User', ['id'], [{ id: 'u1', name: 'Ana M.', updatedAt: '2026-05-01T00:00:00.000Z' }, { id: 'u404', name: 'nobody' }])).toBe(1)
      expect(await destination.updateRows('RoomAllocation', ['roomId', 'registrationId'], [{ roomId: '1', registrationId: 'r1', night: '2026-03-02' }])).toBe(1)
      await expect(destination.updateRows('Registration', ['id'], [{ id: 'r1', paid: 'maybe' }])).rejects.toThrow(FormatError)
      expect(await destination.countRows('User')).toBe(3)
      await destination.finish()
      await destination.commit()
    } finally {
      await destination.close()
    }
    expect(query(file, `SELECT name, updatedAt FROM "User" WHERE id = 'u1'`)).toEqual([{ name: 'Ana M.', updatedAt: '2026-05-01T00:00:00.000Z' }])
    expect(query(file, `SELECT night FROM RoomAllocation WHERE roomId = 1`)).toEqual([{ night: '2026-03-02' }])
  })

  it('an update that breaks a foreign key fails at finish()', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const data = await readAll(config)
    const destination = await sqliteAdapter.openDestination(config)
    try {
      await destination.prepare(data.schema, { mode: 'merge', drop: false })
      await destination.updateRows('Registration', ['id'], [{ id: 'r2', userId: 'nobody' }])
      await expect(destination.finish()).rejects.toMatchObject({ table: 'Registration', key: 'r2' })
    } finally {
      await destination.close()
    }
    expect(query(file, `SELECT userId FROM Registration WHERE id = 'r2'`)).toEqual([{ userId: 'u2' }])
  })

  it('restores another engine’s schema and values, and seed rows without types', async () => {
    const target = newFile()
    const schema: DatabaseSchema = {
      engine: 'postgres',
      database: 'app',
      warnings: [],
      tables: [
        {
          name: 'Room',
          columns: [
            { name: 'id', type: 'integer', kind: 'integer', nullable: false, autoIncrement: true },
            { name: 'name', type: 'character varying(80)', kind: 'text', nullable: false },
            { name: 'photo', type: 'bytea', kind: 'binary', nullable: true },
            { name: 'price', type: 'numeric(10,2)', kind: 'decimal', nullable: true },
            { name: 'ratio', type: 'double precision', kind: 'float', nullable: true },
            { name: 'open', type: 'boolean', kind: 'boolean', nullable: true },
            { name: 'opened', type: 'timestamp with time zone', kind: 'timestamptz', nullable: true },
            { name: 'tags', type: 'text[]', kind: 'array', elementKind: 'text', nullable: true },
            { name: 'info', type: 'jsonb', kind: 'json', nullable: true },
            { name: 'big', type: 'bigint', kind: 'bigint', nullable: true },
          ],
          primaryKey: ['id'],
          uniqueConstraints: [{ name: 'room_name_key', columns: ['name'] }],
          indexes: [
            { name: 'room_price_idx', columns: ['price'], unique: false, definition: 'CREATE INDEX room_price_idx ON public."Room" USING btree (price)' },
            { name: 'room_lower_idx', columns: [], unique: false, options: { expression: true } },
          ],
          foreignKeys: [],
        },
        {
          name: 'Booking',
          columns: [
            { name: 'roomId', type: 'integer', kind: 'integer', nullable: false },
            { name: 'guest', type: 'text', kind: 'text', nullable: false },
          ],
          primaryKey: ['roomId', 'guest'],
          uniqueConstraints: [],
          indexes: [],
          foreignKeys: [
            { name: 'booking_room_fkey', columns: ['roomId'], referencedTable: 'Room', referencedColumns: ['id'], onDelete: 'CASCADE' },
            { name: 'booking_hotel_fkey', columns: ['guest'], referencedTable: 'Hotel', referencedColumns: ['id'] },
          ],
        },
        {
          name: 'Seed',
          columns: [
            { name: 'id', type: '', kind: 'unknown', nullable: true },
            { name: 'flag', type: '', kind: 'unknown', nullable: true },
            { name: 'meta', type: '', kind: 'unknown', nullable: true },
            { name: 'when', type: '', kind: 'unknown', nullable: true },
          ],
          primaryKey: ['id'],
          uniqueConstraints: [],
          indexes: [],
          foreignKeys: [],
        },
      ],
    }
    const destination = await sqliteAdapter.openDestination(target.config)
    try {
      const prepared = await destination.prepare(schema, { mode: 'restore', drop: false })
      expect(prepared.created).toEqual(['Room', 'Booking', 'Seed'])
      expect(prepared.warnings).toEqual([
        expect.stringContaining('booking_hotel_fkey'),
        expect.stringContaining('"room_lower_idx"'),
      ])
      const room = { id: 1, name: 'Aurora', photo: 'AAEC', price: '120.50', ratio: 0.1, open: true, opened: '2026-01-01T10:00:00.5Z', tags: ['a', 'b "c"'], info: '{"a": 1}', big: '9223372036854775807' }
      expect(await destination.writeRows(schema.tables[0], batchesOf([room]))).toEqual({ inserted: 1, skipped: 0 })
      expect(await destination.writeRows(schema.tables[1], batchesOf([{ roomId: 1, guest: 'Ana' }]))).toEqual({ inserted: 1, skipped: 0 })
      expect(
        await destination.writeRows(schema.tables[2], batchesOf([{ id: 'seed1', flag: true, meta: { nested: [1, 'x'] }, when: '2024-01-15T10:30:00.000Z' }])),
      ).toEqual({ inserted: 1, skipped: 0 })
      await destination.finish()
      await destination.commit()
    } finally {
      await destination.close()
    }
    const { schema: described, rows } = await readAll(target.config)
    const room = described.tables.find((t) => t.name === 'Room') as TableSchema
    expect(room.columns.map((c) => `${c.name} ${c.type}`)).toEqual([
      'id INTEGER',
      'name character varying(80)',
      'photo BLOB',
      'price numeric(10,2)',
      'ratio REAL',
      'open BOOLEAN',
      'opened TIMESTAMPTZ TEXT',
      'tags JSON',
      'info jsonb',
      'big INTEGER',
    ])
    expect(room.columns[0].autoIncrement).toBe(true)
    expect(room.uniqueConstraints).toEqual([{ name: 'Room_name_key', columns: ['name'] }])
    expect(room.indexes.map((i) => i.name)).toEqual(['room_price_idx'])
    expect(rows.Room).toEqual([
      { id: '1', name: 'Aurora', photo: 'AAEC', price: '120.5', ratio: 0.1, open: true, opened: '2026-01-01T10:00:00.5Z', tags: '["a","b \\"c\\""]', info: '{"a": 1}', big: '9223372036854775807' },
    ])
    expect((described.tables.find((t) => t.name === 'Booking') as TableSchema).foreignKeys.map((k) => [k.referencedTable, k.onDelete])).toEqual([['Room', 'CASCADE']])
    expect(rows.Seed).toEqual([{ id: 'seed1', flag: 1, meta: '{"nested":[1,"x"]}', when: '2024-01-15T10:30:00.000Z' }])
  })

  it('refuses values SQLite would change: NaN, -0, beyond 64 bits, decimals beyond a double, numeric-looking text in a numeric column', async () => {
    const { file, config } = newFile()
    sqlite(file, `CREATE TABLE v (id TEXT PRIMARY KEY, r REAL, i INTEGER, n NUMERIC, d DATETIME, t TEXT, b BLOB)`)
    const { schema } = await readAll(config)
    const table = schema.tables[0]
    const attempt = async (row: Row) => {
      const destination = await sqliteAdapter.openDestination(config)
      try {
        await destination.prepare(schema, { mode: 'restore', drop: false })
        return await destination.writeRows(table, batchesOf([{ id: 'k', ...row }]))
      } finally {
        await destination.close()
      }
    }
    const fits = (column: string, kind: string) => ({ ...table, columns: table.columns.map((c) => (c.name === column ? { ...c, kind: kind as 'text' } : c)) })
    await expect(attempt({ r: 'NaN' })).rejects.toThrow(/NaN/)
    await expect(attempt({ r: '-0' })).rejects.toThrow(/-0/)
    await expect(attempt({ i: '9223372036854775808' })).rejects.toThrow(/64-bit/)
    await expect(attempt({ d: '007' })).rejects.toThrow(/as the number 7/)
    await expect(attempt({ b: 'not base64!' })).rejects.toThrow(FormatError)
    await expect(attempt({ r: 'abc' })).rejects.toThrow(FormatError)
    const withDecimal = async (value: string) => {
      const destination = await sqliteAdapter.openDestination(config)
      try {
        await destination.prepare(schema, { mode: 'restore', drop: false })
        return await destination.writeRows(fits('n', 'decimal'), batchesOf([{ id: value, n: value }]))
      } finally {
        await destination.close()
      }
    }
    await expect(withDecimal('12345678901234567890.5')).rejects.toMatchObject({ key: '12345678901234567890.5', table: 'v' })
    expect(await withDecimal('120.50')).toEqual({ inserted: 1, skipped: 0 })
    // Values that fit are fine, -0 included where SQLite keeps it (an untyped or TEXT column).
    expect(await attempt({ r: '-Infinity', i: '-9223372036854775808', d: '2026-01-01', t: '007', b: '' })).toEqual({ inserted: 1, skipped: 0 })
  })

  it('after commit or rollback only close() is allowed; close() is idempotent', async () => {
    const { file, config } = newFile()
    sqlite(file, EVENT_SCHEMA)
    const destination: Destination = await sqliteAdapter.openDestination(config)
    await destination.prepare({ engine: 'sqlite', database: 'x', tables: [], warnings: [] }, { mode: 'restore', drop: false })
    await destination.finish()
    await destination.commit()
    await expect(destination.countRows('User')).rejects.toThrow(/committed/)
    await destination.rollback()
    await destination.close()
    await destination.close()
  })
})
