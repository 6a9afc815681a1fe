/**
 * Incremental backups (issue #18 part 2): time and size of an incremental backup against a full
 * one, and the restore of a full backup + 7 increments against the restore of one full backup of
 * the same final state.
 *
 *   node --import tsx bench/incremental.ts --scale 20 [--engine postgres|mysql] [--increments 7] [--compare]
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
 *     into another; check both give the source's row counts.
 *  6. Print a Markdown table, drop the databases and the directory.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import mysql from 'mysql2/promise'
import { backup } from '../src/engine/backup.js'
import { restore } from '../src/engine/restore.js'
import { generate, countsFor, BENCH_TABLES } from './generate.js'

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    engine: { type: 'string', default: 'postgres' },
    increments: { type: 'string', default: '7' },
    'keep-dir': { type: 'boolean', default: false },
    compare: { type: 'boolean', default: false },
    /** Also measure increments narrowed by this timestamp column (the mutations set it to now). */
    'changed-since-column': { type: 'string' },
  },
})
const scale = Number(values.scale)
const increments = Number(values.increments)
const engine = values.engine as 'postgres' | 'mysql'
const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 7)}`
const ADMIN = engine === 'postgres' ? 'postgres://postgres@127.0.0.1:5432/postgres' : 'mysql://root@127.0.0.1:3306/mysql'

function urlFor(name: string): string {
  const url = new URL(ADMIN)
  url.pathname = `/${name}`
  return url.toString()
}

async function admin(sql: string): Promise<void> {
  if (engine === 'postgres') {
    const client = new pg.Client({ connectionString: ADMIN })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  } else {
    const conn = await mysql.createConnection({ uri: ADMIN })
    try {
      await conn.query(sql)
    } finally {
      await conn.end()
    }
  }
}

async function exec(url: string, statements: string[]): Promise<void> {
  if (engine === 'postgres') {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      for (const sql of statements) await client.query(sql)
    } finally {
      await client.end()
    }
  } else {
    const conn = await mysql.createConnection({ uri: url })
    try {
      for (const sql of statements) await conn.query(sql)
    } finally {
      await conn.end()
    }
  }
}

async function counts(url: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  if (engine === 'postgres') {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      for (const t of BENCH_TABLES) out[t] = Number((await client.query(`SELECT count(*) AS n FROM "${t}"`)).rows[0].n)
    } finally {
      await client.end()
    }
  } else {
    const conn = await mysql.createConnection({ uri: url })
    try {
      for (const t of BENCH_TABLES) out[t] = Number(((await conn.query(`SELECT count(*) AS n FROM \`${t}\``))[0] as { n: number }[])[0]!.n)
    } finally {
      await conn.end()
    }
  }
  return out
}

/** About 1 % of every table's rows changed and 0.1 % of the leaf tables' rows deleted, different ones each round. */
function mutation(round: number): string[] {
  const q = (s: string) => (engine === 'postgres' ? `"${s}"` : `\`${s}\``)
  const now = `, ${q('updatedAt')} = ${engine === 'postgres' ? 'now()' : 'UTC_TIMESTAMP(3)'}`
  const pick = (key: string, purpose: string, modulo: number) =>
    engine === 'postgres' ? `abs(hashtext(${q(key)}::text || '${purpose}${round}')) % ${modulo} = 0` : `crc32(concat(${q(key)}, '${purpose}${round}')) % ${modulo} = 0`
  return [
    `UPDATE ${q('User')} SET ${q('name')} = concat(${q('name')}, '+')${now} WHERE ${pick('id', 'u', 100)}`,
    `UPDATE ${q('Room')} SET ${q('capacity')} = ${q('capacity')} + 1${now} WHERE ${pick('id', 'u', 100)}`,
    `UPDATE ${q('Registration')} SET ${q('amount')} = ${q('amount')} + 1${now} WHERE ${pick('id', 'u', 100)}`,
    `UPDATE ${q('Message')} SET ${q('isRead')} = NOT ${q('isRead')}${now} WHERE ${pick('id', 'u', 100)}`,
    `UPDATE ${q('RoomAllocation')} SET ${q('bed')} = 1 + ${q('bed')} % 4 WHERE ${pick('registrationId', 'u', 100)}`,
    `DELETE FROM ${q('Message')} WHERE ${pick('id', 'd', 1000)}`,
    `DELETE FROM ${q('RoomAllocation')} WHERE ${pick('registrationId', 'd', 1000)}`,
    `DELETE FROM ${q('Registration')} WHERE ${pick('id', 'd', 1000)}`,
  ]
}

async function timed<T>(what: string, run: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = process.hrtime.bigint()
  const value = await run()
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  console.error(`  ${what}: ${seconds.toFixed(2)} s`)
  return { value, seconds }
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`)

async function main(): Promise<void> {
  const source = `mbincr_src_${suffix}`
  const targets = [`mbincr_chain_${suffix}`, `mbincr_full_${suffix}`]
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbincr-bench-'))
  const made: string[] = []
  try {
    await admin(`CREATE DATABASE ${engine === 'postgres' ? `"${source}"` : `\`${source}\``}`)
    made.push(source)
    const rows = Object.values(countsFor(scale)).reduce((a, b) => a + b)
    console.error(`${engine}: generating scale ${scale} (${rows} rows)`)
    await generate(urlFor(source), { scale })
    const url = urlFor(source)
    const full = await timed('full backup', () => backup({ db: url, out: dir, name: 'bench' }))
    const indexBytes = fs.statSync(`${full.value.file}.digests`).size
    const steps: { seconds: number; size: number; records: number; deleted: number }[] = []
    let last = full.value.file
    const digestSeconds: number[] = []
    for (let i = 1; i <= increments; i++) {
      await exec(url, mutation(i))
      const column = values['changed-since-column']
      const step = await timed(`increment ${i}`, () => backup({ db: url, out: dir, name: 'bench', incremental: true, ...(column ? { changedSinceColumn: column } : {}) }))
      const info = step.value.metadata.incremental!
      if (values.compare) {
        const parentFile = path.basename(last)
        const digest = await timed(`  same increment, every row digested`, () => backup({ db: url, out: dir, name: 'bench-digests', since: parentFile, rowStamps: false }))
        digestSeconds.push(digest.seconds)
        console.error(`    compared: ${JSON.stringify(step.value.compared)} vs ${JSON.stringify(digest.value.compared)}; records ${JSON.stringify(step.value.metadata.recordCounts)} vs ${JSON.stringify(digest.value.metadata.recordCounts)}`)
      }
      last = step.value.file
      steps.push({
        seconds: step.seconds,
        size: step.value.sizeBytes,
        records: Object.values(step.value.metadata.recordCounts).reduce((a, b) => a + b, 0),
        deleted: Object.values(info.deleted).reduce((a, k) => a + k.length, 0),
      })
    }
    const finalDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbincr-final-'))
    const finalFull = await timed('full backup of the final state', () => backup({ db: url, out: finalDir, name: 'final' }))
    const plainFull = values.compare ? await timed('full backup of the final state without row stamps', () => backup({ db: url, out: finalDir, name: 'plain', rowStamps: false })) : undefined
    const expected = await counts(url)
    for (const t of targets) {
      await admin(`CREATE DATABASE ${engine === 'postgres' ? `"${t}"` : `\`${t}\``}`)
      made.push(t)
    }
    const chainRestore = await timed('restore of the chain (full + increments)', () => restore({ file: last, db: urlFor(targets[0]!) }))
    const fullRestore = await timed('restore of one full backup of the final state', () => restore({ file: finalFull.value.file, db: urlFor(targets[1]!) }))
    void chainRestore
    void fullRestore
    const got = [await counts(urlFor(targets[0]!)), await counts(urlFor(targets[1]!))]
    for (const g of got) if (JSON.stringify(g) !== JSON.stringify(expected)) throw new Error(`row counts differ: ${JSON.stringify(g)} vs ${JSON.stringify(expected)}`)
    fs.rmSync(finalDir, { recursive: true, force: true })

    const fullSeconds = (full.seconds + finalFull.seconds) / 2
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    const incSeconds = mean(steps.map((s) => s.seconds))
    const incSize = mean(steps.map((s) => s.size))
    const lines = [
      `### ${engine}, scale ${scale} (${rows} rows), ${increments} increments${values['changed-since-column'] ? ` narrowed by --changed-since-column ${values['changed-since-column']}` : ' (exact: every row digested)'}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`,
      '',
      '| measure | value | ratio | target |',
      '| --- | ---: | ---: | ---: |',
      `| full backup (mean of the first and the final) | ${fullSeconds.toFixed(1)} s, ${fmt(full.value.sizeBytes)} (+ ${fmt(indexBytes)} digest index) | 1 | |`,
      `| incremental backup (mean of ${increments}; ${Math.round(mean(steps.map((s) => s.records)))} records, ${Math.round(mean(steps.map((s) => s.deleted)))} deleted keys each) | ${incSeconds.toFixed(1)} s | ${(incSeconds / fullSeconds).toFixed(2)} × time | ≤ 0.4 |`,
      ...(values.compare
        ? [
            `| incremental backup, every row digested (mean of ${increments}, same parents, side by side) | ${mean(digestSeconds).toFixed(1)} s | ${(mean(digestSeconds) / fullSeconds).toFixed(2)} × time | |`,
            `| full backup of the final state without row stamps / with | ${plainFull!.seconds.toFixed(1)} s / ${finalFull.seconds.toFixed(1)} s | ${(finalFull.seconds / plainFull!.seconds).toFixed(2)} × | |`,
          ]
        : []),
      `| incremental backup size | ${fmt(incSize)} | ${((incSize / full.value.sizeBytes) * 100).toFixed(2)} % | ≤ 3 % |`,
      `| restore full + ${increments} increments | ${chainRestore.seconds.toFixed(1)} s | ${(chainRestore.seconds / fullRestore.seconds).toFixed(2)} × | ≤ 1.3 |`,
      `| restore one full backup of the final state | ${fullRestore.seconds.toFixed(1)} s | 1 | |`,
      '',
      `Per increment (s): ${steps.map((s) => s.seconds.toFixed(1)).join(', ')}; sizes: ${steps.map((s) => fmt(s.size)).join(', ')}`,
    ]
    console.log(lines.join('\n'))
  } finally {
    for (const name of made) await admin(engine === 'postgres' ? `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)` : `DROP DATABASE IF EXISTS \`${name}\``).catch(() => {})
    if (!values['keep-dir']) fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
