/**
 * The HTTP API (docs/api.md): `createApp(deps)` builds the Hono app with no port and no globals.
 *
 * Order of the middleware:
 *   1. request id + structured request log (on the response's `close`, so streamed downloads
 *      are logged with their real status and duration);
 *   2. authentication on `/api/*` except health and the OpenAPI document: a bearer token, or a
 *      download token on a download route; the actor goes into the context;
 *   3. the routes, one file per resource under `routes/` (the seeds' endpoints in
 *      `routes/seed-endpoints.ts`); roles are checked where the request says what it wants
 *      (a restore with drop needs super_admin, one without does not);
 *   4. one `onError`: the status from `httpStatusFor` (src/cli/exit-codes.ts, beside the CLI's
 *      exit codes), the body `{ success: false, error, code, details }`; refusals by
 *      authentication or role are appended to the audit log.
 */
import { randomBytes } from 'node:crypto'
import { Hono } from 'hono'
import { appendAudit } from '../audit/audit-log.js'
import { AuthenticationError, ForbiddenError, InternalError, NotFoundError, asMergebackError } from '../errors.js'
import { errorDocument, httpStatusFor } from '../cli/exit-codes.js'
import { actorLabel, clientAddress, type AppContext, type AppDeps, type AppEnv } from './context.js'
export { requireRole } from './auth.js'
import { registerHealth } from './routes/health.js'
import { registerBackups } from './routes/backups.js'
import { registerJobs } from './routes/jobs.js'
import { registerSeedEndpoints } from './routes/seed-endpoints.js'
import { registerStats } from './routes/stats.js'
import { registerAudit } from './routes/audit.js'
import { registerPrune } from './routes/prune.js'
import { registerSchedules } from './routes/schedules.js'
import { registerWeb } from './routes/web.js'

export type { AppDeps } from './context.js'

const PUBLIC_API = new Set(['/api/health', '/api/openapi.json'])
const DOWNLOAD_ROUTE = /^\/api\/backups\/([^/]+)\/download$/

function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined
  const match = /^Bearer ([^\s]+)$/.exec(header)
  return match?.[1]
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  const { logger, tokens, downloadTokens, config } = deps

  // Request ids: a random prefix per server and a counter, cheaper than random bytes per request.
  const idPrefix = randomBytes(4).toString('hex')
  let requestCount = 0
  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 64).replace(/[^A-Za-z0-9._-]/g, '') || `${idPrefix}-${(++requestCount).toString(36)}`
    c.set('requestId', requestId)
    // Set before the handler makes its response: a header added afterwards makes Hono rebuild the
    // response around a web stream, which cost the health route most of its time (profiled).
    c.header('X-Request-Id', requestId)
    const started = performance.now()
    const outgoing = c.env?.outgoing
    const log = (status: number) =>
      logger.info('request', {
        requestId,
        method: c.req.method,
        route: c.req.routePath,
        path: c.req.path,
        status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        actor: c.var.actor ?? null,
        client: clientAddress(c),
      })
    if (outgoing) outgoing.once('close', () => log(outgoing.statusCode))
    await next()
    if (!outgoing) log(c.res.status)
  })

  app.use('/api/*', async (c, next) => {
    if (PUBLIC_API.has(c.req.path)) return next()
    const header = c.req.header('authorization')
    const download = DOWNLOAD_ROUTE.exec(c.req.path)
    const queryToken = c.req.query('token')
    if (!header && download && queryToken && c.req.method === 'GET') {
      let file: string
      try {
        file = decodeURIComponent(download[1] as string)
      } catch {
        file = ''
      }
      const actor = downloadTokens.check(queryToken, file)
      if (!actor) throw new AuthenticationError('The download token is invalid or expired (they last a minute): ask for a new one.')
      c.set('actor', actor)
      return next()
    }
    if (!header) throw new AuthenticationError('This needs a token: send "Authorization: Bearer <token>" (mergeback token create --name NAME --role admin).')
    const token = bearerToken(header)
    if (!token) throw new AuthenticationError('Malformed Authorization header: expected "Bearer <token>".')
    c.set('actor', tokens.authenticate(token))
    return next()
  })

  registerHealth(app, deps)
  registerBackups(app, deps)
  registerJobs(app, deps)
  registerSeedEndpoints(app, deps)
  registerStats(app, deps)
  registerAudit(app, deps)
  registerPrune(app, deps)
  registerSchedules(app, deps)
  registerWeb(app, deps)

  app.notFound((c) => {
    const error = new NotFoundError(`No route ${c.req.method} ${c.req.path} (see /api/openapi.json).`)
    return c.json(errorDocument(error), 404)
  })

  app.onError(async (error, c) => {
    const e = asMergebackError(error)
    const status = httpStatusFor(e)
    if (e instanceof InternalError) logger.error('internal error', { requestId: c.var.requestId, error: e.message, stack: (e.cause as Error | undefined)?.stack ?? e.stack })
    if (e instanceof AuthenticationError || e instanceof ForbiddenError) {
      await appendAudit(config.dir, {
        action: 'auth',
        actor: actorLabel(c.var.actor),
        client: clientAddress(c),
        target: `${c.req.method} ${c.req.path}`,
        outcome: 'refused',
        error: e.message,
      }).catch((auditError: unknown) => logger.error('audit append failed', { error: (auditError as Error).message }))
    }
    return c.json(errorDocument(e), status as 400)
  })

  return app
}
