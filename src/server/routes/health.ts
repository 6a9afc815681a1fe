/**
 * `GET /api/health` (no auth): version, uptime and whether each configured database answers
 * (checked at most every 5 s per database, so a load balancer polling it costs no connections),
 * and `GET /api/openapi.json`, `GET /api/me`, `GET /api/databases`.
 */
import { z } from 'zod'
import type { Hono } from 'hono'
import { loadAdapter, parseDatabaseUrl } from '../../adapters/registry.js'
import { asMergebackError } from '../../errors.js'
import { VERSION } from '../../version.js'
import type { AppDeps, AppEnv } from '../context.js'
import { buildOpenApiDocument, describeRoute } from '../openapi.js'
import { encryptionDefault } from '../services.js'

const REACHABILITY_TTL_MS = 5000

interface Reachability {
  readonly engine: string
  readonly reachable: boolean
  readonly error?: string
}

const HealthSchema = z.object({
  success: z.literal(true),
  status: z.literal('ok'),
  version: z.string(),
  uptimeMs: z.number(),
  databases: z.record(z.string(), z.object({ engine: z.string(), reachable: z.boolean(), error: z.string().optional() })),
})

export function registerHealth(app: Hono<AppEnv>, deps: AppDeps): void {
  const started = Date.now()
  const cache = new Map<string, { at: number; value: Promise<Reachability> }>()

  async function probe(url: string): Promise<Reachability> {
    const config = parseDatabaseUrl(url, { connectTimeoutMs: 2000 })
    try {
      const source = await (await loadAdapter(config.engine)).openSource(config)
      await source.close()
      return { engine: config.engine, reachable: true }
    } catch (error) {
      return { engine: config.engine, reachable: false, error: asMergebackError(error).message }
    }
  }

  function reachability(alias: string, url: string): Promise<Reachability> {
    const hit = cache.get(alias)
    if (hit && Date.now() - hit.at < REACHABILITY_TTL_MS) return hit.value
    const value = probe(url)
    cache.set(alias, { at: Date.now(), value })
    return value
  }

  describeRoute({ method: 'get', path: '/api/health', tag: 'server', role: 'none', summary: 'Version and database reachability (no token needed)', responses: { 200: { description: 'up', schema: HealthSchema } } })
  app.get('/api/health', async (c) => {
    const entries = await Promise.all([...deps.config.databases.values()].map(async (db) => [db.alias, await reachability(db.alias, db.url)] as const))
    return c.json({ success: true, status: 'ok', version: VERSION, uptimeMs: Date.now() - started, databases: Object.fromEntries(entries) })
  })

  describeRoute({ method: 'get', path: '/api/openapi.json', tag: 'server', role: 'none', summary: 'This OpenAPI 3.1 document', responses: { 200: { description: 'the document', schema: z.object({ openapi: z.string() }).passthrough() } } })
  app.get('/api/openapi.json', (c) => c.json(buildOpenApiDocument()))

  describeRoute({
    method: 'get',
    path: '/api/me',
    tag: 'server',
    role: 'admin',
    summary: "The token's name and role, and what the server can do for it (encryption: has a passphrase, encrypts by default)",
    responses: {
      200: {
        description: 'who',
        schema: z.object({ success: z.literal(true), name: z.string(), role: z.enum(['admin', 'super_admin']), encryption: z.object({ available: z.boolean(), default: z.boolean() }) }),
      },
    },
  })
  app.get('/api/me', (c) => c.json({ success: true, name: c.var.actor.name, role: c.var.actor.role, encryption: encryptionDefault(deps.config) }))

  describeRoute({
    method: 'get',
    path: '/api/databases',
    tag: 'server',
    role: 'admin',
    summary: 'The configured databases (aliases, engines, redacted URLs)',
    responses: {
      200: {
        description: 'databases',
        schema: z.object({ success: z.literal(true), databases: z.array(z.object({ alias: z.string(), engine: z.string(), url: z.string(), default: z.boolean() })) }),
      },
    },
  })
  app.get('/api/databases', (c) =>
    c.json({
      success: true,
      databases: [...deps.config.databases.values()].map((db) => ({ alias: db.alias, engine: db.engine, url: db.redacted, default: db.alias === deps.config.defaultDatabase })),
    }),
  )
}
