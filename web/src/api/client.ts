/**
 * The one module that talks to the server: every panel calls these functions, none calls
 * fetch itself. Each request carries the signed-in bearer token; an error answer of the API
 * (`{ success: false, error, details }`, DESIGN.md §8) becomes an ApiError whose message is the
 * server's own words, so the page shows them next to the control that caused them.
 */
import { storedToken } from '../session'

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
  }
}

/** Called when the server answers 401: the page signs out and says why. */
let onUnauthorized: ((message: string) => void) | undefined
export function setUnauthorizedHandler(handler: (message: string) => void): void {
  onUnauthorized = handler
}

export interface RequestOptions {
  readonly method?: string
  readonly body?: unknown
  readonly query?: Record<string, string | number | boolean | undefined>
  readonly signal?: AbortSignal
  /** A token to use instead of the stored one (sign-in checks a token before storing it). */
  readonly token?: string
}

export function apiUrl(path: string, query?: RequestOptions['query']): string {
  const url = new URL(path, window.location.origin)
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
  return url.pathname + url.search
}

export function authHeaders(token = storedToken()): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {}
}

/** Turns a non-2xx response into an ApiError carrying the server's message. */
export async function errorFrom(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`.trim()
  let code: string | undefined
  let details: Record<string, unknown> | undefined
  try {
    const body = (await response.json()) as { error?: unknown; code?: unknown; details?: unknown; message?: unknown }
    if (typeof body.error === 'string') message = body.error
    else if (typeof body.message === 'string') message = body.message
    if (typeof body.code === 'string') code = body.code
    if (body.details && typeof body.details === 'object') {
      details = body.details as Record<string, unknown>
      if (!code && typeof details.code === 'string') code = details.code
    }
  } catch {
    // Not JSON (a proxy's error page): the status line is all there is.
  }
  return new ApiError(message, response.status, code, details)
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(options.token ?? storedToken()) }
  let body: BodyInit | undefined
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(options.body)
  }
  let response: Response
  try {
    response = await fetch(apiUrl(path, options.query), { method: options.method ?? 'GET', headers, body, signal: options.signal })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new ApiError('The server cannot be reached. Is `mergeback serve` running?', 0)
  }
  if (!response.ok) {
    const error = await errorFrom(response)
    if (response.status === 401 && !options.token) onUnauthorized?.(error.message)
    throw error
  }
  if (response.status === 204) return undefined as T
  return (await response.json()) as T
}
