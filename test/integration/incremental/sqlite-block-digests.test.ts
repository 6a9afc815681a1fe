/**
 * SQLite increments by block digests (engine/incremental-blocks.ts, storage/row-blocks.ts): key
 * ranges read as one value, unchanged ranges copied from the parent's index, the others read row
 * by row. Every increment is checked against a reference, the main-thread comparison of every row
 * with the parent (written out below), on the same database state, and against a full backup of
 * that state: the increment must hold exactly the reference's changed lines, in order, name
 * exactly its deleted keys, and its digest index must equal the full backup's, entry for entry.
 * Every block digest written (by a full backup's index thread or by an increment) must be the
 * SHA-256 of its rows' lines as the full backup holds them.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { comparable } from '../../../src/engine/incremental.js'
import { SqliteSource } from '../../../src/adapters/sqlite/sqlite-source.js'
import { keyCutter, keyText, loadDigestIndex, shortDigest } from '../../../src/storage/digest-index.js'
import { BLOCK_ENTRY_BYTES, loadRowBlocks, rowBlocksPathFor } from '../../../src/storage/row-blocks.js'
import { openBackupStream } from '../../../src/storage/open.js'
import { makeTempDir } from '../../helpers/databases.js'
import { nextDouble } from '../../helpers/doubles.js'

let temp: { dir: string; cleanup: () => void } | undefined
afterEach(() => temp?.cleanup())

function workspace(): { file: string; dir: string; url: string; exec: (sql: string) => void } {
  temp = makeTempDir('mergeback-blocks-')
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

/** The main-thread comparison of every row with the parent, per table: changed lines (in read order) and deleted key texts; undefined for a table carried whole. */
async function reference(file: string, parentFile: string): Promise<Map<string, { changed: string[]; deleted: string[] } | undefined>> {
  const parent = (await loadDigestIndex(parentFile))!
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

/** The backup file's tables as record lines. */
async function linesOf(file: string): Promise<Map<string, string[]>> {
  const chunks: Buffer[] = []
  for await (const chunk of await openBackupStream(file, {})) chunks.push(chunk as Buffer)
  const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { tables: { tableName: string; records: unknown[] }[] }
  return new Map(parsed.tables.map((t) => [t.tableName, t.records.map((r) => JSON.stringify(r))]))
}

/** Every block digest beside `file` is the SHA-256 of the lines `lines` (a full backup of the same state) holds for its rows. */
async function blocksMatch(file: string, lines: Map<string, string[]>): Promise<string[]> {
  const blocks = await loadRowBlocks(file)
  expect(blocks, `${file}.blocks`).toBeDefined()
  for (const [name, b] of blocks!) {
    const rows = lines.get(name)!
    expect(b.starts[b.count], name).toBe(rows.length)
    for (let i = 0; i < b.count; i++) {
      const text = rows.slice(b.starts[i], b.starts[i + 1]).map((l) => `${l}\n`).join('')
      const digest = createHash('sha256').update(text).digest().subarray(0, 16)
      expect(b.entries.subarray(i * BLOCK_ENTRY_BYTES + 2, (i + 1) * BLOCK_ENTRY_BYTES).equals(digest), `${name} block ${i}`).toBe(true)
    }
  }
  return [...blocks!.keys()]
}

/** Makes an increment of `ws` on `parentFile` and checks it against the reference and a full backup of the same state. */
async function incrementMatches(ws: ReturnType<typeof workspace>, parentFile: string): Promise<{ file: string; compared: Record<string, string> }> {
  const expected = await reference(ws.file, parentFile)
  const increment = await backup({ db: ws.url, out: ws.dir, name: 'n', since: path.basename(parentFile) })
  const lines = await linesOf(increment.file)
  const info = increment.metadata.incremental!
  const fullDir = path.join(temp!.dir, `full-${Date.now()}-${Math.random().toString(36).slice(2)}`)
  fs.mkdirSync(fullDir)
  const full = await backup({ db: ws.url, out: fullDir, name: 'full' })
  const fullLines = await linesOf(full.file)
  for (const [name, want] of expected) {
    if (want === undefined) {
      expect(info.replaced, name).toContain(name)
      expect(lines.get(name), name).toEqual(fullLines.get(name))
    } else {
      expect(lines.get(name), name).toEqual(want.changed)
      expect((info.deleted[name] ?? []).map((k) => JSON.stringify(k)), name).toEqual(want.deleted)
    }
  }
  const mine = (await loadDigestIndex(increment.file))!
  const theirs = (await loadDigestIndex(full.file))!
  expect([...mine.tables.keys()]).toEqual([...theirs.tables.keys()])
  for (const [name, t] of theirs.tables) {
    const m = mine.tables.get(name)!
    expect(m.count, name).toBe(t.count)
    expect(m.arrays().digests.equals(t.arrays().digests), name).toBe(true)
    expect(m.arrays().keyTexts.equals(t.arrays().keyTexts), name).toBe(true)
  }
  // The blocks of both: the increment's own (copied or made from the rows read) and the full backup's.
  expect(await blocksMatch(increment.file, fullLines)).toEqual(await blocksMatch(full.file, fullLines))
  return { file: increment.file, compared: { ...increment.compared } }
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

const SCHEMA = `CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, done BOOLEAN, at DATETIME);
                CREATE TABLE pair (a TEXT NOT NULL, b INTEGER NOT NULL, note TEXT, PRIMARY KEY (a, b));
                CREATE TABLE word (w TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL)`

function seed(ws: ReturnType<typeof workspace>, items: number): void {
  ws.exec(SCHEMA)
  const rows: string[] = []
  for (let i = 1; i <= items; i++) rows.push(`(${2 * i}, 'item ${i} ${'x'.repeat(i % 50)}', ${i % 17}, ${i % 2}, '2026-01-${String(1 + (i % 28)).padStart(2, '0')} 10:00:00')`)
  ws.exec(`INSERT INTO item VALUES ${rows.join(',')}`)
  const pairs: string[] = []
  for (let i = 0; i < items / 2; i++) pairs.push(`('k${String(i % 41).padStart(2, '0')}', ${i}, ${i % 3 === 0 ? 'NULL' : `'n${i}'`})`)
  ws.exec(`INSERT INTO pair VALUES ${pairs.join(',')}`)
  const words: string[] = []
  for (let i = 0; i < 300; i++) words.push(`('${['b', 'd', 'f', 'ä', 'Z'][i % 5]}${i}', ${i})`)
  ws.exec(`INSERT INTO word VALUES ${words.join(',')}`)
}

describe('SQLite increments by block digests', () => {
  it('equals the row-by-row comparison and a full backup through a chain of random inserts, updates, deletes and key changes', async () => {
    const ws = workspace()
    seed(ws, 2000)
    const first = await backup({ db: ws.url, out: ws.dir, name: 'n' })
    expect(fs.existsSync(rowBlocksPathFor(first.file))).toBe(true)
    await blocksMatch(first.file, await linesOf(first.file))
    let parent = first.file
    const rnd = random(7)
    for (let round = 1; round <= 6; round++) {
      const statements: string[] = []
      for (let k = 0; k < 60; k++) {
        const id = Math.floor(rnd() * 4100) - 20
        const op = rnd()
        if (op < 0.3) statements.push(`UPDATE item SET qty = coalesce(qty, 0) + ${round} WHERE id = ${id}`)
        else if (op < 0.5) statements.push(`DELETE FROM item WHERE id = ${id}`)
        // Odd ids fall between the seeded rows: inside blocks, between them, before the first, after the last.
        else if (op < 0.8) statements.push(`INSERT OR REPLACE INTO item VALUES (${id}, 'new ${round} ${id}', NULL, 0, NULL)`)
        else statements.push(`UPDATE OR REPLACE item SET id = ${id + 1} WHERE id = ${id}`)
      }
      statements.push(`DELETE FROM item WHERE id BETWEEN ${300 * round} AND ${300 * round + 40}`)
      statements.push(`INSERT OR REPLACE INTO item VALUES (${-round}, 'first ${round}', 1, 1, NULL), (${5000 + round}, 'last ${round}', 1, 1, NULL)`)
      statements.push(`UPDATE pair SET note = 'r${round}' WHERE b % ${13 + round} = 0`)
      statements.push(`INSERT OR IGNORE INTO pair VALUES ('k05', ${-round}, 'before the others'), ('k05a', ${round}, NULL), ('a', ${round}, NULL), ('zz', ${round}, NULL)`)
      statements.push(`DELETE FROM pair WHERE a = 'k${String(round * 5).padStart(2, '0')}'`)
      statements.push(`UPDATE word SET w = w || 'q' WHERE n % ${20 + round} = 0; INSERT OR IGNORE INTO word VALUES ('${'ä'.repeat(round)}', ${round}), ('', ${round})`)
      ws.exec(statements.join(';\n'))
      const next = await incrementMatches(ws, parent)
      expect(next.compared).toEqual({ item: 'blocks', pair: 'blocks', word: 'blocks' })
      parent = next.file
    }
  }, 240_000)

  it('finds rows before the first block, after the last, between blocks, a block emptied, a table emptied and filled again', async () => {
    const ws = workspace()
    ws.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
    const rows: string[] = []
    for (let i = 0; i < 64; i++) rows.push(`(${10 * i}, 'v${i}')`)
    ws.exec(`INSERT INTO t VALUES ${rows.join(',')}`)
    let parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    const steps = [
      `INSERT INTO t VALUES (-5, 'before'), (10000, 'after'), (75, 'between blocks 0 and 1'), (85, 'inside block 1')`,
      `DELETE FROM t WHERE id BETWEEN 160 AND 230`,
      `UPDATE t SET id = id + 1 WHERE id IN (0, 310, 630)`,
      `UPDATE t SET v = v WHERE id = 100`,
      `DELETE FROM t`,
      `INSERT INTO t VALUES (1, 'one'), (2, 'two')`,
      `INSERT INTO t VALUES (0, 'zero'), (3, 'three')`,
    ]
    for (const step of steps) {
      ws.exec(step)
      const next = await incrementMatches(ws, parent)
      // A table empty in the parent has no blocks: its next increment compares every row.
      expect(next.compared.t).toBe(step.startsWith('INSERT INTO t VALUES (1,') ? 'digests' : 'blocks')
      parent = next.file
    }
  }, 120_000)

  it('reads a range again row by row when SQLite does not spell a value (a blob or a real in a text column) or text is not UTF-8', async () => {
    const ws = workspace()
    ws.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`)
    const rows: string[] = []
    for (let i = 0; i < 40; i++) rows.push(`(${i}, ${i === 5 ? "x'00ff'" : i === 17 ? '2.5' : i === 30 ? "CAST(x'41ff42' AS TEXT)" : `'v${i}'`})`)
    ws.exec(`INSERT INTO t VALUES ${rows.join(',')}`)
    const parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    ws.exec(`UPDATE t SET v = x'00fe' WHERE id = 5; UPDATE t SET v = 3.5 WHERE id = 17; UPDATE t SET v = CAST(x'43ff42' AS TEXT) WHERE id = 30; UPDATE t SET v = 'w' WHERE id = 39`)
    const next = await incrementMatches(ws, parent)
    expect(next.compared.t).toBe('blocks')
    const changed = (await linesOf(next.file)).get('t')!
    expect(changed.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(['5', '17', '30', '39'])
  }, 60_000)

  it('compares every row where a table cannot be cut exactly, and records blocks only where it can', async () => {
    const ws = workspace()
    ws.exec(`CREATE TABLE priced (id INTEGER PRIMARY KEY, price REAL);
             CREATE TABLE nullable (k TEXT PRIMARY KEY, v TEXT);
             CREATE TABLE nocase (k TEXT NOT NULL PRIMARY KEY COLLATE NOCASE, v TEXT);
             CREATE TABLE plain (k TEXT NOT NULL PRIMARY KEY, v TEXT);`)
    for (const t of ['priced', 'nullable', 'nocase', 'plain']) {
      const rows: string[] = []
      for (let i = 0; i < 30; i++) rows.push(t === 'priced' ? `(${i}, ${i + 0.25})` : `('${i % 2 ? 'A' : 'b'}${i}', 'v${i}')`)
      ws.exec(`INSERT INTO ${t} VALUES ${rows.join(',')}`)
    }
    const parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    expect([...(await loadRowBlocks(parent))!.keys()]).toEqual(['plain', 'priced'])
    ws.exec(`UPDATE priced SET price = 9.5 WHERE id = 3; INSERT INTO nullable VALUES (NULL, 'n'); UPDATE nocase SET v = 'w' WHERE k = 'a1'; UPDATE plain SET v = 'w' WHERE k = 'A1'`)
    const next = await incrementMatches(ws, parent)
    expect(next.compared).toEqual({ priced: 'blocks', nullable: 'digests', nocase: 'digests', plain: 'blocks' })
  }, 60_000)

  it('cuts tables with REAL and DECIMAL columns: reals SQLite spells exactly, others read row by row, a change of one ulp seen', async () => {
    const ws = workspace()
    ws.exec(`CREATE TABLE m (id INTEGER PRIMARY KEY, r REAL, d DECIMAL NOT NULL, n NUMERIC, t TEXT)`)
    const rnd = random(7)
    const bits = Buffer.alloc(8)
    // Mostly short decimals (SQLite spells them, so most ranges are read as one value); in a few rows
    // random bit patterns, subnormals, integers as reals, -0, huge and tiny magnitudes, 7 places.
    const value = (odd: boolean): string => {
      if (odd) {
        if (rnd() < 0.5) {
          for (let j = 0; j < 8; j++) bits[j] = Math.floor(rnd() * 256)
          const x = bits.readDoubleLE(0)
          return Number.isFinite(x) ? realLiteral(x) : '1.5'
        }
        return ['-0.0', '0.0', '5e-324', '2.2250738585072014e-308', '1e300', '-1e-7', '1e15', '1e21', '4.0', '9007199254740993.0', '0.1234567'][Math.floor(rnd() * 11)]!
      }
      // Under 10^8 with up to 6 places: spelled (larger magnitudes are among the odd values above;
      // a table where most ranges hold a value SQLite cannot spell is compared whole, the test after this one).
      return realLiteral(Math.round((rnd() - 0.5) * 10 ** (1 + rnd() * 7)) / 10 ** Math.floor(rnd() * 7))
    }
    const rows: string[] = []
    for (let i = 1; i <= 1200; i++) rows.push(`(${i * 3}, ${value(i % 40 === 0)}, ${value(i % 40 === 13)}, ${value(i % 40 === 27)}, 't${i}')`)
    ws.exec(`INSERT INTO m VALUES ${rows.join(',')}`)
    let parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    expect([...(await loadRowBlocks(parent))!.keys()]).toEqual(['m'])
    for (let round = 0; round < 4; round++) {
      const changes: string[] = []
      for (let i = 0; i < 40; i++) {
        const id = 3 * (1 + Math.floor(rnd() * 1200))
        const column = ['r', 'd', 'n'][i % 3]!
        // One ulp up or down (the spelling of the neighbour differs in its last digits only), or a new value.
        const change = i % 4 === 0 ? value(i % 8 === 0) : `mb_next(${column}, ${i % 8 < 4 ? 1 : -1})`
        changes.push(`UPDATE m SET ${column} = ${change} WHERE id = ${id}`)
      }
      changes.push(`DELETE FROM m WHERE id = ${3 * (1 + Math.floor(rnd() * 1200))}`, `INSERT OR REPLACE INTO m VALUES (${3 * round + 1}, ${value(false)}, ${value(true)}, NULL, 'new')`)
      const db = new Database(ws.file)
      db.function('mb_next', (x: unknown, step: unknown) => (typeof x === 'number' && x !== 0 && Number.isFinite(x) ? nextDouble(x, Number(step) > 0) : x))
      for (const sql of changes) db.exec(sql)
      db.close()
      const next = await incrementMatches(ws, parent)
      expect(next.compared, `round ${round}`).toEqual({ m: 'blocks' })
      // Most ranges matched their parent block (its digest is in the increment's blocks again): reals did not make every range dirty.
      const mine = (await loadRowBlocks(next.file))!.get('m')!
      const theirs = (await loadRowBlocks(parent))!.get('m')!
      const entry = (blocks: typeof mine, b: number) => blocks.entries.subarray(b * BLOCK_ENTRY_BYTES, (b + 1) * BLOCK_ENTRY_BYTES).toString('hex')
      const before = new Set(Array.from({ length: theirs.count }, (_, b) => entry(theirs, b)))
      let copied = 0
      for (let b = 0; b < mine.count; b++) if (before.has(entry(mine, b))) copied++
      expect(copied, `round ${round}`).toBeGreaterThan(mine.count / 4)
      parent = next.file
    }
  }, 180_000)

  it('compares a table whose reals SQLite mostly cannot spell row by row whole, not range by range twice', async () => {
    const ws = workspace()
    // Thirds and coordinates of 7 places: sqlRealText spells none of them, so every range would hold a 0x01.
    ws.exec(`CREATE TABLE thirds (id INTEGER PRIMARY KEY, x REAL); CREATE TABLE mixed (id INTEGER PRIMARY KEY, x REAL)`)
    const rows = (spellable: (i: number) => boolean): string =>
      Array.from({ length: 800 }, (_, i) => `(${i}, ${spellable(i) ? `${i}.25` : `${i} / 3.0 + 0.0000001`})`).join(',')
    ws.exec(`INSERT INTO thirds VALUES ${rows(() => false)}; INSERT INTO mixed VALUES ${rows((i) => i % 80 !== 5)}`)
    const parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    expect([...(await loadRowBlocks(parent))!.keys()].sort()).toEqual(['mixed', 'thirds'])
    ws.exec(`UPDATE thirds SET x = x * 2 WHERE id IN (7, 400); DELETE FROM thirds WHERE id = 799; UPDATE mixed SET x = 1.5 WHERE id = 10`)
    const next = await incrementMatches(ws, parent)
    // Most of mixed's ranges are spelled (one in ten holds a third): it is still cut.
    expect(next.compared).toEqual({ thirds: 'digests', mixed: 'blocks' })
  }, 60_000)

  it('compares every row when the parent has no blocks or they are damaged, and the increment records blocks for the next one', async () => {
    const ws = workspace()
    seed(ws, 200)
    const first = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    const good = fs.readFileSync(rowBlocksPathFor(first))
    const damaged: [string, Buffer | undefined][] = [
      ['missing', undefined],
      ['not gzip', Buffer.from('MBBL1\nT')],
      ['truncated', good.subarray(0, good.length - 9)],
      ['foreign magic', gzipSync(Buffer.from('MBBL9\n'))],
      // Blocks that do not add up to the index's entries: a block of a row more.
      ['wrong counts', gzipSync(Buffer.concat([Buffer.from('MBBL1\nT'), lengthOf('{"table":"word","columns":"x"}'), Buffer.from([0, 0, 0, 1, 0, 1]), Buffer.alloc(16), Buffer.from('E')]))],
    ]
    ws.exec(`UPDATE item SET qty = 99 WHERE id = 20; DELETE FROM pair WHERE b = 3; INSERT INTO word VALUES ('c', 1)`)
    for (const [what, bytes] of damaged) {
      if (bytes === undefined) fs.rmSync(rowBlocksPathFor(first))
      else fs.writeFileSync(rowBlocksPathFor(first), bytes)
      const next = await incrementMatches(ws, first)
      expect(next.compared, what).toEqual({ item: 'digests', pair: 'digests', word: 'digests' })
      // The increment made from every row recorded the blocks the next one uses.
      ws.exec(`UPDATE item SET qty = qty + 1 WHERE id = 40`)
      expect((await incrementMatches(ws, next.file)).compared, what).toEqual({ item: 'blocks', pair: 'blocks', word: 'blocks' })
    }
  }, 180_000)

  it('cuts the stream of a text-keyed table at the same ranges as the range statements: the same increment, index and blocks', async () => {
    // writeChangesByStream (a table keyed by one TEXT column, read as readRecordLines' stream) against
    // writeChangesByBlocks' statement per range (lineBlocks without keyFrom), on the same state and parent.
    const ws = workspace()
    ws.exec(`CREATE TABLE w (k TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL, note TEXT)`)
    const rows: string[] = []
    for (let i = 0; i < 1500; i++) rows.push(`('k${String(i * 2).padStart(5, '0')}', ${i}, ${i % 4 === 0 ? 'NULL' : `'note ${'y'.repeat(i % 30)}'`})`)
    ws.exec(`INSERT INTO w VALUES ${rows.join(',')}`)
    let parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    const rnd = random(11)
    const key = (i: number): string => `'k${String(i).padStart(5, '0')}'`
    const both = async (): Promise<string> => {
      const made: { file: string; blocks: Buffer; lines: string[] }[] = []
      for (const byRanges of [false, true]) {
        const original = SqliteSource.prototype.lineBlocks
        const spy = byRanges
          ? vi.spyOn(SqliteSource.prototype, 'lineBlocks').mockImplementation(function (this: SqliteSource, table, firstKeys) {
              const ranges = original.call(this, table, firstKeys)
              return ranges === undefined ? undefined : { block: ranges.block, rows: ranges.rows }
            })
          : undefined
        try {
          const increment = await backup({ db: ws.url, out: ws.dir, name: byRanges ? 'ranges' : 'n', since: path.basename(parent) })
          expect(increment.compared).toEqual({ w: 'blocks' })
          made.push({ file: increment.file, blocks: fs.readFileSync(rowBlocksPathFor(increment.file)), lines: (await linesOf(increment.file)).get('w')! })
        } finally {
          spy?.mockRestore()
        }
      }
      const [stream, ranges] = made as [(typeof made)[0], (typeof made)[0]]
      expect(stream.lines).toEqual(ranges.lines)
      expect(stream.blocks.equals(ranges.blocks)).toBe(true)
      const [a, b] = [(await loadDigestIndex(stream.file))!.tables.get('w')!, (await loadDigestIndex(ranges.file))!.tables.get('w')!]
      expect(a.arrays().digests.equals(b.arrays().digests)).toBe(true)
      expect(a.arrays().keyTexts.equals(b.arrays().keyTexts)).toBe(true)
      await incrementMatches(ws, parent)
      return stream.file
    }
    for (let round = 1; round <= 5; round++) {
      const statements: string[] = []
      for (let j = 0; j < 40; j++) {
        const i = Math.floor(rnd() * 3100) - 20
        const op = rnd()
        if (op < 0.3) statements.push(`UPDATE w SET n = n + ${round} WHERE k = ${key(i)}`)
        else if (op < 0.55) statements.push(`DELETE FROM w WHERE k = ${key(i)}`)
        // Odd numbers fall between the seeded keys: inside blocks, between them, before the first, after the last.
        else statements.push(`INSERT OR REPLACE INTO w VALUES (${key(i)}, ${-i}, 'new ${round}')`)
      }
      // A block's first row deleted and a row inserted right after it (a later range's key by the bound),
      // a run of blocks deleted, rows before all others and after all others.
      const first = 16 * 8 * round
      statements.push(`DELETE FROM w WHERE k = ${key(first)}`, `INSERT OR REPLACE INTO w VALUES (${key(first + 1)}, 0, 'after a deleted first row')`)
      statements.push(`DELETE FROM w WHERE k BETWEEN ${key(600 * round)} AND ${key(600 * round + 70)}`)
      statements.push(`INSERT OR REPLACE INTO w VALUES ('a${round}', 1, NULL), ('z${round}', 2, NULL), ('ä${round}', 3, NULL)`)
      ws.exec(statements.join(';\n'))
      parent = await both()
    }
  }, 240_000)

  it('carries a table whose columns changed whole, and writes no blocks beside an encrypted backup', async () => {
    const ws = workspace()
    seed(ws, 100)
    const parent = (await backup({ db: ws.url, out: ws.dir, name: 'n' })).file
    ws.exec(`ALTER TABLE word ADD COLUMN extra TEXT; UPDATE item SET qty = 5 WHERE id = 4`)
    const next = await incrementMatches(ws, parent)
    expect(next.compared).toEqual({ item: 'blocks', pair: 'blocks', word: 'whole' })
    const encrypted = await backup({ db: ws.url, out: ws.dir, name: 'secret', passphrase: 'correct horse battery' })
    expect(fs.existsSync(rowBlocksPathFor(encrypted.file))).toBe(false)
  }, 120_000)
})

/** A SQL literal of the double x that SQLite reads as x exactly (17 significant digits; "-0.0" for -0). */
function realLiteral(x: number): string {
  if (Object.is(x, -0)) return '-0.0'
  const text = x.toPrecision(17)
  return /[.e]/.test(text) ? text : `${text}.0`
}

function lengthOf(text: string): Buffer {
  const bytes = Buffer.from(text)
  const head = Buffer.alloc(4)
  head.writeUInt32BE(bytes.length)
  return Buffer.concat([head, bytes])
}
