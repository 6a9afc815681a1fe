/**
 * `npm run bench:scaling -- --scales 1,5,20,50 [--engines postgres] [--runs N]`
 *
 * The scaling curve of issue #17: backup, restore and analyze (of the unchanged database) at
 * several scales on PostgreSQL, with their peers (`pg_dump -Fp`, `pg_restore -Fc -j 2`) measured
 * side by side, and whether the cost grows linearly and the memory stays flat.
 *
 * Algorithm:
 *  1. Build mergeback once (unless --no-build).
 *  2. For each scale, smallest first: record `uptime`, run `runBench()` of bench/run.ts with only
 *     the five tools above (same generator, same alternating runs, same checks of the restored
 *     rows, same cleanup), record `uptime` again. Each scale's full results are kept.
 *  3. Per tool and scale: median wall time divided by the rows of that scale (seconds per million
 *     rows) and the largest peak RSS of the runs.
 *  4. Linearity: from the baseline scale (the smallest scale ≥ 5, or the smallest scale when none
 *     is) to every larger scale, time per row must stay within ±15 % of the baseline's, and peak
 *     RSS must not grow by more than 15 %; and every mergeback run must stay under 150 MB.
 *     Printed as PASS / FAIL lines (a report, not an assertion: the machine is shared).
 *  5. Write bench/results/<start time>-scaling.json and the plot next to it as .svg (and to --svg
 *     FILE too), and print the tables.
 *
 * `--print FILE.json [--svg OUT]` prints the tables of an earlier run and draws its plot again.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { relativePath, runIfMain } from './cli.js'
import { DEFAULT_SEED } from './generate.js'
import { renderPlot, type PlotSeries } from './plot.js'
import { formatBytes, PEAK_RSS_TARGET_BYTES, summarize, type BenchResults } from './report.js'
import { runBench } from './run.js'
import type { GroupId } from './tools.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** How far time per row (and peak RSS) may move from the baseline scale and still count as linear (flat). */
export const LINEARITY_TOLERANCE = 0.15

/** The baseline of the linearity check: the issue asks for "within 15 % from scale 5". */
export const BASELINE_SCALE = 5

/** A command of the scaling run: which tool of bench/tools.ts, and how the tables and the plot show it. */
export interface ScalingTool {
  readonly id: string
  readonly label: string
  readonly op: 'backup' | 'restore' | 'analyze'
  readonly mergeback: boolean
  readonly color: string
}

/** The PostgreSQL tools, in table order. pg_restore is the peer of both restore and analyze. */
export const SCALING_TOOLS: readonly ScalingTool[] = [
  { id: 'mergeback-backup-plain', label: 'mergeback backup', op: 'backup', mergeback: true, color: '#1f77b4' },
  { id: 'pg_dump-plain', label: 'pg_dump -Fp', op: 'backup', mergeback: false, color: '#1f77b4' },
  { id: 'mergeback-restore', label: 'mergeback restore', op: 'restore', mergeback: true, color: '#ff7f0e' },
  { id: 'pg_restore', label: 'pg_restore -Fc -j 2 (peer of restore and analyze)', op: 'restore', mergeback: false, color: '#ff7f0e' },
  { id: 'mergeback-analyze-unchanged', label: 'mergeback analyze (unchanged db)', op: 'analyze', mergeback: true, color: '#2ca02c' },
]
const GROUPS: GroupId[] = ['backup', 'restore', 'analyze']

/** The machine's load around one scale's runs (it is shared: this says how busy it was). */
export interface LoadRecord {
  readonly scale: number
  readonly uptimeBefore: string
  readonly uptimeAfter: string
  readonly loadBefore: number[]
  readonly loadAfter: number[]
}

/** One tool at one scale. Values are null when the tool failed or was not measured there. */
export interface ScalingPoint {
  readonly scale: number
  readonly rows: number
  readonly medianSeconds: number | null
  readonly secondsPerMillionRows: number | null
  readonly peakRssBytes: number | null
  readonly runs: number
  /** Why there is no value ("failed: …", "not measured: …"). */
  readonly problem?: string
}

export interface ScalingSeries extends ScalingTool {
  readonly points: ScalingPoint[]
}

export interface ScalingResults {
  readonly format: 'mergeback-bench-scaling'
  readonly version: 1
  readonly startedAt: string
  finishedAt?: string
  readonly options: { scales: number[]; runs: number; engine: 'postgres'; seed: string }
  readonly machine: BenchResults['machine']
  readonly load: LoadRecord[]
  /** Each scale's whole bench results (every sample, the datasets, the reports). */
  readonly scales: BenchResults[]
  series: ScalingSeries[]
}

/** The tables' and the checks' view of the per-scale results: one series per tool, one point per scale. */
export function scalingSeries(perScale: readonly BenchResults[]): ScalingSeries[] {
  return SCALING_TOOLS.map((tool) => ({
    ...tool,
    points: perScale.map((results) => {
      const scale = results.options.scale
      const rows = results.datasets.postgres?.totalRows ?? 0
      const result = results.tools.find((t) => t.engine === 'postgres' && t.id === tool.id)
      const s = result && summarize(result)
      if (!result || !s || rows === 0) {
        const problem = result ? `${result.status === 'ok' ? 'no samples' : result.status}: ${result.reason ?? ''}`.trim() : 'not run'
        return { scale, rows, medianSeconds: null, secondsPerMillionRows: null, peakRssBytes: null, runs: result?.samples.length ?? 0, problem }
      }
      return { scale, rows, medianSeconds: s.median, secondsPerMillionRows: s.median / (rows / 1e6), peakRssBytes: s.peakRss, runs: result.samples.length }
    }),
  }))
}

/** The scale the linearity checks start from: the smallest ≥ 5, or the smallest when none is. */
export function baselineScale(scales: readonly number[]): number {
  const sorted = [...scales].sort((a, b) => a - b)
  return sorted.find((s) => s >= BASELINE_SCALE) ?? sorted[0]
}

export interface Check {
  readonly pass: boolean | null
  readonly line: string
}

function percent(ratio: number): string {
  const p = Math.round((ratio - 1) * 100)
  return `${p >= 0 ? '+' : ''}${p} %`
}

/**
 * The PASS / FAIL lines: per tool, time per row within ±15 % of the baseline scale's at every
 * larger scale; per mergeback command, peak RSS grown by at most 15 % from the baseline, and under
 * the 150 MB target at every scale. `pass` is null (and the line says "n/a") when there are not
 * two measured scales to compare.
 */
export function linearityChecks(series: readonly ScalingSeries[]): Check[] {
  const checks: Check[] = []
  const tag = (pass: boolean | null) => (pass === null ? 'n/a ' : pass ? 'PASS' : 'FAIL')
  const scales = [...new Set(series.flatMap((s) => s.points.map((p) => p.scale)))]
  if (scales.length === 0) return []
  const base = baselineScale(scales)
  const compared = (s: ScalingSeries, value: (p: ScalingPoint) => number | null) => {
    const points = s.points.filter((p) => p.scale >= base).sort((a, b) => a.scale - b.scale)
    const first = points[0]
    const firstValue = first && first.scale === base ? value(first) : null
    const later = points.slice(1).filter((p) => value(p) !== null)
    if (firstValue === null || firstValue <= 0 || later.length === 0 || later.length !== points.length - 1) return null
    return { firstValue, later: later.map((p) => ({ scale: p.scale, value: value(p) as number })) }
  }
  for (const s of series) {
    const c = compared(s, (p) => p.secondsPerMillionRows)
    const who = s.mergeback ? s.label : `${s.label.replace(/ \(.*\)$/, '')} (peer)`
    if (!c) {
      checks.push({ pass: null, line: `${tag(null)}  time per row, ${who}: needs scale ${base} and a larger scale measured` })
      continue
    }
    const worst = c.later.reduce((w, p) => (Math.abs(p.value / c.firstValue - 1) > Math.abs(w.value / c.firstValue - 1) ? p : w))
    const pass = c.later.every((p) => Math.abs(p.value / c.firstValue - 1) <= LINEARITY_TOLERANCE)
    const path = [c.firstValue, ...c.later.map((p) => p.value)].map((v) => v.toFixed(2)).join(' → ')
    checks.push({
      pass,
      line: `${tag(pass)}  time per row, ${who}: scale ${[base, ...c.later.map((p) => p.scale)].join(' → ')}: ${path} s per M rows (worst ${percent(worst.value / c.firstValue)} at scale ${worst.scale}, limit ±${LINEARITY_TOLERANCE * 100} %)`,
    })
  }
  for (const s of series.filter((x) => x.mergeback)) {
    const c = compared(s, (p) => p.peakRssBytes)
    if (!c) {
      checks.push({ pass: null, line: `${tag(null)}  peak RSS flat, ${s.label}: needs scale ${base} and a larger scale measured` })
    } else {
      const top = c.later.reduce((w, p) => (p.value > w.value ? p : w))
      const pass = top.value <= c.firstValue * (1 + LINEARITY_TOLERANCE)
      const path = [c.firstValue, ...c.later.map((p) => p.value)].map(formatBytes).join(' → ')
      checks.push({ pass, line: `${tag(pass)}  peak RSS flat, ${s.label}: ${path} (largest ${percent(top.value / c.firstValue)} at scale ${top.scale}, limit +${LINEARITY_TOLERANCE * 100} %)` })
    }
    const measured = s.points.filter((p) => p.peakRssBytes !== null)
    if (measured.length) {
      const worst = measured.reduce((w, p) => ((p.peakRssBytes as number) > (w.peakRssBytes as number) ? p : w))
      const pass = measured.length === s.points.length && (worst.peakRssBytes as number) <= PEAK_RSS_TARGET_BYTES
      checks.push({ pass, line: `${tag(pass)}  peak RSS ≤ 150 MB at every scale, ${s.label}: largest ${formatBytes(worst.peakRssBytes as number)} at scale ${worst.scale}` })
    }
  }
  return checks
}

/** The two Markdown tables: seconds per million rows, and peak RSS, one line per scale. */
export function scalingTables(series: readonly ScalingSeries[], load: readonly LoadRecord[] = []): string {
  const scales = [...new Set(series.flatMap((s) => s.points.map((p) => p.scale)))].sort((a, b) => a - b)
  const at = (s: ScalingSeries, scale: number) => s.points.find((p) => p.scale === scale)
  const loadOf = (scale: number) => {
    const l = load.find((x) => x.scale === scale)
    return l ? `${l.loadBefore[0].toFixed(2)} → ${l.loadAfter[0].toFixed(2)}` : ''
  }
  const rowsOf = (scale: number) => series.map((s) => at(s, scale)?.rows).find((r) => r) ?? 0
  const short = (label: string) => label.replace(/ \(peer of .*\)$/, '')
  const time = [
    `| scale | rows | ${series.map((s) => short(s.label)).join(' | ')} | load (1 min) before → after |`,
    `| ---: | ---: | ${series.map(() => '---:').join(' | ')} | ---: |`,
    ...scales.map((scale) => {
      const cells = series.map((s) => {
        const p = at(s, scale)
        return p?.secondsPerMillionRows == null ? 'not measured' : `${p.secondsPerMillionRows.toFixed(2)} (${(p.medianSeconds as number).toFixed(1)} s)`
      })
      return `| ${scale} | ${rowsOf(scale).toLocaleString('en-US')} | ${cells.join(' | ')} | ${loadOf(scale)} |`
    }),
  ]
  const rss = [
    `| scale | ${series.map((s) => short(s.label)).join(' | ')} |`,
    `| ---: | ${series.map(() => '---:').join(' | ')} |`,
    ...scales.map((scale) => `| ${scale} | ${series.map((s) => {
      const p = at(s, scale)
      return p?.peakRssBytes == null ? 'not measured' : formatBytes(p.peakRssBytes)
    }).join(' | ')} |`),
  ]
  return [
    'Wall time, seconds per million rows (median of the runs; the median itself in brackets):',
    '',
    ...time,
    '',
    'Peak RSS (largest of the runs; client processes only):',
    '',
    ...rss,
  ].join('\n')
}

/** The plot of a scaling run: time per million rows and peak RSS against scale. */
export function scalingPlot(results: Pick<ScalingResults, 'series' | 'machine' | 'options' | 'load'> & { scales?: readonly BenchResults[] }): string {
  const toSeries = (value: (p: ScalingPoint) => number | null, only?: (s: ScalingSeries) => boolean): PlotSeries[] =>
    results.series.filter((s) => !only || only(s)).map((s) => ({
      label: s.label,
      color: s.color,
      dashed: !s.mergeback,
      points: s.points.map((p) => ({ x: p.scale, y: value(p) })),
    }))
  const commit = perScale(results.scales ?? [], commitOf) || commitOf(results)
  const loads = results.load.flatMap((l) => [l.loadBefore[0], l.loadAfter[0]])
  const loadText = loads.length ? `, 1-minute load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (shared machine)` : ''
  return renderPlot({
    title: 'mergeback on PostgreSQL: cost per row and memory against data size',
    subtitle: `commit ${commit}; median of ${perScale(results.scales ?? [], (r) => `${r.options.runs} run${r.options.runs === 1 ? '' : 's'}`) || `${results.options.runs} runs`} per point\n${results.machine.cpus} CPUs${loadText}`,
    xLabel: 'scale (× 100 000 rows)',
    panels: [
      { title: 'Wall time per million rows', yLabel: 'seconds per million rows', series: toSeries((p) => p.secondsPerMillionRows) },
      {
        title: 'Peak RSS (client process)',
        yLabel: 'peak RSS (MB)',
        series: toSeries((p) => (p.peakRssBytes === null ? null : p.peakRssBytes / 1024 ** 2)),
        target: { y: PEAK_RSS_TARGET_BYTES / 1024 ** 2, label: 'target ≤ 150 MB' },
      },
    ],
  })
}

function commitOf(results: Pick<BenchResults, 'machine'>): string {
  const git = results.machine.git
  return git ? `${git.commit.slice(0, 7)}${git.dirty ? ' (src/ dirty)' : ''}` : 'unknown'
}

/** "3 runs" when every scale says the same, "3 runs at scale 1, 5; 1 run at scale 20" when not. */
function perScale(scales: readonly BenchResults[], text: (r: BenchResults) => string): string {
  const groups = new Map<string, number[]>()
  for (const r of scales) groups.set(text(r), [...(groups.get(text(r)) ?? []), r.options.scale])
  if (groups.size <= 1) return [...groups.keys()][0] ?? ''
  return [...groups].map(([t, s]) => `${t} at scale ${s.join(', ')}`).join('; ')
}

/** Everything printed at the end of a run (and by --print). */
export function scalingText(results: ScalingResults): string {
  return [
    `### Scaling, PostgreSQL, scales ${results.options.scales.join(', ')}: ${perScale(results.scales, (r) => `${r.options.runs} run${r.options.runs === 1 ? '' : 's'}`)} (medians); commit ${perScale(results.scales, commitOf)}`,
    '',
    scalingTables(results.series, results.load),
    '',
    'Linearity (from the smallest scale ≥ 5):',
    '',
    '```',
    ...linearityChecks(results.series).map((c) => c.line),
    '```',
    '',
    'uptime before / after each scale:',
    '',
    '```',
    ...results.load.flatMap((l) => [`scale ${l.scale} before: ${l.uptimeBefore}`, `scale ${l.scale} after:  ${l.uptimeAfter}`]),
    '```',
    '',
  ].join('\n')
}

const USAGE = `usage: npm run bench:scaling -- --scales 1,5,20,50 [options]

  --scales LIST        the scales to measure, comma-separated (N × 100 000 rows each; default 1,5,20,50)
  --engines postgres   the only engine the scaling run measures (default postgres)
  --runs N             runs of each tool per scale; medians are plotted (default 3)
  --seed S             data generator seed (default ${DEFAULT_SEED})
  --results-dir DIR    where <time>-scaling.json and .svg go (default bench/results)
  --svg FILE           also write the plot to FILE (e.g. docs/images/scaling.svg)
  --timeout MINUTES    kill a run that takes longer (default 30)
  --no-build           measure the existing dist/ instead of building first
  --print FILE[,FILE]  print the tables of earlier scaling results files, as one (and redraw the plot with --svg), and exit`

export interface ScalingOptions {
  readonly scales: number[]
  readonly runs: number
  readonly seed: string
  readonly resultsDir: string
  readonly svg?: string
  readonly timeoutMinutes: number
  readonly build: boolean
}

/** Parses the command line. Throws an Error with a one-line message on bad input. */
export function parseScalingOptions(argv: readonly string[]): ScalingOptions | 'help' | { print: string; svg?: string } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scales: { type: 'string', default: '1,5,20,50' },
      engines: { type: 'string', default: 'postgres' },
      runs: { type: 'string', default: '3' },
      seed: { type: 'string', default: DEFAULT_SEED },
      'results-dir': { type: 'string', default: path.join(ROOT, 'bench', 'results') },
      svg: { type: 'string' },
      timeout: { type: 'string', default: '30' },
      'no-build': { type: 'boolean', default: false },
      print: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  if (values.help) return 'help'
  const svg = values.svg && path.resolve(values.svg)
  if (values.print) return { print: path.resolve(values.print), svg }
  const items = values.scales.split(',').map((s) => s.trim())
  const scales = items.map(Number)
  if (items.some((s) => s === '') || scales.some((s) => !Number.isFinite(s) || s <= 0)) {
    throw new Error(`--scales must be positive numbers separated by commas, got ${JSON.stringify(values.scales)}`)
  }
  if (new Set(scales).size !== scales.length) throw new Error(`--scales lists a scale twice: ${JSON.stringify(values.scales)}`)
  if (values.engines !== 'postgres') throw new Error(`--engines: the scaling run measures postgres only, got ${JSON.stringify(values.engines)}`)
  const runs = Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number ≥ 1, got ${JSON.stringify(values.runs)}`)
  const timeoutMinutes = Number(values.timeout)
  if (!Number.isFinite(timeoutMinutes) || timeoutMinutes <= 0) throw new Error(`--timeout must be a positive number of minutes, got ${JSON.stringify(values.timeout)}`)
  return {
    scales: [...scales].sort((a, b) => a - b),
    runs,
    seed: values.seed,
    resultsDir: path.resolve(values['results-dir']),
    svg,
    timeoutMinutes,
    build: !values['no-build'],
  }
}

/**
 * Several scaling results files as one (scales measured in separate runs, e.g. the large ones with
 * fewer runs): their scales in order, the machine and options of the first, the runs of each.
 * The series are recomputed, so a change to the tables or the checks applies to earlier runs too.
 * Throws when a file is not a scaling run or two files measured the same scale.
 */
export function combineResults(all: readonly ScalingResults[]): ScalingResults {
  if (all.length === 0 || all.some((r) => r?.format !== 'mergeback-bench-scaling')) throw new Error('not a scaling results file')
  const scales = all.flatMap((r) => r.scales).sort((a, b) => a.options.scale - b.options.scale)
  const twice = scales.find((s, i) => i > 0 && scales[i - 1].options.scale === s.options.scale)
  if (twice) throw new Error(`scale ${twice.options.scale} is in two of the files`)
  const runs = [...new Set(all.map((r) => r.options.runs))]
  return {
    ...all[0],
    options: { ...all[0].options, scales: scales.map((s) => s.options.scale), runs: Math.min(...runs) },
    load: all.flatMap((r) => r.load).sort((a, b) => a.scale - b.scale),
    scales,
    series: scalingSeries(scales),
  }
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim()
  } catch {
    return `load average: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`
  }
}

function log(line: string): void {
  process.stderr.write(`[scaling ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
}

/** Runs every scale and writes the results and the plot. */
export async function runScaling(options: ScalingOptions): Promise<{ results: ScalingResults; file: string; svgFile: string }> {
  const startedAt = new Date().toISOString()
  const stamp = startedAt.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-')
  fs.mkdirSync(options.resultsDir, { recursive: true })
  const file = path.join(options.resultsDir, `${stamp}-scaling.json`)
  const svgFile = file.replace(/\.json$/, '.svg')
  const perScaleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-scaling-'))
  let results: ScalingResults | undefined
  const save = () => {
    if (!results) return
    results.series = scalingSeries(results.scales)
    fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(results, null, 2)}\n`)
    fs.renameSync(`${file}.tmp`, file)
  }
  try {
    for (const [index, scale] of options.scales.entries()) {
      const uptimeBefore = uptime()
      const loadBefore = os.loadavg()
      log(`scale ${scale}: ${uptimeBefore}`)
      const { results: one } = await runBench({
        scale,
        engines: ['postgres'],
        runs: options.runs,
        only: GROUPS,
        tools: SCALING_TOOLS.map((t) => t.id),
        seed: options.seed,
        resultsDir: perScaleDir,
        build: options.build && index === 0,
        keep: false,
        timeoutMinutes: options.timeoutMinutes,
      })
      const uptimeAfter = uptime()
      log(`scale ${scale} done: ${uptimeAfter}`)
      results ??= {
        format: 'mergeback-bench-scaling',
        version: 1,
        startedAt,
        options: { scales: options.scales, runs: options.runs, engine: 'postgres', seed: options.seed },
        machine: one.machine,
        load: [],
        scales: [],
        series: [],
      }
      results.scales.push(one)
      results.load.push({ scale, uptimeBefore, uptimeAfter, loadBefore, loadAfter: os.loadavg() })
      save()
    }
  } catch (error) {
    // The scale that failed or was interrupted saved the groups it finished there.
    log(`the unfinished scale's results so far are in ${perScaleDir}`)
    throw error
  }
  fs.rmSync(perScaleDir, { recursive: true, force: true })
  const done = results as ScalingResults
  done.finishedAt = new Date().toISOString()
  save()
  const svg = scalingPlot(done)
  fs.writeFileSync(svgFile, svg)
  if (options.svg) {
    fs.mkdirSync(path.dirname(options.svg), { recursive: true })
    fs.writeFileSync(options.svg, svg)
  }
  return { results: done, file, svgFile }
}

await runIfMain(import.meta.url, {
  usage: USAGE,
  parse: parseScalingOptions,
  print(options: { print: string; svg?: string }) {
    const results = combineResults(options.print.split(',').map((file) => JSON.parse(fs.readFileSync(file, 'utf8')) as ScalingResults))
    if (options.svg) fs.writeFileSync(options.svg, scalingPlot(results))
    return scalingText(results)
  },
  async run(options: ScalingOptions) {
    const { results, file, svgFile } = await runScaling(options)
    return `\n${scalingText(results)}\nResults: ${relativePath(file)}\nPlot: ${relativePath(svgFile)}${options.svg ? `, ${relativePath(options.svg)}` : ''}\n`
  },
})
