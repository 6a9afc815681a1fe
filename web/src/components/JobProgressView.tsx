/**
 * A job's live progress as a bar: the current table's rows done of its total (when the server
 * knows the total), the rate and the time left at that rate.
 */
import type { JobProgress } from '../api/api'
import { ProgressBar, formatBytes, formatCount, formatDuration } from './base/ui'

const PHASES: Record<string, string> = {
  verify: 'Checking the backup file',
  write: 'Writing',
  finish: 'Finishing (keys, indexes, checks)',
  commit: 'Committing',
  dump: "Running the engine's dump",
  upload: 'Copying to the remote',
  prune: 'Applying the retention',
}

export function JobProgressView(props: { progress: JobProgress | null; label: string }) {
  const p = props.progress
  const total = p?.tableRowsTotal ?? null
  const done = p?.tableRowsDone ?? 0
  const rate = p?.rate ?? 0
  const left = total !== null && rate > 0 ? ((total - done) / rate) * 1000 : null
  const phase = p?.phase ? PHASES[p.phase] ?? p.phase : null
  const parts: string[] = []
  if (p?.table) parts.push(total !== null ? `${p.table}: ${formatCount(done)} of ${formatCount(total)} rows` : `${p.table}: ${formatCount(done)} rows`)
  if (rate > 0) parts.push(`${formatCount(Math.round(rate))} rows/s`)
  if (left !== null) parts.push(`about ${formatDuration(left)} left in this table`)
  if (p?.bytes) parts.push(formatBytes(p.bytes))
  if (p?.rowsDone) parts.push(`${formatCount(p.rowsDone)} rows in all`)
  return (
    <ProgressBar
      label={phase && !p?.table ? phase : props.label}
      value={total !== null && total > 0 ? done : null}
      max={total ?? 1}
      detail={parts.length > 0 ? parts.join(' · ') : 'Starting…'}
    />
  )
}
