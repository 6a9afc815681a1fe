/**
 * `POST /api/prune`: retention (docs/storage.md). Removing backups needs super_admin; a dry run
 * (which only says what would go) is open to admin.
 */
import { z } from 'zod'
import type { Hono } from 'hono'
import { prune } from '../../storage/retention.js'
import type { AppDeps, AppEnv } from '../context.js'
import { actorLabel, clientAddress } from '../context.js'
import { requireRole } from '../auth.js'
import { describeRoute } from '../openapi.js'
import { PruneBody } from '../schemas.js'
import { jsonBody } from '../validate.js'

export function registerPrune(app: Hono<AppEnv>, deps: AppDeps): void {
  describeRoute({
    method: 'post',
    path: '/api/prune',
    tag: 'backups',
    role: 'super_admin',
    summary: 'Apply a retention policy (dryRun: admin may, it only reports)',
    body: PruneBody,
    responses: { 200: { description: 'report', schema: z.object({ success: z.literal(true), dryRun: z.boolean(), keep: z.array(z.unknown()), remove: z.array(z.unknown()) }).passthrough() } },
  })
  app.post('/api/prune', async (c) => {
    const body = await jsonBody(c, PruneBody)
    if (!body.dryRun) requireRole(c, 'super_admin', 'Pruning backups')
    const { dryRun, ...policy } = body
    const report = await prune(deps.config.dir, policy, { dryRun, actor: actorLabel(c.var.actor), client: clientAddress(c) })
    return c.json({ success: true, ...report })
  })
}
