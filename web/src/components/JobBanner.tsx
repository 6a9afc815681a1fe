/**
 * The banner shown on every screen while any job runs ("A restore is running on default"), with
 * a link to its live progress. It asks the server every few seconds; the server's job list is
 * the truth, so jobs started by other people or other tabs appear too.
 */
import { useEffect, useState } from 'preact/hooks'
import { listJobs, type Job } from '../api/api'
import { href } from '../router'

const KIND_WORDS: Record<string, string> = {
  backup: 'A backup',
  restore: 'A restore',
  analyze: 'An analysis',
  merge: 'A merge',
  verify: 'A verification',
  inspect: 'An inspection',
  stats: 'A statistics query',
  'upload-check': 'The check of an upload',
  schedule: 'A scheduled backup',
}

export function describeJob(job: Job): string {
  const what = KIND_WORDS[job.kind] ?? `A ${job.kind} job`
  const where = job.database ? ` on ${job.database}` : ''
  const by = job.actor ? `, started by ${job.actor.name}` : ''
  return `${what} is running${where}${by}`
}

export function JobBanner() {
  const [running, setRunning] = useState<readonly Job[]>([])
  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    let busy = false
    const tick = async () => {
      clearTimeout(timer)
      try {
        const jobs = (await listJobs()).filter((j) => j.state === 'running' && !['inspect', 'stats'].includes(j.kind))
        busy = jobs.length > 0
        if (!stopped) setRunning(jobs)
      } catch {
        // The banner is a hint; a failed poll just waits for the next one.
      }
      if (!stopped) timer = setTimeout(tick, busy ? 1000 : 3000)
    }
    void tick()
    const onJob = () => void tick()
    window.addEventListener('mergeback:jobs-changed', onJob)
    return () => {
      stopped = true
      clearTimeout(timer)
      window.removeEventListener('mergeback:jobs-changed', onJob)
    }
  }, [])
  if (running.length === 0) return null
  return (
    <div class="job-banner" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      {running.map((job) => (
        <span key={job.id}>
          {describeJob(job)}. <a href={href('/job', { id: job.id })}>See its progress</a>
        </span>
      ))}
    </div>
  )
}

/** Panels call this after starting a job, so the banner shows it at once. */
export function announceJob(): void {
  window.dispatchEvent(new Event('mergeback:jobs-changed'))
}
