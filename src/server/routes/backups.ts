/**
 * `/api/backups…` (docs/api.md §REST resources): list, create, inspect, download (with Range),
 * download tokens, upload, verify, restore, analyze, merge, delete.
 */
import fs from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { z } from 'zod'
import type { Hono } from 'hono'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { deleteBackup, findBackup, listBackups, listUnfinished, type BackupEntry } from '../../storage/catalog.js'
import type { AppContext, AppDeps, AppEnv } from '../context.js'
import { actorLabel, clientAddress } from '../context.js'
import { requireRole } from '../auth.js'
import { describeRoute } from '../openapi.js'
import { AnalyzeBody, AnalyzeStartedSchema, BackupSchema, CreateBackupBody, JobStartedSchema, MergeBody, RestoreBody } from '../schemas.js'
import { publicEntry, receiveUpload, startBackup, startMerge, startRestore, UploadRefused } from '../services.js'
import { jsonBody } from '../validate.js'
import { accepted, jobErrorResponse, startJob } from './common.js'
import { appendAudit } from '../../audit/audit-log.js'
import { UsageError } from '../../errors.js'

const TAG = 'backups'
const LIST_CACHE_MS = 1000

function contentTypeOf(file: string): string {
  if (file.endsWith('.enc')) return 'application/octet-stream'
  if (file.endsWith('.gz')) return 'application/gzip'
  return 'application/json'
}

/** One `bytes=` range of a file of `size` bytes: [start, end] inclusive; undefined = whole file; 'unsatisfiable'. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined | 'unsatisfiable' {
  if (!header) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  // Several ranges or another unit: serve the whole file, as RFC 9110 allows.
  if (!match) return undefined
  const [, from, to] = match as unknown as [string, string, string]
  if (from === '' && to === '') return undefined
  if (from === '') {
    const suffix = Number(to)
    if (suffix === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(from)
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1)
  if (start >= size || end < start) return 'unsatisfiable'
  return { start, end }
}

async function download(c: AppContext, deps: AppDeps): Promise<Response> {
  const entry = await findBackup(deps.config.dir, c.req.param('name') as string)
  const stat = await fs.promises.stat(entry.path)
  const range = parseRange(c.req.header('range'), stat.size)
  const outgoing = c.env.outgoing
  const etag = entry.sha256 ? `"${entry.sha256}"` : `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`
  if (range === 'unsatisfiable') {
    return c.json({ success: false, error: `The range ${c.req.header('range')} is outside the file (${stat.size} bytes).`, code: 'RANGE_NOT_SATISFIABLE', details: { sizeBytes: stat.size } }, 416, {
      'Content-Range': `bytes */${stat.size}`,
    })
  }
  const start = range?.start ?? 0
  const end = range?.end ?? stat.size - 1
  const headers: Record<string, string | number> = {
    'Content-Type': contentTypeOf(entry.file),
    'Content-Length': Math.max(0, end - start + 1),
    'Content-Disposition': `attachment; filename="${entry.file}"`,
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Last-Modified': stat.mtime.toUTCString(),
    'Cache-Control': 'no-store',
    'X-Request-Id': c.var.requestId,
  }
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${stat.size}`
  outgoing.writeHead(range ? 206 : 200, headers)
  const started = Date.now()
  const audited = start === 0
  let ok = false
  try {
    if (stat.size > 0) await pipeline(fs.createReadStream(entry.path, { start, end, highWaterMark: 1024 * 1024 }), outgoing)
    else outgoing.end()
    ok = true
  } catch (error) {
    deps.logger.warn('download interrupted', { requestId: c.var.requestId, file: entry.file, error: (error as Error).message })
    outgoing.destroy()
  }
  if (audited) {
    await appendAudit(deps.config.dir, {
      action: 'download',
      actor: actorLabel(c.var.actor),
      client: clientAddress(c),
      target: entry.file,
      file: entry.file,
      options: range ? { range: `${start}-${end}` } : undefined,
      outcome: ok ? 'success' : 'failure',
      durationMs: Date.now() - started,
      error: ok ? undefined : 'the client went away before the end of the file',
    }).catch((error: unknown) => deps.logger.error('audit append failed', { error: (error as Error).message }))
  }
  return RESPONSE_ALREADY_SENT
}

export function registerBackups(app: Hono<AppEnv>, deps: AppDeps): void {
  const ListSchema = z.object({
    success: z.literal(true),
    dir: z.string(),
    backups: z.array(BackupSchema),
    unfinished: z.array(z.object({ file: z.string(), sizeBytes: z.number(), modifiedAt: z.string() })),
  })
  describeRoute({ method: 'get', path: '/api/backups', tag: TAG, role: 'admin', summary: 'The backups in the backup directory, newest first', responses: { 200: { description: 'list', schema: ListSchema } } })
  // The listing costs a readdir and a stat and a read per backup. Pollers (the admin page, a
  // monitor) ask often, so an answer is reused for up to LIST_CACHE_MS while the directory's
  // modification time is unchanged (every create, rename or delete in it changes that).
  let cached: { at: number; mtimeMs: number; body: unknown } | undefined
  app.get('/api/backups', async (c) => {
    const mtimeMs = await fs.promises.stat(deps.config.dir).then((s) => s.mtimeMs, () => -1)
    if (cached && cached.mtimeMs === mtimeMs && Date.now() - cached.at < LIST_CACHE_MS) return c.json(cached.body as object)
    const [backups, unfinished] = await Promise.all([listBackups(deps.config.dir), listUnfinished(deps.config.dir)])
    const body = { success: true, dir: deps.config.dir, backups: backups.map(publicEntry), unfinished }
    cached = { at: Date.now(), mtimeMs, body }
    return c.json(body)
  })

  describeRoute({ method: 'post', path: '/api/backups', tag: TAG, role: 'admin', summary: 'Create a backup (a job)', body: CreateBackupBody, responses: { 202: { description: 'started', schema: JobStartedSchema } } })
  app.post('/api/backups', async (c) => accepted(c, startBackup(c, deps, await jsonBody(c, CreateBackupBody))))

  describeRoute({
    method: 'post',
    path: '/api/backups/upload',
    tag: TAG,
    role: 'admin',
    summary: 'Upload a backup file (raw body), checked before it is listed',
    query: z.object({ filename: z.string() }),
    rawBody: 'application/octet-stream',
    responses: {
      201: { description: 'stored and checked', schema: z.object({ success: z.literal(true), jobId: z.string(), backup: BackupSchema, verification: z.unknown() }) },
      413: { description: 'too large (body or decompressed)' },
    },
  })
  app.post('/api/backups/upload', async (c) => {
    try {
      const { entry, job, result } = await receiveUpload(c, deps, c.req.query('filename'))
      return c.json({ success: true, jobId: job.id, backup: publicEntry(entry), verification: result.verification }, 201)
    } catch (error) {
      if (error instanceof UploadRefused) return jobErrorResponse(c, error.jobError, { jobId: error.job.id })
      throw error
    }
  })

  describeRoute({
    method: 'get',
    path: '/api/backups/{name}',
    tag: TAG,
    role: 'admin',
    summary: 'One backup: catalog entry, metadata, tables, counts, schema',
    responses: { 200: { description: 'the backup', schema: z.object({ success: z.literal(true), backup: BackupSchema, inspect: z.unknown() }) } },
  })
  app.get('/api/backups/:name', async (c) => {
    const entry = await findBackup(deps.config.dir, c.req.param('name'))
    const job = startJob(c, deps, { spec: { kind: 'inspect', params: { file: entry.path } }, file: entry.file })
    const done = await deps.jobs.wait(job.id)
    if (done.error) return jobErrorResponse(c, done.error, { jobId: job.id })
    return c.json({ success: true, backup: publicEntry(entry), inspect: done.result })
  })

  describeRoute({
    method: 'get',
    path: '/api/backups/{name}/download',
    tag: TAG,
    role: 'admin',
    summary: 'The backup file (Range supported; ?token= a download token instead of the header)',
    query: z.object({ token: z.string().optional() }),
    responses: { 200: { description: 'the file', contentType: 'application/octet-stream' }, 206: { description: 'a range of it', contentType: 'application/octet-stream' }, 416: { description: 'range outside the file' } },
  })
  app.get('/api/backups/:name/download', (c) => download(c, deps))

  describeRoute({
    method: 'post',
    path: '/api/backups/{name}/download-token',
    tag: TAG,
    role: 'admin',
    summary: 'A download token valid ~60 s for this file (for browser links)',
    responses: { 200: { description: 'token', schema: z.object({ success: z.literal(true), token: z.string(), url: z.string(), expiresAt: z.string() }) } },
  })
  app.post('/api/backups/:name/download-token', async (c) => {
    const entry = await findBackup(deps.config.dir, c.req.param('name'))
    const { token, expiresAt } = deps.downloadTokens.issue(entry.file, c.var.actor)
    return c.json({ success: true, token, url: `/api/backups/${encodeURIComponent(entry.file)}/download?token=${token}`, expiresAt: expiresAt.toISOString() })
  })

  describeRoute({ method: 'post', path: '/api/backups/{name}/verify', tag: TAG, role: 'admin', summary: 'Verify a backup end to end (a job)', responses: { 202: { description: 'started', schema: JobStartedSchema } } })
  app.post('/api/backups/:name/verify', async (c) => {
    const entry = await findBackup(deps.config.dir, c.req.param('name'))
    // The job records its outcome in the catalog (the list's "verified" state) before it ends.
    const job = startJob(c, deps, { spec: { kind: 'verify', params: { file: entry.path } }, file: entry.file, target: entry.file })
    return accepted(c, job)
  })

  describeRoute({
    method: 'post',
    path: '/api/backups/{name}/restore',
    tag: TAG,
    role: 'admin',
    summary: 'Restore a backup (a job; drop needs super_admin)',
    body: RestoreBody,
    responses: { 202: { description: 'started', schema: JobStartedSchema } },
  })
  app.post('/api/backups/:name/restore', async (c) => accepted(c, await startRestore(c, deps, c.req.param('name'), await jsonBody(c, RestoreBody))))

  describeRoute({ method: 'post', path: '/api/backups/{name}/analyze', tag: TAG, role: 'admin', summary: 'Analyze a smart merge (a job, read-only); savePlan answers a planId', body: AnalyzeBody, responses: { 202: { description: 'started', schema: AnalyzeStartedSchema } } })
  app.post('/api/backups/:name/analyze', async (c) => {
    const { job, planId } = await startMerge(c, deps, 'analyze', c.req.param('name'), await jsonBody(c, AnalyzeBody))
    return planId === undefined ? accepted(c, job) : c.json({ success: true, jobId: job.id, job, planId }, 202)
  })

  describeRoute({ method: 'post', path: '/api/backups/{name}/merge', tag: TAG, role: 'admin', summary: 'Smart merge (a job; dryRun rolls back)', body: MergeBody, responses: { 202: { description: 'started', schema: JobStartedSchema } } })
  app.post('/api/backups/:name/merge', async (c) => accepted(c, (await startMerge(c, deps, 'merge', c.req.param('name'), await jsonBody(c, MergeBody))).job))

  describeRoute({
    method: 'delete',
    path: '/api/backups/{name}',
    tag: TAG,
    role: 'super_admin',
    summary: 'Delete a backup and its catalog entry (409 when incremental backups need it, unless withIncrements=true, which deletes them too)',
    query: z.object({ withIncrements: z.enum(['true', 'false']).optional() }),
    responses: { 200: { description: 'deleted', schema: z.object({ success: z.literal(true), deleted: BackupSchema, increments: z.array(BackupSchema) }) } },
  })
  app.delete('/api/backups/:name', async (c) => {
    requireRole(c, 'super_admin', 'Deleting a backup')
    const flag = c.req.query('withIncrements')
    if (flag !== undefined && flag !== 'true' && flag !== 'false') throw new UsageError('withIncrements must be true or false.', { code: 'BAD_OPTION' })
    const alsoDeleted: BackupEntry[] = []
    const deleted = await deleteBackup(deps.config.dir, c.req.param('name'), { actor: actorLabel(c.var.actor), client: clientAddress(c), withIncrements: flag === 'true', alsoDeleted })
    return c.json({ success: true, deleted: publicEntry(deleted), increments: alsoDeleted.map(publicEntry) })
  })
}
