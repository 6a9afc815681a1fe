/**
 * Hash routes (`#/merge?file=x`): the server serves one static page at /admin/backup, so the
 * screens live after the `#` and a reload or a shared link lands on the same screen.
 */
import { useEffect, useState } from 'preact/hooks'

export interface Route {
  readonly path: string
  readonly params: URLSearchParams
}

export function parseRoute(hash: string = window.location.hash): Route {
  const raw = hash.replace(/^#/, '') || '/'
  const [path, query] = raw.split('?', 2) as [string, string | undefined]
  return { path: path || '/', params: new URLSearchParams(query ?? '') }
}

export function href(path: string, params?: Record<string, string | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined) q.set(k, v)
  const s = q.toString()
  return `#${path}${s ? `?${s}` : ''}`
}

export function navigate(path: string, params?: Record<string, string | undefined>): void {
  window.location.hash = href(path, params)
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute())
  useEffect(() => {
    const update = () => setRoute(parseRoute())
    window.addEventListener('hashchange', update)
    return () => window.removeEventListener('hashchange', update)
  }, [])
  return route
}
