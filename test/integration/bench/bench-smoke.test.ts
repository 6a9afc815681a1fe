/**
 * The benchmark harness at a tiny scale, so that it never rots: `bench/run.ts` runs end to end on
 * all three engines, every peer tool is measured, every mergeback command either runs correctly (the
 * bench checks the restored and merged row counts) or is reported as not there yet, and the
 * results file has the promised shape. No timing is asserted.
 *
 * Also: the generator gives the same logical data on PostgreSQL, MariaDB and SQLite, and the same data
 * twice, since every comparison between the engines and between runs rests on that.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import mysql from 'mysql2/promise'
import Database from 'better-sqlite3'
import { createMysqlDatabase, createPostgresDatabase, makeTempDir, type TestDatabase } from '../../helpers/databases.js'
import { BENCH_TABLES, countsFor, generate, mutate } from '../../../bench/generate.js'
import { parseTimeOutput, median } from '../../../bench/measure.js'
import type { BenchResults } from '../../../bench/report.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const SCALE = 0.01

describe('npm run bench at scale 0.01', () => {
  const tmp = makeTempDir('mergeback-bench-smoke-')
  let run: ReturnType<typeof spawnSync>
  let results: BenchResults

  beforeAll(() => {
    // --no-build: `npm test` has just built dist/; the bench measures whatever is there.
    run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--scale', String(SCALE), '--runs', '1', '--no-build', '--results-dir', tmp.dir],
      { cwd: ROOT, encoding: 'utf8', timeout: 240_000, env: { ...process.env, MERGEBACK_BENCH_SQLITE_DIR: path.join(tmp.dir, 'sqlite') } },
    )
    const files = fs.existsSync(tmp.dir) ? fs.readdirSync(tmp.dir).filter((f) => f.endsWith('.json')) : []
    if (files.length === 1) results = JSON.parse(fs.readFileSync(path.join(tmp.dir, files[0]), 'utf8'))
  }, 250_000)
  afterAll(() => tmp.cleanup())

  it('exits 0 and prints the tables', () => {
    expect(run.stderr, String(run.stderr)).not.toMatch(/^bench: /m)
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('| engine | operation | tool | median |')
    expect(run.stdout).toContain('| engine | comparison (mergeback / peer) | ratio |')
  })

  it('writes one results file named after the scale, with both data sets', () => {
    expect(fs.readdirSync(tmp.dir).filter((f) => f !== 'sqlite')).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ-scale0\.01\.json$/)])
    expect(results.format).toBe('mergeback-bench')
    const total = Object.values(countsFor(SCALE)).reduce((a, b) => a + b, 0)
    expect(results.datasets.postgres.totalRows).toBe(total)
    expect(results.datasets.mysql.totalRows).toBe(total)
    expect(results.datasets.sqlite.totalRows).toBe(total)
    expect(results.options).toMatchObject({ scale: SCALE, runs: 1, engines: ['postgres', 'mysql', 'sqlite'] })
  })

  it('measures every peer tool and floor', () => {
    const peers = results.tools.filter((t) => !t.mergeback)
    expect(peers.map((t) => `${t.engine}:${t.id}`).sort()).toEqual(
      [
        'mysql:mysql',
        'mysql:mysqldump',
        'postgres:floor-gzip-1',
        'postgres:floor-json-copy',
        'postgres:pg_dump-custom',
        'postgres:pg_dump-plain',
        'postgres:pg_restore',
        'postgres:psql',
        'sqlite:sqlite3-dump',
        'sqlite:sqlite3-load',
      ].sort(),
    )
    for (const tool of peers) {
      expect(tool.status, `${tool.label}: ${tool.reason}`).toBe('ok')
      expect(tool.samples).toHaveLength(1)
      expect(tool.samples[0].peakRssBytes).toBeGreaterThan(0)
    }
  })

  it('runs every mergeback command that exists, correctly, and names the ones that do not', () => {
    const ours = results.tools.filter((t) => t.mergeback)
    expect(ours.length).toBe(24)
    for (const tool of ours) {
      // "failed" means the command exited non-zero or left the wrong rows behind.
      expect(tool.status, `${tool.engine} ${tool.label}: ${tool.reason}`).not.toBe('failed')
      if (tool.status === 'not-measured') expect(tool.reason).toMatch(/\S/)
      else expect(tool.samples).toHaveLength(1)
    }
    for (const c of results.comparisons) {
      const bothMeasured = [c.tool, c.peer].every((id) => results.tools.find((t) => t.engine === c.engine && t.id === id)?.status === 'ok')
      expect(c.ratio === null, `${c.engine} ${c.label}`).toBe(!bothMeasured)
    }
  })

  it('drops every database it made', async () => {
    const prefix = `mbbench_${run.pid}_`
    const client = new pg.Client({ connectionString: process.env.MERGEBACK_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' })
    await client.connect()
    try {
      const { rows } = await client.query('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix])
      expect(rows).toEqual([])
    } finally {
      await client.end()
    }
    const conn = await mysql.createConnection({ uri: process.env.MERGEBACK_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql' })
    try {
      const [rows] = await conn.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ?) = ?', [prefix.length, prefix])
      expect(rows).toEqual([])
    } finally {
      await conn.end()
    }
    expect(fs.readdirSync(path.join(tmp.dir, 'sqlite')).filter((f) => f.startsWith(prefix))).toEqual([])
  })
})

describe('bench data generator', () => {
  let pgA: TestDatabase
  let pgB: TestDatabase
  let my: TestDatabase

  beforeAll(async () => {
    ;[pgA, pgB, my] = await Promise.all([createPostgresDatabase('mbbenchgen'), createPostgresDatabase('mbbenchgen'), createMysqlDatabase('mbbenchgen')])
    await Promise.all([generate(pgA.url, { scale: SCALE }), generate(pgB.url, { scale: SCALE }), generate(my.url, { scale: SCALE })])
  }, 180_000)
  afterAll(async () => {
    await Promise.all([pgA?.drop(), pgB?.drop(), my?.drop()])
  })

  it('gives the same rows twice', async () => {
    expect(await postgresRows(pgB.url)).toEqual(await postgresRows(pgA.url))
  })

  it('gives the same logical rows on PostgreSQL and MariaDB', async () => {
    const fromPostgres = await postgresRows(pgA.url)
    const fromMysql = await mysqlRows(my.url)
    for (const table of BENCH_TABLES) {
      expect(fromPostgres[table].length, table).toBe(countsFor(SCALE)[table])
      expect(fromMysql[table], table).toEqual(fromPostgres[table])
    }
  })

  it('changes and deletes the same rows on both engines', async () => {
    const [onPostgres, onMysql] = await Promise.all([mutate(pgB.url, { scale: SCALE }), mutate(my.url, { scale: SCALE })])
    expect(onMysql).toEqual(onPostgres)
    for (const table of BENCH_TABLES) expect(onPostgres.deleted[table], table).toBeGreaterThan(0)
    expect(await mysqlRows(my.url)).toEqual(await postgresRows(pgB.url))
  })

  it('gives the same logical rows on SQLite, and changes and deletes the same ones', async () => {
    const dir = makeTempDir('mergeback-bench-sqlite-')
    try {
      const url = `sqlite:${path.join(dir.dir, 'gen.db')}`
      expect(await generate(url, { scale: SCALE })).toEqual(countsFor(SCALE))
      expect(sqliteRows(url)).toEqual(await postgresRows(pgA.url))
      expect(await mutate(url, { scale: SCALE })).toEqual(await mutate(pgA.url, { scale: SCALE }))
      expect(sqliteRows(url)).toEqual(await postgresRows(pgA.url))
    } finally {
      dir.cleanup()
    }
  })

  it('refuses a scale that is not a positive number', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => countsFor(bad)).toThrow(RangeError)
  })
})

describe('bench helpers', () => {
  it('reads GNU time output, also after a non-zero exit', () => {
    expect(parseTimeOutput('51200 1.25 0.50\n')).toEqual({ peakRssBytes: 51200 * 1024, userSeconds: 1.25, systemSeconds: 0.5 })
    expect(parseTimeOutput('Command exited with non-zero status 2\n8000 0.00 0.01\n').peakRssBytes).toBe(8000 * 1024)
    expect(() => parseTimeOutput('garbage')).toThrow(/cannot read GNU time output/)
  })

  it('takes medians', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 2, 3])).toBe(2.5)
    expect(() => median([])).toThrow(RangeError)
  })

  it('rejects bad options with a one-line message', () => {
    for (const args of [['--scale', '0'], ['--runs', '0'], ['--engines', 'oracle'], ['--only', 'nonsense'], ['--bogus']]) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: ROOT, encoding: 'utf8' })
      expect(r.status, args.join(' ')).toBe(2)
      expect(r.stderr.split('\n')[0]).toMatch(/^bench: /)
    }
  })
})

/** The bench tables of a PostgreSQL database as canonical text rows, in key order. */
async function postgresRows(url: string): Promise<Record<string, string[][]>> {
  // Every value as PostgreSQL's text output, so nothing is lost to JavaScript types.
  const client = new pg.Client({ connectionString: url, types: { getTypeParser: () => (value: string) => value } })
  await client.connect()
  try {
    await client.query("SET TIME ZONE 'UTC'")
    const out: Record<string, string[][]> = {}
    for (const table of BENCH_TABLES) {
      const { rows } = await client.query(`SELECT * FROM "${table}" ORDER BY ${orderBy(table, '"')}`)
      out[table] = rows.map((row) => Object.entries(row).map(([column, value]) => canonical(column, value)))
    }
    return out
  } finally {
    await client.end()
  }
}

async function mysqlRows(url: string): Promise<Record<string, string[][]>> {
  const conn = await mysql.createConnection({ uri: url, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true })
  try {
    const out: Record<string, string[][]> = {}
    for (const table of BENCH_TABLES) {
      const [rows] = await conn.query(`SELECT * FROM \`${table}\` ORDER BY ${orderBy(table, '`')}`)
      out[table] = (rows as Record<string, unknown>[]).map((row) => Object.entries(row).map(([column, value]) => canonical(column, value)))
    }
    return out
  } finally {
    await conn.end()
  }
}

/** The same for a SQLite file (booleans are 0/1 there, numeric(10,2) a REAL: canonical() evens that out). */
function sqliteRows(url: string): Record<string, string[][]> {
  const db = new Database(url.replace(/^sqlite:/, ''), { readonly: true })
  try {
    const out: Record<string, string[][]> = {}
    for (const table of BENCH_TABLES) {
      const rows = db.prepare(`SELECT * FROM "${table}" ORDER BY ${orderBy(table, '"')}`).all() as Record<string, unknown>[]
      out[table] = rows.map((row) => Object.entries(row).map(([column, value]) => canonical(column, value)))
    }
    return out
  } finally {
    db.close()
  }
}

function orderBy(table: string, quote: string): string {
  return table === 'RoomAllocation' ? `${quote}registrationId${quote}` : 'id'
}

const BOOLEAN_COLUMNS = new Set(['emailVerified', 'paid', 'checkedIn', 'isRead'])

/** One value as comparable text: booleans, bytes, JSON and zone suffixes written one way for both engines. */
function canonical(column: string, value: unknown): string {
  if (value === null) return 'NULL'
  if (BOOLEAN_COLUMNS.has(column)) return String(value === true || value === 't' || value === 1 || value === '1')
  if (Buffer.isBuffer(value)) return value.toString('hex')
  if (column === 'photo') return String(value).replace(/^\\x/, '')
  if (column === 'metadata') {
    const json = typeof value === 'string' ? JSON.parse(value) : value
    // SQLite's json_object() writes a comparison's result as 0/1.
    if (typeof json.newsletter === 'number') json.newsletter = json.newsletter === 1
    return sortedJson(json)
  }
  if (column === 'amount') return Number(value).toFixed(2)
  const text = String(value).replace(/\+00$/, '')
  // PostgreSQL prints "12:00:00.35", MariaDB's DATETIME(3) "12:00:00.350": the same instant.
  if (/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+$/.test(text)) return text.replace(/\.?0+$/, '')
  return text
}

function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value)
}
