/** A merge report's per-table counts (analyze, dry run and merge print the same shape). */
import type { MergeCounts, MergeReport } from '../api/api'
import { formatCount } from './base/ui'

export function MergeReportTable(props: { report: MergeReport; caption: string; applied?: boolean }) {
  const { report } = props
  const rows = Object.entries(report.tables)
  const resolvedCell = (c: MergeCounts) => {
    const r = c.resolved
    const parts = [r.backup && `${formatCount(r.backup)} backup`, r.current && `${formatCount(r.current)} current`, r.merged && `${formatCount(r.merged)} merged`].filter(Boolean)
    return parts.length ? parts.join(', ') : '—'
  }
  return (
    <div class="table-wrap">
      <table class="data summary-grid">
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Table</th>
            <th scope="col" class="num" title="In the backup, missing here: inserted">New</th>
            <th scope="col" class="num">Unchanged</th>
            <th scope="col" class="num" title="The backup's record is newer: it is written">Updated</th>
            <th scope="col" class="num" title="The current record is newer: it is kept">Kept</th>
            <th scope="col" class="num">Conflicts</th>
            <th scope="col">Resolved as</th>
            <th scope="col" class="num">Unresolved</th>
            <th scope="col" class="num" title="Only in the database: never deleted">Current only</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([table, c]) => (
            <tr key={table} data-table={table}>
              <th scope="row">{table}</th>
              <td class={`num ${c.new ? 'hl-new' : ''}`}>{formatCount(c.new)}</td>
              <td class="num">{formatCount(c.unchanged)}</td>
              <td class="num">{formatCount(c.updated)}</td>
              <td class="num">{formatCount(c.kept)}</td>
              <td class={`num ${c.conflicts ? 'hl-conflict' : ''}`}>{formatCount(c.conflicts)}</td>
              <td class="small">{resolvedCell(c)}</td>
              <td class={`num ${c.unresolved ? 'hl-conflict' : ''}`}>{formatCount(c.unresolved)}</td>
              <td class="num">{formatCount(c.currentOnly)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">Total</th>
            <td class="num">{formatCount(report.totals.new)}</td>
            <td class="num">{formatCount(report.totals.unchanged)}</td>
            <td class="num">{formatCount(report.totals.updated)}</td>
            <td class="num">{formatCount(report.totals.kept)}</td>
            <td class="num">{formatCount(report.totals.conflicts)}</td>
            <td class="small">{resolvedCell(report.totals)}</td>
            <td class="num">{formatCount(report.totals.unresolved)}</td>
            <td class="num">{formatCount(report.totals.currentOnly)}</td>
          </tr>
        </tfoot>
      </table>
    </div>
  )
}
