import { describe, expect, it } from 'vitest'
import { createOutput } from '../cli/output.js'
import { ReportBuilder, emptyCounts, renderReport, writeReportJson, type MergeConflict, type MergeReport } from './report.js'

/** Conflicts of every shape a report holds: composite keys, three-way kinds and bases, nested and odd values. */
function conflict(i: number): MergeConflict {
  return {
    table: i % 3 === 0 ? 'a "quoted"\ntable' : 'users',
    key: i % 2 === 0 ? i : { id: i, region: `r\u00e9gion ${i % 7}` },
    fields: [
      { name: 'email', backup: `old${i}@example.com`, current: `new${i}@example.com` },
      ...(i % 5 === 0 ? [{ name: 'doc', base: null, backup: { nested: [1, 'two', { three: true }], empty: {} }, current: [] }] : []),
      ...(i % 11 === 0 ? [{ name: 'n', backup: 1e21, current: -0.5 }] : []),
    ],
    ...(i % 4 === 0 ? { kind: 'modify/modify' as const } : {}),
    resolution: i % 2 === 0 ? 'backup' : 'unresolved',
  }
}

function built(count: number): { report: MergeReport; conflicts: MergeConflict[] } {
  const builder = new ReportBuilder()
  const conflicts = Array.from({ length: count }, (_, i) => conflict(i))
  for (let i = 0; i < conflicts.length; i += 97) builder.add(i % 2 ? 'users' : 'a "quoted"\ntable', emptyCounts(), conflicts.slice(i, i + 97))
  builder.record('users', 'new', 1)
  return { report: builder.build(), conflicts }
}

/** The report as plain data, as JSON.stringify sees it (no getters). */
function plain(report: MergeReport): MergeReport {
  return { tables: report.tables, totals: report.totals, conflicts: [...report.conflicts], records: report.records }
}

describe('the merge report keeps its conflicts compactly', () => {
  // 2,500: two compressed blocks of 1,000 and 500 kept as they are.
  for (const count of [0, 1, 999, 1000, 2500]) {
    it(`gives back the same ${count} conflicts, in order, and prints the same JSON and text`, () => {
      const { report, conflicts } = built(count)
      // JSON's own reading of the values (1e21 stays a number, -0.5 too).
      expect(report.conflicts).toEqual(JSON.parse(JSON.stringify(conflicts)))
      expect(report.conflicts).toHaveLength(count)
      const expected = JSON.stringify(plain(report), null, 2)
      // A fresh report each time: printing must not need report.conflicts built first.
      let text = ''
      writeReportJson(built(count).report, (piece) => (text += piece))
      expect(text).toBe(expected)
      expect(JSON.stringify(built(count).report, null, 2)).toBe(expected)
      expect(renderReport(built(count).report, { heading: 'h' })).toBe(renderReport(plain(report), { heading: 'h' }))
    })
  }

  it('the CLI prints a built report with --json exactly as JSON.stringify(report, null, 2)', () => {
    const chunks: string[] = []
    const stdout = { write: (text: string) => chunks.push(text) } as unknown as NodeJS.WriteStream
    createOutput({ json: true, stdout }).result(built(2500).report, () => 'unused')
    expect(chunks.length).toBeGreaterThan(1) // in pieces
    expect(chunks.join('')).toBe(`${JSON.stringify(plain(built(2500).report), null, 2)}\n`)
  })

  it('writeReportJson prints a plain report (not built here) the same as JSON.stringify', () => {
    const report: MergeReport = { tables: {}, totals: emptyCounts(), conflicts: [conflict(1), conflict(4)], records: {} }
    let text = ''
    writeReportJson(report, (piece) => (text += piece))
    expect(text).toBe(JSON.stringify(report, null, 2))
  })

  it('report.conflicts can still be replaced and spread like a plain property', () => {
    const { report } = built(1500)
    const copy = { ...report }
    expect(copy.conflicts).toHaveLength(1500)
    ;(report as { conflicts: MergeConflict[] }).conflicts = [conflict(7)]
    expect(report.conflicts).toEqual([conflict(7)])
    // Printed as set, not from the log it was built with.
    let text = ''
    writeReportJson(report, (piece) => (text += piece))
    expect(JSON.parse(text).conflicts).toEqual([JSON.parse(JSON.stringify(conflict(7)))])
    expect(renderReport(report, { heading: "h" })).toBe(renderReport({ ...report, conflicts: [conflict(7)] }, { heading: "h" }))
  })
})
