/**
 * Issue #13 finding 6: the memory one huge value costs. Writes a backup holding one record whose
 * text column is a string of SIZE MiB (default 100), then measures `verify`, `restore` into a new
 * SQLite database, and `restore` into PostgreSQL and MariaDB when MERGEBACK_BENCH_POSTGRES_URL /
 * MERGEBACK_BENCH_MYSQL_URL name an empty database to create the table in (each left out
 * otherwise; the table `t` is dropped before each run), with GNU time: peak RSS and wall time.
 * The MariaDB server needs max_allowed_packet above the value's size.
 *
 *   node --import tsx bench/huge-value.ts [SIZE_MIB]
 *
 * Needs dist/ (npm run build). Not a test: the numbers go to stdout, for docs/security.md.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'
import { measure, requireGnuTime } from './measure.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BIN = path.join(ROOT, 'bin', 'mergeback.js')

/** Column types as a backup of `engine` spells them (MariaDB needs LONGTEXT for a value this size). */
const TYPES = { sqlite: ['INTEGER', 'TEXT'], postgres: ['integer', 'text'], mysql: ['int', 'longtext'] } as const

function writeFile(file: string, sizeMiB: number, engine: keyof typeof TYPES): void {
  const line = Buffer.concat([Buffer.from('{"id":1,"a":"'), Buffer.alloc(sizeMiB * 1024 * 1024, 0x78), Buffer.from('"}')])
  const checksum = 'sha256:' + createHash('sha256').update(line).update('\n').digest('hex')
  const [integer, text] = TYPES[engine]
  const header = { tableName: 't', primaryKey: 'id', columns: [{ name: 'id', type: integer, kind: 'integer', nullable: false }, { name: 'a', type: text, kind: 'text', nullable: true }] }
  const metadata = { format: 'mergeback', version: '1.0', exportedAt: new Date().toISOString(), engine, database: 'huge', backupName: 'huge', tables: ['t'], recordCounts: { t: 1 }, compression: 'none', checksums: { t: checksum } }
  const out = fs.openSync(file, 'w')
  fs.writeSync(out, `{"tables":[\n${JSON.stringify(header).slice(0, -1)},"records":[\n`)
  fs.writeSync(out, line)
  fs.writeSync(out, `\n]}\n],\n"metadata":${JSON.stringify(metadata)}}\n`)
  fs.closeSync(out)
}

async function main(): Promise<void> {
  requireGnuTime()
  const sizeMiB = Number(process.argv[2] ?? 100)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-huge-'))
  try {
    // A backup of each target's own engine (the same-engine path), and the SQLite one restored
    // into the other two (the cross-engine path, which hands the destination parsed rows).
    const file = path.join(dir, 'huge.json')
    writeFile(file, sizeMiB, 'sqlite')
    const own = (engine: keyof typeof TYPES): string => {
      const named = path.join(dir, `huge-${engine}.json`)
      writeFile(named, sizeMiB, engine)
      return named
    }
    const runs: [string, string[]][] = [
      ['verify', ['verify', file]],
      ['restore → SQLite', ['restore', file, '--db', `sqlite:${path.join(dir, 'target.db')}`]],
    ]
    const pg = process.env.MERGEBACK_BENCH_POSTGRES_URL
    if (pg) runs.push(['restore → PostgreSQL', ['restore', own('postgres'), '--db', pg, '--drop', '--yes']], ['SQLite file → PostgreSQL', ['restore', file, '--db', pg, '--drop', '--yes']])
    const my = process.env.MERGEBACK_BENCH_MYSQL_URL
    if (my) runs.push(['restore → MariaDB', ['restore', own('mysql'), '--db', my, '--drop', '--yes']], ['SQLite file → MariaDB', ['restore', file, '--db', my, '--drop', '--yes']])
    console.log(`one record with a ${sizeMiB} MiB string (${fs.statSync(file).size} bytes of JSON), load ${os.loadavg()[0]!.toFixed(1)}`)
    for (const [what, args] of runs) {
      const sample = await measure({ argv: [process.execPath, BIN, ...args, '--dir', dir] }, path.join(dir, what.replace(/\W+/g, '-')))
      const ratio = sample.peakRssBytes / (sizeMiB * 1024 * 1024)
      if (sample.exitCode !== 0) console.log(fs.readFileSync(path.join(dir, what.replace(/\W+/g, "-")) + ".stderr", "utf8").trim().split("\n").slice(-3).join("\n"))
      console.log(`${what.padEnd(26)} exit ${sample.exitCode}  peak RSS ${(sample.peakRssBytes / 1e6).toFixed(0)} MB (${ratio.toFixed(1)}× the value)  ${sample.seconds.toFixed(1)} s`)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

await main()
