/**
 * `npm run bench -- --scale N [--engines postgres,mysql] [--runs 3] [--only backup,restore,…]`
 *
 * Measures mergeback side by side with pg_dump / pg_restore / psql and mysqldump / mysql on a
 * generated event-registration database (bench/generate.ts), and prints the medians, the
 * mergeback / peer ratios against the targets of issue #7, and peak RSS.
 *
 * Algorithm:
 *  1. Check the tools (GNU time, pg_dump, …), build mergeback (`tsc -p tsconfig.build.json`,
 *     unless --no-build) and find which of its verbs exist (`mergeback --help`): a verb that has
 *     not landed yet gives a "not measured" line instead of stopping the bench.
 *  2. For each engine: generate the source database in the server (timed, reported separately).
 *  3. For each group (backup, backup-gzip, restore, analyze, merge), for run = 1..runs, run each
 *     tool of the group once, in turn (A B C A B C …), so that a change in the machine's load
 *     hits every tool alike. Before each run the untimed setup makes a fresh target database
 *     (an empty one, or a TEMPLATE copy of the source or of the changed database), and on
 *     PostgreSQL a CHECKPOINT, so no run pays for the previous one's dirty pages. After each run
 *     the target's row counts are checked against the source: a fast wrong answer is a failure.
 *  4. Tools shared between groups (pg_restore is the peer of restore, analyze and merge) run in
 *     the first group that has them; later groups show the same samples.
 *  5. Print the tables, write `bench/results/<timestamp>-scale<N>.json`, drop every database
 *     and file the bench made (also on failure or Ctrl-C).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { relativePath, runIfMain } from './cli.js'
import { generate, mutate, countsFor, DEFAULT_SEED, type BenchEngine } from './generate.js'
import { directoryBytes, measure, requireGnuTime, tail } from './measure.js'
import { serverFor, type BenchServer } from './servers.js'
import { fixtureProducer, groupsFor, GROUP_IDS, NotMeasured, type EngineContext, type FixtureKey, type GroupId, type ToolDef } from './tools.js'
import {
  compactReport,
  compare,
  formatBytes,
  formatSeconds,
  PEAK_RSS_TARGET_BYTES,
  ratiosTable,
  resultsTable,
  summarize,
  toolKey,
  type BenchResults,
  type ToolResult,
} from './report.js'
import { BIN_ENV, BIN_NODE_FLAGS } from './bin-shebang.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const ENGINES: readonly BenchEngine[] = ['postgres', 'mysql', 'sqlite']

const USAGE = `usage: npm run bench -- --scale N [options]

  --scale N            data size: N × 100 000 rows (default 1; 20 ≈ 2 M rows ≈ 1 GB)
  --engines LIST       postgres,mysql,sqlite (default all three; SQLite's files go to
                       $MERGEBACK_BENCH_SQLITE_DIR, default $TMPDIR/mergeback-bench-sqlite)
  --runs N             runs of each tool; the median is reported (default 3)
  --only LIST          groups to run: ${GROUP_IDS.join(',')} (default all)
  --seed S             data generator seed (default ${DEFAULT_SEED})
  --results-dir DIR    where the JSON results go (default bench/results)
  --work-dir DIR       where dumps and logs go while the bench runs (default: a new dir in $TMPDIR)
  --cpu-prof DIR       run mergeback with node --cpu-prof, profiles written to DIR
  --timeout MINUTES    kill a run that takes longer, and mark the tool failed (default 30)
  --no-build           measure the existing dist/ instead of building first
  --keep               keep the databases and the work directory (for inspection)
  --print FILE         print the tables of a results file written earlier, and exit`

export interface BenchOptions {
  readonly scale: number
  readonly engines: BenchEngine[]
  readonly runs: number
  readonly only: GroupId[]
  readonly seed: string
  readonly resultsDir: string
  readonly workDir?: string
  readonly cpuProfDir?: string
  readonly build: boolean
  readonly keep: boolean
  /** A run taking longer is killed and its tool marked failed. */
  readonly timeoutMinutes: number
  /** Only these tool ids run (bench/scaling.ts picks a few); every tool of the selected groups when absent. */
  readonly tools?: readonly string[]
}

/** Parses the command line. Throws an Error with a one-line message (and the usage) on bad input. */
export function parseOptions(argv: readonly string[]): BenchOptions | 'help' | { print: string } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scale: { type: 'string', default: '1' },
      engines: { type: 'string', default: ENGINES.join(',') },
      runs: { type: 'string', default: '3' },
      only: { type: 'string', default: GROUP_IDS.join(',') },
      seed: { type: 'string', default: DEFAULT_SEED },
      'results-dir': { type: 'string', default: path.join(ROOT, 'bench', 'results') },
      'work-dir': { type: 'string' },
      'cpu-prof': { type: 'string' },
      timeout: { type: 'string', default: '30' },
      'no-build': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      print: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  if (values.help) return 'help'
  if (values.print) return { print: path.resolve(values.print) }
  const scale = Number(values.scale)
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`--scale must be a positive number, got ${JSON.stringify(values.scale)}`)
  const runs = Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number ≥ 1, got ${JSON.stringify(values.runs)}`)
  const timeoutMinutes = Number(values.timeout)
  if (!Number.isFinite(timeoutMinutes) || timeoutMinutes <= 0) throw new Error(`--timeout must be a positive number of minutes, got ${JSON.stringify(values.timeout)}`)
  const list = <T extends string>(flag: string, raw: string, allowed: readonly T[]): T[] => {
    const items = raw.split(',').map((s) => s.trim()).filter(Boolean)
    const bad = items.filter((i) => !allowed.includes(i as T))
    if (bad.length || items.length === 0) throw new Error(`${flag}: expected some of ${allowed.join(',')}, got ${JSON.stringify(raw)}`)
    return [...new Set(items)] as T[]
  }
  return {
    scale,
    runs,
    engines: list('--engines', values.engines, ENGINES),
    only: list('--only', values.only, GROUP_IDS),
    seed: values.seed,
    resultsDir: path.resolve(values['results-dir']),
    workDir: values['work-dir'] && path.resolve(values['work-dir']),
    cpuProfDir: values['cpu-prof'] && path.resolve(values['cpu-prof']),
    build: !values['no-build'],
    keep: values.keep,
    timeoutMinutes,
  }
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
}

/** Fails with a clear message when a command-line tool the selected engines need is missing. */
function requireTools(engines: readonly BenchEngine[]): void {
  requireGnuTime()
  const needed = ['node', ...(engines.includes('postgres') ? ['pg_dump', 'pg_restore', 'psql'] : []), ...(engines.includes('mysql') ? ['mysqldump', 'mysql'] : []), ...(engines.includes('sqlite') ? ['sqlite3'] : [])]
  for (const tool of needed) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed (or not on PATH); the bench compares against it.`)
  }
}

/** `tsc -p tsconfig.build.json`; throws with the compiler's first errors when the build fails. */
function buildMergeback(): void {
  log('building mergeback (tsc -p tsconfig.build.json)')
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' })
  if (result.status !== 0) {
    const errors = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.includes('error')).slice(0, 10).join('\n')
    throw new Error(`the build failed, so there is no mergeback to measure:\n${errors}\n(pass --no-build to measure the dist/ that is there)`)
  }
}

/** The verbs `mergeback --help` lists; empty when mergeback is not built or does not start. */
function mergebackVerbs(): Set<string> {
  const bin = path.join(ROOT, 'bin', 'mergeback.js')
  const result = spawnSync(process.execPath, [bin, '--help'], { cwd: ROOT, encoding: 'utf8' })
  if (result.status !== 0) {
    const lines = `${result.stderr}${result.stdout}`.split('\n')
    const why = lines.find((l) => /error/i.test(l)) ?? lines[0]
    log(`mergeback does not start (${why.trim()}): every mergeback line will read "not measured"`)
    return new Set()
  }
  const commands = result.stdout.split(/\nCommands:\n/)[1] ?? ''
  return new Set(
    commands
      .split('\n')
      .map((line) => /^ {2}([a-z][a-z-]*)/.exec(line)?.[1])
      .filter((v): v is string => Boolean(v) && v !== 'help'),
  )
}

function gitState(): { commit: string; dirty: boolean } | null {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bin', 'package.json'], { cwd: ROOT, encoding: 'utf8' }).trim() !== ''
    return { commit, dirty }
  } catch {
    return null
  }
}

/** Everything made during the bench that must go away at the end: databases and directories. */
class Cleanup {
  readonly #databases = new Map<string, BenchServer>()
  #keep = false

  constructor(keep: boolean) {
    this.#keep = keep
  }

  database(server: BenchServer, name: string): () => Promise<void> {
    this.#databases.set(`${server.engine}:${name}`, server)
    return async () => {
      this.#databases.delete(`${server.engine}:${name}`)
      if (!this.#keep) await server.drop(name)
    }
  }

  /** Drops whatever is left. Never throws: a failure to clean up is logged, not fatal. */
  async all(): Promise<void> {
    if (this.#keep) {
      if (this.#databases.size) log(`kept databases: ${[...this.#databases.keys()].join(', ')}`)
      return
    }
    for (const [key, server] of this.#databases) {
      try {
        await server.drop(key.slice(key.indexOf(':') + 1))
      } catch (error) {
        log(`could not drop ${key}: ${(error as Error).message}`)
      }
    }
    this.#databases.clear()
  }
}

interface BenchState {
  readonly options: BenchOptions
  readonly workDir: string
  readonly verbs: Set<string>
  readonly cleanup: Cleanup
  readonly results: BenchResults
  readonly signal: AbortSignal
  counter: number
  /** Writes the results so far. */
  readonly save: () => void
}

/** Runs every selected group of one engine. */
async function benchEngine(state: BenchState, engine: BenchEngine): Promise<void> {
  const { options, cleanup, results, signal } = state
  const server = serverFor(engine)
  await server.ping()
  results.machine.versions[engine] = await server.version()
  const prefix = `mbbench_${process.pid}_${{ postgres: 'pg', mysql: 'my', sqlite: 'sq' }[engine]}`
  const nextName = () => `${prefix}_${++state.counter}`

  const sourceDb = `${prefix}_source`
  await server.drop(sourceDb)
  await server.create(sourceDb)
  cleanup.database(server, sourceDb)
  log(`${engine}: generating scale ${options.scale} (${Object.values(countsFor(options.scale)).reduce((a, b) => a + b)} rows)`)
  const started = Date.now()
  await generate(server.urlFor(sourceDb), { scale: options.scale, seed: options.seed })
  const generateSeconds = (Date.now() - started) / 1000
  const sourceCounts = await server.rowCounts(sourceDb)
  const sizeBytes = await server.sizeBytes(sourceDb)
  results.datasets[engine] = { rows: sourceCounts, totalRows: Object.values(sourceCounts).reduce((a, b) => a + b, 0), sizeBytes, generateSeconds }
  log(`${engine}: generated in ${formatSeconds(generateSeconds)}, ${formatBytes(sizeBytes)} on disk`)

  let changedDb: string | undefined
  /** With --cpu-prof, each tool's profiles go to a directory named after it. */
  let profileName = 'setup'
  const fixtures = new Map<FixtureKey, string>()
  const fixtureFailures = new Map<FixtureKey, string>()
  const fixturesDir = path.join(state.workDir, `${engine}-fixtures`)
  fs.mkdirSync(fixturesDir, { recursive: true })

  const ctx: EngineContext = {
    engine,
    server,
    sourceDb,
    sourceCounts,
    async changedDb() {
      if (changedDb) return changedDb
      const name = `${prefix}_changed`
      await server.drop(name)
      await server.copy(sourceDb, name)
      cleanup.database(server, name)
      const changes = await mutate(server.urlFor(name), { scale: options.scale, seed: options.seed })
      results.datasets[engine].changed = changes
      log(`${engine}: changed database ready (updated ${JSON.stringify(changes.updated)}, deleted ${JSON.stringify(changes.deleted)})`)
      changedDb = name
      return name
    },
    async newDatabase() {
      const name = nextName()
      await server.create(name)
      return { name, drop: cleanup.database(server, name) }
    },
    async copyDatabase(source) {
      const name = nextName()
      await server.copy(source, name)
      return { name, drop: cleanup.database(server, name) }
    },
    async newOutputDir(label) {
      const dir = path.join(state.workDir, 'out', `${engine}-${label}-${++state.counter}`)
      fs.mkdirSync(dir, { recursive: true })
      return { dir, remove: async () => fs.rmSync(dir, { recursive: true, force: true }) }
    },
    async fixture(key) {
      const ready = fixtures.get(key)
      if (ready) return ready
      const failed = fixtureFailures.get(key)
      if (failed) throw new NotMeasured(failed)
      const producer = fixtureProducer(key)
      if (producer.verb && !state.verbs.has(producer.verb)) {
        const reason = `needs a backup file, and mergeback ${producer.verb} does not exist yet`
        fixtureFailures.set(key, reason)
        throw new NotMeasured(reason)
      }
      log(`${engine}: making the ${key} input with ${producer.label}`)
      const outcome = await runOnce(producer, `fixture-${key}`)
      if (outcome.problem !== undefined) {
        const reason = `no input: ${producer.label} ${outcome.problem}`
        fixtureFailures.set(key, reason)
        throw new NotMeasured(reason)
      }
      return fixtures.get(key) as string
    },
    mergeback(args) {
      const prof = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(options.cpuProfDir, profileName)}`] : []
      // The environment and node flags a user gets from the bin's shebang (`npx mergeback`), so
      // memory is measured as shipped; env replaces itself with node, so time measures node.
      return ['/usr/bin/env', ...Object.entries(BIN_ENV).map(([name, value]) => `${name}=${value}`), process.execPath, ...BIN_NODE_FLAGS, ...prof, path.join(ROOT, 'bin', 'mergeback.js'), ...args]
    },
  }

  /** Keeps the output file of a producing tool's successful run as the fixture. */
  const keepFixture = (key: FixtureKey, outputDir: string) => {
    if (fixtures.has(key)) return
    const files = fs.readdirSync(outputDir).map((name) => path.join(outputDir, name)).filter((f) => fs.statSync(f).isFile())
    const largest = files.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]
    if (!largest) return
    const target = path.join(fixturesDir, `${key}-${path.basename(largest)}`)
    fs.renameSync(largest, target)
    fixtures.set(key, target)
  }

  /**
   * One run of one tool: setup, time, verify, clean up. Returns a problem (the tool failed or is
   * not measurable) or the sample. Never throws for the tool's own failures.
   */
  async function runOnce(tool: ToolDef, logName: string) {
    let prepared
    profileName = `${engine}-${tool.id}`
    try {
      prepared = await tool.setup(ctx)
    } catch (error) {
      if (error instanceof NotMeasured) return { problem: `not measured: ${error.message}`, notMeasured: true as const }
      throw error
    }
    try {
      if (engine === 'postgres') await pgCheckpoint(server)
      const logPrefix = path.join(state.workDir, 'logs', logName)
      fs.mkdirSync(path.dirname(logPrefix), { recursive: true })
      // Every command runs in the work directory, and mergeback keeps its backup directory (and
      // audit log) there too, so that nothing is written into the checkout.
      const command = {
        ...prepared.command,
        cwd: prepared.command.cwd ?? state.workDir,
        env: { MERGEBACK_DIR: path.join(state.workDir, 'backups'), ...prepared.command.env },
      }
      const sample = await measure(command, logPrefix, { signal, timeoutMs: options.timeoutMinutes * 60_000 })
      if (sample.timedOut) return { problem: `killed after the time limit (--timeout ${options.timeoutMinutes} minutes)`, notMeasured: false }
      if (sample.exitCode !== 0) {
        const stderr = tail(`${logPrefix}.stderr`, 3) || tail(`${logPrefix}.stdout`, 3)
        const notMeasured = /unknown (option|command)/i.test(stderr)
        return { problem: `${notMeasured ? 'not measured' : `exit ${sample.exitCode}`}: ${stderr}`, notMeasured }
      }
      const outputBytes = prepared.outputDir ? directoryBytes(prepared.outputDir) : undefined
      const problem = prepared.verify ? await prepared.verify() : undefined
      if (problem) return { problem, notMeasured: false }
      if (tool.produces && prepared.outputDir) keepFixture(tool.produces, prepared.outputDir)
      let report: unknown
      if (tool.jsonReport) {
        try {
          report = compactReport(JSON.parse(fs.readFileSync(`${logPrefix}.stdout`, 'utf8')))
        } catch {
          report = { unreadable: tail(`${logPrefix}.stdout`, 2) }
        }
      }
      return { problem: undefined, sample: { ...sample, outputBytes }, report }
    } finally {
      await prepared.cleanup()
    }
  }

  for (const fullGroup of groupsFor(engine).filter((g) => options.only.includes(g.id))) {
    const group = options.tools ? { ...fullGroup, tools: fullGroup.tools.filter((t) => options.tools?.includes(t.id)) } : fullGroup
    results.groups.push({ engine, id: group.id, title: group.title, tools: group.tools.map((t) => t.id) })
    const owned: ToolDef[] = []
    for (const tool of group.tools) {
      const key = toolKey(engine, tool.id)
      if (results.tools.some((t) => toolKey(t.engine, t.id) === key)) continue // measured by an earlier group
      const result: ToolResult = { engine, group: group.id, id: tool.id, label: tool.label, mergeback: Boolean(tool.verb), status: 'ok', samples: [] }
      if (tool.verb && !state.verbs.has(tool.verb)) {
        result.status = 'not-measured'
        result.reason = `mergeback ${tool.verb} does not exist yet`
      }
      results.tools.push(result)
      owned.push(tool)
    }
    log(`${engine}/${group.id}: ${group.tools.map((t) => t.label).join(' | ')}`)
    for (let run = 1; run <= options.runs; run++) {
      for (const tool of owned) {
        const result = results.tools.find((t) => t.engine === engine && t.id === tool.id) as ToolResult
        if (result.status !== 'ok') continue
        const outcome = await runOnce(tool, `${engine}-${group.id}-${tool.id}-${run}`)
        if (outcome.problem !== undefined) {
          // A failing tool is not run again: its later runs would fail the same way, slowly.
          result.status = outcome.notMeasured ? 'not-measured' : 'failed'
          result.reason = outcome.problem.replace(/^not measured: /, '')
          log(`  ${tool.label}: ${result.status}: ${result.reason}`)
          continue
        }
        result.samples.push(outcome.sample)
        if (outcome.report !== undefined && result.report === undefined) result.report = outcome.report
        log(`  run ${run}: ${tool.label}: ${formatSeconds(outcome.sample.seconds)}, peak RSS ${formatBytes(outcome.sample.peakRssBytes)}`)
      }
    }
    const find = (id: string) => results.tools.find((t) => t.engine === engine && t.id === id)
    for (const comparison of group.comparisons.filter((c) => !options.tools || (find(c.tool) && find(c.peer)))) results.comparisons.push(compare(engine, group.id, comparison, find(comparison.tool), find(comparison.peer)))
    state.save()
  }
}

async function pgCheckpoint(server: BenchServer): Promise<void> {
  const pg = (await import('pg')).default
  const client = new pg.Client({ connectionString: server.urlFor('postgres') })
  await client.connect()
  try {
    await client.query('CHECKPOINT')
  } finally {
    await client.end()
  }
}

/**
 * Writes the results file (atomically: a reader never sees half a file). Called after every group
 * too, so that an interrupted or crashed long run still leaves what it measured, without
 * `finishedAt`.
 */
function saveResults(results: BenchResults, file: string): void {
  results.rss = results.tools.flatMap((tool) => {
    const s = summarize(tool)
    return tool.mergeback && s ? [{ engine: tool.engine, tool: tool.id, label: tool.label, peakRssBytes: s.peakRss, met: s.peakRss <= PEAK_RSS_TARGET_BYTES }] : []
  })
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(results, null, 2)}\n`)
  fs.renameSync(`${file}.tmp`, file)
}

/** Runs the whole bench. Returns the results (also written to the results directory). */
export async function runBench(options: BenchOptions): Promise<{ results: BenchResults; file: string }> {
  requireTools(options.engines)
  if (options.build) buildMergeback()
  const verbs = mergebackVerbs()
  log(`mergeback verbs: ${[...verbs].join(', ') || 'none'}`)
  if (options.runs < 3) log(`--runs ${options.runs}: fewer than 3 runs, the medians are not worth quoting`)

  const workDir = options.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-bench-'))
  fs.mkdirSync(workDir, { recursive: true })
  if (options.cpuProfDir) fs.mkdirSync(options.cpuProfDir, { recursive: true })
  const cpus = os.cpus()
  const results: BenchResults = {
    format: 'mergeback-bench',
    version: 1,
    startedAt: new Date().toISOString(),
    options: { scale: options.scale, runs: options.runs, engines: options.engines, only: options.only, seed: options.seed, cpuProfile: Boolean(options.cpuProfDir) },
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
      node: process.version,
      loadAverageAtStart: os.loadavg(),
      versions: {},
      git: gitState(),
    },
    datasets: {},
    tools: [],
    groups: [],
    comparisons: [],
    rss: [],
  }

  const abort = new AbortController()
  const cleanup = new Cleanup(options.keep)
  const onSignal = () => {
    log('interrupted: stopping the running command and dropping the databases')
    abort.abort()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  fs.mkdirSync(options.resultsDir, { recursive: true })
  const stamp = results.startedAt.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-')
  const file = path.join(options.resultsDir, `${stamp}-scale${options.scale}.json`)
  const state: BenchState = { options, workDir, verbs, cleanup, results, signal: abort.signal, counter: 0, save: () => saveResults(results, file) }
  try {
    for (const engine of options.engines) {
      await benchEngine(state, engine)
      if (abort.signal.aborted) throw new Error('interrupted')
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await cleanup.all()
    if (!options.keep && !options.workDir) fs.rmSync(workDir, { recursive: true, force: true })
  }

  results.finishedAt = new Date().toISOString()
  saveResults(results, file)
  return { results, file }
}

/** The summary printed at the end of a run (Markdown, pasted as is into docs/performance.md). */
export function summaryText(results: BenchResults): string {
  const datasets = Object.entries(results.datasets)
    .map(([engine, d]) => `${engine}: ${d.totalRows.toLocaleString('en-US')} rows, ${formatBytes(d.sizeBytes)} on disk, generated in ${formatSeconds(d.generateSeconds)}`)
    .join('; ')
  return [
    `### Scale ${results.options.scale}, ${results.options.runs} runs each (medians), ${results.machine.cpus} CPUs, node ${results.machine.node}`,
    '',
    `Data: ${datasets}.`,
    '',
    resultsTable(results),
    '',
    ratiosTable(results),
    '',
  ].join('\n')
}

await runIfMain(import.meta.url, {
  usage: USAGE,
  parse: parseOptions,
  print: ({ print }) => summaryText(JSON.parse(fs.readFileSync(print, 'utf8')) as BenchResults),
  async run(options: BenchOptions) {
    const { results, file } = await runBench(options)
    return `\n${summaryText(results)}\nResults: ${relativePath(file)}\n`
  },
})
