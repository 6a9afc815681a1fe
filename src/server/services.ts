/**
 * What the REST routes and the seeds' endpoints both do, in one place, so that the seeds'
 * compatibility surface (routes/seed-endpoints.ts) stays a thin translation of shapes:
 * starting backups, restores, analyses and merges as jobs, and receiving uploads.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { NotFoundError, TooLargeError, UsageError } from '../errors.js'
import { createAtomicFile, FileSink, fsyncDirectory } from '../storage/atomic-file.js'
import { findBackup, sidecarFor, writeSidecar, type BackupEntry } from '../storage/catalog.js'
import { facts as metadataFacts } from '../storage/peek-metadata.js'
import { checkPlainFileName } from '../storage/path-safety.js'
import { isBackupDataFileName } from '../storage/naming.js'
import { chooseCompression } from '../storage/compression.js'
import type { BackupMetadata } from '../format/types.js'
import { resolveDatabase, type ServerConfig } from './config.js'
import type { AppContext, AppDeps } from './context.js'
import { requireRole } from './auth.js'
import { PlanReader } from '../merge/plan-file.js'
import type { JobView } from './jobs/job-manager.js'
import type { JobError, MergeParamsOptions } from './jobs/protocol.js'
import { startJob } from './routes/common.js'

/** A backup entry as the API shows it: without the server's absolute path. */
export function publicEntry(entry: BackupEntry): Omit<BackupEntry, 'path'> {
  const { path: _path, ...rest } = entry
  return rest
}

export interface BackupRequest {
  readonly database?: string
  readonly name?: string
  readonly description?: string
  readonly gzip?: boolean
  readonly zstd?: boolean
  /** Encrypt with the server's passphrase; default `encryptionDefault(config)`. */
  readonly encrypt?: boolean
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  readonly includeIndexes?: boolean
  readonly incremental?: boolean
  readonly since?: string
  readonly changedSinceColumn?: string
}

/**
 * Whether the server can encrypt (it has a passphrase) and what a create without `encrypt` does:
 * a server started with a passphrase encrypts by default, as the CLI does with one set.
 */
export function encryptionDefault(config: ServerConfig): { available: boolean; default: boolean } {
  const available = config.passphrase !== undefined && config.passphrase !== ''
  return { available, default: available }
}

export function startBackup(c: AppContext, deps: AppDeps, request: BackupRequest): JobView {
  const db = resolveDatabase(deps.config, { database: request.database })
  const name = request.name ?? 'backup'
  const encryption = encryptionDefault(deps.config)
  const encrypt = request.encrypt ?? encryption.default
  if (encrypt && !encryption.available) {
    throw new UsageError('This server cannot encrypt backups: it was started without a passphrase (MERGEBACK_PASSPHRASE or --passphrase-file). Create the backup without encryption, or ask whoever runs the server to set one.', {
      code: 'NO_PASSPHRASE',
      details: { field: 'encrypt' },
    })
  }
  // gzip and zstd together is refused here, before a job starts (400), not by the job.
  chooseCompression({ gzip: request.gzip, zstd: request.zstd })
  const chain = { incremental: request.incremental, since: request.since, changedSinceColumn: request.changedSinceColumn }
  const options = { name, gzip: request.gzip, zstd: request.zstd, encrypt, tables: request.tables, exclude: request.exclude, includeIndexes: request.includeIndexes, ...chain }
  return startJob(c, deps, {
    spec: {
      kind: 'backup',
      params: { db: db.url, dir: deps.config.dir, name, description: request.description, tables: request.tables, exclude: request.exclude, gzip: request.gzip, zstd: request.zstd, encrypt, includeIndexes: request.includeIndexes, ...chain },
    },
    database: { name: db.name, key: db.redacted },
    target: db.redacted,
    auditOptions: options,
  })
}

export interface RestoreRequest {
  readonly database?: string
  readonly targetDatabase?: string
  readonly drop?: boolean
  readonly dryRun?: boolean
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  /** Leave out what the schema guard cannot rebuild instead of refusing (docs/security.md). */
  readonly dropUnsafeDefinitions?: boolean
}

/** Starts a restore of backup `ref` (a drop needs super_admin; one restore or merge per database). */
export async function startRestore(c: AppContext, deps: AppDeps, ref: string, request: RestoreRequest): Promise<JobView> {
  if (request.drop && !request.dryRun) requireRole(c, 'super_admin', 'A restore that drops (empties) tables')
  const entry = await findBackup(deps.config.dir, ref)
  const db = resolveDatabase(deps.config, request)
  const options = {
    drop: Boolean(request.drop),
    dryRun: Boolean(request.dryRun),
    tables: request.tables,
    exclude: request.exclude,
    ...(request.dropUnsafeDefinitions ? { dropUnsafeDefinitions: true } : {}),
  }
  return startJob(c, deps, {
    spec: { kind: 'restore', params: { file: entry.path, db: db.url, ...options } },
    database: { name: db.name, key: db.redacted },
    exclusive: true,
    file: entry.file,
    target: db.redacted,
    auditOptions: options,
    dryRun: options.dryRun,
  })
}

export interface MergeRequest {
  readonly database?: string
  readonly targetDatabase?: string
  readonly conflictResolution?: string
  readonly preserveNewer?: boolean
  readonly timestampField?: string
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  readonly resolutions?: readonly unknown[]
  /** Accepted as restore's; a merge always leaves out what the schema guard cannot rebuild. */
  readonly dropUnsafeDefinitions?: boolean
  readonly dryRun?: boolean
  readonly skipUnresolved?: boolean
  /** analyze: save the plan (its id comes back as `planId`). */
  readonly savePlan?: boolean
  /** merge: the id of a plan saved by analyze, applied exactly (or refused as stale). */
  readonly plan?: string
  /** Three-way merge: a backup in the backup directory (name), the common ancestor. */
  readonly base?: string
  /** Three-way merge: apply deletions (a merge that is not a dry run needs super_admin). */
  readonly applyDeletions?: boolean
}

/** Where a saved plan lives: the state directory, never the backup directory (not downloadable). */
function planFile(stateDir: string, planId: string): string {
  return path.join(stateDir, 'plans', `${planId}.plan`)
}

/**
 * How long a saved plan is kept (docs/api.md §Plans): 24 hours after its analyze. A plan is for
 * the review in front of someone; a day-old one has most likely gone stale anyway. Applied plans
 * are removed at once; expired ones when the next plan is saved, or when a merge asks for one.
 */
export const PLAN_TTL_MS = 24 * 60 * 60 * 1000

/** Removes the saved plans older than PLAN_TTL_MS; returns how many. Never throws. */
export async function sweepPlans(stateDir: string, now = Date.now()): Promise<number> {
  const dir = path.join(stateDir, 'plans')
  const names = await fs.readdir(dir).catch(() => [] as string[])
  let removed = 0
  for (const name of names) {
    if (!name.endsWith('.plan')) continue
    const file = path.join(dir, name)
    const stat = await fs.stat(file).catch(() => null)
    if (stat && now - stat.mtimeMs > PLAN_TTL_MS) {
      await fs.rm(file, { force: true }).catch(() => undefined)
      removed++
    }
  }
  return removed
}

/** Whether a saved plan applies deletions (three-way, applyDeletions); an unreadable plan is left to the merge to refuse. */
async function planAppliesDeletions(file: string): Promise<boolean> {
  const reader = await PlanReader.open(file).catch(() => null)
  if (!reader) return false
  reader.close()
  return Boolean(reader.header.options.base && reader.header.options.applyDeletions)
}

/**
 * Starts an analysis or a merge of backup `ref` (a merge holds the database's writer lock).
 * Plans (DESIGN.md §4 "preview = apply"): analyze with `savePlan` saves its plan under the state
 * directory and answers its `planId`; merge with `plan` applies exactly that plan, or refuses
 * (MergeRefusedError stale-plan, 409) when a record it depends on changed since.
 */
export async function startMerge(c: AppContext, deps: AppDeps, kind: 'analyze' | 'merge', ref: string, request: MergeRequest): Promise<{ job: JobView; planId?: string }> {
  const entry = await findBackup(deps.config.dir, ref)
  const db = resolveDatabase(deps.config, request)
  if (kind === 'merge' && request.applyDeletions && !request.dryRun) requireRole(c, 'super_admin', 'A merge that applies deletions')
  const base = request.base === undefined ? undefined : await findBackup(deps.config.dir, request.base)
  let planId: string | undefined
  let plan: string | undefined
  if (kind === 'analyze' && request.savePlan) {
    await sweepPlans(deps.config.stateDir)
    planId = `p_${randomBytes(18).toString('base64url')}`
    plan = planFile(deps.config.stateDir, planId)
    await fs.mkdir(path.dirname(plan), { recursive: true, mode: 0o700 })
  } else if (kind === 'merge' && request.plan !== undefined) {
    plan = planFile(deps.config.stateDir, request.plan)
    const stat = await fs.stat(plan).catch(() => null)
    if (stat && Date.now() - stat.mtimeMs > PLAN_TTL_MS) {
      await fs.rm(plan, { force: true })
      throw new NotFoundError(`The saved plan ${request.plan} has expired (plans are kept 24 hours): analyze again.`, { details: { reason: 'expired-plan' } })
    }
    if (!stat) throw new NotFoundError(`No saved plan ${request.plan} on this server (plans are kept 24 hours and removed once applied): analyze again.`, { details: { reason: 'unknown-plan' } })
    // A plan fixes applyDeletions (an admin may analyze with it): applying one that deletes needs super_admin too.
    if (!request.dryRun && (await planAppliesDeletions(plan))) requireRole(c, 'super_admin', 'A merge that applies deletions')
  }
  const options: MergeParamsOptions = {
    strategy: request.conflictResolution,
    preserveNewer: request.preserveNewer,
    timestampField: request.timestampField,
    tables: request.tables,
    exclude: request.exclude,
    resolutions: request.resolutions,
    ...(base !== undefined ? { base: base.path } : {}),
    ...(request.applyDeletions !== undefined ? { applyDeletions: request.applyDeletions } : {}),
    ...(request.dropUnsafeDefinitions ? { dropUnsafeDefinitions: true } : {}),
    ...(plan !== undefined ? { plan } : {}),
    ...(kind === 'merge' ? { dryRun: Boolean(request.dryRun), skipUnresolved: Boolean(request.skipUnresolved) } : {}),
  }
  const job = startJob(c, deps, {
    spec: { kind, params: { file: entry.path, db: db.url, options } },
    database: { name: db.name, key: db.redacted },
    exclusive: kind === 'merge',
    file: entry.file,
    target: db.redacted,
    auditOptions: { ...options, plan: planId ?? request.plan, resolutions: request.resolutions?.length, ...(base !== undefined ? { base: base.file } : {}) },
    dryRun: kind === 'analyze' || Boolean(request.dryRun),
  })
  if (kind === 'merge' && plan !== undefined && !request.dryRun) {
    // Applied once: a plan cannot be applied twice (its records are no longer what it expects).
    const applied = plan
    void deps.jobs
      .wait(job.id)
      .then(async (done) => {
        if (done.state === 'succeeded') await fs.rm(applied, { force: true })
      })
      .catch((error: unknown) => deps.logger.warn('removing an applied plan failed', { error: (error as Error).message }))
  }
  return { job, planId }
}

/** Counts the bytes going through and fails with TooLargeError past `limit`. */
class ByteLimit extends Transform {
  bytes = 0
  readonly #limit: number
  constructor(limit: number) {
    super()
    this.#limit = limit
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.#limit) callback(tooLarge(this.#limit))
    else callback(null, chunk)
  }
}

function tooLarge(limit: number): TooLargeError {
  return new TooLargeError(`The upload is larger than the server's limit of ${limit} bytes (--max-upload).`, { details: { limitBytes: limit, reason: 'too-large' } })
}

/** Thrown by `receiveUpload` when the check job refused the file: the route answers with the job's error. */
export class UploadRefused extends Error {
  constructor(
    readonly job: JobView,
    readonly jobError: JobError,
  ) {
    super(jobError.error)
  }
}

/**
 * Receives an upload (docs/api.md §REST resources): the request body is streamed into a temporary
 * file in the backup directory with a size limit, checked by an `upload-check` job (container,
 * decompressed-size limit, structure, checksums: the library's verify), and only then moved to its
 * name — never over an existing file — with a catalog sidecar. Any refusal or interruption
 * removes the temporary file: nothing is left behind.
 */
export async function receiveUpload(c: AppContext, deps: AppDeps, fileName: string | undefined): Promise<{ entry: BackupEntry; job: JobView; result: Record<string, unknown> }> {
  if (!fileName) throw new UsageError('Name the upload: ?filename=NAME.json (or .json.gz, .json.zst, .enc).', { code: 'BAD_REQUEST' })
  checkPlainFileName(fileName)
  if (!isBackupDataFileName(fileName)) {
    throw new UsageError(`Refused upload name ${JSON.stringify(fileName)}: a backup's name ends in .json, .json.gz or .json.zst, optionally followed by .enc, and does not start with '.'.`, {
      code: 'UNSAFE_PATH',
    })
  }
  const incoming = c.env?.incoming
  if (!incoming) throw new UsageError('Uploads need the Node HTTP server (mergeback serve).', { code: 'BAD_REQUEST' })
  const limit = deps.config.maxUploadBytes
  const declared = Number(c.req.header('content-length') ?? Number.NaN)
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit)
  await fs.mkdir(deps.config.dir, { recursive: true, mode: 0o700 })
  const finalPath = path.join(deps.config.dir, fileName)
  await ensureFree(finalPath)
  const file = await createAtomicFile(finalPath, { noClobber: true })
  try {
    const counter = new ByteLimit(limit)
    try {
      await pipeline(incoming, counter, new FileSink(file.handle))
    } catch (error) {
      if (error instanceof TooLargeError) throw error
      throw new UsageError('The upload was interrupted before its end: nothing was kept.', { code: 'UPLOAD_INTERRUPTED', cause: error })
    }
    if (counter.bytes === 0) throw new UsageError('The upload is empty.', { code: 'BAD_REQUEST' })
    const job = startJob(c, deps, {
      spec: { kind: 'upload-check', params: { file: file.tempPath, maxDecompressedBytes: deps.config.maxDecompressedBytes } },
      file: fileName,
      target: fileName,
      auditOptions: { sizeBytes: counter.bytes },
    })
    // Whatever the check says names the upload, never the temporary file it was read from.
    const done = withUploadName(await deps.jobs.wait(job.id), file.tempPath, fileName)
    if (done.state !== 'succeeded') throw new UploadRefused(done, done.error ?? { status: 500, error: 'The check ended without a result.', code: 'INTERNAL', details: {} })
    const result = done.result as { metadata: Partial<BackupMetadata>; sha256: string; sizeBytes: number; compression: 'none' | 'gzip' | 'zstd'; encrypted: boolean }
    await file.commit()
    const now = new Date()
    const metadata = result.metadata
    // The file's own name and time (issue #14 item 11): `backupName`/`name`, `exportedAt`/`timestamp`.
    const own = metadataFacts(metadata as Record<string, unknown>)
    const name = own?.name ?? fileName.replace(/\.json.*$/, '')
    // The check above is a full verify: the catalog records it as the file's last verification.
    await writeSidecar(finalPath, {
      ...sidecarFor(
        finalPath,
        { sizeBytes: result.sizeBytes, sha256: result.sha256, gzip: result.compression === 'gzip', zstd: result.compression === 'zstd', encrypted: result.encrypted, name, createdAt: own?.createdAt ? new Date(own.createdAt) : now, committedAt: now, originKind: 'uploaded' },
        { ...metadata, backupName: name, ...(own?.tables && !metadata.tables ? { tables: own.tables } : {}) },
      ),
      lastVerify: { ok: true, at: new Date().toISOString() },
    }).catch(async (error: unknown) => {
      await fs.rm(finalPath, { force: true })
      await fsyncDirectory(deps.config.dir)
      throw error
    })
    const entry = await findBackup(deps.config.dir, fileName)
    return { entry, job: done, result: done.result as Record<string, unknown> }
  } finally {
    await file.abort()
  }
}

/** `value` with every mention of the temporary file (its path, then its name) replaced by the upload's name. */
function withUploadName<T>(value: T, tempPath: string, fileName: string): T {
  const temp = path.basename(tempPath)
  const rewrite = (v: unknown): unknown => {
    if (typeof v === 'string') return v.split(tempPath).join(fileName).split(temp).join(fileName)
    if (Array.isArray(v)) return v.map(rewrite)
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rewrite(x)]))
    return v
  }
  return rewrite(value) as T
}

async function ensureFree(finalPath: string): Promise<void> {
  for (const candidate of [finalPath, `${finalPath}.meta.json`]) {
    try {
      await fs.lstat(candidate)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw error
    }
    throw new UsageError(`A file named ${path.basename(finalPath)} is already in the backup directory: upload under another name or delete it first.`, { code: 'FILE_EXISTS' })
  }
}
