/**
 * The scaling plot, as hand-written SVG (no plotting library): two panels side by side, wall time
 * per million rows against scale (one line per command, mergeback solid, its peers dashed), and
 * peak RSS against scale with the memory target as a red line. A shared legend sits below.
 *
 * The x axis is logarithmic when the scales span a factor of 10 or more (1, 5, 20, 50 would crowd
 * the left on a linear one), with a tick at each measured scale. A point that was not measured is
 * left out, and the line breaks there.
 */

/** One line of a panel: a command's value at each measured scale (null when not measured). */
export interface PlotSeries {
  readonly label: string
  readonly color: string
  /** Dashed line and hollow markers (the peers). */
  readonly dashed: boolean
  readonly points: readonly { readonly x: number; readonly y: number | null }[]
}

export interface PlotPanel {
  readonly title: string
  readonly yLabel: string
  readonly series: readonly PlotSeries[]
  /** A horizontal reference line (the RSS target), drawn red and labelled. */
  readonly target?: { readonly y: number; readonly label: string }
}

export interface PlotSpec {
  readonly title: string
  readonly subtitle: string
  readonly xLabel: string
  readonly panels: readonly PlotPanel[]
}

const PANEL_WIDTH = 460
const PANEL_HEIGHT = 340
const MARGIN = { left: 70, right: 20, top: 90, bottom: 56 }
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'

/** XML-escapes text for an element's content or an attribute. */
export function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

/**
 * Round tick values from 0 to at least `max`: steps of 1, 2 or 5 × 10^k, about `count` of them.
 * `niceTicks(0)` is [0, 1] so that an empty panel still has an axis.
 */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1]
  const rough = max / count
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) as number
  const ticks: number[] = []
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)))
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)))
  return ticks
}

/** A tick label: no trailing zeros, at most 3 decimals ("0.25", "2", "150"). */
export function tickLabel(v: number): string {
  return String(Number(v.toFixed(3)))
}

/** The whole SVG document. Throws a RangeError when there is no x value to plot. */
export function renderPlot(spec: PlotSpec): string {
  const xs = [...new Set(spec.panels.flatMap((p) => p.series.flatMap((s) => s.points.map((pt) => pt.x))))].sort((a, b) => a - b)
  if (xs.length === 0 || xs.some((x) => !(x > 0))) throw new RangeError('the plot needs at least one positive x value')
  const logX = xs[xs.length - 1] / xs[0] >= 10
  const [xMin, xMax] = [xs[0], xs[xs.length - 1]]
  const innerW = PANEL_WIDTH - MARGIN.left - MARGIN.right
  const innerH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom
  const xPos = (x: number): number => {
    if (xMin === xMax) return innerW / 2
    const t = logX ? Math.log(x / xMin) / Math.log(xMax / xMin) : (x - xMin) / (xMax - xMin)
    // 4 % padding on both sides, so the end markers are not on the frame.
    return innerW * (0.04 + 0.92 * t)
  }

  // The legend: every distinct label once, in the order of first appearance.
  const legend = new Map<string, PlotSeries>()
  for (const panel of spec.panels) for (const s of panel.series) if (!legend.has(s.label)) legend.set(s.label, s)
  const legendColumns = 2
  const legendRows = Math.ceil(legend.size / legendColumns)
  const width = PANEL_WIDTH * spec.panels.length
  const height = PANEL_HEIGHT + 16 + legendRows * 22

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(spec.title)}</text>`,
    // A subtitle of two lines at most ("\n" between them).
    ...spec.subtitle.split('\n').slice(0, 2).map((line, i) => `<text x="${width / 2}" y="${40 + i * 16}" text-anchor="middle" fill="#555">${escapeXml(line)}</text>`),
  ]

  spec.panels.forEach((panel, index) => {
    const ox = index * PANEL_WIDTH + MARGIN.left
    const oy = MARGIN.top
    const values = panel.series.flatMap((s) => s.points.map((p) => p.y)).filter((y): y is number => y !== null)
    const ticks = niceTicks(Math.max(...values, panel.target?.y ?? 0, 0) * 1.05)
    const yMax = ticks[ticks.length - 1]
    const yPos = (y: number) => innerH - (y / yMax) * innerH
    out.push(`<g transform="translate(${ox},${oy})">`)
    out.push(`<text x="${innerW / 2}" y="-12" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(panel.title)}</text>`)
    for (const t of ticks) {
      const y = yPos(t).toFixed(1)
      out.push(`<line x1="0" x2="${innerW}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`)
      out.push(`<text x="-6" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#333">${tickLabel(t)}</text>`)
    }
    for (const x of xs) {
      const px = xPos(x).toFixed(1)
      out.push(`<line x1="${px}" x2="${px}" y1="${innerH}" y2="${innerH + 5}" stroke="#333"/>`)
      out.push(`<text x="${px}" y="${innerH + 18}" text-anchor="middle" fill="#333">${tickLabel(x)}</text>`)
    }
    out.push(`<rect x="0" y="0" width="${innerW}" height="${innerH}" fill="none" stroke="#333"/>`)
    out.push(`<text x="${innerW / 2}" y="${innerH + 40}" text-anchor="middle">${escapeXml(spec.xLabel)}${logX ? ' (log scale)' : ''}</text>`)
    out.push(`<text transform="translate(${-MARGIN.left + 16},${innerH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`)
    if (panel.target) {
      const y = yPos(panel.target.y).toFixed(1)
      out.push(`<line x1="0" x2="${innerW}" y1="${y}" y2="${y}" stroke="#d00" stroke-width="1.5" stroke-dasharray="8 4"/>`)
      out.push(`<text x="6" y="${Number(y) - 5}" fill="#d00">${escapeXml(panel.target.label)}</text>`)
    }
    for (const s of panel.series) {
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : ''
      // A null breaks the line into separate runs.
      let run: string[] = []
      const runs: string[][] = []
      for (const p of [...s.points].sort((a, b) => a.x - b.x)) {
        if (p.y === null) {
          if (run.length) runs.push(run)
          run = []
        } else run.push(`${xPos(p.x).toFixed(1)},${yPos(p.y).toFixed(1)}`)
      }
      if (run.length) runs.push(run)
      for (const r of runs) {
        if (r.length > 1) out.push(`<polyline points="${r.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`)
        for (const pt of r) {
          const [cx, cy] = pt.split(',')
          out.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${s.dashed ? 'white' : s.color}" stroke="${s.color}" stroke-width="1.5"/>`)
        }
      }
    }
    out.push('</g>')
  })

  // Legend below the panels.
  const legendTop = PANEL_HEIGHT + 16
  const columnWidth = width / legendColumns
  ;[...legend.values()].forEach((s, i) => {
    const x = (i % legendColumns) * columnWidth + 40
    const y = legendTop + Math.floor(i / legendColumns) * 22
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : ''
    out.push(`<line x1="${x}" x2="${x + 34}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${dash}/>`)
    out.push(`<circle cx="${x + 17}" cy="${y}" r="3.5" fill="${s.dashed ? 'white' : s.color}" stroke="${s.color}" stroke-width="1.5"/>`)
    out.push(`<text x="${x + 42}" y="${y}" dominant-baseline="middle">${escapeXml(s.label)}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
