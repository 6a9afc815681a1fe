/**
 * The digest path of merge and analyze (engine/merge.ts mergeTableByDigests, issue #17): the
 * database's digests of its rows equal the digests of the backup's record lines for every column
 * kind, and a merge or analyze through them gives exactly the report and the result of the
 * ordinary path (the one a saved plan takes), on changed data with keys in unicode, numerics and
 * timestamps, nulls against absent fields, and a table that falls back to the ordinary path.
 */
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unpackRowDigests, type Row, type RowDigest, type TableSchema } from '../../../src/adapters/adapter.js'
import { postgresAdapter } from '../../../src/adapters/postgres/postgres-adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { analyze, lineDigest, merge, type MergeReport } from '../../../src/engine/merge.js'
import { BackupWriter } from '../../../src/format/writer.js'
import { runCli } from '../../helpers/cli.js'
import { createTestDb, makeBackup, scratch, snapshot, type TestDb } from './harness.js'

const SCHEMA = `
  CREATE TYPE mood AS ENUM ('ok', 'sad');
  CREATE TABLE kinds (
    k text PRIMARY KEY, i integer, b bigint, n numeric(20,5), t text, flag boolean, d date,
    ts timestamp(6), tz timestamptz, tm time, iv interval, j json, jb jsonb, by bytea, u uuid,
    m mood, ia integer[], ta text[]
  );
  CREATE TABLE events (at timestamptz, amount numeric(12,3), note text, updated_at timestamptz, PRIMARY KEY (at, amount));
  CREATE TABLE readings (id integer PRIMARY KEY, value double precision, label text);
`

/** 120 rows with every kind, keys in several scripts (and characters JSON escapes). */
const DATA = `
  INSERT INTO kinds
  SELECT (ARRAY['ключ', 'キー', 'clé', 'key', 'a"b\\c', E'tab\\there', '🎉'])[1 + g % 7] || '-' || lpad(g::text, 4, '0'),
         g, g * 1000000007::bigint, (g * 12.34567)::numeric(20,5), 'text ' || g || ' «ü»', g % 2 = 0,
         DATE '2020-01-01' + g, TIMESTAMP '2021-03-04 05:06:07.123456' + g * INTERVAL '1 hour',
         TIMESTAMPTZ '2022-01-01 00:00:00+02' + g * INTERVAL '1 minute', TIME '12:34:56.789' + g * INTERVAL '1 second',
         g * INTERVAL '1 day 2 hours', json_build_object('g', g, 's', 'é'), jsonb_build_object('g', g, 'n', NULL),
         decode(lpad(to_hex(g), 8, '0'), 'hex'), md5(g::text)::uuid, (ARRAY['ok', 'sad'])[1 + g % 2]::mood,
         ARRAY[g, g + 1], ARRAY['x' || g, NULL]
  FROM generate_series(1, 120) AS g;
  UPDATE kinds SET t = NULL, j = NULL, ia = NULL WHERE i % 10 = 3;
  INSERT INTO events
  SELECT TIMESTAMPTZ '2023-05-06 07:08:09.5+00' + g * INTERVAL '1 second', (g % 3) + 0.125, 'note ' || g, TIMESTAMPTZ '2024-01-01 00:00:00+00'
  FROM generate_series(1, 80) AS g;
  INSERT INTO readings SELECT g, g / 3.0, 'r' || g FROM generate_series(1, 40) AS g;
`

/** What happens to the database after the backup: updates of every kind, nulls, deletions, new rows (a run longer than the walk looks ahead). */
const CHANGES = `
  UPDATE kinds SET i = i + 1 WHERE i % 9 = 0;
  UPDATE kinds SET n = n + 0.00001, tz = tz + INTERVAL '1 microsecond' WHERE i % 11 = 0;
  UPDATE kinds SET t = NULL, flag = NULL WHERE i % 13 = 0;
  UPDATE kinds SET t = 'now ' || i WHERE i % 10 = 3 AND i % 20 = 3;
  UPDATE kinds SET jb = jsonb_build_object('changed', true), ta = ARRAY['y'], by = '\\x00ff' WHERE i % 17 = 0;
  DELETE FROM kinds WHERE i % 7 = 1;
  INSERT INTO kinds (k, i) SELECT 'ключ-' || lpad(g::text, 4, '0') || '-new', g FROM generate_series(1, 50) AS g;
  INSERT INTO kinds (k, i) SELECT 'zzz-' || g, g FROM generate_series(1, 40) AS g;
  UPDATE events SET note = 'later', updated_at = TIMESTAMPTZ '2025-01-01 00:00:00+00' WHERE amount = 1.125;
  UPDATE events SET note = 'earlier', updated_at = TIMESTAMPTZ '2023-01-01 00:00:00+00' WHERE amount = 2.125 AND note LIKE '%5';
  DELETE FROM events WHERE note LIKE '%7';
  UPDATE readings SET value = -1 WHERE id % 4 = 0;
  DELETE FROM readings WHERE id = 5;
  INSERT INTO readings VALUES (100, 0.5, 'new');
`

const TABLES = { kinds: ['k'], events: ['at', 'amount'], readings: ['id'] } as const

/** The same report, conflicts in any order (the two paths meet them in different orders). */
function normalized(report: MergeReport): unknown {
  const sortKey = (c: MergeReport['conflicts'][number]) => `${c.table}\u0000${JSON.stringify(c.key)}`
  return { ...report, conflicts: [...report.conflicts].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0)) }
}

describe('merge and analyze through digests (postgres)', () => {
  const dir = scratch()
  const dbs: TestDb[] = []
  let file = ''

  async function changedDb(): Promise<TestDb> {
    const db = await createTestDb('postgres')
    dbs.push(db)
    await db.exec(SCHEMA + DATA + CHANGES)
    return db
  }

  beforeAll(async () => {
    const origin = await createTestDb('postgres')
    dbs.push(origin)
    await origin.exec(SCHEMA + DATA)
    file = await makeBackup(origin, dir.file('origin.json'))
  })

  afterAll(async () => {
    for (const db of dbs) await db.drop()
    dir.cleanup()
  })

  it("gives every line of an unchanged table the database's digest of that row, in key order, for every column kind", async () => {
    const db = await createTestDb('postgres')
    dbs.push(db)
    await db.exec(SCHEMA + DATA)
    const lines = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{"k":'))
      .map((line) => line.replace(/,$/, '')) // the separator is not part of the record line
    expect(lines).toHaveLength(120)
    const destination = await postgresAdapter.openDestination(parseDatabaseUrl(db.url), { readOnly: true })
    try {
      const schema = await destination.describe()
      const kinds = schema.tables.find((t) => t.name === 'kinds')!
      const digests: RowDigest[] = []
      for await (const batch of (await destination.readRowDigests!('kinds', kinds.columns.map((c) => c.name)))!) digests.push(...unpackRowDigests(batch))
      expect(digests.map(([, digest]) => digest)).toEqual(lines.map((line) => lineDigest(Buffer.from(line))))
      expect(digests.map(([key]) => (JSON.parse(key) as string[])[0])).toEqual(lines.map((line) => (JSON.parse(line) as Row).k))
      // A column the line cannot spell exactly: no digests, the caller takes the ordinary path.
      const readings = schema.tables.find((t) => t.name === 'readings')!
      expect(await destination.readRowDigests!('readings', readings.columns.map((c) => c.name))).toBeUndefined()
      // Digests without the key column could not be matched to records.
      expect(await destination.readRowDigests!('kinds', ['i', 't'])).toBeUndefined()
    } finally {
      await destination.close()
    }
  })

  it('reads a table of several pages in the order of its lines, across every page boundary, for a text and a composite key', async () => {
    // 25 003 rows: two full pages of 10 000 and a short one. Keys whose byte order (COLLATE "C",
    // as the rows are ordered) is not a locale's order: upper and lower case, accents, other
    // scripts; the composite key's second column decides within the first's runs, which cross pages.
    const db = await createTestDb('postgres')
    dbs.push(db)
    await db.exec(`
      CREATE TABLE paged (k text PRIMARY KEY, v integer);
      INSERT INTO paged SELECT (ARRAY['b', 'B', 'á', 'a', 'Z', 'ключ', '_'])[1 + g % 7] || lpad((g * 7919 % 25003)::text, 5, '0'), g FROM generate_series(1, 25003) AS g;
      CREATE TABLE paired (a text, b integer, note text, PRIMARY KEY (a, b));
      INSERT INTO paired SELECT (ARRAY['x', 'X', 'é'])[1 + g % 3], g, 'n' || g FROM generate_series(1, 25003) AS g;
      CREATE TABLE localed (l text COLLATE "en-US-x-icu" PRIMARY KEY, v integer);
      INSERT INTO localed SELECT k, v FROM paged;
    `)
    const backupFile = await makeBackup(db, dir.file('paged.json'))
    const linesOf = (prefix: string) =>
      fs
        .readFileSync(backupFile, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith(prefix))
        .map((line) => line.replace(/,$/, ''))
    const destination = await postgresAdapter.openDestination(parseDatabaseUrl(db.url), { readOnly: true })
    try {
      for (const [table, prefix, key] of [
        ['paged', '{"k":', ['k']],
        ['paired', '{"a":', ['a', 'b']],
        // A key whose collation is not code point order is read row by row (pages after a key
        // compared COLLATE "C" would sort the rest of the table once a page), in the same order.
        ['localed', '{"l":', ['l']],
      ] as const) {
        const lines = linesOf(prefix)
        expect(lines).toHaveLength(25003)
        const digests: RowDigest[] = []
        const counts: number[] = []
        for await (const batch of (await destination.readRowDigests!(table, { paged: ['k', 'v'], paired: ['a', 'b', 'note'], localed: ['l', 'v'] }[table]))!) {
          counts.push(batch.count)
          digests.push(...unpackRowDigests(batch))
        }
        expect(counts).toEqual([10000, 10000, 5003])
        expect(digests.map(([, digest]) => digest)).toEqual(lines.map((line) => lineDigest(Buffer.from(line))))
        expect(digests.map(([k]) => JSON.parse(k) as unknown[])).toEqual(lines.map((line) => key.map((column) => (JSON.parse(line) as Row)[column])))
      }
    } finally {
      await destination.close()
    }
  })

  it('analyze reports exactly what the ordinary path reports, and merge writes exactly what it writes', async () => {
    const viaDigests = await changedDb()
    const viaPlan = await changedDb()
    const options = { batchSize: 7 }
    const analyzed = await analyze(file, viaDigests.url, options)
    const planned = await analyze(file, viaPlan.url, { ...options, plan: dir.file('plan.json') })
    expect(normalized(analyzed)).toEqual(normalized(planned))
    // Not a trivial comparison: every outcome occurs.
    const t = analyzed.tables
    expect(t.kinds.unchanged).toBeGreaterThan(40)
    expect(t.kinds.new).toBe(17) // the deleted rows, i % 7 = 1
    expect(t.kinds.conflicts).toBeGreaterThan(20)
    expect(t.kinds.currentOnly).toBe(90)
    expect(t.events.updated + t.events.kept).toBeGreaterThan(0)
    expect(t.events.new).toBe(5) // notes ending in 7, but those set to "later" first
    expect(t.readings).toMatchObject({ new: 1, conflicts: 10, unchanged: 29, currentOnly: 1 })

    const dryRun = await merge(file, viaDigests.url, { ...options, dryRun: true })
    expect(normalized(dryRun)).toEqual(normalized(analyzed))
    const merged = await merge(file, viaDigests.url, options)
    const applied = await merge(file, viaPlan.url, { plan: dir.file('plan.json') })
    expect(normalized(merged)).toEqual(normalized(applied))
    expect(await snapshot(viaDigests, TABLES)).toEqual(await snapshot(viaPlan, TABLES))
    // Merged: a second analyze finds the backup's records all there.
    const again = await analyze(file, viaDigests.url, options)
    expect(again.tables.kinds).toMatchObject({ new: 0, conflicts: 0, updated: 0 })
  })

  /** The `kinds` table of `db` (its schema and rows), read back as a backup holds them. */
  async function kindsOf(db: TestDb): Promise<{ kinds: TableSchema; rows: Row[] }> {
    const source = await postgresAdapter.openSource(parseDatabaseUrl(db.url))
    try {
      const kinds = (await source.describe({ tables: ['kinds'] })).tables[0]
      const rows: Row[] = []
      for await (const batch of source.readTable(kinds)) rows.push(...batch)
      return { kinds, rows }
    } finally {
      await source.close()
    }
  }

  /** A backup file named `name` of `rows` as the table `kinds`. */
  async function kindsBackup(name: string, kinds: TableSchema, rows: readonly Row[]): Promise<string> {
    const file = dir.file(`${name}.json`)
    const out = fs.createWriteStream(file)
    const writer = new BackupWriter(out, { engine: 'postgres', database: 'x', backupName: name, compression: 'none' })
    await writer.beginTable(kinds)
    await writer.writeRows(rows)
    await writer.endTable()
    await writer.finish()
    await new Promise<void>((resolve) => out.end(resolve))
    return file
  }

  it('a record whose fields are absent from the backup is compared field by field, not as a different line', async () => {
    const db = await changedDb()
    const { kinds, rows: current } = await kindsOf(db)
    // Null fields left out of the record (what a backup made elsewhere may do), one changed value.
    const rows = current.map((row) => Object.fromEntries(Object.entries(row).filter(([, value]) => value !== null)))
    rows[3] = { ...rows[3], t: 'changed' }
    const partial = await kindsBackup('partial', kinds, rows)

    const viaDigests = await analyze(partial, db.url)
    const ordinary = await analyze(partial, db.url, { plan: dir.file('partial-plan.json') })
    expect(normalized(viaDigests)).toEqual(normalized(ordinary))
    expect(viaDigests.tables.kinds).toMatchObject({ new: 0, conflicts: 1, currentOnly: 0, unchanged: rows.length - 1 })
  })

  it('a changed record without a key value fails as on the ordinary path, naming its record', async () => {
    const db = await changedDb()
    const { kinds, rows } = await kindsOf(db)
    rows[3] = { ...rows[3], t: 'changed' }
    rows[6] = { ...rows[6], k: null }
    const keyless = await kindsBackup('keyless', kinds, rows)

    const viaDigests = await analyze(keyless, db.url).then(() => undefined, (error: unknown) => error as Error)
    const ordinary = await analyze(keyless, db.url, { plan: dir.file('keyless-plan.json') }).then(() => undefined, (error: unknown) => error as Error)
    expect(viaDigests?.message).toMatch(/record 6: the key column "k" has no value/)
    expect(viaDigests?.message).toBe(ordinary?.message)
  })
})

describe('the read-ahead on one connection', () => {
  it('a CLI analyze and merge of a table larger than one digest fetch print no pg deprecation warning (queries wait their turn)', async () => {
    const big = await createTestDb('postgres')
    const dir = scratch()
    try {
      // More rows than one FETCH of digests (10 000), with changes in every fetch, so a read by key
      // is asked for while the next FETCH is under way.
      await big.exec(`CREATE TABLE t (id integer PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 25000) AS g;`)
      const file = await makeBackup(big, dir.file('big.json'))
      await big.exec(`UPDATE t SET v = v || 'x' WHERE id % 3 = 0;`)
      for (const args of [['analyze', file], ['merge', file, '--dry-run']]) {
        const run = await runCli([...args, '--db', big.url, '--json'])
        expect(run.code, run.stderr).toBe(0)
        expect(run.json<{ tables: Record<string, { conflicts: number }> }>().tables.t.conflicts).toBe(8333)
        expect(run.stderr).not.toMatch(/DeprecationWarning|already executing a query/)
      }
    } finally {
      await big.drop()
      dir.cleanup()
    }
  })
})
