/**
 * The bench's results: the JSON document written under `bench/results/`, and the Markdown tables
 * printed at the end of a run (the same tables `docs/performance.md` shows).
 *
 * Every number in the tables is a median over the runs; peak RSS is the largest of the runs.
 * A ratio is mergeback / peer, so below 1 means mergeback is faster (or smaller).
 */
import type { Sample } from './measure.js'
import { median } from './measure.js'
import type { Comparison, GroupId } from './tools.js'
import type { BenchEngine } from './generate.js'

/** The memory target for every mergeback run, at any scale. */
export const PEAK_RSS_TARGET_BYTES = 150 * 1024 * 1024

export interface RunSample extends Sample {
  /** Total size of what the run wrote (backup tools only). */
  readonly outputBytes?: number
}

export type ToolStatus = 'ok' | 'failed' | 'not-measured'

export interface ToolResult {
  readonly engine: BenchEngine
  /** The group whose runs made the samples (other groups may show the same result). */
  readonly group: GroupId
  readonly id: string
  readonly label: string
  /** True for mergeback's own commands. */
  readonly mergeback: boolean
  status: ToolStatus
  reason?: string
  readonly samples: RunSample[]
  /** mergeback's `--json` report of the first run, with long conflict lists reduced to a count. */
  report?: unknown
}

export interface ComparisonResult extends Comparison {
  readonly engine: BenchEngine
  readonly group: GroupId
  /** tool / peer, or null when either side was not measured. */
  readonly ratio: number | null
  readonly toolValue: number | null
  readonly peerValue: number | null
  /** Whether ratio ≤ target; null without a target or a ratio. */
  readonly met: boolean | null
}

export interface RssResult {
  readonly engine: BenchEngine
  readonly tool: string
  readonly label: string
  readonly peakRssBytes: number
  readonly met: boolean
}

export interface BenchResults {
  readonly format: 'mergeback-bench'
  readonly version: 1
  readonly startedAt: string
  finishedAt?: string
  readonly options: { scale: number; runs: number; engines: BenchEngine[]; only: GroupId[]; seed: string; cpuProfile: boolean }
  readonly machine: {
    cpus: number
    cpuModel: string
    memoryBytes: number
    node: string
    loadAverageAtStart: number[]
    versions: Record<string, string>
    git: { commit: string; dirty: boolean } | null
  }
  readonly datasets: Record<
    string,
    { rows: Record<string, number>; totalRows: number; sizeBytes: number; generateSeconds: number; changed?: { updated: Record<string, number>; deleted: Record<string, number> } }
  >
  readonly tools: ToolResult[]
  /** Which tools each group shows, in order (a shared tool appears in several groups). */
  readonly groups: { engine: BenchEngine; id: GroupId; title: string; tools: string[] }[]
  comparisons: ComparisonResult[]
  rss: RssResult[]
}

/** The key of a tool result: tools are shared between groups of the same engine by this key. */
export function toolKey(engine: BenchEngine, id: string): string {
  return `${engine}:${id}`
}

/**
 * Medians (seconds, CPU, output bytes), min and max seconds, and the largest peak RSS of a tool's
 * samples; null when the tool was not measured or failed.
 */
export function summarize(result: ToolResult): { median: number; min: number; max: number; cpu: number; peakRss: number; output: number | null } | null {
  if (result.status !== 'ok' || result.samples.length === 0) return null
  const s = result.samples
  const outputs = s.map((x) => x.outputBytes).filter((x): x is number => x !== undefined)
  return {
    median: median(s.map((x) => x.seconds)),
    min: Math.min(...s.map((x) => x.seconds)),
    max: Math.max(...s.map((x) => x.seconds)),
    cpu: median(s.map((x) => x.userSeconds + x.systemSeconds)),
    peakRss: Math.max(...s.map((x) => x.peakRssBytes)),
    output: outputs.length ? median(outputs) : null,
  }
}

/** Computes a comparison from the two tools' results (either may be missing or not measured). */
export function compare(
  engine: BenchEngine,
  group: GroupId,
  comparison: Comparison,
  tool: ToolResult | undefined,
  peer: ToolResult | undefined,
): ComparisonResult {
  const a = tool && summarize(tool)
  const b = peer && summarize(peer)
  const pick = (s: ReturnType<typeof summarize> | undefined) => (s ? (comparison.metric === 'seconds' ? s.median : s.output) : null)
  const toolValue = pick(a)
  const peerValue = pick(b)
  const ratio = toolValue !== null && peerValue !== null && peerValue > 0 ? toolValue / peerValue : null
  const met = comparison.target === undefined || ratio === null ? null : ratio <= comparison.target
  return { ...comparison, engine, group, ratio, toolValue, peerValue, met }
}

/** "0.42 s", "12.3 s", "123 s": three significant digits at most. */
export function formatSeconds(s: number): string {
  return s >= 100 ? `${s.toFixed(0)} s` : s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(2)} s`
}

/** Binary multiples with the customary short names: "297 kB", "45.1 MB", "1.07 GB". */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GB`
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(n >= 100 * 1024 ** 2 ? 0 : 1)} MB`
  if (n >= 1024) return `${(n / 1024).toFixed(0)} kB`
  return `${n} B`
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ')
}

/** The results table: one line per tool and group, medians, in run order. */
export function resultsTable(results: BenchResults): string {
  const lines = [
    '| engine | operation | tool | median | min – max | CPU (user+sys) | peak RSS | output |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ]
  const byKey = new Map(results.tools.map((t) => [toolKey(t.engine, t.id), t]))
  for (const group of results.groups) {
    for (const id of group.tools) {
      const t = byKey.get(toolKey(group.engine, id))
      if (!t) continue
      const s = summarize(t)
      const shared = t.group !== group.id ? ` (runs of ${t.group})` : ''
      if (!s) {
        const what = t.status === 'failed' ? 'failed' : 'not measured'
        lines.push(`| ${group.engine} | ${group.id} | ${cell(t.label)} | ${what}: ${cell(t.reason ?? '')} | | | | |`)
        continue
      }
      lines.push(
        `| ${group.engine} | ${group.id} | ${cell(t.label)}${shared} | ${formatSeconds(s.median)} | ${formatSeconds(s.min)} – ${formatSeconds(s.max)} | ${formatSeconds(s.cpu)} | ${formatBytes(s.peakRss)} | ${s.output === null ? '' : formatBytes(s.output)} |`,
      )
    }
  }
  return lines.join('\n')
}

/** The ratios table: each comparison (mergeback / peer) with its target, then the peak-RSS target. */
export function ratiosTable(results: BenchResults): string {
  const lines = ['| engine | comparison (mergeback / peer) | ratio | values | target | met |', '| --- | --- | ---: | ---: | ---: | --- |']
  for (const c of results.comparisons) {
    const fmt = (v: number | null) => (v === null ? '–' : c.metric === 'seconds' ? formatSeconds(v) : formatBytes(v))
    const ratio = c.ratio === null ? 'not measured' : `${c.ratio.toFixed(2)} ×`
    const target = c.target === undefined ? '' : `≤ ${c.target.toFixed(1)} ×`
    const met = c.met === null ? (c.target === undefined ? '' : '–') : c.met ? 'yes' : '**no**'
    lines.push(`| ${c.engine} | ${cell(c.label)} | ${ratio} | ${fmt(c.toolValue)} / ${fmt(c.peerValue)} | ${target} | ${met} |`)
  }
  for (const r of results.rss) {
    lines.push(`| ${r.engine} | peak RSS, ${cell(r.label)} | | ${formatBytes(r.peakRssBytes)} | ≤ 150 MB | ${r.met ? 'yes' : '**no**'} |`)
  }
  return lines.join('\n')
}

/** Shrinks a mergeback `--json` report for the results file: conflict lists become their length. */
export function compactReport(report: unknown): unknown {
  if (Array.isArray(report)) return report.length > 20 ? { items: report.length } : report.map(compactReport)
  if (report === null || typeof report !== 'object') return report
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(report)) {
    out[key] = key === 'conflicts' && Array.isArray(value) ? { listed: value.length } : compactReport(value)
  }
  return out
}
