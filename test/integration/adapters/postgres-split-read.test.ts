/**
 * A big table read on two sessions of one snapshot (postgres-split-read.ts): the record lines
 * (with and without row stamps) must be the bytes one session gives, for every kind of first key
 * column it splits on; both sessions must see the snapshot, not rows written after it; a helper
 * that cannot be had, or one that dies, must leave the read whole or failed, never short.
 * `splitMinBytes: 1` makes every keyed table big enough to split.
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { Source, TableSchema } from '../../../src/adapters/adapter.js'
import { PostgresSource } from '../../../src/adapters/postgres/postgres-source.js'
import { HelperSession, type SpoolOpener } from '../../../src/adapters/postgres/postgres-split-read.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { backup } from '../../../src/engine/backup.js'
import { loadRowStamps } from '../../../src/storage/row-stamps.js'
import { createPostgresDatabase, databasesOfFile, makeTempDir, pgQuery, POSTGRES_ADMIN_URL, type TestDatabase } from '../../helpers/databases.js'
import fs from 'node:fs'
import path from 'node:path'

const databases = databasesOfFile(() => createPostgresDatabase('mbsplit'))
afterAll(() => databases.dropAll())

async function openSource(url: string, sessions: number): Promise<PostgresSource> {
  return PostgresSource.open(parseDatabaseUrl(url), { sessions, splitMinBytes: 1 })
}

/** Every table's record lines (or lines with stamps) as one string, read by `source`. */
async function readAll(source: Source, stamped: boolean): Promise<Record<string, string>> {
  const schema = await source.describe()
  const out: Record<string, string> = {}
  // Row stamps are read for keyed tables only.
  for (const table of schema.tables) if (!stamped || table.primaryKey.length > 0) out[table.name] = await readOne(source, table, stamped)
  return out
}

async function readOne(source: Source, table: TableSchema, stamped: boolean): Promise<string> {
  const lines = stamped ? source.readRecordLinesWithStamps!(table) : source.readRecordLines!(table)
  if (lines === undefined) throw new Error(`no record lines for ${table.name}`)
  const parts: Buffer[] = []
  for await (const chunk of lines!) parts.push(chunk)
  return Buffer.concat(parts).toString('utf8')
}

/** Lines of `sessions` = 2 and of 1, and the tables the two-session source split. */
async function bothWays(db: TestDatabase, stamped: boolean): Promise<{ two: Record<string, string>; one: Record<string, string>; split: readonly string[] }> {
  const two = await openSource(db.url, 2)
  const one = await openSource(db.url, 1)
  try {
    return { two: await readAll(two, stamped), one: await readAll(one, stamped), split: [...two.splitTables] }
  } finally {
    await two.close()
    await one.close()
  }
}

const KEYED_TABLES = `
  CREATE TYPE tier AS ENUM ('bronze', 'silver', 'gold', 'platinum');
  CREATE TABLE by_int (id integer PRIMARY KEY, body text);
  INSERT INTO by_int SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 3000) g;
  CREATE TABLE by_text (code text COLLATE "C" PRIMARY KEY, n int);
  INSERT INTO by_text SELECT 'k-' || md5(g::text) || CASE WHEN g % 7 = 0 THEN ' é''"\\' ELSE '' END, g FROM generate_series(1, 3000) g;
  CREATE TABLE by_composite ("roomId" int, "regId" text, seats int, PRIMARY KEY ("roomId", "regId"));
  INSERT INTO by_composite SELECT g % 11, 'r' || g, g FROM generate_series(1, 3000) g;
  CREATE TABLE by_time (at timestamptz PRIMARY KEY, v numeric(12,3));
  INSERT INTO by_time SELECT timestamptz '2024-01-01 00:00:00.123456+00' + g * interval '37 minutes 1.000001 seconds', g / 7.0 FROM generate_series(1, 3000) g;
  CREATE TABLE by_decimal (d numeric PRIMARY KEY, f int);
  INSERT INTO by_decimal SELECT g * 1.0001 - 1500, g / 3 FROM generate_series(1, 3000) g;
  CREATE TABLE by_enum (t tier, n int, PRIMARY KEY (t, n));
  INSERT INTO by_enum SELECT (enum_range(NULL::tier))[1 + g % 4], g FROM generate_series(1, 3000) g;
  CREATE TABLE no_key (v text);
  INSERT INTO no_key SELECT 'v' || g FROM generate_series(1, 500) g;
  ANALYZE;
`

describe('PostgreSQL: a big table read on two sessions of one snapshot', () => {
  it.each([false, true])('gives the bytes of one session for keys of every kind it splits on (with row stamps: %s)', async (stamped) => {
    const db = await databases.fresh()
    await pgQuery(db.url, KEYED_TABLES)
    const { two, one, split } = await bothWays(db, stamped)
    expect(split).toEqual(['by_composite', 'by_decimal', 'by_enum', 'by_int', 'by_text', 'by_time'])
    for (const name of Object.keys(one)) {
      expect(two[name], name).toBe(one[name])
      expect(one[name]!.split('\n').length - 1, name).toBe(name === 'no_key' ? 500 : 3000)
    }
  })

  it('reads the snapshot on both sessions: rows written after it, on either side of the bound, are not seen', async () => {
    const db = await databases.fresh()
    await pgQuery(db.url, KEYED_TABLES)
    const before = await bothWays(db, false)
    const source = await openSource(db.url, 2)
    try {
      // After the snapshot (the source's first statement), before the split: every part of the table changes.
      await pgQuery(db.url, `UPDATE by_int SET body = 'changed' WHERE id % 100 = 0; DELETE FROM by_int WHERE id % 250 = 1; INSERT INTO by_int VALUES (0, 'new low'), (99999, 'new high')`)
      const schema = await source.describe()
      const lines = await readOne(source, schema.tables.find((t) => t.name === 'by_int')!, false)
      expect(source.splitTables).toEqual(['by_int'])
      expect(lines).toBe(before.one.by_int)
    } finally {
      await source.close()
    }
  })

  it('reads on one session, with the same bytes, when the helper cannot connect', async () => {
    const db = await databases.fresh()
    await pgQuery(db.url, KEYED_TABLES)
    const role = `mbsplit_${Math.random().toString(36).slice(2, 8)}`
    await pgQuery(db.url, `CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`)
    try {
      const url = new URL(db.url)
      url.username = role
      const source = await openSource(url.toString(), 2)
      try {
        const lines = await readAll(source, false)
        expect(source.splitTables).toEqual([])
        const reference = await bothWays(db, false)
        expect(lines).toEqual(reference.one)
      } finally {
        await source.close()
      }
    } finally {
      await pgQuery(POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, `/${db.name}`), `REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}; DROP OWNED BY ${role}; DROP ROLE ${role}`)
    }
  })

  it('stays usable after a consumer leaves a split read early, and leaves no session behind when closed', async () => {
    const db = await databases.fresh()
    await pgQuery(db.url, `CREATE TABLE big (id int PRIMARY KEY, body text); INSERT INTO big SELECT g, repeat('x', 900) FROM generate_series(1, 20000) g; ANALYZE`)
    await pgQuery(db.url, KEYED_TABLES)
    const reference = await bothWays(db, false)
    const source = await openSource(db.url, 2)
    const schema = await source.describe()
    const big = schema.tables.find((t) => t.name === 'big')!
    for await (const chunk of source.readRecordLines!(big)!) {
      expect(chunk.length).toBeGreaterThan(0)
      break
    }
    // The next tables split again, on a new helper, and read whole.
    for (const name of ['by_int', 'by_text']) expect(await readOne(source, schema.tables.find((t) => t.name === name)!, false)).toBe(reference.one[name])
    expect(source.splitTables).toEqual(['big', 'by_int', 'by_text'])
    await source.close()
    const sessions = await waitFor(async () => {
      const rows = await pgQuery<{ n: string }>(POSTGRES_ADMIN_URL, `SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = $1`, [db.name])
      return rows[0]!.n === '0' ? rows[0]!.n : undefined
    })
    expect(sessions).toBe('0')
  })

  it('reads the second part on its own session, with the same bytes, when the helper dies before passing anything on', async () => {
    const db = await databases.fresh()
    await pgQuery(db.url, `CREATE TABLE big (id int PRIMARY KEY, body text); INSERT INTO big SELECT g, repeat('y', 2000) FROM generate_series(1, 60000) g; ANALYZE`)
    const reference = await bothWays(db, false)
    const source = await openSource(db.url, 2)
    try {
      const schema = await source.describe()
      const parts: Buffer[] = []
      for await (const chunk of source.readRecordLines!(schema.tables[0]!)!) {
        if (parts.length === 0) {
          // The consumer holds on to the first part while the helper's COPY runs: end the helper.
          const killed = await pgQuery<{ killed: boolean }>(
            POSTGRES_ADMIN_URL,
            `SELECT pg_catalog.pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE 'COPY%>=%'`,
            [db.name],
          )
          expect(killed).toEqual([{ killed: true }])
        }
        parts.push(chunk)
      }
      expect(source.splitTables).toEqual(['big'])
      expect(Buffer.concat(parts).toString('utf8')).toBe(reference.one.big)
    } finally {
      await source.close()
    }
  })

  it('ends the helper\'s COPY when its temporary file refuses a write (a full disk): closing it returns, and no session is left', async () => {
    const db = await databases.fresh()
    await pgQuery(db.url, `CREATE TABLE big (id int PRIMARY KEY, body text); INSERT INTO big SELECT g, repeat('z', 1000) FROM generate_series(1, 30000) g`)
    // The helper imports the snapshot of an exporting session, as it does the source's.
    const exporter = new (await import('pg')).default.Client({ connectionString: db.url })
    await exporter.connect()
    try {
      await exporter.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      const snapshot = (await exporter.query('SELECT pg_catalog.pg_export_snapshot() AS id')).rows[0].id as string
      const helper = await HelperSession.open(parseDatabaseUrl(db.url), snapshot)
      let writes = 0
      const failing: SpoolOpener = async () => ({
        write: (async (buffer: Buffer, _offset: number, length: number) => {
          if (++writes > 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
          return { bytesWritten: length, buffer }
        }) as never,
        read: async () => ({ bytesRead: 0, buffer: Buffer.alloc(0) }) as never,
        close: async () => {},
      })
      const spool = await helper.spool("COPY (SELECT row_to_json(b) FROM big b) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')", 'big', '/nonexistent', failing)
      await spool.settled()
      expect(spool.failed).toBe(true)
      await expect(spool.read().next()).rejects.toThrow(/second session's rows of "big".*ENOSPC.*--jobs 1/)
      await helper.close()
      const left = await waitFor(async () => {
        const rows = await pgQuery<{ n: string }>(POSTGRES_ADMIN_URL, `SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY%big%'`, [db.name])
        return rows[0]!.n === '0' ? rows[0]!.n : undefined
      })
      expect(left).toBe('0')
    } finally {
      await exporter.end()
    }
  })

  it('backs up the same file with --jobs 1 and 2 (and the same digest index and row stamps)', async () => {
    const db = await databases.fresh()
    await pgQuery(db.url, KEYED_TABLES)
    const { dir, cleanup } = makeTempDir()
    try {
      const now = new Date('2026-12-05T00:00:00Z')
      process.env.MERGEBACK_PG_SPLIT_MIN_BYTES = '1'
      const one = await backup({ db: db.url, out: path.join(dir, 'one.json'), now, jobs: 1 })
      const two = await backup({ db: db.url, out: path.join(dir, 'two.json'), now, jobs: 2 })
      delete process.env.MERGEBACK_PG_SPLIT_MIN_BYTES
      expect(two.sha256).toBe(one.sha256)
      expect(fs.readFileSync(path.join(dir, 'two.json.digests'))).toEqual(fs.readFileSync(path.join(dir, 'one.json.digests')))
      // The row stamps' headers hold each snapshot's transaction id, which others' commits move: entries only.
      const stamps = async (file: string) => [...(await loadRowStamps(path.join(dir, file)))!].map(([table, t]) => [table, t.scope, t.entries.toString('hex')])
      expect(await stamps('two.json')).toEqual(await stamps('one.json'))
      // The second part's temporary file went into the backup's directory, unlinked at once.
      expect(fs.readdirSync(dir).filter((f) => f.includes('spool'))).toEqual([])
    } finally {
      cleanup()
    }
  })
})

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
