/**
 * The seeds' endpoints, kept as the seeds show them (DESIGN.md §8, docs/api.md §The seeds'
 * endpoints). Each translates the seed's shapes onto the services the REST routes use, waits for
 * its job and answers with the result:
 *   GET  /api/admin/backup/download?action=create-and-download&type=incremental
 *   POST /api/admin/backup/merge        { action: analyze|merge, filename, options }
 *   GET  /api/settings/backup           list with metadata (+ database statistics)
 *   POST /api/settings/backup           create { backupName, description, compression, … }
 *   PUT  /api/settings/backup           restore from a server file (JSON) or an upload (raw body)
 */
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import type { Hono } from 'hono'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { listBackups } from '../../storage/catalog.js'
import { UsageError } from '../../errors.js'
import type { AppContext, AppDeps, AppEnv } from '../context.js'
import { resolveDatabase } from '../config.js'
import { describeRoute } from '../openapi.js'
import { BackupSchema, MergeReportSchema, PlanIdSchema, ResolutionSchema, RestoreReportSchema, StrategySchema } from '../schemas.js'
import { publicEntry, receiveUpload, startBackup, startMerge, startRestore, UploadRefused } from '../services.js'
import type { JobView } from '../jobs/job-manager.js'
import { jsonBody, listParam, queryOf } from '../validate.js'
import { jobErrorResponse, startJob } from './common.js'
import { StatsSchema } from './stats.js'

const TAG = 'seed endpoints'
const ACCEPTED = { action: ['create-and-download'], type: ['incremental'] }

const DownloadQuery = z.object({ action: z.string().optional(), type: z.string().optional(), database: z.string().min(1).max(200).optional() })

const MergeSeedBody = z.object({
  action: z.enum(['analyze', 'merge']),
  filename: z.string().min(1).max(1000),
  options: z
    .object({
      conflictResolution: StrategySchema.optional(),
      preserveNewer: z.boolean().optional(),
      dryRun: z.boolean().optional(),
      tables: z.array(z.string()).optional(),
      excludeTables: z.array(z.string()).optional(),
      resolutions: z.array(ResolutionSchema).optional(),
      skipUnresolved: z.boolean().optional(),
      timestampField: z.string().optional(),
      database: z.string().optional(),
      targetDatabase: z.string().optional(),
      /** analyze: save the plan; the answer's `planId` names it for a later merge's `plan`. */
      savePlan: z.boolean().optional(),
      /** merge: apply exactly the plan analyze saved, or refuse with 409 stale-plan. */
      plan: PlanIdSchema.optional(),
      /** Three-way merge: the base backup's file name in the backup directory. */
      base: z.string().min(1).max(1000).optional(),
      /** Three-way merge: apply deletions (merge: super_admin). */
      applyDeletions: z.boolean().optional(),
    })
    .strict()
    .optional(),
})

const CreateSeedBody = z
  .object({
    backupName: z.string().min(1).max(100).optional(),
    description: z.string().max(10_000).optional(),
    compression: z.enum(['none', 'gzip']).optional(),
    /** Encrypt with the server's passphrase (default: the server's default); 400 NO_PASSPHRASE when it has none. */
    encrypt: z.boolean().optional(),
    includeIndexes: z.boolean().optional(),
    includeCollections: z.array(z.string()).optional(),
    excludeCollections: z.array(z.string()).optional(),
    generateTimestamp: z.boolean().optional(),
    database: z.string().optional(),
  })
  .strict()

const RestoreSeedBody = z
  .object({
    filename: z.string().min(1).max(1000),
    targetDatabase: z.string().optional(),
    dropExisting: z.boolean().optional(),
    dryRun: z.boolean().optional(),
    restoreTables: z.array(z.string()).optional(),
    database: z.string().optional(),
  })
  .strict()

const RestoreSeedQuery = z.object({
  filename: z.string().optional(),
  targetDatabase: z.string().optional(),
  dropExisting: z.enum(['true', 'false']).optional(),
  dryRun: z.enum(['true', 'false']).optional(),
  restoreTables: z.string().optional(),
  database: z.string().optional(),
})

/**
 * Streams a file that a job is still writing: reads what is there, waits for more, and stops at
 * the size the job reports when it succeeds. A failed job aborts the response (the client sees a
 * cut download, never a complete-looking one).
 */
async function streamGrowingFile(c: AppContext, deps: AppDeps, jobId: string, temporaryPath: string, finalPath: string): Promise<void> {
  const outgoing = c.env.outgoing
  let handle: fs.promises.FileHandle
  try {
    handle = await fs.promises.open(temporaryPath, 'r')
  } catch {
    // Already committed (a small backup): the same bytes under the final name.
    handle = await fs.promises.open(finalPath, 'r')
  }
  let ended: JobView | undefined
  const done = deps.jobs.wait(jobId).then((job) => (ended = job))
  const buffer = Buffer.allocUnsafe(1024 * 1024)
  let position = 0
  try {
    for (;;) {
      if (outgoing.destroyed) return
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position)
      if (bytesRead > 0) {
        position += bytesRead
        if (!outgoing.write(Buffer.from(buffer.subarray(0, bytesRead)))) {
          await new Promise<void>((resolve) => {
            const go = () => {
              outgoing.off('drain', go)
              outgoing.off('close', go)
              resolve()
            }
            outgoing.on('drain', go)
            outgoing.on('close', go)
          })
        }
        continue
      }
      if (ended) {
        if (ended.state !== 'succeeded') {
          outgoing.destroy()
          return
        }
        const size = (ended.result as { sizeBytes: number }).sizeBytes
        if (position >= size) {
          outgoing.end()
          return
        }
        continue
      }
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 25))])
    }
  } finally {
    await handle.close()
  }
}

export function registerSeedEndpoints(app: Hono<AppEnv>, deps: AppDeps): void {
  describeRoute({
    method: 'get',
    path: '/api/admin/backup/download',
    tag: TAG,
    role: 'admin',
    summary: 'Create a smart backup (incremental-backup-<time>.json) and download it while it is written',
    query: DownloadQuery,
    responses: { 200: { description: 'the backup, streamed', contentType: 'application/json' } },
  })
  app.get('/api/admin/backup/download', async (c) => {
    const query = queryOf(c, DownloadQuery)
    if (query.action !== 'create-and-download' || query.type !== 'incremental') {
      throw new UsageError(`Unsupported action=${query.action ?? ''}&type=${query.type ?? ''}: accepted are action=create-and-download and type=incremental.`, {
        code: 'BAD_REQUEST',
        details: { accepted: ACCEPTED },
      })
    }
    const job = startBackup(c, deps, { database: query.database, name: 'incremental-backup' })
    const opened = await new Promise<{ path: string; temporaryPath: string } | JobView>((resolve) => {
      const unsubscribe = deps.jobs.subscribe(job.id, (event) => {
        if (event.type === 'file') {
          unsubscribe()
          resolve(event)
        } else if (event.type === 'end') resolve(event.job)
      })
    })
    if ('id' in opened) return jobErrorResponse(c, opened.error ?? { status: 500, error: 'The backup ended without a file.', code: 'INTERNAL', details: {} }, { jobId: job.id })
    const name = path.basename(opened.path)
    c.env.outgoing.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Disposition': `attachment; filename="${name}"`,
      'Cache-Control': 'no-store',
      'X-Job-Id': job.id,
      'X-Request-Id': c.var.requestId,
    })
    await streamGrowingFile(c, deps, job.id, opened.temporaryPath, opened.path)
    return RESPONSE_ALREADY_SENT
  })

  describeRoute({
    method: 'post',
    path: '/api/admin/backup/merge',
    tag: TAG,
    role: 'admin',
    summary: 'Analyze or perform a smart merge of a backup in the backup directory (waits for the result)',
    body: MergeSeedBody,
    responses: {
      200: { description: 'the report (DESIGN.md §4)', schema: MergeReportSchema.extend({ success: z.literal(true), action: z.string(), filename: z.string(), dryRun: z.boolean(), jobId: z.string(), planId: z.string().optional() }) },
    },
  })
  app.post('/api/admin/backup/merge', async (c) => {
    const body = await jsonBody(c, MergeSeedBody)
    const o = body.options ?? {}
    const { job, planId } = await startMerge(c, deps, body.action, body.filename, {
      database: o.database,
      targetDatabase: o.targetDatabase,
      conflictResolution: o.conflictResolution,
      preserveNewer: o.preserveNewer,
      timestampField: o.timestampField,
      tables: o.tables,
      exclude: o.excludeTables,
      resolutions: o.resolutions,
      dryRun: o.dryRun,
      skipUnresolved: o.skipUnresolved,
      savePlan: body.action === 'analyze' ? o.savePlan : undefined,
      plan: body.action === 'merge' ? o.plan : undefined,
      base: o.base,
      applyDeletions: o.applyDeletions,
    })
    const done = await deps.jobs.wait(job.id)
    if (done.error) return jobErrorResponse(c, done.error, { jobId: job.id })
    return c.json({ success: true, action: body.action, filename: body.filename, dryRun: body.action === 'analyze' || Boolean(o.dryRun), jobId: job.id, ...(planId === undefined ? {} : { planId }), ...(done.result as object) })
  })

  describeRoute({
    method: 'get',
    path: '/api/settings/backup',
    tag: TAG,
    role: 'admin',
    summary: 'List backups with metadata, and the database statistics',
    responses: { 200: { description: 'list', schema: z.object({ success: z.literal(true), backups: z.array(BackupSchema), stats: StatsSchema.nullable(), statsError: z.unknown().optional() }) } },
  })
  app.get('/api/settings/backup', async (c) => {
    const backups = (await listBackups(deps.config.dir)).map(publicEntry)
    if (!deps.config.defaultDatabase) return c.json({ success: true, backups, stats: null })
    const db = resolveDatabase(deps.config, {})
    const job = startJob(c, deps, { spec: { kind: 'stats', params: { db: db.url } }, database: { name: db.name, key: db.redacted } })
    const done = await deps.jobs.wait(job.id)
    return c.json({ success: true, backups, stats: done.error ? null : done.result, ...(done.error ? { statsError: done.error } : {}) })
  })

  describeRoute({
    method: 'post',
    path: '/api/settings/backup',
    tag: TAG,
    role: 'admin',
    summary: 'Create a backup (waits for it)',
    body: CreateSeedBody,
    responses: { 201: { description: 'created', schema: z.object({ success: z.literal(true), message: z.string(), jobId: z.string(), backup: z.record(z.string(), z.unknown()) }) } },
  })
  app.post('/api/settings/backup', async (c) => {
    const body = await jsonBody(c, CreateSeedBody)
    const job = startBackup(c, deps, {
      database: body.database,
      name: body.backupName,
      description: body.description,
      gzip: body.compression === 'gzip',
      encrypt: body.encrypt,
      includeIndexes: body.includeIndexes,
      tables: body.includeCollections,
      exclude: body.excludeCollections,
    })
    const done = await deps.jobs.wait(job.id)
    if (done.error) return jobErrorResponse(c, done.error, { jobId: job.id })
    const result = done.result as { file: string; sizeBytes: number; sha256: string; metadata: { backupName: string; description?: string; tables: string[]; recordCounts: Record<string, number>; compression: string; exportedAt: string } }
    const documentCount = Object.values(result.metadata.recordCounts).reduce((a, b) => a + b, 0)
    return c.json(
      {
        success: true,
        message: `Backup ${result.file} created: ${result.metadata.tables.length} collections, ${documentCount} documents.`,
        jobId: job.id,
        backup: {
          filename: result.file,
          backupName: result.metadata.backupName,
          description: result.metadata.description,
          size: result.sizeBytes,
          sha256: result.sha256,
          documentCount,
          collections: result.metadata.tables,
          recordCounts: result.metadata.recordCounts,
          compression: result.metadata.compression,
          timestamp: result.metadata.exportedAt,
        },
      },
      201,
    )
  })

  describeRoute({
    method: 'put',
    path: '/api/settings/backup',
    tag: TAG,
    role: 'admin',
    summary: 'Restore from a server file (JSON body) or from an upload (raw body, options in the query); waits for it',
    body: RestoreSeedBody,
    query: RestoreSeedQuery,
    responses: { 200: { description: 'restored', schema: z.object({ success: z.literal(true), message: z.string(), jobId: z.string(), filename: z.string(), dryRun: z.boolean(), results: RestoreReportSchema }) } },
  })
  app.put('/api/settings/backup', async (c) => {
    const type = c.req.header('content-type') ?? ''
    let request: { filename: string; targetDatabase?: string; dropExisting?: boolean; dryRun?: boolean; restoreTables?: string[]; database?: string }
    if (type.startsWith('application/json') || type === '') {
      request = await jsonBody(c, RestoreSeedBody)
    } else {
      const q = queryOf(c, RestoreSeedQuery)
      // Refuse what the role does not allow before the upload is received.
      if (q.dropExisting === 'true' && q.dryRun !== 'true') (await import('../auth.js')).requireRole(c, 'super_admin', 'A restore that drops (empties) tables')
      let uploaded
      try {
        uploaded = await receiveUpload(c, deps, q.filename)
      } catch (error) {
        if (error instanceof UploadRefused) return jobErrorResponse(c, error.jobError, { jobId: error.job.id })
        throw error
      }
      request = {
        filename: uploaded.entry.file,
        targetDatabase: q.targetDatabase,
        dropExisting: q.dropExisting === 'true',
        dryRun: q.dryRun === 'true',
        restoreTables: listParam(q.restoreTables),
        database: q.database,
      }
    }
    const job = await startRestore(c, deps, request.filename, {
      database: request.database,
      targetDatabase: request.targetDatabase,
      drop: request.dropExisting,
      dryRun: request.dryRun,
      tables: request.restoreTables,
    })
    const done = await deps.jobs.wait(job.id)
    if (done.error) return jobErrorResponse(c, done.error, { jobId: job.id })
    const results = done.result as { totals: { inserted: number; skipped: number }; target: string }
    return c.json({
      success: true,
      message: `${request.dryRun ? 'Dry run: would restore' : 'Restored'} ${results.totals.inserted} records into ${results.target} (${results.totals.skipped} already there).`,
      jobId: job.id,
      filename: request.filename,
      dryRun: Boolean(request.dryRun),
      results,
    })
  })
}
