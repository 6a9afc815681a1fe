/**
 * `/api/schedules` (docs/operations.md §Schedules): list with each schedule's next run and last
 * result, create, replace, delete, run now, acknowledge a failure (the page's banner).
 *
 * Roles: reading, running now and acknowledging need admin; creating, changing and deleting a
 * schedule need super_admin, because a schedule's retention removes backups. A schedule names
 * a database by its configured alias, never by URL (as every route does). A schedule with a
 * remote destination is refused unless its remote answers now (bucket, credentials). Changes are
 * audited and re-arm the server's scheduler at once.
 */
import { z } from 'zod'
import type { Hono } from 'hono'
import { appendAudit } from '../../audit/audit-log.js'
import { BusyError, NotFoundError, UsageError } from '../../errors.js'
import { parseScheduleInput, scheduleInputSchema, type Schedule } from '../../schedule/schedule-store.js'
import { checkScheduleRemote } from '../../schedule/run-schedule.js'
import type { AppContext, AppDeps, AppEnv } from '../context.js'
import { actorLabel, clientAddress } from '../context.js'
import { requireRole } from '../auth.js'
import { resolveDatabase } from '../config.js'
import { describeRoute } from '../openapi.js'
import { jsonBody } from '../validate.js'

const TAG = 'schedules'
const StatusSchema = z.object({ schedule: z.record(z.string(), z.unknown()), nextRunAt: z.string().optional(), lastRun: z.record(z.string(), z.unknown()).optional(), running: z.boolean() })

function services(deps: AppDeps) {
  if (!deps.schedules) throw new NotFoundError('This server runs no scheduler.')
  return deps.schedules
}

async function audit(c: AppContext, deps: AppDeps, what: string, schedule: Schedule): Promise<void> {
  await appendAudit(deps.config.dir, {
    action: 'backup',
    actor: actorLabel(c.var.actor),
    client: clientAddress(c),
    target: `schedule ${schedule.id}`,
    options: { schedule: what, name: schedule.name, cron: schedule.cron, timezone: schedule.timezone, kind: schedule.kind, destination: schedule.destination },
    outcome: 'success',
  })
}

export function registerSchedules(app: Hono<AppEnv>, deps: AppDeps): void {
  describeRoute({
    method: 'get',
    path: '/api/schedules',
    tag: TAG,
    role: 'admin',
    summary: 'Schedules with their next run and last result; `failed` lists those whose last run failed and is not acknowledged',
    responses: { 200: { description: 'schedules', schema: z.object({ success: z.literal(true), schedules: z.array(StatusSchema), failed: z.array(z.string()) }) } },
  })
  app.get('/api/schedules', async (c) => {
    const rows = await services(deps).scheduler.status()
    const failed = rows.filter((r) => r.lastRun?.outcome === 'failure' && !r.lastRun.acknowledged).map((r) => r.schedule.id)
    return c.json({ success: true, schedules: rows, failed })
  })

  describeRoute({
    method: 'post',
    path: '/api/schedules',
    tag: TAG,
    role: 'super_admin',
    summary: 'Create a schedule (cron + time zone, kind, destination, retention, webhook)',
    body: scheduleInputSchema,
    responses: { 201: { description: 'created', schema: z.object({ success: z.literal(true), schedule: z.record(z.string(), z.unknown()) }) } },
  })
  app.post('/api/schedules', async (c) => {
    requireRole(c, 'super_admin', 'Creating a schedule')
    const body = await jsonBody(c, z.unknown())
    const { store, scheduler } = services(deps)
    checkDatabase(deps, body)
    await checkScheduleRemote(parseScheduleInput(body))
    const schedule = await store.create(body)
    await scheduler.reload()
    await audit(c, deps, 'created', schedule)
    return c.json({ success: true, schedule }, 201)
  })

  describeRoute({
    method: 'put',
    path: '/api/schedules/{id}',
    tag: TAG,
    role: 'super_admin',
    summary: 'Replace a schedule\'s settings',
    body: scheduleInputSchema,
    responses: { 200: { description: 'updated', schema: z.object({ success: z.literal(true), schedule: z.record(z.string(), z.unknown()) }) } },
  })
  app.put('/api/schedules/:id', async (c) => {
    requireRole(c, 'super_admin', 'Changing a schedule')
    const body = await jsonBody(c, z.unknown())
    const { store, scheduler } = services(deps)
    checkDatabase(deps, body)
    await store.get(c.req.param('id'))
    await checkScheduleRemote(parseScheduleInput(body))
    const schedule = await store.update(c.req.param('id'), body)
    await scheduler.reload()
    await audit(c, deps, 'updated', schedule)
    return c.json({ success: true, schedule })
  })

  describeRoute({
    method: 'delete',
    path: '/api/schedules/{id}',
    tag: TAG,
    role: 'super_admin',
    summary: 'Delete a schedule (its backups stay)',
    responses: { 200: { description: 'deleted', schema: z.object({ success: z.literal(true), deleted: z.record(z.string(), z.unknown()) }) } },
  })
  app.delete('/api/schedules/:id', async (c) => {
    requireRole(c, 'super_admin', 'Deleting a schedule')
    const { store, scheduler } = services(deps)
    const deleted = await store.remove(c.req.param('id'))
    await scheduler.reload()
    await audit(c, deps, 'deleted', deleted)
    return c.json({ success: true, deleted })
  })

  describeRoute({
    method: 'post',
    path: '/api/schedules/{id}/run',
    tag: TAG,
    role: 'admin',
    summary: 'Run a schedule now: answers once it started, with its job (kind `schedule`: progress, cancel) when the server runs it as one. 409 while it is running.',
    responses: { 200: { description: 'started', schema: z.object({ success: z.literal(true), started: z.literal(true), jobId: z.string().optional() }) } },
  })
  app.post('/api/schedules/:id/run', async (c) => {
    const { store, scheduler } = services(deps)
    const schedule = await store.get(c.req.param('id'))
    if (scheduler.isRunning(schedule.id)) throw new BusyError(`Schedule "${schedule.name}" is running now: wait for that run to finish.`)
    const before = new Set(deps.jobs.running().map((j) => j.id))
    void scheduler.runNow(schedule.id, { actor: c.var.actor }).catch((error) => deps.logger.error('schedule run failed to start', { schedule: schedule.id, error: (error as Error).message }))
    // The run starts its job synchronously once the schedule is read: find it for the caller.
    const job = await waitForJob(deps, schedule.name, before)
    return c.json({ success: true, started: true, ...(job ? { jobId: job } : {}) })
  })

  describeRoute({
    method: 'post',
    path: '/api/schedules/{id}/acknowledge',
    tag: TAG,
    role: 'admin',
    summary: 'Acknowledge a failed last run (clears the banner)',
    responses: { 200: { description: 'acknowledged', schema: z.object({ success: z.literal(true), lastRun: z.unknown() }) } },
  })
  app.post('/api/schedules/:id/acknowledge', async (c) => {
    const { store, scheduler } = services(deps)
    await store.get(c.req.param('id'))
    return c.json({ success: true, lastRun: (await scheduler.acknowledge(c.req.param('id'))) ?? null })
  })
}

/** The id of the `schedule` job for `name` that started after `before` was taken (a short wait), if any. */
async function waitForJob(deps: AppDeps, name: string, before: ReadonlySet<string>): Promise<string | undefined> {
  for (let i = 0; i < 50; i++) {
    const job = deps.jobs.list().find((j) => j.kind === 'schedule' && j.file === name && !before.has(j.id))
    if (job) return job.id
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return undefined
}

/** The database a schedule names must be configured now, not fail at 3 a.m. */
function checkDatabase(deps: AppDeps, body: unknown): void {
  const database = (body as { database?: unknown } | null)?.database
  if (database !== undefined && typeof database !== 'string') throw new UsageError('database must be a configured alias (a string).', { code: 'BAD_SCHEDULE' })
  resolveDatabase(deps.config, { database: database as string | undefined })
}
