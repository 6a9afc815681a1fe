/**
 * The PostgreSQL backup fast path (Source.readRecordLines): PostgreSQL writes every record line
 * itself with row_to_json. It must give, byte for byte, JSON.stringify of the rows readTable
 * gives, for every type it accepts, and decline (undefined) the tables it cannot write exactly.
 */
import fs from 'node:fs'
import { gunzipSync } from 'node:zlib'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import type { Row, TableSchema } from '../../../src/adapters/adapter.js'
import { postgresAdapter } from '../../../src/adapters/postgres/postgres-adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { backup } from '../../../src/engine/backup.js'
import { poisonReleasedChunks, releasedChunks } from '../../../src/engine/buffer-reclaim.js'
import { verify } from '../../../src/engine/inspect.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { restore } from '../../../src/engine/restore.js'
import { FormatError, IntegrityError } from '../../../src/errors.js'
import { BackupWriter } from '../../../src/format/writer.js'
import { createPostgresDatabase, makeTempDir, pgQuery, type TestDatabase, databasesOfFile } from '../../helpers/databases.js'
import { bothPaths as bothPathsOf, readLines } from '../../helpers/record-lines.js'
import { keyCutter } from '../../../src/storage/digest-index.js'
import { stripStamps } from '../../../src/storage/row-stamps.js'

const databases = databasesOfFile(() => createPostgresDatabase('mblines'))
const freshDatabase = databases.fresh
afterAll(() => databases.dropAll())

/** A backup of one table `k` (key `id`) with these columns and rows, written by BackupWriter as given. */
async function writeOneTableBackup(file: string, columns: TableSchema['columns'], rows: Row[]): Promise<void> {
  const out = fs.createWriteStream(file)
  const writer = new BackupWriter(out, { engine: 'postgres', database: 'x', backupName: 'k', compression: 'none' })
  await writer.beginTable({ name: 'k', columns, primaryKey: ['id'], uniqueConstraints: [], indexes: [], foreignKeys: [] })
  await writer.writeRows(rows)
  await writer.endTable()
  await writer.finish()
  await new Promise<void>((resolve) => out.end(resolve))
}

/** Both paths, for every table of the database: [table, lines or undefined, lines from rows]. */
async function bothPaths(db: TestDatabase): Promise<[string, string | undefined, string][]> {
  const source = await postgresAdapter.openSource(parseDatabaseUrl(db.url))
  try {
    return await bothPathsOf(source)
  } finally {
    await source.close()
  }
}

describe('PostgreSQL record lines (backup fast path)', () => {
  it('writes every accepted type exactly as readTable + JSON.stringify, edge values included', async () => {
    const db = await freshDatabase()
    await pgQuery(
      db.url,
      `CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s "quoted"');
       CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
       CREATE DOMAIN short_text AS varchar(10);
       CREATE TABLE t (
         id integer PRIMARY KEY, i2 smallint, i8 bigint, num numeric, num2 numeric(12,2), m money, o oid, pos positive_int,
         flag boolean, tx text, vc varchar(30), st short_text, ch char(5), nm name, "char" "char", u uuid, ip inet, net cidr,
         mac macaddr, x xml, j json, jb jsonb, b bytea, bits bit(4), vb varbit, feeling mood,
         d date, ts timestamp(6), tstz timestamptz, tm time, ttz timetz, iv interval, rng int4range, tsr tstzrange,
         pt point, ints integer[], texts text[], bools boolean[], moods mood[], grid integer[][], uuids uuid[],
         "Mixed Case ""quoted""" text, "__proto__" text);
       INSERT INTO t VALUES
        (1, -32768, -9223372036854775808, 'NaN', -0.01, '-92233720368547758.08', 4294967295, 1,
         true, E'Zoë 🎉\\nline2\\ttab \\\\ back "dq" ''sq'' \\r cr \\x01\\x1f\\x7f \\u2028 /', 'short', 'abc', 'ab', 'pg_class', 'x',
         'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/32', '10.0.0.0/8', '08:00:2b:01:02:03', '<a>&amp;</a>',
         '{"b": 1,   "a": [1, 2], "a": 3}', '{"n": 12345678901234567890123, "s": "\\u00e9\\n"}', '\\x00ff', B'0101', B'', 'it''s "quoted"',
         '2024-02-29', '2024-01-15 10:30:00.123456', '2024-01-15 10:30:00.5+02', '23:59:59.999999', '10:30:00.5+02',
         '1 year 2 mons 3 days 04:05:06.789', '[1,10)', '[2024-01-01 00:00+00,infinity)',
         '(1.5,-2)', '{1,NULL,-2147483648}', ARRAY['a"b', NULL, E'c\\\\d', 'NULL', '', 'x,y', '{}', ' sp ', E'nl\\n'], '{t,f,NULL}',
         '{sad,"it''s \\"quoted\\""}', '{{1,2},{3,NULL}}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', 'm', 'p'),
        (2, 32767, 9223372036854775807, 'Infinity', 9999999999.99, 0, 0, 2147483647,
         false, '', '', '', '', '', '', '00000000-0000-0000-0000-000000000000', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', '',
         'null', '"str"', '\\x', B'0000', B'1', 'sad',
         'infinity', 'infinity', '-infinity', '00:00:00', '00:00:00-05:30', '-1 day +02:00:00', 'empty', 'empty',
         '(0,0)', '{}', '{}', '{}', '{}', '{}', '{}', '', ''),
        (3, 0, 0, '-Infinity', 1.5, 1234.5, 1, 3, NULL, E'\\\\N', E'tab\\there', NULL, 'x', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         E'[\\n  1\\n]', '[]', '\\x5c4e', NULL, NULL, NULL,
         '0044-03-15 BC', '0044-03-15 10:00:00.25 BC', '0044-03-15 10:00:00+00 BC', '24:00:00', '23:59:59+14', '-0.000001 seconds',
         NULL, NULL, NULL, '[0:1]={7,8}', '[5:5]={z}', NULL, NULL, NULL, NULL, NULL, NULL),
        (4, NULL, NULL, 0.000000000000000000000000000001, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         '-infinity', '294276-12-31 23:59:59.999999', '12345-06-07 08:09:10+00', NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, '4713-01-01 BC', '4713-01-01 00:00:00 BC', '4713-01-01 00:00:00+00 BC', NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
       CREATE TABLE keyless (note text, n integer);
       INSERT INTO keyless VALUES ('b', 2), ('a', 1), ('b', 2);`,
    )
    const paths = await bothPaths(db)
    expect(paths.map(([name, lines]) => [name, lines === undefined])).toEqual([
      ['keyless', false],
      ['t', false],
    ])
    for (const [, lines, fromRows] of paths) expect(lines).toBe(fromRows)
    expect(paths[1][2].split('\n')).toHaveLength(6)

    // The lines read with their xmin (a full backup's one pass) are the same bytes once the
    // stamps are off, and the stamps are readRowStamps' (same keys, same xmins).
    const source = await postgresAdapter.openSource(parseDatabaseUrl(db.url))
    try {
      const tables = (await source.describe()).tables
      expect(source.readRecordLinesWithStamps!(tables.find((t) => t.name === 'keyless')!)).toBeUndefined()
      const t = tables.find((x) => x.name === 't')!
      const chunks: Buffer[] = []
      for await (const chunk of source.readRecordLinesWithStamps!(t)!) chunks.push(chunk)
      const stamped = Buffer.concat(chunks)
      const cutter = keyCutter(t)
      const pairs = stamped
        .toString('utf8')
        .split('\n')
        .slice(0, -1)
        .map((line) => {
          const [record, xmin] = line.split('\x02')
          return `${cutter(Buffer.from(record!))}\x02${xmin}`
        })
      expect(stripStamps(stamped).toString('utf8')).toBe(paths[1][1])
      const stamps: Buffer[] = []
      for await (const chunk of source.readRowStamps!(t)!) stamps.push(chunk)
      expect(pairs.sort()).toEqual(Buffer.concat(stamps).toString('utf8').split('\n').slice(0, -1).sort())
    } finally {
      await source.close()
    }
  })

  it('declines tables it cannot write exactly: floats, arrays of other element types, composite and unknown types', async () => {
    const db = await freshDatabase()
    await pgQuery(
      db.url,
      `CREATE TYPE pair AS (a integer, b text);
       CREATE TABLE f4 (id integer PRIMARY KEY, r real); INSERT INTO f4 VALUES (1, 1e-7);
       CREATE TABLE f8 (id integer PRIMARY KEY, d double precision); INSERT INTO f8 VALUES (1, 1e-7);
       CREATE TABLE a8 (id integer PRIMARY KEY, v bigint[]); INSERT INTO a8 VALUES (1, '{1}');
       CREATE TABLE ab (id integer PRIMARY KEY, v bytea[]); INSERT INTO ab VALUES (1, ARRAY['\\x00'::bytea]);
       CREATE TABLE comp (id integer PRIMARY KEY, p pair); INSERT INTO comp VALUES (1, ROW(1, NULL));
       CREATE TABLE ok (id integer PRIMARY KEY);`,
    )
    const paths = await bothPaths(db)
    expect(paths.map(([name, lines]) => [name, lines === undefined])).toEqual([
      ['a8', true],
      ['ab', true],
      ['comp', true],
      ['f4', true],
      ['f8', true],
      ['ok', false],
    ])
  })

  it('writes any text and any timestamp exactly (property)', async () => {
    const db = await freshDatabase()
    await pgQuery(db.url, `CREATE TABLE p (id integer PRIMARY KEY, t text, ts timestamp, tstz timestamptz, d date, b bytea)`)
    // Text PostgreSQL can store: no NUL; lone surrogates cannot be UTF-8.
    const text = fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => s.replace(/\0/g, ''))
    const instant = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
    const row = fc.record({ t: fc.option(text), ts: fc.option(instant), tstz: fc.option(instant), b: fc.option(fc.uint8Array({ maxLength: 100 })) })
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 20 }), async (rows) => {
        await pgQuery(db.url, 'TRUNCATE p')
        for (const [i, r] of rows.entries()) {
          await pgQuery(db.url, 'INSERT INTO p VALUES ($1, $2, $3::timestamptz AT TIME ZONE \'UTC\', $4, $5::timestamptz::date, $6)', [
            i,
            r.t,
            r.ts?.toISOString() ?? null,
            r.tstz?.toISOString() ?? null,
            r.tstz?.toISOString() ?? null,
            r.b === null ? null : Buffer.from(r.b),
          ])
        }
        const [[, lines, fromRows]] = await bothPaths(db)
        expect(lines).toBe(fromRows)
      }),
      { numRuns: 40 },
    )
  })

  it('fails with the server error when a COPY is cancelled midway, and the source reads the table whole after it', async () => {
    const db = await freshDatabase()
    // ~60 MB of lines: far more than the socket buffers hold, so the COPY is still running when cancelled.
    await pgQuery(db.url, `CREATE TABLE big (id integer PRIMARY KEY, pad text); INSERT INTO big SELECT i, repeat('p', 180) FROM generate_series(1, 300000) i`)
    const source = await postgresAdapter.openSource(parseDatabaseUrl(db.url))
    try {
      const [table] = (await source.describe()).tables
      let chunks = 0
      const reading = (async () => {
        for await (const chunk of source.readRecordLines!(table)!) {
          expect(chunk[chunk.length - 1]).toBe(0x0a)
          // The server's ErrorResponse comes between rows, after the cancel from another session.
          if (chunks++ === 0) {
            await pgQuery(db.url, `SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND application_name = 'mergeback' AND query LIKE 'COPY%'`, [db.name])
          }
        }
      })()
      await expect(reading).rejects.toMatchObject({ name: 'DatabaseError', engineCode: '57014', table: 'big' })
      // 57014 (query_canceled) itself says the COPY was still running. Whether a second chunk came
      // before the error is the scheduler's: on a loaded machine the server may send less than a
      // chunk between the first chunk and the cancel (a CI run saw exactly one).
      expect(chunks).toBeGreaterThanOrEqual(1)
      const lines = (await readLines(source, table))!.split('\n')
      expect(lines).toHaveLength(300001)
      expect(lines[299999]).toBe(`{"id":300000,"pad":"${'p'.repeat(180)}"}`)
    } finally {
      await source.close()
    }
  })
})

describe('PostgreSQL restore from record lines (restore fast path)', () => {
  it('restores every accepted type exactly from record lines rewritten as COPY text, keys built after the rows', async () => {
    const source = await freshDatabase()
    await pgQuery(
      source.url,
      `CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s "quoted"');
       CREATE TABLE parent (id bigint PRIMARY KEY, code text UNIQUE);
       CREATE TABLE t (
         id integer PRIMARY KEY, parent bigint REFERENCES parent (id), num numeric(12,2), flag boolean, tx text, ch char(5),
         u uuid, ip inet, j json, jb jsonb, b bytea, bits bit(4), feeling mood, d date, ts timestamp, tstz timestamptz,
         iv interval, r real, twice integer GENERATED ALWAYS AS (id * 2) STORED);
       CREATE INDEX t_tx ON t (tx);
       CREATE TABLE arrays (id integer PRIMARY KEY, ints integer[], texts text[]);
       INSERT INTO parent SELECT i, 'c' || i FROM generate_series(1, 50) i;
       INSERT INTO t SELECT i, 1 + i % 50, i / 7.0, i % 2 = 0, E'row \\\\ "' || i || E'"\\n\\t\\r é 🎉', 'ab', md5(i::text)::uuid,
         '10.0.0.1/8', ('{"a": ' || i || '}')::json, '{"b": [1, 2]}', decode(md5(i::text), 'hex'), B'0101', 'it''s "quoted"',
         '2024-01-01'::date + i, '2024-01-01 10:00:00.5'::timestamp + i * interval '1 minute', '0044-03-15 10:00:00+00 BC',
         '1 day 2 hours', 1.5
       FROM generate_series(1, 3000) i;
       INSERT INTO t (id) VALUES (0);
       INSERT INTO arrays SELECT i, ARRAY[i, NULL], ARRAY['x', NULL, 'y z'] FROM generate_series(1, 10) i;`,
    )
    const tmp = makeTempDir()
    try {
      const file = (await backup({ db: source.url, out: `${tmp.dir}/s.json` })).file
      // The float column keeps table t on the row path for backups; restores rewrite its lines.
      const target = await freshDatabase()
      const report = await restore({ file, db: target.url, batchSize: 50 })
      expect(report.totals).toEqual({ inserted: 3061, skipped: 0 })
      const again = (await backup({ db: target.url, out: `${tmp.dir}/t.json` })).file
      const records = (text: string) => text.split('\n').filter((line) => line.startsWith('{"id"')).sort()
        expect(records(fs.readFileSync(again, 'utf8'))).toEqual(records(fs.readFileSync(file, 'utf8')))
      // Keys, unique constraints, indexes and foreign keys exist after the restore.
      const constraints = await pgQuery<{ c: string }>(target.url, `SELECT conname || ':' || contype::text AS c FROM pg_constraint WHERE conrelid IN ('t'::regclass, 'parent'::regclass) ORDER BY 1`)
      expect(constraints.map((r) => r.c)).toEqual(['parent_code_key:u', 'parent_pkey:p', 't_parent_fkey:f', 't_pkey:p'])
      const indexes = await pgQuery<{ i: string }>(target.url, `SELECT indexname AS i FROM pg_indexes WHERE tablename = 't' ORDER BY 1`)
      expect(indexes.map((r) => r.i)).toEqual(['t_pkey', 't_tx'])
      // Restoring again into the filled database skips every row (the staged path).
      const second = await restore({ file, db: target.url, batchSize: 50 })
      expect(second.totals).toEqual({ inserted: 0, skipped: 3061 })
    } finally {
      tmp.cleanup()
    }
  })

  it('rewrites the lines it can and converts the others as writeRows does (a record without a column: NULL there)', async () => {
    const tmp = makeTempDir()
    try {
      await writeOneTableBackup(
        `${tmp.dir}/absent.json`,
        [
          { name: 'id', type: 'integer', kind: 'integer', nullable: false },
          { name: 'v', type: 'text', kind: 'text', nullable: true },
          { name: 'n', type: 'integer', kind: 'integer', nullable: true },
        ],
        [{ id: 1, v: 'a\tb', n: 1 }, { id: 2, n: 2 }, { id: 3, v: null, n: null }, { n: 4, id: 4, v: 'd' }],
      )
      const target = await freshDatabase()
      expect((await restore({ file: `${tmp.dir}/absent.json`, db: target.url })).totals).toEqual({ inserted: 4, skipped: 0 })
      expect(await pgQuery(target.url, 'SELECT id, v, n FROM k ORDER BY id')).toEqual([
        { id: 1, v: 'a\tb', n: 1 },
        { id: 2, v: null, n: 2 },
        { id: 3, v: null, n: null },
        { id: 4, v: 'd', n: 4 },
      ])
    } finally {
      tmp.cleanup()
    }
  })

  it('fails a restore whose backup holds a key twice when the key is built, as a damaged file naming the table, and leaves the database empty', async () => {
    const tmp = makeTempDir()
    try {
      await writeOneTableBackup(
        `${tmp.dir}/dup.json`,
        [
          { name: 'id', type: 'integer', kind: 'integer', nullable: false },
          { name: 'v', type: 'text', kind: 'text', nullable: true },
        ],
        [
          { id: 1, v: 'a' },
          { id: 1, v: 'b' },
        ],
      )
      const target = await freshDatabase()
      await expect(restore({ file: `${tmp.dir}/dup.json`, db: target.url })).rejects.toMatchObject({ name: 'FormatError', table: 'k', message: expect.stringMatching(/table "k" holds the key \(id\) = 1 twice/) })
      expect(await pgQuery(target.url, `SELECT 1 FROM pg_class WHERE relname = 'k'`)).toEqual([])
    } finally {
      tmp.cleanup()
    }
  })
})

describe('PostgreSQL restore and merge verify the file in their own pass', () => {
  it('a damaged file fails as damaged (not as the SQL error it causes), and the database is left as it was', async () => {
    const source = await freshDatabase()
    await pgQuery(
      source.url,
      `CREATE TABLE a (id integer PRIMARY KEY, v text);
       CREATE TABLE b (id integer PRIMARY KEY, a integer REFERENCES a (id), n integer);
       INSERT INTO a SELECT i, 'v' || i FROM generate_series(1, 2000) i;
       INSERT INTO b SELECT i, i, i FROM generate_series(1, 2000) i;`,
    )
    const tmp = makeTempDir()
    try {
      const file = (await backup({ db: source.url, out: `${tmp.dir}/s.json` })).file
      const text = fs.readFileSync(file, 'utf8')
      const damaged = (name: string, from: string, to: string): string => {
        expect(text).toContain(from)
        fs.writeFileSync(`${tmp.dir}/${name}`, text.replace(from, to))
        return `${tmp.dir}/${name}`
      }
      const edited = damaged('edited.json', '{"id":1999,"a":1999,"n":1999}', '{"id":1999,"a":1999,"n":1998}')
      // Still a `{…}` line, no longer JSON: the server would refuse it before its checksum is compared.
      const broken = damaged('broken.json', '{"id":1500,"a":1500,"n":1500}', '{"id":1500,"a":1500,"n":15 00}')
      const typed = damaged('typed.json', '{"id":1500,"a":1500,"n":1500}', '{"id":1500,"a":1500,"n":"x"}')
      for (const [bad, error] of [
        [edited, IntegrityError],
        [broken, FormatError],
        [typed, IntegrityError],
      ] as const) {
        const empty = await freshDatabase()
        await expect(restore({ file: bad, db: empty.url }), bad).rejects.toBeInstanceOf(error)
        expect(await pgQuery(empty.url, `SELECT relname FROM pg_class WHERE relname IN ('a', 'b')`)).toEqual([])
        // Merging into the source itself: nothing changes there either.
        await pgQuery(source.url, 'DELETE FROM b WHERE id > 1900')
        await expect(analyze(bad, source.url), bad).rejects.toBeInstanceOf(error)
        await expect(merge(bad, source.url), bad).rejects.toBeInstanceOf(error)
        expect(await pgQuery(source.url, 'SELECT count(*)::int AS n FROM b')).toEqual([{ n: 1900 }])
      }
      // The intact file merges the deleted rows back.
      expect((await merge(file, source.url)).totals.new).toBe(100)
    } finally {
      tmp.cleanup()
    }
  })
})

describe('PostgreSQL backup: COPY chunks reused once the file has their bytes', () => {
  it('writes the same, verified bytes plain, gzipped, encrypted and both, with every released chunk overwritten at once', async () => {
    const source = await freshDatabase()
    // About 12 MB of record lines: a dozen 1 MiB COPY chunks, so released ones are taken again.
    await pgQuery(
      source.url,
      `CREATE TABLE big (id integer PRIMARY KEY, label text, n bigint);
       INSERT INTO big SELECT i, repeat(md5(i::text), 8), i * 7 FROM generate_series(1, 40000) i;
       CREATE TABLE other (id text PRIMARY KEY, v text);
       INSERT INTO other SELECT 'k' || i, repeat('x', i % 500) FROM generate_series(1, 5000) i;`,
    )
    const tmp = makeTempDir()
    // A chunk released before the stream had taken its bytes would write 0xee bytes: the tables'
    // checksums (taken over the lines as read) and the plain/gzip comparison would then differ.
    poisonReleasedChunks(true)
    try {
      const text = async (options: { gzip?: boolean; passphrase?: string }, name: string) => {
        const released = releasedChunks()
        const file = (await backup({ db: source.url, out: `${tmp.dir}/${name}`, ...options })).file
        // Plain: released at the file's write callback; gzip: once ParallelGzip has compressed the
        // member (its callback comes when the member starts). Encrypted (no row stamps, so the
        // writer's output is a Buffer of its own): once the writer and the index copied the lines.
        expect(releasedChunks() - released, name).toBeGreaterThan(8)
        const report = await verify(file, { passphrase: options.passphrase })
        expect(report.ok, JSON.stringify(report.checks)).toBe(true)
        expect(report.tables).toEqual({ big: 40000, other: 5000 })
        if (options.passphrase !== undefined) return undefined
        const bytes = fs.readFileSync(file)
        return (options.gzip ? gunzipSync(bytes) : bytes).toString().replace(/"exportedAt": "[^"]*"/, '').replace(/"compression": "[^"]*"/, '')
      }
      const plain = await text({}, 'plain.json')
      expect(plain).toContain(`"label":"${'c4ca4238a0b923820dcc509a6f75849b'.repeat(8)}"`)
      expect(await text({ gzip: true }, 'gzip.json.gz')).toBe(plain)
      await text({ passphrase: 'pool test' }, 'enc.json.enc')
      await text({ gzip: true, passphrase: 'pool test' }, 'both.json.gz.enc')
    } finally {
      poisonReleasedChunks(false)
      tmp.cleanup()
    }
  })
})
