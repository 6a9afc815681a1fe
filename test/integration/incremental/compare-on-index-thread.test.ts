/**
 * Increments from record lines (SQLite here; MariaDB's fallback takes the same path) compare each
 * row with the parent on the digest index's thread, walking the parent's entries in key order and
 * looking keys up when the order breaks (docs/performance.md §Round six: SQLite increments).
 *
 * Every case is checked against a reference: the comparison as the main thread made it before
 * (every key hashed and looked up in the parent's index, written out below from the previous
 * code), run on the same database state, and the digest index of a full backup of that state. The
 * increment must hold exactly the reference's changed lines, in order, name exactly its deleted
 * keys, and its digest index must equal the full backup's, entry for entry.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { comparable } from '../../../src/engine/incremental.js'
import { SqliteSource } from '../../../src/adapters/sqlite/sqlite-source.js'
import { keyCutter, keyText, loadDigestIndex, shortDigest } from '../../../src/storage/digest-index.js'
import { openBackupStream } from '../../../src/storage/open.js'
import { makeTempDir } from '../../helpers/databases.js'

let temp: { dir: string; cleanup: () => void } | undefined
afterEach(() => temp?.cleanup())

function workspace(): { file: string; dir: string; url: string; exec: (sql: string) => void } {
  temp = makeTempDir('mergeback-cmp-')
  const file = path.join(temp.dir, 'db.sqlite')
  const dir = path.join(temp.dir, 'backups')
  fs.mkdirSync(dir)
  const exec = (sql: string): void => {
    const db = new Database(file)
    try {
      db.exec(sql)
    } finally {
      db.close()
    }
  }
  return { file, dir, url: `sqlite:${file}`, exec }
}

/** The previous main-thread comparison, per table: changed lines (in read order) and deleted key texts; undefined for a table carried whole. */
async function reference(file: string, parentFile: string, passphrase?: string): Promise<Map<string, { changed: string[]; deleted: string[] } | undefined>> {
  const parent = (await loadDigestIndex(parentFile, { passphrase }))!
  const source = SqliteSource.open({ url: file, database: 'db' } as never)
  const out = new Map<string, { changed: string[]; deleted: string[] } | undefined>()
  try {
    for (const table of (await source.describe()).tables) {
      const previous = parent.tables.get(table.name)
      if (!comparable(table, previous)) {
        out.set(table.name, undefined)
        continue
      }
      const seen = new Uint8Array(previous.count)
      const changed: string[] = []
      const cutter = keyCutter(table)
      for await (const chunk of source.readRecordLines(table)!) {
        for (const body of chunk.toString('utf8').split('\n').slice(0, -1)) {
          const bytes = Buffer.from(body)
          const text = cutter(bytes) ?? keyText(JSON.parse(body) as Record<string, unknown>, table.primaryKey)
          const at = previous.find(shortDigest(text))
          if (at >= 0) seen[at] = 1
          if (at < 0 || !previous.sameRow(at, shortDigest(bytes))) changed.push(body)
        }
      }
      const deleted: string[] = []
      for (let i = 0; i < previous.count; i++) if (seen[i] === 0) deleted.push(previous.keyText(i))
      out.set(table.name, { changed, deleted })
    }
  } finally {
    await source.close()
  }
  return out
}

/** The backup file's tables as record lines, decrypted when it is encrypted. */
async function linesOf(file: string, passphrase?: string): Promise<Map<string, string[]>> {
  const chunks: Buffer[] = []
  for await (const chunk of await openBackupStream(file, { passphrase })) chunks.push(chunk as Buffer)
  const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { tables: { tableName: string; records: unknown[] }[] }
  return new Map(parsed.tables.map((t) => [t.tableName, t.records.map((r) => JSON.stringify(r))]))
}

/** Makes an increment of `ws` on `parentFile` and checks it against the reference and a full backup of the same state. */
async function incrementMatchesReference(ws: ReturnType<typeof workspace>, parentFile: string, passphrase?: string): Promise<string> {
  const expected = await reference(ws.file, parentFile, passphrase)
  const increment = await backup({ db: ws.url, out: ws.dir, name: 'n', since: path.basename(parentFile), passphrase })
  const lines = await linesOf(increment.file, passphrase)
  const info = increment.metadata.incremental!
  const fullDir = path.join(temp!.dir, `full-${Date.now()}-${Math.random().toString(36).slice(2)}`)
  fs.mkdirSync(fullDir)
  const full = await backup({ db: ws.url, out: fullDir, name: 'full', passphrase })
  const fullLines = await linesOf(full.file, passphrase)
  for (const [name, want] of expected) {
    if (want === undefined) {
      expect(info.replaced, name).toContain(name)
      expect(lines.get(name), name).toEqual(fullLines.get(name))
    } else {
      expect(lines.get(name), name).toEqual(want.changed)
      expect((info.deleted[name] ?? []).map((k) => JSON.stringify(k)), name).toEqual(want.deleted)
    }
  }
  // The increment's index is the full backup's, entry for entry.
  const mine = (await loadDigestIndex(increment.file, { passphrase }))!
  const theirs = (await loadDigestIndex(full.file, { passphrase }))!
  expect([...mine.tables.keys()]).toEqual([...theirs.tables.keys()])
  for (const [name, t] of theirs.tables) {
    const m = mine.tables.get(name)!
    expect(m.count, name).toBe(t.count)
    expect(m.arrays().digests.equals(t.arrays().digests), name).toBe(true)
    expect(m.arrays().keyTexts.equals(t.arrays().keyTexts), name).toBe(true)
  }
  return increment.file
}

/** A small deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('increments compared on the digest index thread (SQLite)', () => {
  it('equals the reference through a chain of random inserts, updates and deletes, in chunks of many rows', async () => {
    const ws = workspace()
    ws.exec(`CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, price REAL, photo BLOB);
             CREATE TABLE pair (a TEXT NOT NULL, b INTEGER NOT NULL, note TEXT, PRIMARY KEY (a, b));`)
    const rnd = random(18)
    const inserts: string[] = []
    for (let i = 1; i <= 3000; i++) inserts.push(`(${i}, 'item ${i} ${'x'.repeat(i % 300)}', ${i % 17}, ${(i * 1.1).toFixed(3)}, ${i % 5 === 0 ? `x'${(i % 256).toString(16).padStart(2, '0')}ff'` : 'NULL'})`)
    ws.exec(`INSERT INTO item VALUES ${inserts.join(',')}`)
    const pairs: string[] = []
    for (let i = 0; i < 1500; i++) pairs.push(`('k${i % 97}', ${i}, ${i % 3 === 0 ? 'NULL' : `'n${i}'`})`)
    ws.exec(`INSERT INTO pair VALUES ${pairs.join(',')}`)
    let parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    for (let round = 1; round <= 4; round++) {
      const statements: string[] = []
      for (let k = 0; k < 40; k++) {
        const id = 1 + Math.floor(rnd() * 3600)
        const op = rnd()
        if (op < 0.4) statements.push(`UPDATE item SET qty = coalesce(qty, 0) + ${round} WHERE id = ${id}`)
        else if (op < 0.7) statements.push(`DELETE FROM item WHERE id = ${id}`)
        else statements.push(`INSERT OR REPLACE INTO item VALUES (${id}, 'new ${round} ${id}', NULL, ${rnd()}, NULL)`)
      }
      // A run of consecutive rows gone, and one of new keys in the middle: the walk resyncs after each.
      statements.push(`DELETE FROM item WHERE id BETWEEN ${500 * round} AND ${500 * round + 30}`)
      statements.push(`UPDATE pair SET note = 'r${round}' WHERE b % ${7 + round} = 0`)
      statements.push(`INSERT OR IGNORE INTO pair VALUES ('k5', ${-round}, 'before the others'), ('k50a', ${round}, NULL)`)
      statements.push(`DELETE FROM pair WHERE a = 'k${round * 11}'`)
      ws.exec(statements.join(';\n'))
      parent = await incrementMatchesReference(ws, parent)
    }
  }, 120_000)

  it('equals the reference when the rows come in another order than the parent\'s entries (the walk falls back to lookups)', async () => {
    const ws = workspace()
    ws.exec(`CREATE TABLE t (id TEXT PRIMARY KEY COLLATE NOCASE, v TEXT)`)
    const rows: string[] = []
    for (let i = 0; i < 600; i++) rows.push(`('${i % 2 === 0 ? 'a' : 'B'}${String(1000 - i).padStart(4, '0')}${i % 3 === 0 ? 'z' : 'Y'}', 'v${i}')`)
    ws.exec(`INSERT INTO t VALUES ${rows.join(',')}`)
    const parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    // The same table with the default collation: its key order changes, not its signature.
    ws.exec(`CREATE TABLE t2 (id TEXT PRIMARY KEY, v TEXT); INSERT INTO t2 SELECT * FROM t; DROP TABLE t; ALTER TABLE t2 RENAME TO t;
             UPDATE t SET v = v || '!' WHERE rowid % 13 = 0; DELETE FROM t WHERE rowid % 29 = 0; INSERT INTO t VALUES ('A0000', 'new'), ('b9999', 'new')`)
    const parentKeys = (await loadDigestIndex(parent))!.tables.get('t')!
    const db = new Database(ws.file, { readonly: true })
    const now = (db.prepare('SELECT id FROM t ORDER BY id').pluck().all() as string[]).map((k) => JSON.stringify([k]))
    db.close()
    const before = Array.from({ length: parentKeys.count }, (_, i) => parentKeys.keyText(i)).filter((k) => now.includes(k))
    expect(now.filter((k) => before.includes(k))).not.toEqual(before)
    await incrementMatchesReference(ws, parent)
  }, 60_000)

  it('equals the reference with a key held twice (SQLite lets NULL into a text primary key)', async () => {
    const ws = workspace()
    ws.exec(`CREATE TABLE d (k TEXT PRIMARY KEY, v TEXT); INSERT INTO d VALUES (NULL, 'one'), (NULL, 'two'), ('a', 'x'), ('b', 'y'), (NULL, 'three')`)
    const parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    expect((await loadDigestIndex(parent))!.tables.get('d')!.keyText(0)).toBe('[null]')
    ws.exec(`UPDATE d SET v = 'TWO' WHERE v = 'two'; UPDATE d SET v = 'Y' WHERE k = 'b'; INSERT INTO d VALUES (NULL, 'four')`)
    const next = await incrementMatchesReference(ws, parent)
    ws.exec(`DELETE FROM d WHERE v = 'one'`)
    await incrementMatchesReference(ws, next)
  }, 60_000)

  it('carries a table without a key, a new table and a changed one whole, and names a dropped one nowhere', async () => {
    const ws = workspace()
    ws.exec(`CREATE TABLE keyed (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE loose (v TEXT); CREATE TABLE gone (id INTEGER PRIMARY KEY);
             CREATE TABLE reshaped (id INTEGER PRIMARY KEY, v TEXT);
             INSERT INTO keyed VALUES (1, 'a'), (2, 'b'), (3, 'c'); INSERT INTO loose VALUES ('p'), ('q'); INSERT INTO gone VALUES (1); INSERT INTO reshaped VALUES (1, 'r')`)
    const parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    ws.exec(`UPDATE keyed SET v = 'B' WHERE id = 2; INSERT INTO loose VALUES ('r'); DROP TABLE gone; CREATE TABLE added (id INTEGER PRIMARY KEY, v TEXT);
             INSERT INTO added VALUES (1, 'n'); ALTER TABLE reshaped ADD COLUMN w TEXT`)
    const file = await incrementMatchesReference(ws, parent)
    const info = JSON.parse(fs.readFileSync(`${file}.meta.json`, 'utf8')) as Record<string, unknown>
    expect(JSON.stringify(info)).not.toContain('"gone"')
  }, 60_000)

  it('equals the reference on an encrypted parent (encrypted digest index)', async () => {
    const ws = workspace()
    const passphrase = 'round six passphrase'
    ws.exec(`CREATE TABLE item (id INTEGER PRIMARY KEY, v TEXT)`)
    ws.exec(`INSERT INTO item VALUES ${Array.from({ length: 2000 }, (_, i) => `(${i}, 'v${i}')`).join(',')}`)
    const parent = (await backup({ db: ws.url, out: ws.dir, name: 'n', passphrase })).file
    ws.exec(`UPDATE item SET v = 'changed' WHERE id % 97 = 0; DELETE FROM item WHERE id % 101 = 1; INSERT INTO item VALUES (5000, 'new')`)
    const next = await incrementMatchesReference(ws, parent, passphrase)
    ws.exec(`DELETE FROM item WHERE id < 100`)
    await incrementMatchesReference(ws, next, passphrase)
  }, 60_000)
})
