/**
 * `/api/jobs…` (docs/api.md §Jobs): state, live progress as Server-Sent Events, cancellation.
 */
import { z } from 'zod'
import type { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { AppDeps, AppEnv } from '../context.js'
import { requireRole } from '../auth.js'
import { describeRoute } from '../openapi.js'
import { JobSchema } from '../schemas.js'
import type { JobEvent } from '../jobs/job-manager.js'

const TAG = 'jobs'

export function registerJobs(app: Hono<AppEnv>, deps: AppDeps): void {
  describeRoute({ method: 'get', path: '/api/jobs', tag: TAG, role: 'admin', summary: 'Recent jobs, newest first', responses: { 200: { description: 'jobs', schema: z.object({ success: z.literal(true), jobs: z.array(JobSchema) }) } } })
  app.get('/api/jobs', (c) => c.json({ success: true, jobs: deps.jobs.list() }))

  describeRoute({ method: 'get', path: '/api/jobs/{id}', tag: TAG, role: 'admin', summary: "A job's state, progress and result", responses: { 200: { description: 'job', schema: z.object({ success: z.literal(true), job: JobSchema }) } } })
  app.get('/api/jobs/:id', (c) => c.json({ success: true, job: deps.jobs.get(c.req.param('id')) }))

  describeRoute({
    method: 'delete',
    path: '/api/jobs/{id}',
    tag: TAG,
    role: 'admin',
    summary: 'Cancel a job (its open transaction is rolled back); its starter or a super_admin',
    responses: { 200: { description: 'job', schema: z.object({ success: z.literal(true), job: JobSchema }) } },
  })
  app.delete('/api/jobs/:id', async (c) => {
    const job = deps.jobs.get(c.req.param('id'))
    if (job.actor?.name !== c.var.actor.name) requireRole(c, 'super_admin', "Cancelling another token's job")
    return c.json({ success: true, job: await deps.jobs.cancel(job.id) })
  })

  describeRoute({
    method: 'get',
    path: '/api/jobs/{id}/events',
    tag: TAG,
    role: 'admin',
    summary: 'Progress as Server-Sent Events: `progress` events, then one `end` with the finished job',
    responses: { 200: { description: 'an event stream', contentType: 'text/event-stream' } },
  })
  app.get('/api/jobs/:id/events', (c) => {
    const id = c.req.param('id')
    const first = deps.jobs.get(id)
    return streamSSE(c, async (stream) => {
      if (first.state !== 'running') {
        await stream.writeSSE({ event: 'end', id: '0', data: JSON.stringify(first) })
        return
      }
      // Events arrive from the job in order; they are queued here and written one at a time,
      // so a slow client sees them in the same order (and the job is never held up by it).
      const queue: JobEvent[] = []
      let wake: (() => void) | undefined
      const unsubscribe = deps.jobs.subscribe(id, (event) => {
        if (event.type === 'file') return
        queue.push(event)
        wake?.()
      })
      stream.onAbort(() => {
        unsubscribe()
        wake?.()
      })
      try {
        const now = deps.jobs.get(id)
        if (now.state !== 'running') {
          await stream.writeSSE({ event: 'end', id: '0', data: JSON.stringify(now) })
          return
        }
        await stream.writeSSE({ event: 'progress', id: '0', data: JSON.stringify(now.progress) })
        for (;;) {
          const event = queue.shift()
          if (!event) {
            if (stream.aborted) return
            await new Promise<void>((resolve) => (wake = resolve))
            wake = undefined
            continue
          }
          if (event.type === 'progress') await stream.writeSSE({ event: 'progress', id: String(event.seq), data: JSON.stringify(event.progress) })
          else if (event.type === 'end') {
            await stream.writeSSE({ event: 'end', id: String(event.seq), data: JSON.stringify(event.job) })
            return
          }
        }
      } finally {
        unsubscribe()
      }
    })
  })
}
