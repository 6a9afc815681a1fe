/**
 * `GET /api/audit` (paged, newest first) and `GET /api/audit/verify` (the hash chain).
 */
import { z } from 'zod'
import type { Hono } from 'hono'
import { readAudit, verifyAudit } from '../../audit/audit-log.js'
import type { AppDeps, AppEnv } from '../context.js'
import { describeRoute } from '../openapi.js'
import { queryOf } from '../validate.js'

const AuditQuery = z.object({
  offset: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})

export function registerAudit(app: Hono<AppEnv>, deps: AppDeps): void {
  describeRoute({
    method: 'get',
    path: '/api/audit',
    tag: 'audit',
    role: 'admin',
    summary: 'The audit log, newest first, paged',
    query: AuditQuery,
    responses: {
      200: {
        description: 'entries',
        schema: z.object({ success: z.literal(true), total: z.number(), offset: z.number(), limit: z.number(), entries: z.array(z.record(z.string(), z.unknown())), damagedLines: z.array(z.number()) }),
      },
    },
  })
  app.get('/api/audit', async (c) => {
    const { offset = 0, limit = 50 } = queryOf(c, AuditQuery)
    const { entries, damagedLines } = await readAudit(deps.config.dir)
    const newestFirst = entries.reverse()
    return c.json({ success: true, total: newestFirst.length, offset, limit, entries: newestFirst.slice(offset, offset + limit), damagedLines })
  })

  describeRoute({
    method: 'get',
    path: '/api/audit/verify',
    tag: 'audit',
    role: 'admin',
    summary: "Check the audit log's hash chain",
    responses: { 200: { description: 'verification', schema: z.object({ success: z.literal(true), ok: z.boolean() }).passthrough() } },
  })
  app.get('/api/audit/verify', async (c) => c.json({ success: true, ...(await verifyAudit(deps.config.dir)) }))
}
