/**
 * MariaDB increments read their row digests on two sessions of one snapshot (mysql-source.ts,
 * docs/performance.md §Round nine): the two snapshots are started under `LOCK TABLES … READ`
 * taken by a third session, so no commit can fall between them.
 *
 * - The second session sees exactly the main session's rows, with a writer committing all along
 *   (during the lock handshake too): the blocks read on both equal the main session's rows read
 *   one packet each; and a chain of increments made meanwhile restores to the state after exactly
 *   the writer's first K transactions, for the K it shows (all of a transaction, or none of it).
 * - The increment is the same bytes on one session (`jobs: 1`) and on two.
 * - Where the lock cannot be taken (a user without the LOCK TABLES privilege, a writer holding a
 *   table past the lock's 1 s wait), the source reads on one session, with the same increment.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { mysqlAdapter } from '../../../src/adapters/mysql/mysql-adapter.js'
import type { MysqlSource } from '../../../src/adapters/mysql/mysql-source.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import type { Source, TableSchema } from '../../../src/adapters/adapter.js'
import { createMysqlDatabase, makeTempDir, MYSQL_ADMIN_URL, mysqlExec, mysqlQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** 100 000 accounts (several digest blocks: 16 384 rows, then about 32 768), a text-keyed table and a ledger of the writer's transactions. */
const TABLES = `
  CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL, note varchar(40));
  INSERT INTO acct SELECT seq, 1000, CONCAT('n', seq) FROM seq_1_to_100000;
  CREATE TABLE tag (name varchar(40) COLLATE utf8mb4_unicode_ci PRIMARY KEY, v int);
  INSERT INTO tag SELECT CONCAT('tag', seq), seq FROM seq_1_to_3000;
  CREATE TABLE ledger (txn int, part int, PRIMARY KEY (txn, part));
  CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL);
  INSERT INTO counter VALUES (1, 0);`

/**
 * The writer's transaction `i`: moves 1 from an account in the table's first half to one in its
 * second half (so in blocks read on both sessions), and records itself in the ledger.
 */
const FROM = (i: number): number => 1 + ((i * 7919) % 50_000)
const TO = (i: number): number => 50_001 + ((i * 104_729) % 50_000)
const transaction = (i: number): string =>
  `START TRANSACTION;
   UPDATE acct SET bal = bal - 1 WHERE id = ${FROM(i)};
   UPDATE acct SET bal = bal + 1 WHERE id = ${TO(i)};
   INSERT INTO ledger VALUES (${i}, 1), (${i}, 2);
   UPDATE counter SET n = ${i} WHERE id = 1;
   COMMIT;`

/** Commits transactions 1, 2, … on one connection until stopped; resolves with how many. */
function startWriter(url: string): { stop(): Promise<number> } {
  let stopped = false
  const running = (async () => {
    const mysql = await import('mysql2/promise')
    const connection = await mysql.createConnection({ uri: url, multipleStatements: true })
    let i = 0
    try {
      while (!stopped) await connection.query(transaction(++i))
    } finally {
      await connection.end()
    }
    return i
  })()
  return {
    stop: async () => {
      stopped = true
      return running
    },
  }
}

/** readRowDigestBlocks' rows as `<key text> <digest hex>`, sorted. */
async function blockRows(source: Source, table: TableSchema): Promise<string[]> {
  const rows: string[] = []
  for await (const block of source.readRowDigestBlocks!(table)!) {
    for (let i = 0; i < block.count; i++) rows.push(`${block.keyText(i).toString('utf8')} ${block.bytes.toString('hex', block.digestAt[i], block.digestAt[i]! + 16)}`)
  }
  return rows.sort()
}

/** readRowStamps' rows (one packet each, on the main session) as `<key text> <digest hex>`, sorted. */
async function lineRows(source: Source, table: TableSchema): Promise<string[]> {
  const out: string[] = []
  for await (const chunk of source.readRowStamps!(table)!) {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') out.push(line.replace('\x02', ' '))
  }
  return out.sort()
}

/**
 * SHA-256 of every file of `dir`, by name: the backups and their digest indexes and row stamps as
 * they are, the catalog sidecars without the two wall-clock times they record (when the file was
 * created and committed; the backup's own exportedAt is fixed by `now`).
 */
function filesSha256(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of fs.readdirSync(dir).sort()) {
    if (name.startsWith('audit')) continue
    let bytes = fs.readFileSync(path.join(dir, name))
    if (name.endsWith('.meta.json')) {
      const { createdAt: _created, committedAt: _committed, ...rest } = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
      bytes = Buffer.from(JSON.stringify(rest))
    }
    out[name] = createHash('sha256').update(bytes).digest('hex')
  }
  return out
}

/** A copy of `from` (the parent and its sidecars) as a new backup directory. */
function copyDir(from: string, to: string): string {
  fs.mkdirSync(to, { recursive: true })
  for (const name of fs.readdirSync(from)) fs.copyFileSync(path.join(from, name), path.join(to, name))
  return to
}

describe('MariaDB increments on two sessions of one snapshot', () => {
  it('the second session sees the main session\'s rows while a writer commits, and a chain made meanwhile restores to the state after exactly its first K transactions', async () => {
    const db = await createMysqlDatabase('mbtwo_cons')
    cleanups.push(() => db.drop())
    const tmp = makeTempDir('mbtwo-')
    cleanups.push(tmp.cleanup)
    await mysqlExec(db.url, TABLES)
    const dir = path.join(tmp.dir, 'b')
    await backup({ db: db.url, out: dir, name: 'n' })
    const writer = startWriter(db.url)
    let last: string | undefined
    try {
      // Each source's two snapshots are started while the writer commits (its transactions wait
      // for the lock, or the lock for them): the blocks (every other one on the second session)
      // must hold exactly the rows the main session reads.
      for (let round = 0; round < 4; round++) {
        const source = (await mysqlAdapter.openSource(parseDatabaseUrl(db.url), { sessions: 2 })) as MysqlSource
        try {
          expect(source.digestSessions).toBe(2)
          for (const table of (await source.describe()).tables) {
            if (table.name === 'counter') continue
            expect(await blockRows(source, table), `${table.name}, round ${round}`).toEqual(await lineRows(source, table))
          }
        } finally {
          await source.close()
        }
        last = (await backup({ db: db.url, out: dir, name: 'n', incremental: true })).file
      }
    } finally {
      const total = await writer.stop()
      expect(total).toBeGreaterThan(0)
    }
    const target = await createMysqlDatabase('mbtwo_cons_t')
    cleanups.push(() => target.drop())
    await restore({ file: last!, db: target.url })
    const k = Number((await mysqlQuery(target.url, 'SELECT n FROM counter'))[0]!.n)
    expect(k).toBeGreaterThan(0)
    // The ledger holds transactions 1..K, both parts of each, and nothing else.
    const ledger = await mysqlQuery(target.url, 'SELECT COUNT(*) AS rows_, COUNT(DISTINCT txn) AS txns, MIN(txn) AS lo, MAX(txn) AS hi FROM ledger')
    expect(Object.values(ledger[0]!).map(Number)).toEqual([2 * k, k, 1, k])
    // Every account as transactions 1..K left it.
    const expected = new Map<number, number>()
    for (let i = 1; i <= k; i++) {
      expected.set(FROM(i), (expected.get(FROM(i)) ?? 1000) - 1)
      expected.set(TO(i), (expected.get(TO(i)) ?? 1000) + 1)
    }
    const changed = await mysqlQuery(target.url, 'SELECT id, bal FROM acct WHERE bal <> 1000 ORDER BY id')
    expect(changed.map((r) => [Number(r.id), Number(r.bal)])).toEqual([...expected].filter(([, bal]) => bal !== 1000).sort((a, b) => a[0] - b[0]))
    expect(Object.values((await mysqlQuery(target.url, 'SELECT COUNT(*) AS n, SUM(bal) AS total FROM acct'))[0]!).map(Number)).toEqual([100_000, 100_000_000])
  }, 300_000)

  it('leaves both sessions usable when the caller stops reading the blocks early, and closes with a block in flight', async () => {
    const db = await createMysqlDatabase('mbtwo_stop')
    cleanups.push(() => db.drop())
    await mysqlExec(db.url, TABLES)
    const source = (await mysqlAdapter.openSource(parseDatabaseUrl(db.url), { sessions: 2 })) as MysqlSource
    try {
      expect(source.digestSessions).toBe(2)
      const tables = (await source.describe()).tables
      const acct = tables.find((t) => t.name === 'acct')!
      const tag = tables.find((t) => t.name === 'tag')!
      // Out after the first block, with the next ones sent to both sessions.
      for await (const block of source.readRowDigestBlocks!(acct)!) {
        expect(block.count).toBeGreaterThan(0)
        break
      }
      expect(await blockRows(source, tag)).toEqual(await lineRows(source, tag))
      // A read left open (its first block asked for, never finished): close() waits for it.
      const iterator = source.readRowDigestBlocks!(acct)![Symbol.asyncIterator]()
      await iterator.next()
    } finally {
      await source.close()
    }
  }, 120_000)

  it('writes the same bytes on one session and on two, and falls back to one session without the LOCK TABLES privilege or when a writer holds a table', async () => {
    const db = await createMysqlDatabase('mbtwo_same')
    cleanups.push(() => db.drop())
    const tmp = makeTempDir('mbtwo-')
    cleanups.push(tmp.cleanup)
    await mysqlExec(db.url, TABLES)
    const parentDir = path.join(tmp.dir, 'parent')
    await backup({ db: db.url, out: parentDir, name: 'n', now: new Date('2026-12-01T00:00:00Z') })
    await mysqlExec(
      db.url,
      `UPDATE acct SET bal = bal + 1 WHERE id % 97 = 0;
       DELETE FROM acct WHERE id % 1009 = 0;
       INSERT INTO acct VALUES (0, 1, 'first'), (100001, 1, 'last');
       UPDATE tag SET v = -v WHERE v % 50 = 0;
       INSERT INTO ledger VALUES (1, 1);`,
    )
    const now = new Date('2026-12-02T00:00:00Z')
    const increment = async (url: string, name: string, jobs?: number): Promise<Record<string, string>> => {
      const dir = copyDir(parentDir, path.join(tmp.dir, name))
      const made = await backup({ db: url, out: dir, name: 'n', incremental: true, now, ...(jobs !== undefined ? { jobs } : {}) })
      expect(Object.values(made.compared!).every((how) => how === 'stamps'), JSON.stringify(made.compared)).toBe(true)
      return filesSha256(dir)
    }
    const one = await increment(db.url, 'one', 1)
    const two = await increment(db.url, 'two')
    // The increment, its digest index, row stamps and catalog entry.
    expect(Object.keys(two).length).toBeGreaterThanOrEqual(Object.keys(fs.readdirSync(parentDir)).length + 2)
    expect(two).toEqual(one)

    // A user with SELECT on the database but not LOCK TABLES: one session, the same increment.
    const user = `mbnolock_${process.pid}`
    await mysqlQuery(MYSQL_ADMIN_URL, `CREATE USER '${user}'@'%' IDENTIFIED BY 'pw'`, `GRANT SELECT ON \`${db.name}\`.* TO '${user}'@'%'`)
    cleanups.push(async () => void (await mysqlQuery(MYSQL_ADMIN_URL, `DROP USER IF EXISTS '${user}'@'%'`)))
    const limited = new URL(db.url)
    limited.username = user
    limited.password = 'pw'
    const plain = (await mysqlAdapter.openSource(parseDatabaseUrl(limited.toString()), { sessions: 2 })) as MysqlSource
    try {
      expect(plain.digestSessions).toBe(1)
    } finally {
      await plain.close()
    }
    expect(await increment(limited.toString(), 'nolock')).toEqual(one)

    // A writer's open transaction on a table: the lock waits 1 s for it, then one session; its
    // uncommitted row is in neither snapshot.
    const mysql = await import('mysql2/promise')
    const holder = await mysql.createConnection({ uri: db.url })
    try {
      await holder.query('START TRANSACTION')
      await holder.query("UPDATE tag SET v = 0 WHERE name = 'tag1'")
      const started = Date.now()
      const waited = (await mysqlAdapter.openSource(parseDatabaseUrl(db.url), { sessions: 2 })) as MysqlSource
      try {
        expect(waited.digestSessions).toBe(1)
        expect(Date.now() - started).toBeLessThan(10_000)
      } finally {
        await waited.close()
      }
      expect(await increment(db.url, 'busy')).toEqual(one)
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined)
      await holder.end()
    }
  }, 300_000)
})
