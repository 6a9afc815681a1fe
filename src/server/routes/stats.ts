/**
 * `GET /api/stats` (the CRM seed's "database statistics"): engine, size, tables with row counts.
 * Counting rows can take a while on a big database, so it runs as a job; the request waits for it.
 */
import { z } from 'zod'
import type { Hono } from 'hono'
import type { AppDeps, AppEnv } from '../context.js'
import { resolveDatabase } from '../config.js'
import { describeRoute } from '../openapi.js'
import { queryOf } from '../validate.js'
import { jobErrorResponse, startJob } from './common.js'

export const StatsSchema = z
  .object({
    engine: z.string(),
    version: z.string().optional(),
    database: z.string(),
    sizeBytes: z.number().optional(),
    tables: z.array(z.object({ name: z.string(), rows: z.number(), sizeBytes: z.number().optional() }).passthrough()),
  })
  .passthrough()
  .meta({ id: 'DatabaseStats' })

/** `targetDatabase`: an alias or a database name on the same server, as restore and merge accept it. */
const StatsQuery = z.object({ database: z.string().min(1).max(200).optional(), targetDatabase: z.string().min(1).max(200).optional() })

export function registerStats(app: Hono<AppEnv>, deps: AppDeps): void {
  describeRoute({
    method: 'get',
    path: '/api/stats',
    tag: 'database',
    role: 'admin',
    summary: 'Database statistics: engine, size, tables with row counts (of `targetDatabase` when given)',
    query: StatsQuery,
    responses: { 200: { description: 'stats', schema: z.object({ success: z.literal(true), database: z.string(), stats: StatsSchema }) } },
  })
  app.get('/api/stats', async (c) => {
    const { database, targetDatabase } = queryOf(c, StatsQuery)
    const db = resolveDatabase(deps.config, { database, targetDatabase })
    const job = startJob(c, deps, { spec: { kind: 'stats', params: { db: db.url } }, database: { name: db.name, key: db.redacted } })
    const done = await deps.jobs.wait(job.id)
    if (done.error) return jobErrorResponse(c, done.error, { jobId: job.id })
    return c.json({ success: true, database: db.name, stats: done.result })
  })
}
