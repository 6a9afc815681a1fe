/**
 * kill -9 of the CLI during a restore into an empty database, a restore --drop into a populated
 * one, and a merge (issue #13 finding 2), for PostgreSQL, MariaDB and SQLite (kill9-*.test.ts).
 *
 * Exact points: sql-crash-hook.mjs, preloaded into the CLI, makes it SIGKILL itself right after
 * the n-th SQL statement completed. One uninterrupted run (on its own copy of the "before"
 * state) logs its statements; the points are chosen from that log: always right before and right
 * after the statement that commits (COMMIT, or on MariaDB the RENAME TABLE that swaps staging
 * tables in and commits), the rest spread over the statements before it. One more run is killed
 * from outside at a random moment between its first and last statement.
 *
 * After each kill:
 * - every table's full contents and the table list (staging tables aside) are exactly the state
 *   before or exactly the state after an uninterrupted run;
 * - staging tables exist only in the "before" case, and only on MariaDB and PostgreSQL (whose
 *   restore into new tables stages them in a schema `_mb_stage_<run id>`, listed as `schema.table`);
 * - alternately `mergeback recover --yes` removes exactly those staging tables (and the state is
 *   unchanged), or the next run of the same command removes them, reports it, and leaves the
 *   "after" state; after the external kill, recover finds nothing when nothing is left.
 *
 * Counts: MERGEBACK_KILL9_FULL=1 runs 9 exact points + 1 external kill per scenario (ten); the
 * default (CI) runs 3 + 1 to keep each file well under two minutes (docs/security.md).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { REPO_ROOT, runCli } from '../../helpers/cli.js'
import { makeTempDir } from '../../helpers/databases.js'

const HOOK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sql-crash-hook.mjs')
const BIN = path.join(REPO_ROOT, 'bin/mergeback.js')
export const FULL = process.env.MERGEBACK_KILL9_FULL === '1'
const EXACT_POINTS = FULL ? 9 : 3

/** What one engine needs: fresh databases, SQL, and a full snapshot. */
export interface Kill9Rig {
  readonly engine: 'postgres' | 'mysql' | 'sqlite'
  /** A fresh, empty database. */
  create(): Promise<{ url: string; drop(): Promise<void> }>
  exec(url: string, statements: readonly string[]): Promise<void>
  /** Table names (all of them, staging tables included) and the rows of each, as sorted JSON texts. */
  snapshot(url: string): Promise<{ tables: string[]; rows: Record<string, string[]> }>
}

export type Scenario = 'restore-empty' | 'restore-drop' | 'merge'

const PARENTS = 50
const CHILDREN = 1200
const TAGS = 20

const SCHEMA = [
  'CREATE TABLE parents (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL)',
  'CREATE TABLE children (id INTEGER NOT NULL PRIMARY KEY, parent_id INTEGER NOT NULL, amount INTEGER NOT NULL, note VARCHAR(100), CONSTRAINT fk_children_parent FOREIGN KEY (parent_id) REFERENCES parents (id))',
  'CREATE TABLE tags (id INTEGER NOT NULL PRIMARY KEY, label VARCHAR(50) NOT NULL)',
]

function inserts(table: string, rows: readonly (readonly (string | number | null)[])[]): string[] {
  const out: string[] = []
  const literal = (v: string | number | null): string => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${v.replace(/'/g, "''")}'`)
  for (let i = 0; i < rows.length; i += 500) out.push(`INSERT INTO ${table} VALUES ${rows.slice(i, i + 500).map((r) => `(${r.map(literal).join(', ')})`).join(', ')}`)
  return out
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** The source database's content: what the backup holds. */
function sourceStatements(): string[] {
  return [
    ...SCHEMA,
    ...inserts('parents', range(1, PARENTS).map((i) => [i, `parent ${i}`])),
    ...inserts('children', range(1, CHILDREN).map((i) => [i, (i % PARENTS) + 1, (i * 7) % 1000, i % 10 === 0 ? null : `note ${i}`])),
    ...inserts('tags', range(1, TAGS).map((i) => [i, `tag ${i}`])),
  ]
}

/** The "before" state of each scenario. */
function targetStatements(scenario: Scenario): string[] {
  switch (scenario) {
    case 'restore-empty':
      return []
    case 'restore-drop':
      // Different rows in two of the tables, no `tags` (created by the restore), an unselected table kept.
      return [
        SCHEMA[0] as string,
        SCHEMA[1] as string,
        'CREATE TABLE extra (id INTEGER NOT NULL PRIMARY KEY, v VARCHAR(20))',
        ...inserts('parents', range(1, 30).map((i) => [i, `target ${i}`])),
        ...inserts('children', range(1, 500).map((i) => [i, (i % 30) + 1, i, 'target'])),
        ...inserts('extra', range(1, 5).map((i) => [i, `kept ${i}`])),
      ]
    case 'merge':
      // Some rows missing, some changed, some only here.
      return [
        ...SCHEMA,
        ...inserts('parents', [...range(1, 40).map((i) => [i, i <= 10 ? `renamed ${i}` : `parent ${i}`]), ...range(1001, 1005).map((i) => [i, `only here ${i}`])]),
        ...inserts('children', range(1, 1000).map((i) => [i, (i % PARENTS < 40 ? i % PARENTS : 0) + 1, (i * 7) % 1000, i % 10 === 0 ? null : `note ${i}`])),
        ...inserts('tags', range(1, 15).map((i) => [i, `tag ${i}`])),
      ]
  }
}

function commandFor(scenario: Scenario, file: string, url: string): string[] {
  switch (scenario) {
    case 'restore-empty':
      return ['restore', file, '--db', url, '--yes', '--json']
    case 'restore-drop':
      return ['restore', file, '--db', url, '--drop', '--yes', '--json']
    case 'merge':
      return ['merge', file, '--db', url, '--yes', '--json']
  }
}

interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly output: string
}

/** Runs the CLI with the hook; `killAfterMs` also kills it from outside. */
function runHooked(args: readonly string[], env: Record<string, string>, dir: string, killAfterMs?: number): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const base: Record<string, string | undefined> = { ...process.env, MERGEBACK_DIR: dir, ...env }
    delete base.MERGEBACK_PASSPHRASE
    delete base.DATABASE_URL
    const child = spawn(process.execPath, ['--import', HOOK, BIN, ...args], {
      cwd: REPO_ROOT,
      env: base as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output })
    })
  })
}

const isStaging = (name: string): boolean => /^_mb_(stage|old)_/.test(name)

function visible(snapshot: { tables: string[]; rows: Record<string, string[]> }): { tables: string[]; rows: Record<string, string[]> } {
  const tables = snapshot.tables.filter((t) => !isStaging(t))
  return { tables, rows: Object.fromEntries(tables.map((t) => [t, snapshot.rows[t] ?? []])) }
}

/** The statements a hooked run logged (MERGEBACK_TEST_SQL_LOG), in the order they completed. */
function readStatements(log: string): { ms: number; sql: string }[] {
  return fs
    .readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [ms, sql] = line.split('\t')
      return { ms: Number(ms), sql: sql ?? '' }
    })
}

/** The number of the statement that commits the run: the last COMMIT, or MariaDB's RENAME TABLE swap. */
function lastCommit(statements: readonly { sql: string }[]): number {
  const commits = statements.map((s, i) => (/^(COMMIT|RENAME TABLE)\b/i.test(s.sql) ? i + 1 : 0)).filter((i) => i > 0)
  return commits[commits.length - 1] ?? 0
}

/** Exact statement numbers: right before and right after the commit, the rest spread before it. */
export function choosePoints(commitAt: number, count: number): number[] {
  const points = new Set<number>([commitAt - 1, commitAt])
  const spread = count - 2
  for (let i = 1; i <= spread; i++) points.add(Math.max(1, Math.round((i * (commitAt - 2)) / (spread + 1))))
  return [...points].filter((p) => p >= 1).sort((a, b) => a - b)
}

export interface ScenarioReport {
  readonly scenario: Scenario
  readonly statements: number
  readonly commitAt: number
  readonly points: readonly number[]
  readonly outcomes: readonly string[]
}

/**
 * One scenario: an uninterrupted run for the "after" state and the statement log, then the
 * kills. Returns what happened at each point (for the failure message and the report).
 */
export async function runScenario(rig: Kill9Rig, scenario: Scenario, file: string): Promise<ScenarioReport> {
  const temp = makeTempDir(`mergeback-kill9-${rig.engine}-`)
  const dbs: { drop(): Promise<void> }[] = []
  const target = async (): Promise<string> => {
    const db = await rig.create()
    dbs.push(db)
    const statements = targetStatements(scenario)
    if (statements.length > 0) await rig.exec(db.url, statements)
    return db.url
  }
  try {
    const cleanUrl = await target()
    const before = visible(await rig.snapshot(cleanUrl))
    const log = path.join(temp.dir, 'statements.log')
    const clean = await runHooked(commandFor(scenario, file, cleanUrl), { MERGEBACK_TEST_SQL_LOG: log }, temp.dir)
    expect(clean.code, clean.output).toBe(0)
    const after = visible(await rig.snapshot(cleanUrl))
    expect(after, `${scenario}: the run must change something`).not.toEqual(before)
    const statements = readStatements(log)
    const commitAt = lastCommit(statements)
    expect(commitAt, `${scenario}: no commit among ${statements.map((s) => s.sql).join(' | ')}`).toBeGreaterThan(2)
    if (rig.engine === 'mysql' && scenario !== 'merge') expect(statements[commitAt - 1]?.sql).toMatch(/^RENAME TABLE `_mb_stage_/)

    const points = choosePoints(commitAt, EXACT_POINTS)
    const outcomes: string[] = []
    let stagingSeen = 0
    const check = async (url: string, label: string, last: boolean): Promise<void> => {
      const raw = await rig.snapshot(url)
      const staging = raw.tables.filter(isStaging)
      const now = visible(raw)
      const state = JSON.stringify(now) === JSON.stringify(before) ? 'before' : JSON.stringify(now) === JSON.stringify(after) ? 'after' : 'NEITHER'
      outcomes.push(`${label}: ${state}${staging.length > 0 ? ` + ${staging.length} staging` : ''}`)
      expect(state, `${rig.engine} ${scenario} ${label}: the database is neither the state before nor after (${outcomes.join('; ')})`).not.toBe('NEITHER')
      if (staging.length > 0) {
        expect(['mysql', 'postgres'], `${label}: staging tables on ${rig.engine}`).toContain(rig.engine)
        expect(state, `${label}: staging tables exist only before the swap`).toBe('before')
      }
      // Clean-up of staging tables: alternately `recover`, and the next run of the same command.
      // Without any (each CLI run costs seconds), only the external kill's state is handed to
      // recover, which must find nothing.
      if (staging.length === 0 && !last) return
      if (staging.length === 0 || stagingSeen++ % 2 === 0) {
        const recovered = await runCli(['recover', '--db', url, '--yes', '--json', '--dir', temp.dir])
        expect(recovered.code, recovered.stderr).toBe(0)
        expect([...recovered.json().removed].sort(), label).toEqual([...staging].sort())
        const cleaned = await rig.snapshot(url)
        expect(cleaned.tables.filter(isStaging), label).toEqual([])
        expect(visible(cleaned), `${label}: recover changed the data`).toEqual(now)
      } else {
        const next = await runCli(commandFor(scenario, file, url), { env: { MERGEBACK_DIR: temp.dir } })
        expect(next.code, `${label}: the next run: ${next.stderr}${next.stdout}`).toBe(0)
        if (staging.length > 0) expect(next.stdout, label).toMatch(/Removed \d+ staging table\(s\) left by an interrupted restore/)
        const cleaned = await rig.snapshot(url)
        expect(cleaned.tables.filter(isStaging), label).toEqual([])
        expect(visible(cleaned), `${label}: the next run's result`).toEqual(after)
      }
    }

    // PostgreSQL's staged restore shares a table's COPY between its sessions as each comes free
    // (each share is a BEGIN … COPY … COMMIT), so how many statements a run sends depends on
    // timing. A run that ends normally having sent fewer statements than its point is no kill: the
    // point is mapped onto that run's own log (counted back from the commit for the two points
    // around it) and tried again on a fresh database. A run that passed its point without dying is
    // a failure of the hook, not retried.
    const exact = points.map((point) => async (): Promise<void> => {
      let at = point
      for (let attempt = 1; ; attempt++) {
        const url = await target()
        const runLog = path.join(temp.dir, `statements-${point}-${attempt}.log`)
        const ended = await runHooked(commandFor(scenario, file, url), { MERGEBACK_TEST_CRASH_AT: `sql:${at}`, MERGEBACK_TEST_SQL_LOG: runLog }, temp.dir)
        const sent = ended.code === 0 ? readStatements(runLog) : []
        if (ended.code === 0 && sent.length < at && attempt < 4) {
          const ownCommit = lastCommit(sent)
          at = point >= commitAt - 1 ? ownCommit - (commitAt - point) : Math.min(point, ownCommit - 2)
          continue
        }
        expect(ended.signal, `point ${at} (attempt ${attempt}): ${ended.output}`).toBe('SIGKILL')
        const own = fs.existsSync(runLog) ? readStatements(runLog) : []
        await check(url, `after statement ${at}/${statements.length} (${own[at - 1]?.sql.slice(0, 40)})`, false)
        return
      }
    })
    // One kill from outside, at a random moment between the first and the last statement.
    const external = async (): Promise<void> => {
      const first = statements[0]?.ms ?? 0
      const last = statements[statements.length - 1]?.ms ?? first
      const delay = Math.round(first + Math.random() * (last - first))
      const url = await target()
      const ended = await runHooked(commandFor(scenario, file, url), {}, temp.dir, delay)
      expect(ended.signal === 'SIGKILL' || ended.code === 0, ended.output).toBe(true)
      await check(url, `external kill at ${delay} ms (${ended.signal ?? 'finished first'})`, true)
    }
    // Two at a time, each on its own database: most of a CLI run is start-up and waiting.
    const jobs = [...exact, external]
    for (let i = 0; i < jobs.length; i += 2) await Promise.all(jobs.slice(i, i + 2).map((job) => job()))
    return { scenario, statements: statements.length, commitAt, points, outcomes }
  } finally {
    for (const db of dbs) await db.drop().catch(() => undefined)
    temp.cleanup()
  }
}

/** The source database and its backup file (in `dir`). */
export async function makeBackup(rig: Kill9Rig, dir: string): Promise<{ file: string; drop(): Promise<void> }> {
  const source = await rig.create()
  await rig.exec(source.url, sourceStatements())
  const { file } = await backup({ db: source.url, out: path.join(dir, `kill9-${rig.engine}.json`) })
  return { file, drop: () => source.drop() }
}

/**
 * The suite of one engine: a backup of the source database, then each scenario killed at every
 * point, its result lines printed (they go into docs/security.md). `check` adds what only that
 * engine must show.
 */
export function describeKill9(label: string, rig: Kill9Rig, check?: (scenario: Scenario, report: ScenarioReport) => void): void {
  const temp = makeTempDir(`mergeback-kill9-${rig.engine}-source-`)
  let source: Awaited<ReturnType<typeof makeBackup>> | undefined
  beforeAll(async () => {
    source = await makeBackup(rig, temp.dir)
  })
  afterAll(async () => {
    await source?.drop()
    temp.cleanup()
  })
  describe(`${label}: kill -9 at ${EXACT_POINTS + 1} points leaves the state before or after`, () => {
    for (const scenario of ['restore-empty', 'restore-drop', 'merge'] as const) {
      it(scenario, async () => {
        const report = await runScenario(rig, scenario, source!.file)
        console.log(`${rig.engine} ${scenario}: ${report.statements} statements, commit at ${report.commitAt}; ${report.outcomes.join('; ')}`)
        check?.(scenario, report)
      }, 300_000)
    }
  })
}
