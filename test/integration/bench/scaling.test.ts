/**
 * The scaling run (bench/scaling.ts) and its plot (bench/plot.ts): the helpers that turn per-scale
 * bench results into seconds per million rows, PASS / FAIL lines and an SVG, checked on made-up
 * results; and the whole run at two tiny scales, end to end, so that it cannot rot. No timing is
 * asserted.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTempDir } from '../../helpers/databases.js'
import { escapeXml, niceTicks, renderPlot } from '../../../bench/plot.js'
import type { BenchResults, ToolResult } from '../../../bench/report.js'
import {
  baselineScale,
  combineResults,
  linearityChecks,
  parseScalingOptions,
  SCALING_TOOLS,
  scalingPlot,
  scalingSeries,
  scalingTables,
  type ScalingResults,
} from '../../../bench/scaling.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

/** Made-up results of one scale: each tool's runs took `seconds[id]` (or the tool failed when the value is a string). */
function fakeScale(scale: number, seconds: Record<string, number | string>, rssMb: Record<string, number> = {}): BenchResults {
  const tools: ToolResult[] = Object.entries(seconds).map(([id, s]) => ({
    engine: 'postgres',
    group: 'backup',
    id,
    label: id,
    mergeback: id.startsWith('mergeback'),
    status: typeof s === 'string' ? 'failed' : 'ok',
    reason: typeof s === 'string' ? s : undefined,
    samples:
      typeof s === 'string'
        ? []
        : [0.9, 1, 1.1].map((f) => ({ seconds: s * f, peakRssBytes: (rssMb[id] ?? 100) * 1024 ** 2 * f, userSeconds: 0, systemSeconds: 0, exitCode: 0, timedOut: false, loadAverage: 1 })),
  }))
  return {
    format: 'mergeback-bench',
    version: 1,
    startedAt: '2026-12-04T00:00:00.000Z',
    options: { scale, runs: 3, engines: ['postgres'], only: ['backup', 'restore', 'analyze'], seed: 's', cpuProfile: false },
    machine: { cpus: 2, cpuModel: 'x', memoryBytes: 1, node: 'v20', loadAverageAtStart: [1, 1, 1], versions: {}, git: { commit: 'abcdef1234567890', dirty: false } },
    datasets: { postgres: { rows: {}, totalRows: scale * 100_000, sizeBytes: 1, generateSeconds: 1 } },
    tools,
    groups: [],
    comparisons: [],
    rss: [],
  }
}

/** Every tool at `perMillion` seconds per million rows at that scale. */
function linear(scale: number, perMillion: number, rssMb = 100): BenchResults {
  const rows = scale * 100_000
  const seconds = Object.fromEntries(SCALING_TOOLS.map((t) => [t.id, (perMillion * rows) / 1e6]))
  return fakeScale(scale, seconds, Object.fromEntries(SCALING_TOOLS.map((t) => [t.id, rssMb])))
}

describe('scaling helpers', () => {
  it('turns medians into seconds per million rows, and the largest run into peak RSS', () => {
    const series = scalingSeries([linear(5, 4), linear(20, 4)])
    expect(series.map((s) => s.id)).toEqual(SCALING_TOOLS.map((t) => t.id))
    const backup = series[0].points
    expect(backup.map((p) => p.scale)).toEqual([5, 20])
    expect(backup[1].rows).toBe(2_000_000)
    expect(backup[1].medianSeconds).toBeCloseTo(8)
    expect(backup[1].secondsPerMillionRows).toBeCloseTo(4)
    // The largest of the runs (×1.1), not the median.
    expect(backup[1].peakRssBytes).toBeCloseTo(110 * 1024 ** 2)
  })

  it('keeps a failed tool as a point without values, with the reason', () => {
    const one = fakeScale(5, { 'mergeback-backup-plain': 'exit 1: boom', 'pg_dump-plain': 1 })
    const [backup, dump, restore] = scalingSeries([one])
    expect(backup.points[0]).toMatchObject({ secondsPerMillionRows: null, peakRssBytes: null, problem: 'failed: exit 1: boom' })
    expect(dump.points[0].secondsPerMillionRows).toBeCloseTo(2)
    expect(restore.points[0]).toMatchObject({ secondsPerMillionRows: null, problem: 'not run' })
  })

  it('starts the linearity check at the smallest scale of at least 5', () => {
    expect(baselineScale([1, 5, 20, 50])).toBe(5)
    expect(baselineScale([50, 20, 1])).toBe(20)
    expect(baselineScale([0.1, 0.5])).toBe(0.1)
  })

  it('passes linear cost and flat memory, ignoring the scales below the baseline', () => {
    // Scale 1 is far off (start-up dominates there): it is not part of the check.
    const checks = linearityChecks(scalingSeries([linear(1, 20), linear(5, 4), linear(20, 4.4), linear(50, 3.7, 110)]))
    expect(checks.every((c) => c.pass === true), checks.map((c) => c.line).join('\n')).toBe(true)
    expect(checks.filter((c) => c.line.startsWith('PASS  time per row'))).toHaveLength(SCALING_TOOLS.length)
    expect(checks.find((c) => c.line.includes('time per row, mergeback backup'))?.line).toContain('scale 5 → 20 → 50: 4.00 → 4.40 → 3.70 s per M rows (worst +10 % at scale 20')
    expect(checks.find((c) => c.line.includes('pg_dump'))?.line).toContain('pg_dump -Fp (peer)')
  })

  it('fails time per row growing by more than 15 %, memory growing by more than 15 %, and memory over 150 MB', () => {
    const checks = linearityChecks(scalingSeries([linear(5, 4, 100), linear(50, 4.7, 160)]))
    const line = (text: string) => checks.find((c) => c.line.includes(text)) as { pass: boolean | null; line: string }
    expect(line('time per row, mergeback restore')).toMatchObject({ pass: false })
    expect(line('time per row, mergeback restore').line).toMatch(/^FAIL .*\+18 % at scale 50/)
    expect(line('peak RSS flat, mergeback analyze')).toMatchObject({ pass: false })
    expect(line('peak RSS ≤ 150 MB at every scale, mergeback backup').line).toMatch(/^FAIL .*largest 176 MB at scale 50/)
  })

  it('says n/a when there is nothing to compare, and fails the memory target when a scale was not measured', () => {
    const only = linearityChecks(scalingSeries([linear(5, 4)]))
    expect(only.filter((c) => c.line.includes('time per row')).every((c) => c.pass === null && c.line.startsWith('n/a'))).toBe(true)
    const broken = fakeScale(50, Object.fromEntries(SCALING_TOOLS.map((t) => [t.id, t.id === 'mergeback-restore' ? 'exit 1: x' : 20])))
    const checks = linearityChecks(scalingSeries([linear(5, 4), broken]))
    expect(checks.find((c) => c.line.includes('time per row, mergeback restore'))?.pass).toBeNull()
    expect(checks.find((c) => c.line.includes('150 MB at every scale, mergeback restore'))?.pass).toBe(false)
    expect(linearityChecks([])).toEqual([])
  })

  it('prints one line per scale in both tables, with the load', () => {
    const series = scalingSeries([linear(5, 4), linear(20, 4.2)])
    const text = scalingTables(series, [{ scale: 5, uptimeBefore: '', uptimeAfter: '', loadBefore: [1.5, 0, 0], loadAfter: [2.25, 0, 0] }])
    expect(text).toContain('| scale | rows | mergeback backup | pg_dump -Fp | mergeback restore | pg_restore -Fc -j 2 | mergeback analyze (unchanged db) | load (1 min) before → after |')
    expect(text).toContain('| 5 | 500,000 | 4.00 (2.0 s) |')
    expect(text).toContain('| 1.50 → 2.25 |')
    expect(text).toContain('| 20 | 110 MB | 110 MB |')
  })
})

describe('scaling results of separate runs', () => {
  const file = (scales: BenchResults[], runs: number): ScalingResults => ({
    format: 'mergeback-bench-scaling',
    version: 1,
    startedAt: '',
    options: { scales: scales.map((s) => s.options.scale), runs, engine: 'postgres', seed: 's' },
    machine: scales[0].machine,
    load: scales.map((s) => ({ scale: s.options.scale, uptimeBefore: '', uptimeAfter: '', loadBefore: [1, 1, 1], loadAfter: [1, 1, 1] })),
    scales,
    series: [],
  })

  it('reads as one run, scales in order, series recomputed', () => {
    const combined = combineResults([file([linear(20, 4)], 1), file([linear(1, 9), linear(5, 4)], 3)])
    expect(combined.options.scales).toEqual([1, 5, 20])
    expect(combined.load.map((l) => l.scale)).toEqual([1, 5, 20])
    expect(combined.series[0].points.map((p) => p.secondsPerMillionRows?.toFixed(1))).toEqual(['9.0', '4.0', '4.0'])
  })

  it('refuses a scale measured twice, and a file that is not a scaling run', () => {
    expect(() => combineResults([file([linear(5, 4)], 3), file([linear(5, 4)], 1)])).toThrow('scale 5 is in two of the files')
    expect(() => combineResults([{ format: 'mergeback-bench' } as unknown as ScalingResults])).toThrow('not a scaling results file')
    expect(() => combineResults([])).toThrow('not a scaling results file')
  })
})

describe('scaling plot', () => {
  it('picks round ticks that cover the largest value', () => {
    expect(niceTicks(9)).toEqual([0, 2, 4, 6, 8, 10])
    expect(niceTicks(150)).toEqual([0, 50, 100, 150])
    expect(niceTicks(0.7)).toEqual([0, 0.2, 0.4, 0.6, 0.8])
    expect(niceTicks(0)).toEqual([0, 1])
  })

  it('draws two panels with axis labels, a legend entry per command, the 150 MB target, and escapes text', () => {
    const perScale = [linear(1, 6), linear(5, 4), linear(20, 4), linear(50, 4)]
    const svg = scalingPlot({ series: scalingSeries(perScale), machine: perScale[0].machine, options: { scales: [1, 5, 20, 50], runs: 3, engine: 'postgres', seed: 's' }, load: [] })
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg).toContain('seconds per million rows')
    expect(svg).toContain('peak RSS (MB)')
    expect(svg).toContain('scale (× 100 000 rows) (log scale)')
    expect(svg).toContain('target ≤ 150 MB')
    expect(svg).toContain('commit abcdef1')
    for (const tool of SCALING_TOOLS) expect(svg).toContain(`>${escapeXml(tool.label)}</text>`)
    // One line per series in each panel, peers dashed.
    expect(svg.match(/<polyline /g)).toHaveLength(SCALING_TOOLS.length * 2)
    expect(svg.match(/<polyline [^>]*stroke-dasharray/g)).toHaveLength(4)
    expect(escapeXml('a < b & "c"')).toBe('a &lt; b &amp; &quot;c&quot;')
  })

  it('breaks a line where a point is missing, and refuses a plot without x values', () => {
    const svg = renderPlot({
      title: 't',
      subtitle: 's',
      xLabel: 'x',
      panels: [{ title: 'p', yLabel: 'y', series: [{ label: 'a', color: '#000', dashed: false, points: [{ x: 1, y: 1 }, { x: 2, y: null }, { x: 3, y: 2 }] }] }],
    })
    expect(svg.match(/<polyline /g)).toBeNull()
    expect(svg.match(/<circle /g)).toHaveLength(3) // two points and the legend's marker
    expect(() => renderPlot({ title: 't', subtitle: 's', xLabel: 'x', panels: [] })).toThrow(RangeError)
  })
})

describe('scaling options', () => {
  it('reads the scales in order, and the defaults', () => {
    expect(parseScalingOptions(['--scales', '20,1,5', '--runs', '2'])).toMatchObject({ scales: [1, 5, 20], runs: 2, build: true })
    expect(parseScalingOptions([])).toMatchObject({ scales: [1, 5, 20, 50], runs: 3 })
  })

  it('rejects bad options with a one-line message and exit 2', () => {
    for (const args of [['--scales', '1,,5'], ['--scales', '0'], ['--scales', '5,5'], ['--scales', 'x'], ['--engines', 'mysql'], ['--runs', '0'], ['--bogus']]) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/scaling.ts', ...args], { cwd: ROOT, encoding: 'utf8' })
      expect(r.status, args.join(' ')).toBe(2)
      expect(r.stderr.split('\n')[0]).toMatch(/^bench: /)
    }
  })
})

describe('npm run bench:scaling at scales 0.01 and 0.02', () => {
  const tmp = makeTempDir('mergeback-bench-scaling-')
  let run: ReturnType<typeof spawnSync>
  let files: string[] = []

  beforeAll(() => {
    run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'bench/scaling.ts', '--scales', '0.02,0.01', '--runs', '1', '--no-build', '--results-dir', tmp.dir, '--svg', path.join(tmp.dir, 'copy.svg')],
      { cwd: ROOT, encoding: 'utf8', timeout: 280_000 },
    )
    files = fs.existsSync(tmp.dir) ? fs.readdirSync(tmp.dir).sort() : []
  }, 290_000)
  afterAll(() => tmp.cleanup())

  it('measures every tool at every scale and writes the results, the plot and the tables', () => {
    expect(run.status, String(run.stderr)).toBe(0)
    expect(files).toEqual([expect.stringMatching(/-scaling\.json$/), expect.stringMatching(/-scaling\.svg$/), 'copy.svg'])
    const results = JSON.parse(fs.readFileSync(path.join(tmp.dir, files.find((f) => f.endsWith('.json')) as string), 'utf8')) as ScalingResults
    expect(results.format).toBe('mergeback-bench-scaling')
    expect(results.options.scales).toEqual([0.01, 0.02])
    expect(results.scales.map((s) => s.datasets.postgres.totalRows)).toEqual([1000, 2000])
    expect(results.load.map((l) => l.scale)).toEqual([0.01, 0.02])
    for (const series of results.series) {
      for (const point of series.points) {
        expect(point.problem, `${series.label} at ${point.scale}`).toBeUndefined()
        expect(point.secondsPerMillionRows).toBeGreaterThan(0)
        expect(point.peakRssBytes).toBeGreaterThan(0)
      }
    }
    expect(run.stdout).toContain('| 0.02 | 2,000 |')
    expect(run.stdout).toMatch(/^(PASS|FAIL) {2}time per row, mergeback backup: scale 0\.01 → 0\.02/m)
    const svg = fs.readFileSync(path.join(tmp.dir, 'copy.svg'), 'utf8')
    expect(svg).toBe(fs.readFileSync(path.join(tmp.dir, files.find((f) => f.endsWith('-scaling.svg')) as string), 'utf8'))
  })

  it('prints an earlier run again with --print, and says so clearly when the file is not a scaling run', () => {
    const json = path.join(tmp.dir, files.find((f) => f.endsWith('.json')) as string)
    const again = spawnSync(process.execPath, ['--import', 'tsx', 'bench/scaling.ts', '--print', json], { cwd: ROOT, encoding: 'utf8' })
    expect(again.status).toBe(0)
    expect(again.stdout).toContain('| 0.01 | 1,000 |')
    const other = path.join(tmp.dir, 'other.json')
    fs.writeFileSync(other, '{"format":"mergeback-bench"}')
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'bench/scaling.ts', '--print', other], { cwd: ROOT, encoding: 'utf8' })
    expect(bad.status).toBe(2)
    expect(bad.stderr.trim()).toMatch(/^bench: cannot print .*not a scaling results file$/)
  })
})
