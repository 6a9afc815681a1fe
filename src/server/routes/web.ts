/**
 * The admin page: the files of the web build (`dist/web/`, the Vite output) at `/admin/backup`;
 * `/` redirects there. A path below it that is not a file gets `index.html` (client-side
 * routing). When the page is not built, a small 404 page says how to build it.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Hono } from 'hono'
import type { AppDeps, AppEnv } from '../context.js'

const BASE = '/admin/backup'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>mergeback</title>
<h1>The admin page is not built</h1><p>Run <code>npm run build</code> in the mergeback repository, then reload. The API works without it: see <code>/api/openapi.json</code>.</p>`

/** The file under `root` that `relative` names, or undefined (never outside `root`). */
function fileUnder(root: string, relative: string): string | undefined {
  const target = path.resolve(root, `.${path.posix.normalize(`/${relative}`)}`)
  if (target !== root && !target.startsWith(`${root}${path.sep}`)) return undefined
  try {
    return fs.statSync(target).isFile() ? target : undefined
  } catch {
    return undefined
  }
}

export function registerWeb(app: Hono<AppEnv>, deps: AppDeps): void {
  const root = deps.config.webDir
  app.get('/', (c) => c.redirect(`${BASE}/`, 302))
  app.get(BASE, (c) => c.redirect(`${BASE}/`, 301))
  app.get(`${BASE}/*`, (c) => {
    let relative: string
    try {
      relative = decodeURIComponent(c.req.path.slice(BASE.length + 1))
    } catch {
      return c.html(NOT_BUILT, 404)
    }
    if (relative.includes('\0')) return c.text('Not found', 404)
    const file = fileUnder(root, relative) ?? fileUnder(root, 'index.html')
    if (!file) return c.html(NOT_BUILT, 404)
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream'
    const immutable = file.includes(`${path.sep}assets${path.sep}`)
    return c.body(fs.readFileSync(file), 200, { 'Content-Type': type, 'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache' })
  })
}
