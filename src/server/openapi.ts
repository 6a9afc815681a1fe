/**
 * The OpenAPI 3.1 document (`GET /api/openapi.json`), generated from the zod schemas the routes
 * validate with: each route file registers what it serves with `describeRoute`, next to the
 * handler, so the document cannot drift from the code. zod v4's `z.toJSONSchema` produces JSON
 * Schema 2020-12, which is what OpenAPI 3.1 uses.
 */
import { z } from 'zod'
import { VERSION } from '../version.js'
import type { Role } from './tokens.js'

export interface RouteSpec {
  readonly method: 'get' | 'post' | 'put' | 'delete'
  /** OpenAPI path, `{name}` style. */
  readonly path: string
  readonly summary: string
  readonly tag: string
  /** Lowest role that may call it; `none` for public routes. */
  readonly role: Role | 'none'
  readonly body?: z.ZodType
  /** A raw (non-JSON) request body, e.g. an upload. */
  readonly rawBody?: string
  readonly query?: z.ZodObject
  readonly responses: Readonly<Record<number, { readonly description: string; readonly schema?: z.ZodType; readonly contentType?: string }>>
}

const routes: RouteSpec[] = []

/** Registers a route in the document (called by each route module when it is loaded). */
export function describeRoute(spec: RouteSpec): void {
  if (!routes.some((r) => r.method === spec.method && r.path === spec.path)) routes.push(spec)
}

export function describedRoutes(): readonly RouteSpec[] {
  return routes
}

export const ErrorSchema = z
  .object({ success: z.literal(false), error: z.string(), code: z.string(), details: z.record(z.string(), z.unknown()) })
  .meta({ id: 'Error' })

/** Schemas with a `.meta({ id })` are emitted once, under components.schemas, and referenced. */
const components: Record<string, unknown> = {}

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const generated = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' })
  // zod puts named schemas under the result's own `$defs`; in the document they live once, in
  // components.schemas, so the references are rewritten to point there.
  const out = JSON.parse(JSON.stringify(generated).replaceAll('"#/$defs/', '"#/components/schemas/')) as Record<string, unknown>
  delete out.$schema
  Object.assign(components, (out.$defs as Record<string, unknown> | undefined) ?? {})
  delete out.$defs
  return out
}

const ERROR_STATUSES: Record<number, string> = {
  400: 'bad input',
  401: 'no token, a malformed, unknown or revoked token',
  403: 'role too low',
  404: 'not found',
  409: 'busy / name taken / stale plan',
  413: 'too large',
  422: 'damaged file, merge refused, data refused by the database',
  500: 'a bug',
  502: 'database unreachable',
}

export function buildOpenApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const parameters: unknown[] = []
    for (const match of route.path.matchAll(/\{(\w+)\}/g)) {
      parameters.push({ name: match[1], in: 'path', required: true, schema: { type: 'string' } })
    }
    if (route.query) {
      for (const [name, schema] of Object.entries(route.query.shape)) {
        const s = schema as z.ZodType
        parameters.push({ name, in: 'query', required: !s.safeParse(undefined).success, schema: jsonSchema(s) })
      }
    }
    const responses: Record<string, unknown> = {}
    for (const [status, response] of Object.entries(route.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.schema || response.contentType
          ? { content: { [response.contentType ?? 'application/json']: { schema: response.schema ? jsonSchema(response.schema) : { type: 'string', format: 'binary' } } } }
          : {}),
      }
    }
    const errorStatuses = route.role === 'none' ? [500] : [400, 401, 403, 404, 409, 422, 500]
    for (const status of errorStatuses) {
      responses[String(status)] ??= { description: ERROR_STATUSES[status], content: { 'application/json': { schema: jsonSchema(ErrorSchema) } } }
    }
    const operation: Record<string, unknown> = {
      summary: route.summary,
      tags: [route.tag],
      operationId: `${route.method}${route.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
      ...(parameters.length ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } } : {}),
      ...(route.rawBody ? { requestBody: { required: true, content: { [route.rawBody]: { schema: { type: 'string', format: 'binary' } } } } } : {}),
      responses,
      ...(route.role === 'none' ? { security: [] } : { 'x-role': route.role }),
    }
    paths[route.path] ??= {}
    paths[route.path]![route.method] = operation
  }
  return {
    openapi: '3.1.0',
    info: { title: 'mergeback', version: VERSION, description: 'Backups, restores and smart merges of a web application database (docs/api.md).' },
    servers: [{ url: '/' }],
    components: { schemas: components, securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'mergeback token create --name NAME --role admin|super_admin' } } },
    security: [{ bearer: [] }],
    paths,
  }
}
