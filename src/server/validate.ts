/**
 * Request validation with zod: one schema per body or query, the same schema the OpenAPI
 * document is generated from. A failure is a UsageError (400) listing every problem.
 */
import type { z } from 'zod'
import { UsageError } from '../errors.js'
import type { AppContext } from './context.js'

function refuse(what: string, error: z.ZodError): never {
  const issues = error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
  throw new UsageError(`Invalid ${what}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}.`, {
    code: 'BAD_REQUEST',
    details: { issues },
  })
}

/** The JSON body, validated. An empty body counts as `{}`. */
export async function jsonBody<S extends z.ZodType>(c: AppContext, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text()
  let value: unknown = {}
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text)
    } catch {
      throw new UsageError('The request body is not valid JSON.', { code: 'BAD_REQUEST' })
    }
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) refuse('request body', parsed.error)
  return parsed.data
}

/** The query string, validated. */
export function queryOf<S extends z.ZodType>(c: AppContext, schema: S): z.infer<S> {
  const parsed = schema.safeParse(c.req.query())
  if (!parsed.success) refuse('query', parsed.error)
  return parsed.data
}

/** `"a,b"` or `["a","b"]` → list. For query strings. */
export function listParam(value: string | undefined): string[] | undefined {
  if (value === undefined || value === '') return undefined
  return value.split(',').map((s) => s.trim()).filter(Boolean)
}
