/**
 * Incremental backups (issue #18 part 2): time and size of an incremental backup against a full
 * one, and the restore of a full backup + 7 increments against the restore of one full backup of
 * the same final state.
 *
 *   node --import tsx bench/incremental.ts --scale 20 [--engine postgres,mysql,sqlite] [--increments 7] [--compare]
 *
 * The targets (issue #18): an increment (1 % of the rows changed, 0.1 % deleted) takes ≤ 0.4 × a
 * full backup's time and ≤ 3 % of its size; restoring the full backup + 7 increments takes
 * ≤ 1.3 × restoring one full backup of the same final state. Each is printed with its ratio and
 * whether it was met. `--engine` takes one engine or several (default: all three, one after the other).
 *
 * `--compare` (PostgreSQL): after each increment, the same increment again with every row
 * digested (`rowStamps: false`, a sibling of the same parent) and, at the end, a full backup
 * without row stamps, so that both ways are timed side by side at the same load.
 *
 * Algorithm (library calls in this process, wall time; the machine may be shared, so compare the
 * ratios, not the seconds):
 *  1. Generate the bench database (bench/generate.ts) at `scale` (1 = 100 000 rows).
 *  2. Full backup into a fresh directory (it writes the digest index too).
 *  3. For i = 1..increments: change about 1 % of the rows of every table (a column each table
 *     has, chosen by a hash of the key and i) and delete about 0.1 % of the rows of the three
 *     tables nothing references without cascade (Registration, which cascades to its messages and
 *     allocations, Message, RoomAllocation); then `backup --incremental`.
 *  4. A full backup of the final state (timed again: the full backup figure is the mean of the two).
 *  5. Restore the last increment (the chain) into an empty database, and the final full backup
 *     into another; check both give the source's row counts. The two restores run in pairs, the
 *     first pair chain first, the next full first, and so on (`--restore-pairs`, default 2), each
 *     into a fresh database: a restore leaves the server's buffer pool full of its own dirty
 *     pages, which the next restore pays to flush, so one order alone favours the first restore
 *     (measured: docs/performance.md, round seven). The ratio is of the means.
 *  6. Print a Markdown table, drop the databases and the directory.
 *
 * `--restore-only CHAIN,FULL` skips steps 1–4 and times the restores of existing files: the last
 * increment of a chain and a full backup of the same state (`--keep-dir` prints both paths and
 * keeps them); the two restores' row counts are checked against each other.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { createHash } from 'node:crypto'
import pg from 'pg'
import mysql from 'mysql2/promise'
import Database from 'better-sqlite3'
import { backup } from '../src/engine/backup.js'
import { restore } from '../src/engine/restore.js'
import { generate, countsFor, BENCH_TABLES, type BenchEngine } from './generate.js'

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    /** One engine, or several separated by commas: postgres, mysql, sqlite. */
    engine: { type: 'string', default: 'postgres,mysql,sqlite' },
    increments: { type: 'string', default: '7' },
    'keep-dir': { type: 'boolean', default: false },
    compare: { type: 'boolean', default: false },
    'restore-pairs': { type: 'string', default: '2' },
    'restore-only': { type: 'string' },
    /** Also measure increments narrowed by this timestamp column (the mutations set it to now). */
    'changed-since-column': { type: 'string' },
    /** The increments' `jobs` (database sessions; MariaDB: 1 reads the row digests on one session instead of two). */
    jobs: { type: 'string' },
  },
})
const scale = Number(values.scale)
const increments = Number(values.increments)
const restorePairs = Number(values['restore-pairs'])
const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 7)}`

/** What the bench does to a database, per engine: create, drop, run statements, count rows. */
interface BenchDatabases {
  readonly engine: BenchEngine
  create(name: string): Promise<string>
  drop(name: string): Promise<void>
  exec(url: string, statements: string[]): Promise<void>
  count(url: string, table: string): Promise<number>
  /** A table or column name quoted. */
  q(name: string): string
  /** SQL true for about one row in `modulo`, chosen by a hash of `key` and `salt`. */
  pick(key: string, salt: string, modulo: number): string
  now: string
  concat(a: string, b: string): string
}

function serverDatabases(engine: 'postgres' | 'mysql'): BenchDatabases {
  const ADMIN = engine === 'postgres' ? 'postgres://postgres@127.0.0.1:5432/postgres' : 'mysql://root@127.0.0.1:3306/mysql'
  const urlFor = (name: string) => {
    const url = new URL(ADMIN)
    url.pathname = `/${name}`
    return url.toString()
  }
  const q = (s: string) => (engine === 'postgres' ? `"${s}"` : `\`${s}\``)
  async function run<T>(url: string, statements: string[]): Promise<T[]> {
    const out: T[] = []
    if (engine === 'postgres') {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        for (const sql of statements) out.push((await client.query(sql)).rows[0] as T)
      } finally {
        await client.end()
      }
    } else {
      const conn = await mysql.createConnection({ uri: url })
      try {
        for (const sql of statements) out.push(((await conn.query(sql))[0] as T[])[0]!)
      } finally {
        await conn.end()
      }
    }
    return out
  }
  return {
    engine,
    async create(name) {
      await run(ADMIN, [`CREATE DATABASE ${q(name)}`])
      return urlFor(name)
    },
    async drop(name) {
      await run(ADMIN, [engine === 'postgres' ? `DROP DATABASE IF EXISTS ${q(name)} WITH (FORCE)` : `DROP DATABASE IF EXISTS ${q(name)}`])
    },
    exec: async (url, statements) => void (await run(url, statements)),
    count: async (url, table) => Number((await run<{ n: number }>(url, [`SELECT count(*) AS n FROM ${q(table)}`]))[0]!.n),
    q,
    pick: (key, salt, modulo) =>
      engine === 'postgres' ? `abs(hashtext(${q(key)}::text || '${salt}')) % ${modulo} = 0` : `crc32(concat(${q(key)}, '${salt}')) % ${modulo} = 0`,
    now: engine === 'postgres' ? 'now()' : 'UTC_TIMESTAMP(3)',
    concat: (a, b) => `concat(${a}, ${b})`,
  }
}

/** SQLite: one file per database in `dir`; the rows to change are picked by a function registered on the connection. */
function sqliteDatabases(dir: string): BenchDatabases {
  const urlFor = (name: string) => `sqlite:${path.join(dir, `${name}.db`)}`
  function open(url: string): Database.Database {
    const db = new Database(url.slice('sqlite:'.length))
    db.function('mb_pick', { deterministic: true }, (key: unknown, salt: unknown) => createHash('md5').update(`${String(key)}${String(salt)}`).digest().readUInt32BE(0))
    // Deleting a registration deletes its messages and allocation, as on the servers.
    db.pragma('foreign_keys = ON')
    return db
  }
  return {
    engine: 'sqlite',
    create: async (name) => urlFor(name),
    drop: async (name) => fs.rmSync(urlFor(name).slice('sqlite:'.length), { force: true }),
    async exec(url, statements) {
      const db = open(url)
      try {
        for (const sql of statements) db.exec(sql)
      } finally {
        db.close()
      }
    },
    async count(url, table) {
      const db = open(url)
      try {
        return Number((db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n)
      } finally {
        db.close()
      }
    },
    q: (s) => `"${s}"`,
    pick: (key, salt, modulo) => `mb_pick("${key}", '${salt}') % ${modulo} = 0`,
    // As the generator writes timestamps (timestamp(3) as ISO text with a space).
    now: "strftime('%Y-%m-%d %H:%M:%f', 'now')",
    concat: (a, b) => `(${a} || ${b})`,
  }
}

async function counts(db: BenchDatabases, url: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const t of BENCH_TABLES) out[t] = await db.count(url, t)
  return out
}

/** About 1 % of every table's rows changed and 0.1 % of the leaf tables' rows deleted, different ones each round. */
function mutation(db: BenchDatabases, round: number): string[] {
  const q = db.q
  const now = `, ${q('updatedAt')} = ${db.now}`
  const pick = (key: string, purpose: string, modulo: number) => db.pick(key, `${purpose}${round}`, modulo)
  return [
    `UPDATE ${q('User')} SET ${q('name')} = ${db.concat(q('name'), "'+'")}${now} WHERE ${pick('id', 'u', 100)}`,
    `UPDATE ${q('Room')} SET ${q('capacity')} = ${q('capacity')} + 1${now} WHERE ${pick('id', 'u', 100)}`,
    `UPDATE ${q('Registration')} SET ${q('amount')} = ${q('amount')} + 1${now} WHERE ${pick('id', 'u', 100)}`,
    `UPDATE ${q('Message')} SET ${q('isRead')} = NOT ${q('isRead')}${now} WHERE ${pick('id', 'u', 100)}`,
    `UPDATE ${q('RoomAllocation')} SET ${q('bed')} = 1 + ${q('bed')} % 4 WHERE ${pick('registrationId', 'u', 100)}`,
    `DELETE FROM ${q('Message')} WHERE ${pick('id', 'd', 1000)}`,
    `DELETE FROM ${q('RoomAllocation')} WHERE ${pick('registrationId', 'd', 1000)}`,
    `DELETE FROM ${q('Registration')} WHERE ${pick('id', 'd', 1000)}`,
  ]
}

/** MariaDB's server process (found by name in /proc), whose CPU seconds each step reports: undefined when it is not on this machine. */
const serverPid = ((): string | undefined => {
  try {
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue
      const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
      // PostgreSQL runs a process per connection: not summed here.
      if (comm === 'mariadbd' || comm === 'mysqld') return pid
    }
  } catch {
    // No /proc: client CPU only.
  }
  return undefined
})()

/** CPU seconds (user + system) of the database server's process so far, where it is known (MariaDB). */
function serverCpu(): number | undefined {
  if (serverPid === undefined) return undefined
  try {
    const fields = fs.readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

async function timed<T>(what: string, run: () => Promise<T>): Promise<{ value: T; seconds: number; cpu: number; server: number | undefined }> {
  const started = process.hrtime.bigint()
  const cpuBefore = process.cpuUsage()
  const serverBefore = serverCpu()
  const value = await run()
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const used = process.cpuUsage(cpuBefore)
  const cpu = (used.user + used.system) / 1e6
  const serverAfter = serverCpu()
  const server = serverBefore !== undefined && serverAfter !== undefined ? serverAfter - serverBefore : undefined
  console.error(`  ${what}: ${seconds.toFixed(2)} s (client CPU ${cpu.toFixed(2)} s${server !== undefined ? `, server CPU ${server.toFixed(2)} s` : ''})`)
  return { value, seconds, cpu, server }
}

/** `client s + server s` of a timed step. */
const cpuText = (t: { cpu: number; server: number | undefined }) => `${t.cpu.toFixed(2)}${t.server !== undefined ? ` + ${t.server.toFixed(2)}` : ''} s`
const serverMean = (xs: readonly { server: number | undefined }[]) =>
  xs.some((x) => x.server === undefined) ? undefined : xs.reduce((a, x) => a + x.server!, 0) / xs.length

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`)

/** Whether `ratio` meets `target` (at most), as printed in the table. */
const verdict = (ratio: number, target: number) => (ratio <= target ? 'met' : '**missed**')

type Timed = Awaited<ReturnType<typeof timed>>

/**
 * The chain restore and the full restore, `restorePairs` times each, alternating which goes first
 * (step 5), each into a database made for it and dropped after its row counts were taken.
 */
async function timeRestores(db: BenchDatabases, chainFile: string, fullFile: string): Promise<{ chain: Timed[]; full: Timed[]; counts: Record<string, number>[] }> {
  const chain: Timed[] = []
  const full: Timed[] = []
  const got: Record<string, number>[] = []
  const one = async (what: 'chain' | 'full'): Promise<void> => {
    const name = `mbincr_${what}_${suffix}`
    const url = await db.create(name)
    try {
      const label = what === 'chain' ? 'restore of the chain (full + increments)' : 'restore of one full backup of the final state'
      const run = await timed(label, () => restore({ file: what === 'chain' ? chainFile : fullFile, db: url }))
      ;(what === 'chain' ? chain : full).push(run)
      got.push(await counts(db, url))
    } finally {
      await db.drop(name).catch(() => {})
    }
  }
  for (let pair = 0; pair < restorePairs; pair++) {
    const order: ('chain' | 'full')[] = pair % 2 === 0 ? ['chain', 'full'] : ['full', 'chain']
    for (const what of order) await one(what)
  }
  return { chain, full, counts: got }
}

const meanSeconds = (xs: readonly { seconds: number }[]) => xs.reduce((a, x) => a + x.seconds, 0) / xs.length

/** `--restore-only CHAIN,FULL`: step 5 alone, on existing files. */
async function benchRestores(engine: BenchEngine, files: string): Promise<void> {
  const [chainFile, fullFile] = files.split(',')
  if (chainFile === undefined || fullFile === undefined) throw new Error('--restore-only: expected CHAIN,FULL')
  if (engine === 'sqlite') throw new Error('--restore-only: PostgreSQL or MariaDB')
  const db = serverDatabases(engine)
  const { chain, full, counts: got } = await timeRestores(db, chainFile, fullFile)
  for (const g of got) if (JSON.stringify(g) !== JSON.stringify(got[0])) throw new Error(`row counts differ: ${JSON.stringify(g)} vs ${JSON.stringify(got[0])}`)
  const ratio = meanSeconds(chain) / meanSeconds(full)
  console.log(
    [
      `### ${engine}, restores of existing files (${restorePairs} pairs, alternating order), ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`,
      '',
      '| restore | runs (s) | mean | CPU (client + server, s) |',
      '| --- | --- | ---: | --- |',
      `| chain | ${chain.map((t) => t.seconds.toFixed(1)).join(', ')} | ${meanSeconds(chain).toFixed(1)} s | ${chain.map(cpuText).join('; ')} |`,
      `| one full backup | ${full.map((t) => t.seconds.toFixed(1)).join(', ')} | ${meanSeconds(full).toFixed(1)} s | ${full.map(cpuText).join('; ')} |`,
      '',
      `chain / full: ${ratio.toFixed(2)} × (target ≤ 1.3: ${verdict(ratio, 1.3)})`,
    ].join('\n'),
  )
}

async function benchEngine(engine: BenchEngine): Promise<void> {
  const source = `mbincr_src_${suffix}`
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbincr-bench-'))
  const sqliteDir = engine === 'sqlite' ? fs.mkdtempSync(path.join(os.tmpdir(), 'mbincr-sqlite-')) : undefined
  const db = sqliteDir !== undefined ? sqliteDatabases(sqliteDir) : serverDatabases(engine as 'postgres' | 'mysql')
  const made: string[] = []
  try {
    const url = await db.create(source)
    made.push(source)
    const rows = Object.values(countsFor(scale)).reduce((a, b) => a + b)
    console.error(`${engine}: generating scale ${scale} (${rows} rows)`)
    await generate(url, { scale })
    const full = await timed('full backup', () => backup({ db: url, out: dir, name: 'bench' }))
    const indexBytes = fs.statSync(`${full.value.file}.digests`).size
    const steps: { seconds: number; cpu: number; server: number | undefined; size: number; records: number; deleted: number }[] = []
    let last = full.value.file
    const digestSeconds: number[] = []
    const digestCpu: { cpu: number; server: number | undefined }[] = []
    for (let i = 1; i <= increments; i++) {
      await db.exec(url, mutation(db, i))
      const column = values['changed-since-column']
      const step = await timed(`increment ${i}`, () => backup({ db: url, out: dir, name: 'bench', incremental: true, ...(column ? { changedSinceColumn: column } : {}), ...(values.jobs ? { jobs: Number(values.jobs) } : {}) }))
      const info = step.value.metadata.incremental!
      if (values.compare) {
        const parentFile = path.basename(last)
        const digest = await timed(`  same increment, every row digested`, () => backup({ db: url, out: dir, name: 'bench-digests', since: parentFile, rowStamps: false }))
        digestSeconds.push(digest.seconds)
        digestCpu.push({ cpu: digest.cpu, server: digest.server })
        console.error(`    compared: ${JSON.stringify(step.value.compared)} vs ${JSON.stringify(digest.value.compared)}; records ${JSON.stringify(step.value.metadata.recordCounts)} vs ${JSON.stringify(digest.value.metadata.recordCounts)}`)
      }
      last = step.value.file
      steps.push({
        seconds: step.seconds,
        cpu: step.cpu,
        server: step.server,
        size: step.value.sizeBytes,
        records: Object.values(step.value.metadata.recordCounts).reduce((a, b) => a + b, 0),
        deleted: Object.values(info.deleted).reduce((a, k) => a + k.length, 0),
      })
    }
    const finalDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbincr-final-'))
    const finalFull = await timed('full backup of the final state', () => backup({ db: url, out: finalDir, name: 'final' }))
    const plainFull = values.compare ? await timed('full backup of the final state without row stamps', () => backup({ db: url, out: finalDir, name: 'plain', rowStamps: false })) : undefined
    const expected = await counts(db, url)
    const restores = await timeRestores(db, last, finalFull.value.file)
    for (const g of restores.counts) if (JSON.stringify(g) !== JSON.stringify(expected)) throw new Error(`row counts differ: ${JSON.stringify(g)} vs ${JSON.stringify(expected)}`)
    if (values['keep-dir']) console.error(`  kept: chain ${last}, final full backup ${finalFull.value.file}`)
    else fs.rmSync(finalDir, { recursive: true, force: true })

    const fullSeconds = (full.seconds + finalFull.seconds) / 2
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    const incSeconds = mean(steps.map((s) => s.seconds))
    const incSize = mean(steps.map((s) => s.size))
    const timeRatio = incSeconds / fullSeconds
    const sizeRatio = incSize / full.value.sizeBytes
    const restoreRatio = meanSeconds(restores.chain) / meanSeconds(restores.full)
    const restoreRuns = (runs: readonly Timed[]) => `${meanSeconds(runs).toFixed(1)} s${runs.length > 1 ? ` (${runs.map((r) => r.seconds.toFixed(1)).join(', ')})` : ''}`
    const lines = [
      `### ${engine}, scale ${scale} (${rows} rows), ${increments} increments${values['changed-since-column'] ? ` narrowed by --changed-since-column ${values['changed-since-column']}` : ' (exact change detection: xmin stamps on PostgreSQL, server-side row digests on MariaDB, then digests of the changed rows; every row digested on SQLite)'}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`,
      '',
      '| measure | value | ratio | target | |',
      '| --- | ---: | ---: | ---: | --- |',
      `| full backup (mean of the first and the final) | ${fullSeconds.toFixed(1)} s, ${fmt(full.value.sizeBytes)} (+ ${fmt(indexBytes)} digest index) | 1 | |`,
      `| incremental backup (mean of ${increments}; ${Math.round(mean(steps.map((s) => s.records)))} records, ${Math.round(mean(steps.map((s) => s.deleted)))} deleted keys each) | ${incSeconds.toFixed(1)} s | ${timeRatio.toFixed(2)} × time | ≤ 0.4 | ${verdict(timeRatio, 0.4)} |`,
      ...(values.compare
        ? [
            `| incremental backup, every row digested (mean of ${increments}, same parents, side by side) | ${mean(digestSeconds).toFixed(1)} s | ${(mean(digestSeconds) / fullSeconds).toFixed(2)} × time | |`,
            `| full backup of the final state without row stamps / with | ${plainFull!.seconds.toFixed(1)} s / ${finalFull.seconds.toFixed(1)} s | ${(finalFull.seconds / plainFull!.seconds).toFixed(2)} × | |`,
          ]
        : []),
      `| incremental backup size | ${fmt(incSize)} | ${(sizeRatio * 100).toFixed(2)} % | ≤ 3 % | ${verdict(sizeRatio, 0.03)} |`,
      `| restore full + ${increments} increments (mean of ${restores.chain.length}, order alternated) | ${restoreRuns(restores.chain)} | ${restoreRatio.toFixed(2)} × | ≤ 1.3 | ${verdict(restoreRatio, 1.3)} |`,
      `| restore one full backup of the final state (mean of ${restores.full.length}) | ${restoreRuns(restores.full)} | 1 | |`,
      '',
      `Per increment (s): ${steps.map((s) => s.seconds.toFixed(1)).join(', ')}; sizes: ${steps.map((s) => fmt(s.size)).join(', ')}`,
      '',
      `CPU seconds (client${serverPid !== undefined ? ' + database server' : ''}): full backup ${cpuText(full)} and ${cpuText(finalFull)}; increments ${cpuText({ cpu: mean(steps.map((s) => s.cpu)), server: serverMean(steps) })} (mean)` +
        (values.compare
          ? `; every row digested ${cpuText({ cpu: mean(digestCpu.map((s) => s.cpu)), server: serverMean(digestCpu) })} (mean); full backup without row stamps ${cpuText(plainFull!)}`
          : ''),
    ]
    console.log(lines.join('\n'))
  } finally {
    for (const name of made) await db.drop(name).catch(() => {})
    if (!values['keep-dir']) fs.rmSync(dir, { recursive: true, force: true })
    if (sqliteDir !== undefined) fs.rmSync(sqliteDir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const engines = values.engine.split(',').map((e) => e.trim())
  for (const engine of engines) {
    if (engine !== 'postgres' && engine !== 'mysql' && engine !== 'sqlite') throw new Error(`--engine: expected postgres, mysql or sqlite, got ${engine}`)
  }
  if (values['restore-only'] !== undefined) {
    if (engines.length !== 1) throw new Error('--restore-only: give one --engine')
    await benchRestores(engines[0] as BenchEngine, values['restore-only'])
    return
  }
  for (const engine of engines) {
    await benchEngine(engine as BenchEngine)
    console.log('')
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
