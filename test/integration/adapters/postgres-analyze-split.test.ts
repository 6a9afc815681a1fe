/**
 * analyze's read of the current rows' digests on two sessions of one snapshot
 * (postgres-destination.ts readRowDigests, postgres-split-read.ts): the same report as one
 * session; a helper that dies before passing anything on leaves the read whole; a reading
 * session that dies fails the read clearly and leaves no session behind.
 * `splitMinBytes: 1` (MERGEBACK_PG_SPLIT_MIN_BYTES=1 for the engine) makes every keyed table big
 * enough to split.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { unpackRowDigests, type RowDigest } from '../../../src/adapters/adapter.js'
import { PostgresDestination } from '../../../src/adapters/postgres/postgres-destination.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { DatabaseError, ConnectionError } from '../../../src/errors.js'
import { backup } from '../../../src/engine/backup.js'
import { analyze } from '../../../src/engine/merge.js'
import { createPostgresDatabase, databasesOfFile, makeTempDir, pgQuery, POSTGRES_ADMIN_URL, type TestDatabase } from '../../helpers/databases.js'
import path from 'node:path'

const databases = databasesOfFile(() => createPostgresDatabase('mbanasplit'))
afterAll(() => databases.dropAll())
afterEach(() => {
  delete process.env.MERGEBACK_PG_SPLIT_MIN_BYTES
})

const TABLES = `
  CREATE TABLE by_int (id integer PRIMARY KEY, body text, "updatedAt" timestamptz);
  INSERT INTO by_int SELECT g, repeat(md5(g::text), 3), timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 3000) g;
  CREATE TABLE by_text (code text COLLATE "C" PRIMARY KEY, n int);
  INSERT INTO by_text SELECT 'k-' || md5(g::text) || CASE WHEN g % 7 = 0 THEN ' é''"\\' ELSE '' END, g FROM generate_series(1, 3000) g;
  CREATE TABLE by_composite ("roomId" int, "regId" text, seats int, PRIMARY KEY ("roomId", "regId"));
  INSERT INTO by_composite SELECT g % 11, 'r' || g, g FROM generate_series(1, 3000) g;
  ANALYZE;
`

/** Every keyed table's digests as one session of `sessions` reads them, and the tables it split. */
async function digestsOf(db: TestDatabase, sessions: number): Promise<{ digests: Record<string, RowDigest[]>; split: readonly string[] }> {
  const destination = await PostgresDestination.open(parseDatabaseUrl(db.url), { readOnly: true, sessions, splitMinBytes: 1 })
  try {
    const digests: Record<string, RowDigest[]> = {}
    for (const table of (await destination.describe()).tables) {
      const read = await destination.readRowDigests(table.name, table.columns.map((c) => c.name))
      digests[table.name] = []
      for await (const batch of read!) digests[table.name]!.push(...unpackRowDigests(batch))
    }
    return { digests, split: [...destination.splitTables] }
  } finally {
    await destination.close()
  }
}

async function sessionsLeft(db: TestDatabase): Promise<string> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const rows = await pgQuery<{ n: string }>(POSTGRES_ADMIN_URL, 'SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = $1', [db.name])
    if (rows[0]!.n === '0' || Date.now() > deadline) return rows[0]!.n
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('PostgreSQL: analyze reads the current digests of a big table on two sessions', () => {
  it('gives the same digests, and the same analyze report, as one session', async () => {
    const db = await databases.fresh()
    await pgQuery(db.url, TABLES)
    const { dir, cleanup } = makeTempDir()
    try {
      const file = path.join(dir, 'b.json')
      await backup({ db: db.url, out: file })
      // Changes on both sides of every bound: updated, deleted, added (low and high keys).
      await pgQuery(
        db.url,
        `UPDATE by_int SET body = 'changed' WHERE id % 97 = 0; DELETE FROM by_int WHERE id % 250 = 1; INSERT INTO by_int VALUES (0, 'low', now()), (99999, 'high', now());
         UPDATE by_text SET n = -n WHERE n % 89 = 0; DELETE FROM by_text WHERE n % 301 = 0;
         DELETE FROM by_composite WHERE seats % 173 = 0; INSERT INTO by_composite VALUES (99, 'new', 1)`,
      )
      const one = await digestsOf(db, 1)
      const two = await digestsOf(db, 2)
      expect(one.split).toEqual([])
      expect(two.split).toEqual(['by_composite', 'by_int', 'by_text'])
      expect(two.digests).toEqual(one.digests)
      expect(one.digests.by_int!.length).toBe(3000 - 12 + 2)

      process.env.MERGEBACK_PG_SPLIT_MIN_BYTES = '1'
      const reportOne = await analyze(file, db.url, { jobs: 1 })
      const reportTwo = await analyze(file, db.url, { jobs: 2 })
      expect(reportTwo).toEqual(reportOne)
      expect(reportOne.tables.by_int).toMatchObject({ new: 12, unchanged: 3000 - 12 - 30, currentOnly: 2 })
    } finally {
      cleanup()
    }
  })

  it('reads the second part on the reading session, the same digests, when the helper dies before passing anything on', async () => {
    const db = await databases.fresh()
    await pgQuery(db.url, `CREATE TABLE big (id int PRIMARY KEY, body text); INSERT INTO big SELECT g, repeat('y', 500) FROM generate_series(1, 60000) g; ANALYZE`)
    const reference = await digestsOf(db, 1)
    const destination = await PostgresDestination.open(parseDatabaseUrl(db.url), { readOnly: true, sessions: 2, splitMinBytes: 1 })
    try {
      const read = await destination.readRowDigests('big', ['id', 'body'])
      // The helper's COPY has started: end it before the reading session's part is through.
      const killed = await pgQuery<{ killed: boolean }>(
        POSTGRES_ADMIN_URL,
        `SELECT pg_catalog.pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY%>=%'`,
        [db.name],
      )
      expect(killed).toEqual([{ killed: true }])
      const digests: RowDigest[] = []
      for await (const batch of read!) digests.push(...unpackRowDigests(batch))
      expect(destination.splitTables).toEqual(['big'])
      expect(digests).toEqual(reference.digests.big)
    } finally {
      await destination.close()
    }
    expect(await sessionsLeft(db)).toBe('0')
  })

  it('fails the read with a connection error when the reading session dies, and leaves no session behind', async () => {
    const db = await databases.fresh()
    await pgQuery(db.url, `CREATE TABLE big (id int PRIMARY KEY, body text); INSERT INTO big SELECT g, repeat('z', 100) FROM generate_series(1, 60000) g; ANALYZE`)
    const destination = await PostgresDestination.open(parseDatabaseUrl(db.url), { readOnly: true, sessions: 2, splitMinBytes: 1 })
    let failure: unknown
    try {
      const read = await destination.readRowDigests('big', ['id', 'body'])
      let batches = 0
      for await (const batch of read!) {
        expect(batch.count).toBeGreaterThan(0)
        if (++batches === 1) {
          await pgQuery(POSTGRES_ADMIN_URL, `SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'FETCH%'`, [db.name])
        }
      }
    } catch (error) {
      failure = error
    } finally {
      await destination.close()
    }
    expect(destination.splitTables).toEqual(['big'])
    expect(failure).toBeInstanceOf(Error)
    expect(failure instanceof ConnectionError || failure instanceof DatabaseError).toBe(true)
    expect(await sessionsLeft(db)).toBe('0')
    // Read-only: the table is as it was.
    expect(await pgQuery<{ n: string }>(db.url, 'SELECT count(*)::text AS n FROM big')).toEqual([{ n: '60000' }])
  })
})
