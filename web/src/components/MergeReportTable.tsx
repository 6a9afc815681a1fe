/** A merge report's per-table counts (analyze, dry run and merge print the same shape). */
import type { MergeCounts, MergeReport } from '../api/api'
import { formatCount } from './base/ui'

/**
 * `deletions`: the merge applies deletions (three-way, applyDeletions): a column says what it
 * deletes ("Will be deleted" before, "Deleted" once `applied`). The three-way columns show only
 * for a report made with a base backup (its counts carry them).
 */
export function MergeReportTable(props: { report: MergeReport; caption: string; applied?: boolean; deletions?: boolean }) {
  const { report } = props
  const threeWay = report.totals.deletedInBackup !== undefined
  const deletions = threeWay && Boolean(props.deletions)
  const threeWayCells = (c: MergeCounts) =>
    threeWay && (
      <>
        <td class="num" data-col="deleted-in-backup">{formatCount(c.deletedInBackup ?? 0)}</td>
        <td class="num" data-col="deleted-here">{formatCount(c.deletedHere ?? 0)}</td>
        {deletions && <td class={`num ${c.deleted ? 'hl-conflict' : ''}`} data-col="deleted">{formatCount(c.deleted ?? 0)}</td>}
      </>
    )
  const rows = Object.entries(report.tables)
  const resolvedCell = (c: MergeCounts) => {
    const r = c.resolved
    const parts = [r.backup && `${formatCount(r.backup)} backup`, r.current && `${formatCount(r.current)} current`, r.merged && `${formatCount(r.merged)} merged`].filter(Boolean)
    return parts.length ? parts.join(', ') : '—'
  }
  return (
    <div class="table-wrap">
      <table class={`data summary-grid ${threeWay ? 'three-way' : ''}`}>
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
            {threeWay && (
              <>
                <th scope="col" class="num" title={deletions ? 'In the base and here, gone from the backup, unchanged here' : 'In the base and here, gone from the backup, unchanged here: kept'}>
                  Deleted in backup
                </th>
                <th scope="col" class="num" title="In the base and the backup, unchanged there, gone from here: it stays deleted">
                  Deleted here
                </th>
                {deletions && (
                  <th scope="col" class="num" title="Deleted in the backup and unchanged here: this merge deletes them (Apply deletions)">
                    {props.applied ? 'Deleted' : 'Will be deleted'}
                  </th>
                )}
              </>
            )}
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
              {threeWayCells(c)}
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
            {threeWayCells(report.totals)}
          </tr>
        </tfoot>
      </table>
    </div>
  )
}
