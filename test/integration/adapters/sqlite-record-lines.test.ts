/**
 * The SQLite backup fast path (Source.readRecordLines): record lines built as text per column
 * kind, without row objects. They must be, byte for byte, JSON.stringify of the rows readTable
 * gives, for every storage class in every kind of column, and the source must decline (undefined)
 * a table whose column names JSON.stringify would reorder.
 */
import { describe, expect, it, vi } from 'vitest'
import { statSync } from 'node:fs'
import { sqliteAdapter } from '../../../src/adapters/sqlite/sqlite-adapter.js'
import Database from 'better-sqlite3'
import { GATHER_BYTES, scatteredKeyOrder, SOURCE_CACHE_KIB, SqliteSource, streamedInOrder } from '../../../src/adapters/sqlite/sqlite-source.js'
import { describeDatabase } from '../../../src/adapters/sqlite/sqlite-introspector.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { makeSqliteDatabase } from '../../helpers/databases.js'
import { poisonReleasedChunks, releaseChunk, releasedChunks } from '../../../src/engine/buffer-reclaim.js'
import { bothPaths as bothPathsOf, readLines, readRowsAsLines } from '../../helpers/record-lines.js'

/**
 * Both paths for every table of a database made by `sql`: [table, lines or undefined, lines from
 * rows]. The lines are read twice, on one thread and with the reader thread (a backup's source,
 * sqlite-reader-thread.ts), and must be the same bytes both ways.
 */
async function bothPaths(sql: string): Promise<[string, string | undefined, string][]> {
  const db = await makeSqliteDatabase(sql)
  const source = await sqliteAdapter.openSource(parseDatabaseUrl(db.url))
  const threaded = (await sqliteAdapter.openSource(parseDatabaseUrl(db.url), { sessions: 2 })) as SqliteSource
  try {
    expect((source as SqliteSource).readerThread).toBe(false)
    expect(threaded.readerThread).toBe(true)
    const results = await bothPathsOf(source)
    const schema = await threaded.describe()
    for (const [name, lines] of results) {
      const table = schema.tables.find((t) => t.name === name)!
      expect(await readLines(threaded, table, { batchSize: 7 })).toBe(lines)
    }
    return results
  } finally {
    await source.close()
    await threaded.close()
    db.cleanup()
  }
}

/** Every storage class (and the awkward values of each) in a column of every kind. */
const VALUES = [
  'NULL', '0', '1', '2', '-1', '9223372036854775807', '-9223372036854775808', '1.5', '-0.0', '1e308 * 10', '-1e308 * 10',
  '0.1', '1e21', '123456789012345678', "''", "'text'", "'12'", "'007'", "'line\nbreak \"quoted\" \\ tab\t'", "char(1, 31, 127, 8232)",
  "'😀 é'", "char(55357)", "x''", "x'00ff10'", "'{\"a\":[1,2]}'", "'true'",
  // Text that is not UTF-8 (SQLite keeps what it is given): a stray byte, a cut sequence, an encoded surrogate, a NUL.
  "CAST(x'ff41' AS TEXT)", "CAST(x'41c3' AS TEXT)", "CAST(x'eda080' AS TEXT)", "CAST(x'f4908080c0af' AS TEXT)", "CAST(x'410042' AS TEXT)",
  '39238.17', '-0.5', '100.0', '0.30000000000000004', '1e-7', '123456789012345.6', '5e-324',
]
const TYPES = ['INTEGER', 'REAL', 'TEXT', 'BLOB', '', 'BOOLEAN', 'DECIMAL(10,2)', 'JSON', 'DATETIME']

describe('SQLite readRecordLines', () => {
  it('gives exactly JSON.stringify of readTable rows for every storage class in every kind of column', async () => {
    const columns = TYPES.map((type, i) => `"c${i}" ${type}`).join(', ')
    const inserts = VALUES.map((value, row) => `INSERT INTO t VALUES (${row}, ${TYPES.map(() => value).join(', ')});`).join('\n')
    const results = await bothPaths(`CREATE TABLE t (id INTEGER PRIMARY KEY, ${columns});\n${inserts}`)
    expect(results).toHaveLength(1)
    const [, lines, rows] = results[0]
    expect(rows.split('\n')).toHaveLength(VALUES.length + 1)
    expect(lines).toBe(rows)
  })

  it('keeps odd column names and a table without a key, in rowid order, across chunks', async () => {
    const inserts = Array.from({ length: 1200 }, (_, i) => `INSERT INTO "we""ird" VALUES ('x${i % 7}', ${i}, NULL);`).join('\n')
    const [[, lines, rows]] = await bothPaths(`BEGIN; CREATE TABLE "we""ird" ("a ""b"" \\ c" TEXT, "é" INTEGER, "-1" BLOB);\n${inserts}\nCOMMIT;`)
    expect(lines).toBe(rows)
    expect(rows.split('\n')).toHaveLength(1201)
  })

  it('reads a table several times the size of its small page cache, its keys inserted out of order, whole and in key order', async () => {
    // Keys inserted out of order: read along the key's index, each table page would be read
    // several times, more than the source's cache (SOURCE_CACHE_KIB) can keep; the source sorts
    // instead (scatteredKeyOrder).
    const db = await makeSqliteDatabase(`CREATE TABLE big (k TEXT PRIMARY KEY, n INTEGER, body TEXT);
      WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 3999)
      INSERT INTO big SELECT printf('key-%08d', (i * 7919) % 4000), i, replace(hex(zeroblob(1000)), '00', char(97 + i % 26, 98)) FROM s;`)
    const source = await sqliteAdapter.openSource(parseDatabaseUrl(db.url))
    try {
      expect(statSync(db.file).size).toBeGreaterThan(3 * SOURCE_CACHE_KIB * 1024)
      const [[, lines, rows]] = await bothPathsOf(source)
      expect(lines).toBe(rows)
      const keys = rows.trimEnd().split('\n').map((line) => (JSON.parse(line) as { k: string }).k)
      expect(keys).toHaveLength(4000)
      expect(keys).toEqual(Array.from({ length: 4000 }, (_, i) => `key-${String(i).padStart(8, '0')}`))
    } finally {
      await source.close()
      db.cleanup()
    }
  })

  it('declines a table whose column names JSON.stringify would move (array indexes, __proto__)', async () => {
    const results = await bothPaths(`CREATE TABLE a (id INTEGER PRIMARY KEY, "1" TEXT); INSERT INTO a VALUES (1, 'x');
      CREATE TABLE b (id INTEGER PRIMARY KEY, "__proto__" TEXT); INSERT INTO b VALUES (1, 'y');
      CREATE TABLE c (id INTEGER PRIMARY KEY, "01" TEXT, "4294967295" TEXT); INSERT INTO c VALUES (1, 'z', 'w');`)
    const byName = new Map(results.map(([name, lines, rows]) => [name, { lines, rows }]))
    expect(byName.get('a')?.lines).toBeUndefined()
    expect(byName.get('b')?.lines).toBeUndefined()
    // Not array indexes: kept in place by JSON.stringify, so the fast path takes them.
    expect(byName.get('c')?.lines).toBe(byName.get('c')?.rows)
  })

  it('gives the same lines from a UTF-16 database (read through JavaScript) and from a table wider than one concat() call', async () => {
    const wide = Array.from({ length: 150 }, (_, i) => `"w${i}" ${TYPES[i % TYPES.length]}`).join(', ')
    const row = (seed: number) => Array.from({ length: 150 }, (_, i) => VALUES[(i + seed) % VALUES.length]).join(', ')
    const sql = `CREATE TABLE wide (id INTEGER PRIMARY KEY, ${wide});
      ${Array.from({ length: 40 }, (_, r) => `INSERT INTO wide VALUES (${r}, ${row(r)});`).join('\n')}
      CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER, c REAL); INSERT INTO t VALUES (1, 'é ''q'' \n', 7, 1.25), (2, CAST(x'ff' AS TEXT), NULL, 0.1);`
    for (const [, lines, rows] of await bothPaths(sql)) expect(lines).toBe(rows)
    for (const [, lines, rows] of await bothPaths(`PRAGMA encoding = 'UTF-16le'; ${sql}`)) expect(lines).toBe(rows)
  })

  it('spells random reals, integers and texts as JavaScript does, in every kind of column', async () => {
    let seed = 17
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const reals = Array.from({ length: 300 }, (_, i) => {
      const magnitude = 10 ** Math.floor(random() * 40 - 20)
      return i % 3 === 0 ? String(Math.round(random() * 1e7) / 100) : (random() * magnitude).toPrecision(1 + (i % 17))
    })
    const values = [...reals, ...reals.map((r) => `'${r}'`), ...Array.from({ length: 50 }, () => String(Math.floor((random() - 0.5) * 2 ** 53)))]
    const columns = TYPES.map((type, i) => `"c${i}" ${type}`).join(', ')
    const inserts = values.map((value, row) => `INSERT INTO t VALUES (${row}, ${TYPES.map(() => value).join(', ')});`).join('\n')
    const [[, lines, rows]] = await bothPaths(`BEGIN; CREATE TABLE t (id INTEGER PRIMARY KEY, ${columns});\n${inserts}\nCOMMIT;`)
    expect(lines).toBe(rows)
  })

  it('reads a table whose rows lie far from their key order by a scan and a sort, in the order of its key index', async () => {
    // Rows inserted in a scrambled key order (rowids far apart along the key), and tables where the sort is not chosen.
    const scrambled = (table: string, row: (i: number) => string) =>
      `WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 2999) INSERT INTO ${table} SELECT ${row(0)} FROM (SELECT (i * 7919) % 3000 AS i FROM s);`
    const db = await makeSqliteDatabase(`BEGIN;
      CREATE TABLE scattered (a INTEGER, b TEXT COLLATE NOCASE, v TEXT, PRIMARY KEY (a, b));
      ${scrambled('scattered', () => "i % 5, iif(i % 2, 'K', 'k') || printf('%05d', i), 'v' || i")}
      CREATE TABLE named (rowid TEXT, k TEXT PRIMARY KEY);
      ${scrambled('named', () => "'r', printf('%05d', i)")}
      CREATE TABLE ordered (k TEXT PRIMARY KEY, v TEXT);
      WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 2999) INSERT INTO ordered SELECT printf('%05d', i), 'v' FROM s;
      CREATE TABLE wr (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
      ${scrambled('wr', () => "printf('%05d', i), 'v'")}
      CREATE TABLE alias (id INTEGER PRIMARY KEY, v TEXT);
      ${scrambled('alias', () => "i + 1, 'v'")}
      CREATE TABLE nokey (v TEXT);
      COMMIT;`)
    const raw = new Database(db.file, { readonly: true })
    const source = await sqliteAdapter.openSource(parseDatabaseUrl(db.url))
    try {
      raw.defaultSafeIntegers(true)
      const schema = describeDatabase(raw, 'main')
      const scattered = Object.fromEntries(schema.tables.map((t) => [t.name, scatteredKeyOrder(raw, t, db.file)]))
      expect(scattered).toEqual({ scattered: true, named: true, ordered: false, wr: false, alias: false, nokey: false })
      const indexOrder = raw.prepare('SELECT a, b FROM scattered INDEXED BY sqlite_autoindex_scattered_1 ORDER BY a, b').raw(true).all() as [bigint, string][]
      const results = await bothPathsOf(source)
      for (const [, lines, rows] of results) expect(lines).toBe(rows)
      const lines = results.find(([name]) => name === 'scattered')![1]!
      const keys = lines.trimEnd().split('\n').map((line) => { const row = JSON.parse(line) as { a: string; b: string }; return [row.a, row.b] })
      expect(keys).toEqual(indexOrder.map(([a, b]) => [String(a), b]))
      expect(keys).toHaveLength(3000)
    } finally {
      raw.close()
      await source.close()
      db.cleanup()
    }
  })

  it('reads tables in blocks of rows in key order, across chunk ends, and reads a chunk with a gap again row by row', async () => {
    const rows = (n: number, row: string, where = '') => `WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ${n - 1}) ${row} FROM s ${where};`
    const db = await makeSqliteDatabase(`BEGIN;
      -- A text key in mostly rowid order (not scattered), every tenth key inserted last, keys of several lengths.
      CREATE TABLE text_key (k TEXT NOT NULL PRIMARY KEY, n INTEGER, r REAL, d DECIMAL(10,2), b BOOLEAN, at DATETIME, j JSON);
      ${rows(300, "INSERT INTO text_key SELECT printf('k%0*d', 1 + i % 4, i), i, i / 4.0, i / 100.0, i % 2, '2026-12-06 07:00:0' || (i % 10), '{\"i\":' || i || '}'")}
      DELETE FROM text_key WHERE n % 10 = 3;
      ${rows(300, "INSERT INTO text_key SELECT printf('k%0*d', 1 + i % 4, i), -i, NULL, NULL, NULL, NULL, NULL", 'WHERE i % 10 = 3')}
      -- An integer key that is no rowid alias, holding reals and text too (ordered by storage class).
      CREATE TABLE int_key (k INT NOT NULL PRIMARY KEY, v TEXT);
      ${rows(100, "INSERT INTO int_key SELECT iif(i % 7 = 0, i + 0.5, iif(i % 11 = 0, 'x' || i, i)), 'v' || i")}
      -- Rowid order: an alias with negative and large rowids, and a table without a key with rows deleted.
      CREATE TABLE alias (id INTEGER PRIMARY KEY, v TEXT, f REAL);
      ${rows(100, "INSERT INTO alias SELECT iif(i % 2, -i, i * 92233720368547), 'v' || i, i * 1.5")}
      CREATE TABLE nokey (v TEXT, f REAL);
      ${rows(100, "INSERT INTO nokey SELECT 'v' || i, i")}
      DELETE FROM nokey WHERE rowid % 3 = 0;
      -- Gaps: a real SQL does not spell (0.1 + 0.2) in a few rows, a blob in a text column; in every row of many chunks.
      CREATE TABLE few_gaps (k TEXT NOT NULL PRIMARY KEY, r REAL, t TEXT);
      ${rows(100, "INSERT INTO few_gaps SELECT printf('%03d', i), iif(i IN (5, 50), 0.1 + 0.2, i), iif(i = 77, x'00ff', 't')")}
      CREATE TABLE many_gaps (id INTEGER PRIMARY KEY, r REAL);
      ${rows(100, "INSERT INTO many_gaps SELECT i, i + 0.1 + 0.2")}
      CREATE TABLE empty (k TEXT NOT NULL PRIMARY KEY);
      -- Columns named as the aliases of the block's SELECT.
      CREATE TABLE aliased (r TEXT NOT NULL PRIMARY KEY, k INTEGER, line TEXT);
      ${rows(50, "INSERT INTO aliased SELECT printf('%02d', i), -i, 'l' || i")}
      -- Declined: a nullable key, a COLLATE, two key columns, a blob column, a column named as the rowid.
      CREATE TABLE nullable_key (k TEXT PRIMARY KEY, v TEXT); INSERT INTO nullable_key VALUES (NULL, 'a'), ('b', 'b');
      CREATE TABLE collated (k TEXT NOT NULL PRIMARY KEY COLLATE NOCASE); INSERT INTO collated VALUES ('b'), ('A');
      CREATE TABLE two_keys (a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b)); INSERT INTO two_keys VALUES ('a', 'b');
      CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB); INSERT INTO blobs VALUES (1, x'01');
      CREATE TABLE named (oid TEXT, v TEXT); INSERT INTO named VALUES ('o', 'v');
      COMMIT;`)
    const source = await sqliteAdapter.openSource(parseDatabaseUrl(db.url))
    const prepare = vi.spyOn(Database.prototype, 'prepare')
    try {
      const schema = await source.describe()
      const blocked = new Set<string>()
      for (const table of schema.tables) {
        const expected = await readRowsAsLines(source, table)
        for (const batchSize of [1, 7, 500]) {
          prepare.mockClear()
          expect(await readLines(source, table, { batchSize })).toBe(expected)
          if (prepare.mock.calls.some(([sql]) => sql.includes('group_concat(line'))) blocked.add(table.name)
          // No aggregate ORDER BY: the plan streams the ordered subquery into it.
          expect(prepare.mock.calls.some(([sql]) => sql.includes('ORDER BY k)'))).toBe(false)
        }
      }
      expect([...blocked].sort()).toEqual(['alias', 'aliased', 'empty', 'few_gaps', 'int_key', 'many_gaps', 'nokey', 'text_key'])
      // The keys in key order, past every chunk end.
      const keys = (await readLines(source, schema.tables.find((t) => t.name === 'text_key')!, { batchSize: 7 }))!.trimEnd().split('\n').map((line) => (JSON.parse(line) as { k: string }).k)
      expect(keys).toHaveLength(300)
      expect(keys).toEqual([...keys].sort())
    } finally {
      prepare.mockRestore()
      await source.close()
      db.cleanup()
    }
  })

  it('hands on chunks of at least GATHER_BYTES, gathered from its batches, in pooled chunks taken again once released', async () => {
    // About 2.6 MB of lines per table, 500-row batches of about 65 KB: a table read in blocks, one read row by row (two key columns).
    const db = await makeSqliteDatabase(`BEGIN;
      CREATE TABLE blocked (id INTEGER PRIMARY KEY, body TEXT);
      CREATE TABLE by_rows (a INTEGER NOT NULL, b TEXT NOT NULL, body TEXT, PRIMARY KEY (a, b));
      WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)
      INSERT INTO blocked SELECT i, printf('%0100d', i) FROM s;
      WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)
      INSERT INTO by_rows SELECT i % 7, printf('%06d', i), printf('%0100d', i) FROM s;
      COMMIT;`)
    const one = await sqliteAdapter.openSource(parseDatabaseUrl(db.url))
    const threaded = (await sqliteAdapter.openSource(parseDatabaseUrl(db.url), { sessions: 2 })) as SqliteSource
    poisonReleasedChunks(true)
    try {
      for (const source of [one, threaded]) {
        for (const table of (await source.describe()).tables) {
          const released = releasedChunks()
          const sizes: number[] = []
          let text = ''
          // Each chunk is read before it is released (the backup: once the writer and the index have copied it); a released chunk is overwritten.
          for await (const chunk of source.readRecordLines!(table)!) {
            sizes.push(chunk.length)
            text += chunk.toString('utf8')
            releaseChunk(chunk)
          }
          expect(text).toBe(await readRowsAsLines(source, table))
          expect(sizes.length).toBeGreaterThan(2)
          expect(sizes.slice(0, -1).every((size) => size >= GATHER_BYTES && size < GATHER_BYTES + 100_000)).toBe(true)
          expect(releasedChunks() - released).toBeGreaterThanOrEqual(sizes.length - 1)
        }
      }
    } finally {
      poisonReleasedChunks(false)
      await one.close()
      await threaded.close()
      db.cleanup()
    }
  })

  it('checks that the aggregate takes the ordered subquery as it streams (streamedInOrder)', async () => {
    const db = await makeSqliteDatabase(`CREATE TABLE t (k TEXT NOT NULL PRIMARY KEY, v TEXT); INSERT INTO t VALUES ('a', 'x'), ('b', 'y');`)
    const raw = new Database(db.file, { readonly: true })
    const context = { file: db.file, table: 't', action: 'reading' }
    try {
      const subquery = "(SELECT v AS line, k AS k, rowid AS r FROM main.t WHERE k > ? ORDER BY 2 LIMIT 10)"
      expect(streamedInOrder(raw, `SELECT group_concat(line, ''), max(k), r, count(*) FROM ${subquery}`, 1, context)).toBe(true)
      // An aggregate sorting its own input, an aggregate read straight off the table, a grouped one: not that plan.
      expect(streamedInOrder(raw, `SELECT group_concat(line, '' ORDER BY k), max(k), r, count(*) FROM ${subquery}`, 1, context)).toBe(false)
      expect(streamedInOrder(raw, `SELECT group_concat(v, ''), max(k), rowid, count(*) FROM main.t`, 0, context)).toBe(false)
      expect(streamedInOrder(raw, `SELECT group_concat(line, '') FROM ${subquery} GROUP BY line`, 1, context)).toBe(false)
    } finally {
      raw.close()
      db.cleanup()
    }
  })
})
