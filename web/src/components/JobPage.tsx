/** One job's live progress and outcome (the banner links here). */
import { useEffect, useState } from 'preact/hooks'
import { cancelJob, followJob, getJob, type Job, type JobProgress } from '../api/api'
import { Button, Card, ErrorNote, Notice, formatTime } from './base/ui'
import { JobProgressView } from './JobProgressView'
import { describeJob } from './JobBanner'
import { useSession } from './App'

export function JobPage(props: { params: URLSearchParams }) {
  const id = props.params.get('id') ?? ''
  const session = useSession()
  const [job, setJob] = useState<Job | null>(null)
  const [progress, setProgress] = useState<JobProgress | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    const controller = new AbortController()
    getJob(id)
      .then((j) => {
        setJob(j)
        if (j.state === 'running') return followJob(id, setProgress, controller.signal).then(setJob)
      })
      .catch((e: Error) => !controller.signal.aborted && setError(e.message))
    return () => controller.abort()
  }, [id])
  if (error) return <ErrorNote>{error}</ErrorNote>
  if (!job) return <p class="muted">Loading…</p>
  const mayCancel = job.state === 'running' && (session.who.role === 'super_admin' || job.actor?.name === session.who.name)
  return (
    <Card title={`Job ${job.id}`}>
      <dl class="kv">
        <dt>What</dt>
        <dd>{job.kind}{job.file ? ` of ${job.file}` : ''}</dd>
        <dt>Database</dt>
        <dd>{job.database ?? '—'}</dd>
        <dt>Started</dt>
        <dd>{formatTime(job.createdAt)}{job.actor ? ` by ${job.actor.name}` : ''}</dd>
        <dt>State</dt>
        <dd>{job.state}</dd>
      </dl>
      {job.state === 'running' && (
        <>
          <p>{describeJob(job)}.</p>
          <JobProgressView progress={progress ?? job.progress ?? null} label={`${job.kind} in progress`} />
          {mayCancel && <Button onClick={() => cancelJob(job.id).then(setJob).catch((e: Error) => setError(e.message))}>Cancel (rolls back)</Button>}
        </>
      )}
      {job.state === 'succeeded' && <Notice kind="success">Finished {formatTime(job.finishedAt ?? undefined)}.</Notice>}
      {job.state === 'failed' && <ErrorNote>{job.error?.error ?? 'The job failed.'}</ErrorNote>}
      {job.state === 'cancelled' && <Notice kind="warning">Cancelled; what it had done was rolled back.</Notice>}
    </Card>
  )
}
