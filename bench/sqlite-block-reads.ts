/**
 * Issue #18, SQLite increments (docs/performance.md §Round nine): what a block read costs SQLite
 * and this thread, per table of a SQLite file (the bench's, from bench/generate.ts), for each
 * way of cutting the table into blocks of 8 rows and each form of a block's bytes.
 *
 *   node --import tsx bench/sqlite-block-reads.ts FILE [--tables A,B] [--runs 3] [--cache-kib 2048]
 *
 * Cuts: `key`, half-open ranges of the primary key from every 8th key in key order (what
 * Source.lineBlocks reads today: `(key) >= (?) AND (key) < (?)`, 16 ranges per statement as
 * scalar subqueries); `rowid`, the same over the rowid (`rowid >= ? AND rowid < ?`), which reads
 * the table's B-tree in order instead of looking every row up from the key's index.
 * Forms: `line`, the record line with reals spelled (sqlRecordLines(…, { reals: true }), what the
 * block digests hash today); `quote`, `quote()` of each column joined by ','; `raw`, the columns
 * concatenated bare (not exact: no types, no lengths; the floor of any form that copies every
 * value); `count`, count(*) of the range (the statements and seeks alone). Each range's value is
 * hashed (SHA-256) as an increment does. Also printed: the whole table's `sum(length(form))` in
 * one scan (SQLite's own building of the bytes, nothing handed over), and the full backup's read
 * of every line one by one in key order. CPU ms of this thread (`process.cpuUsage`), median of
 * the runs. Read-only; one read transaction, the page cache as SqliteSource sets it.
 */
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { sqlRecordLines } from '../src/adapters/sqlite/sqlite-values.js'
import { describeDatabase } from '../src/adapters/sqlite/sqlite-introspector.js'
import { quoteIdent, type SqliteDatabase } from '../src/adapters/sqlite/sqlite-connection.js'
import { SOURCE_CACHE_KIB } from '../src/adapters/sqlite/sqlite-source.js'
import { shortDigest } from '../src/storage/digest-index.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tables: { type: 'string' },
    runs: { type: 'string', default: '3' },
    'cache-kib': { type: 'string', default: String(SOURCE_CACHE_KIB) },
  },
})
const file = positionals[0]
if (file === undefined) throw new Error('usage: bench/sqlite-block-reads.ts FILE [--tables A,B] [--runs N] [--cache-kib N]')
const BLOCK_ROWS = 8
const RANGES_PER_STATEMENT = 16

const db = new Database(file, { readonly: true, fileMustExist: true })
db.pragma(`cache_size = -${Number(values['cache-kib'])}`)
db.exec('BEGIN')
const schema = describeDatabase(db as unknown as SqliteDatabase, 'main')
const wanted = values.tables?.split(',')

function cpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

function timed(work: () => void): number {
  const start = cpuMs()
  work()
  return cpuMs() - start
}

/** Reads every range `[bounds[i], bounds[i + 1])` (the first and last left out: they have one bound) as `aggregate`, 16 per statement, hashing each value as an increment does (shortDigest). */
function readRanges(table: string, where: (left: string, right: string) => string, left: string, right: string, aggregate: string, bounds: readonly unknown[][]): void {
  const one = `(SELECT ${aggregate} FROM main.${quoteIdent(table)} WHERE ${where(left, right)})`
  const statement = db.prepare(`SELECT ${Array<string>(RANGES_PER_STATEMENT).fill(one).join(', ')}`).raw(true)
  for (let i = 0; i + RANGES_PER_STATEMENT < bounds.length; i += RANGES_PER_STATEMENT) {
    const bind: unknown[] = []
    for (let j = i; j < i + RANGES_PER_STATEMENT; j++) bind.push(...bounds[j]!, ...bounds[j + 1]!)
    for (const value of statement.get(...bind) as unknown[]) if (Buffer.isBuffer(value)) shortDigest(value)
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

for (const table of schema.tables) {
  if (table.primaryKey.length === 0 || (wanted !== undefined && !wanted.includes(table.name))) continue
  const columns = table.columns.map((c) => ({ name: c.name, kind: c.kind, quoted: quoteIdent(c.name) }))
  const line = sqlRecordLines(columns, { reals: true })?.select[0]
  if (line === undefined) continue
  const forms: Record<string, string> = {
    line,
    quote: `concat(${columns.map((c) => `quote(${c.quoted})`).join(`, ',', `)}, char(10))`,
    raw: `concat(${columns.map((c) => c.quoted).join(', ')})`,
    count: '',
  }
  const from = `main.${quoteIdent(table.name)}`
  const key = table.primaryKey.map(quoteIdent)
  const order = key.join(', ')
  const keyBounds = (db.prepare(`SELECT ${order} FROM ${from} ORDER BY ${order}`).raw(true).all() as unknown[][]).filter((_, i) => i % BLOCK_ROWS === 0)
  const rowidBounds = (db.prepare(`SELECT rowid FROM ${from} ORDER BY rowid`).raw(true).all() as unknown[][]).filter((_, i) => i % BLOCK_ROWS === 0)
  const [keyLeft, keyRight] = key.length === 1 ? [key[0]!, '?'] : [`(${order})`, `(${key.map(() => '?').join(', ')})`]
  const range = (left: string, right: string) => `${left} >= ${right} AND ${left} < ${right}`
  const runs: Record<string, number[]> = {}
  const add = (name: string, ms: number) => (runs[name] ??= []).push(ms)
  for (let run = 0; run < Number(values.runs); run++) {
    for (const [name, form] of Object.entries(forms)) {
      const aggregate = name === 'count' ? 'count(*)' : `CAST(group_concat(${form}, '') AS BLOB)`
      if (name !== 'count') add(`whole ${name}`, timed(() => db.prepare(`SELECT sum(length(${form})) FROM ${from}`).get()))
      add(`key ${name}`, timed(() => readRanges(table.name, range, keyLeft, keyRight, aggregate, keyBounds)))
      add(`rowid ${name}`, timed(() => readRanges(table.name, range, 'rowid', '?', aggregate, rowidBounds)))
    }
    add('rows in key order', timed(() => {
      for (const row of db.prepare(`SELECT ${line} FROM ${from} ORDER BY ${order}`).raw(true).iterate()) void row
    }))
  }
  console.log(`${table.name} (${keyBounds.length * BLOCK_ROWS} rows at most, ${keyBounds.length} blocks)`)
  for (const [name, ms] of Object.entries(runs)) console.log(`  ${name.padEnd(18)} ${median(ms).toFixed(0).padStart(6)} ms   (${ms.map((m) => m.toFixed(0)).join(', ')})`)
}
db.exec('ROLLBACK')
db.close()
