/**
 * PostgreSQL increments found by row stamps (storage/row-stamps.ts): only keys and xmins are read,
 * and rows whose xmin changed are fetched by key and compared by digest. The increment must be
 * exactly what the digest comparison gives: updates, inserts, deletes, an update to the same
 * value (a new xmin, but not a change), keys that need escaping and a composite key; after VACUUM
 * FULL (the table's file changes, so its stamps are not trusted) the digests decide again.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { recordRowStamps } from '../../../src/engine/incremental.js'
import { postgresAdapter } from '../../../src/adapters/postgres/postgres-adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { loadRowStamps, RowStampsWriter } from '../../../src/storage/row-stamps.js'
import { DigestIndexReader, loadDigestIndex } from '../../../src/storage/digest-index.js'
import { KEY_ORDER_C, keyOrder } from '../../../src/adapters/key-order.js'
import type { TableSchema } from '../../../src/adapters/adapter.js'
import { createPostgresDatabase, makeTempDir, pgQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

async function rows(url: string): Promise<unknown> {
  return {
    item: await pgQuery(url, 'SELECT id, body, n::text FROM item ORDER BY id'),
    pair: await pgQuery(url, 'SELECT a, b, v FROM pair ORDER BY a COLLATE "C", b'),
  }
}

/** A stamps file as table → scope and its entries (hex, sorted: the order of rows is not part of what they say). */
async function stampsByEntry(file: string): Promise<Record<string, { scope: string; entries: string[] }>> {
  const out: Record<string, { scope: string; entries: string[] }> = {}
  for (const [name, table] of (await loadRowStamps(file))!) {
    const entries: string[] = []
    // Each entry as the file holds it ('S' key digest xmin), without its 'S'.
    for (let at = 0; at < table.entries.length; at += 21) entries.push(table.entries.toString('hex', at + 1, at + 21))
    out[name] = { scope: table.scope, entries: entries.sort() }
  }
  return out
}

/** The stamps of every table recorded by a read of its keys and xmins only (recordRowStamps). */
async function twoPassStamps(url: string, file: string): Promise<Record<string, { scope: string; entries: string[] }>> {
  const source = await postgresAdapter.openSource(parseDatabaseUrl(url))
  try {
    const writer = new RowStampsWriter(file)
    for (const table of (await source.describe()).tables) await recordRowStamps(source, table, writer)
    await writer.commit(file)
  } finally {
    await source.close()
  }
  return stampsByEntry(file)
}

/** The tables of a database as its source describes them. */
async function describeTables(url: string): Promise<Map<string, TableSchema>> {
  const source = await postgresAdapter.openSource(parseDatabaseUrl(url))
  try {
    return new Map((await source.describe()).tables.map((t) => [t.name, t]))
  } finally {
    await source.close()
  }
}

/** A digest index as table → its entries (key digest, row digest, key text; sorted). */
async function indexEntries(file: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  for (const [name, table] of (await loadDigestIndex(file))!.tables) {
    const entries: string[] = []
    for (let i = 0; i < table.count; i++) entries.push(`${table.keyDigest(i).toString('hex')} ${table.rowDigest(i).toString('hex')} ${table.keyText(i)}`)
    out[name] = entries.sort()
  }
  return out
}

describe('incremental backups by row stamps on PostgreSQL', () => {
  it('merges the parent\'s entries with the rows as streams in key order (several batches, keys of every kind, a collation unlike byte order) and finds what digests find', async () => {
    const source = await createPostgresDatabase('mbstamps_stream')
    cleanups.push(() => source.drop())
    const tmp = makeTempDir('mbstamps-stream-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'b')
    // words: a text key whose column collation (ICU) sorts otherwise than its bytes ('a' < 'B'
    // there, 'B' < 'a' in bytes), non-ASCII and a character above U+FFFF among them. big: bigint,
    // negative too. combo: text and integer. Each table's index is far larger than one 256 KiB batch.
    await pgQuery(
      source.url,
      `CREATE TABLE words (w text COLLATE "und-x-icu" PRIMARY KEY, v text);
       INSERT INTO words SELECT (ARRAY['a','B','é','Z','ü','😀','ｚ','_'])[1 + g % 8] || g, 'v' || g FROM generate_series(1, 12000) g;
       CREATE TABLE big (id bigint PRIMARY KEY, v text);
       INSERT INTO big SELECT g::bigint * 1000000007 - 6000000042000, 'b' || g FROM generate_series(1, 12000) g;
       CREATE TABLE combo (a varchar(20) COLLATE "und-x-icu", b integer, v text, PRIMARY KEY (a, b));
       INSERT INTO combo SELECT (ARRAY['x','Y','ä','A'])[1 + g % 4], g, 'c' || g FROM generate_series(1, 12000) g;`,
    )
    const full = await backup({ db: source.url, out: dir, name: 's', now: new Date('2026-12-01T00:00:00Z') })
    const changes = [
      `UPDATE words SET v = v || '!' WHERE length(w) % 7 = 0 AND w LIKE '%3%'; UPDATE words SET v = v WHERE w LIKE 'é1%';
       DELETE FROM words WHERE w LIKE 'Z2%'; INSERT INTO words VALUES ('0first', 'n'), ('ａ', 'n'), ('ñ99999', 'n'), ('😀0', 'n'), ('~', 'n');
       UPDATE big SET v = 'x' WHERE id % 7 = 0; DELETE FROM big WHERE id % 11 = 0; INSERT INTO big VALUES (-9223372036854775808, 'min'), (9223372036854775807, 'max'), (5, 'mid');
       UPDATE combo SET v = v || '!' WHERE b % 13 = 0; DELETE FROM combo WHERE b % 17 = 0; INSERT INTO combo VALUES ('a', 1, 'n'), ('Ä', 7, 'n'), ('zz', 0, 'n');`,
      // The second round's parent is an increment made by the merge.
      `UPDATE words SET v = 'again' WHERE w LIKE '_1%'; DELETE FROM words WHERE w IN ('0first', '~') OR w LIKE 'ü4%'; INSERT INTO words VALUES ('Ω', 'n');
       UPDATE big SET v = 'y' WHERE id % 5 = 0; DELETE FROM big WHERE id = 5; INSERT INTO big VALUES (6, 'six');
       UPDATE combo SET v = 'again' WHERE b % 19 = 0; DELETE FROM combo WHERE a = 'zz'; INSERT INTO combo VALUES ('B', 2, 'n');`,
    ]
    let parent = full.file
    for (const [round, sql] of changes.entries()) {
      // The parent says its entries are in the key order: the increment streams them.
      const heads = await DigestIndexReader.open(parent)
      for (const name of ['words', 'big', 'combo']) expect((await heads!.head(name))?.order).toBe(KEY_ORDER_C)
      heads!.close()
      await pgQuery(source.url, sql)
      const byStamps = await backup({ db: source.url, out: dir, name: 's', incremental: true, now: new Date(Date.UTC(2026, 11, 2 + round)) })
      expect(byStamps.compared).toEqual({ words: 'stamps', big: 'stamps', combo: 'stamps' })
      const byDigest = await backup({ db: source.url, out: dir, name: `check${round}`, since: path.basename(parent), rowStamps: false, now: new Date(Date.UTC(2026, 11, 2 + round, 1)) })
      expect(byStamps.metadata.recordCounts).toEqual(byDigest.metadata.recordCounts)
      expect(byStamps.metadata.recordCounts.big).toBeGreaterThan(1000)
      expect(byStamps.metadata.incremental?.deleted).toEqual(byDigest.metadata.incremental?.deleted)
      expect(await indexEntries(byStamps.file)).toEqual(await indexEntries(byDigest.file))
      expect(await stampsByEntry(byStamps.file)).toEqual(await twoPassStamps(source.url, path.join(tmp.dir, `stream-two-pass-${round}.json`)))
      // The new index is in the key order again, so the next increment streams too.
      const index = (await loadDigestIndex(byStamps.file))!
      const schema = await describeTables(source.url)
      for (const name of ['words', 'big', 'combo']) {
        const table = index.tables.get(name)!
        const order = keyOrder(schema.get(name)!)!
        for (let i = 1; i < table.count; i++) expect(order(table.keyText(i - 1), table.keyText(i))).toBeLessThan(0)
      }
      parent = byStamps.file
    }
    const target = await createPostgresDatabase('mbstamps_stream_t')
    cleanups.push(() => target.drop())
    await restore({ file: parent, db: target.url })
    for (const sql of ['SELECT * FROM words ORDER BY w COLLATE "C"', 'SELECT * FROM big ORDER BY id', 'SELECT * FROM combo ORDER BY a COLLATE "C", b']) {
      expect(await pgQuery(target.url, sql)).toEqual(await pgQuery(source.url, sql))
    }
  }, 180_000)

  it('rows read in another order than the parent index holds them (reversed, shuffled, moved by updates) give the increment, index and stamps that digests give', async () => {
    const source = await createPostgresDatabase('mbstamps_order')
    cleanups.push(() => source.drop())
    const tmp = makeTempDir('mbstamps-order-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'b')
    // rev is stored in descending key order, mixed in a random one: a full backup's index is in
    // key order, so the increment's guess of the next entry is wrong for (almost) every row.
    await pgQuery(
      source.url,
      `CREATE TABLE rev (id integer PRIMARY KEY, body text);
       INSERT INTO rev SELECT g, 'r' || g FROM generate_series(3000, 1, -1) g;
       CREATE TABLE mixed (a text, b integer, v text, PRIMARY KEY (a, b));
       INSERT INTO mixed SELECT 'k' || (g % 97), g, 'v' || g FROM generate_series(1, 3000) g ORDER BY random();
       CREATE TABLE plain (id integer PRIMARY KEY, v text);
       INSERT INTO plain SELECT g, 'p' || g FROM generate_series(1, 3000) g;`,
    )
    const full = await backup({ db: source.url, out: dir, name: 'o', now: new Date('2026-12-01T00:00:00Z') })
    const changes = [
      `UPDATE rev SET body = body || '!' WHERE id % 37 = 0; DELETE FROM rev WHERE id % 101 = 0; INSERT INTO rev VALUES (5000, 'new');
       UPDATE mixed SET v = v || '!' WHERE b % 41 = 0; DELETE FROM mixed WHERE b % 103 = 0; INSERT INTO mixed VALUES ('zz', 1, 'new');
       UPDATE plain SET v = v || '!' WHERE id % 43 = 0; UPDATE plain SET v = v WHERE id BETWEEN 1000 AND 1100; DELETE FROM plain WHERE id IN (1, 2, 1500, 3000);`,
      // The second round's parent is an increment: its index holds the rows in the order they were read.
      `UPDATE rev SET body = body || '?' WHERE id % 53 = 0; DELETE FROM rev WHERE id BETWEEN 200 AND 260;
       UPDATE mixed SET v = 'again' WHERE b % 59 = 0; DELETE FROM mixed WHERE a = 'k5';
       UPDATE plain SET v = v || '?' WHERE id % 61 = 0; INSERT INTO plain SELECT g, 'q' || g FROM generate_series(3001, 3100) g;`,
    ]
    let parent = full.file
    for (const [round, sql] of changes.entries()) {
      await pgQuery(source.url, sql)
      const byStamps = await backup({ db: source.url, out: dir, name: 'o', incremental: true, now: new Date(Date.UTC(2026, 11, 2 + round)) })
      expect(byStamps.compared).toEqual({ rev: 'stamps', mixed: 'stamps', plain: 'stamps' })
      const byDigest = await backup({ db: source.url, out: dir, name: `check${round}`, since: path.basename(parent), rowStamps: false, now: new Date(Date.UTC(2026, 11, 2 + round, 1)) })
      expect(byDigest.compared).toEqual({ rev: 'digests', mixed: 'digests', plain: 'digests' })
      expect(byStamps.metadata.recordCounts).toEqual(byDigest.metadata.recordCounts)
      expect(byStamps.metadata.incremental?.deleted).toEqual(byDigest.metadata.incremental?.deleted)
      expect(await indexEntries(byStamps.file)).toEqual(await indexEntries(byDigest.file))
      expect(await stampsByEntry(byStamps.file)).toEqual(await twoPassStamps(source.url, path.join(tmp.dir, `two-pass-${round}.json`)))
      parent = byStamps.file
    }
    const target = await createPostgresDatabase('mbstamps_order_t')
    cleanups.push(() => target.drop())
    await restore({ file: parent, db: target.url })
    for (const sql of ['SELECT * FROM rev ORDER BY id', 'SELECT * FROM mixed ORDER BY a, b', 'SELECT * FROM plain ORDER BY id']) {
      expect(await pgQuery(target.url, sql)).toEqual(await pgQuery(source.url, sql))
    }
  }, 120_000)

  it('finds exactly the changed rows from keys and xmins, and falls back to digests after VACUUM FULL', async () => {
    const source = await createPostgresDatabase('mbstamps')
    cleanups.push(() => source.drop())
    const tmp = makeTempDir('mbstamps-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'b')
    const odd = ['plain', 'quote"d', 'back\\slash', 'new\nline', 'ünï ☃', "it's", '\u0001ctl']
    await pgQuery(
      source.url,
      `CREATE TABLE item (id bigint PRIMARY KEY, body text, n numeric(8,2));
       INSERT INTO item SELECT g, 'row ' || g, g / 4.0 FROM generate_series(1, 500) g;
       CREATE TABLE pair (a text, b int, v text, PRIMARY KEY (a, b));
       INSERT INTO pair SELECT k, g, 'v' FROM unnest($1::text[]) k, generate_series(1, 3) g;`.replace('$1::text[]', `ARRAY[${odd.map((k) => `E'${k.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\u0001/g, '\\x01')}'`).join(',')}]`),
    )
    const full = await backup({ db: source.url, out: dir, name: 'n', now: new Date('2026-12-01T00:00:00Z') })
    expect(fs.existsSync(`${full.file}.stamps`)).toBe(true)
    // The full backup took its stamps with its lines, in one pass: they are what a second pass
    // over keys and xmins (recordRowStamps, as before) records.
    expect(await stampsByEntry(full.file)).toEqual(await twoPassStamps(source.url, path.join(tmp.dir, 'two-pass.json')))

    await pgQuery(
      source.url,
      `UPDATE item SET body = body || '!' WHERE id IN (3, 30, 300);
       UPDATE item SET body = body WHERE id BETWEEN 100 AND 149;
       DELETE FROM item WHERE id IN (7, 70);
       INSERT INTO item VALUES (501, 'new', 1.5);
       UPDATE pair SET v = 'changed' WHERE a IN ('quote"d', E'new\\nline') AND b = 2;
       DELETE FROM pair WHERE a = 'ünï ☃' AND b = 1;
       INSERT INTO pair VALUES (E'back\\\\slash', 9, 'added');`,
    )
    const first = await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-02T00:00:00Z') })
    expect(first.compared).toEqual({ item: 'stamps', pair: 'stamps' })
    // The 50 rows updated to the same values got new xmins but are not changes. (bigint's wire value is a string.)
    expect(first.metadata.recordCounts).toEqual({ item: 4, pair: 3 })
    expect(first.metadata.incremental?.deleted).toEqual({ item: [['7'], ['70']], pair: [['ünï ☃', 1]] })
    expect(fs.existsSync(`${first.file}.stamps`)).toBe(true)

    // The same changes found by digests (a sibling increment of the full backup, without stamps).
    const byDigest = await backup({ db: source.url, out: dir, name: 'check', since: path.basename(full.file), rowStamps: false, now: new Date('2026-12-02T00:00:01Z') })
    expect(byDigest.compared).toEqual({ item: 'digests', pair: 'digests' })
    expect(byDigest.metadata.recordCounts).toEqual(first.metadata.recordCounts)
    expect(byDigest.metadata.incremental?.deleted).toEqual(first.metadata.incremental?.deleted)

    // VACUUM FULL rewrites item into a new file: its stamps are not trusted, digests decide.
    await pgQuery(source.url, `VACUUM FULL item`)
    await pgQuery(source.url, `UPDATE item SET n = 0 WHERE id = 4; UPDATE pair SET v = 'again' WHERE b = 3 AND a = 'plain'`)
    const second = await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-03T00:00:00Z') })
    expect(second.compared).toEqual({ item: 'digests', pair: 'stamps' })
    expect(second.metadata.recordCounts).toEqual({ item: 1, pair: 1 })
    // And the next one trusts item's new stamps again.
    await pgQuery(source.url, `DELETE FROM item WHERE id = 5`)
    const third = await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-04T00:00:00Z') })
    expect(third.compared).toEqual({ item: 'stamps', pair: 'stamps' })
    expect(third.metadata.recordCounts).toEqual({ item: 0, pair: 0 })
    expect(third.metadata.incremental?.deleted).toEqual({ item: [['5']] })

    // A damaged stamps file only costs speed: digests decide.
    fs.writeFileSync(`${third.file}.stamps`, 'not gzip')
    await pgQuery(source.url, `UPDATE item SET body = 'last' WHERE id = 6`)
    const fourth = await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-05T00:00:00Z') })
    expect(fourth.compared).toEqual({ item: 'digests', pair: 'digests' })
    expect(fourth.metadata.recordCounts).toEqual({ item: 1, pair: 0 })

    const target = await createPostgresDatabase('mbstamps_t')
    cleanups.push(() => target.drop())
    await restore({ file: fourth.file, db: target.url })
    expect(await rows(target.url)).toEqual(await rows(source.url))
  }, 120_000)

  it('an enum label renamed since the parent (every row reads differently, no row written) carries the table whole', async () => {
    const source = await createPostgresDatabase('mbstamps_enum')
    cleanups.push(() => source.drop())
    const tmp = makeTempDir('mbstamps-enum-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'b')
    await pgQuery(
      source.url,
      `CREATE TYPE mood AS ENUM ('ok', 'sad');
       CREATE TABLE feeling (id integer PRIMARY KEY, m mood);
       INSERT INTO feeling SELECT g, (ARRAY['ok', 'sad'])[1 + g % 2]::mood FROM generate_series(1, 40) g;`,
    )
    await backup({ db: source.url, out: dir, name: 'e', now: new Date('2026-12-01T00:00:00Z') })
    // No row is written: xmins stay, yet half the rows now read 'fine'.
    await pgQuery(source.url, `ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'`)
    const increment = await backup({ db: source.url, out: dir, name: 'e', incremental: true, now: new Date('2026-12-02T00:00:00Z') })
    expect(increment.metadata.incremental?.replaced).toEqual(['feeling'])

    const target = await createPostgresDatabase('mbstamps_enum_t')
    cleanups.push(() => target.drop())
    await restore({ file: increment.file, db: target.url })
    const read = (url: string) => pgQuery(url, 'SELECT id, m::text FROM feeling ORDER BY id')
    expect(await read(target.url)).toEqual(await read(source.url))
  }, 120_000)
})
