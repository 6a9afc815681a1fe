/**
 * Typed calls of the HTTP API (docs/api.md). Shapes mirror the server's answers; the page keeps
 * no business rules of its own (what a role may do, what a merge changes, whether a plan is
 * stale are the server's answers).
 */
import { ApiError, apiUrl, authHeaders, errorFrom, request } from './client'
import { readEvents } from './events'

export type Role = 'super_admin' | 'admin'

/** How a backup file's JSON is compressed (src/storage/compression.ts). */
export type Compression = 'none' | 'gzip' | 'zstd'

/** How the page names a compression in a badge. */
export const COMPRESSION_LABEL: Readonly<Record<Compression, string>> = { none: 'plain JSON', gzip: 'gzip', zstd: 'zstd' }

export interface Identity {
  readonly name: string
  readonly role: Role
  /** Whether the server can encrypt (it has a passphrase) and whether it does by default. */
  readonly encryption?: { readonly available: boolean; readonly default: boolean }
}

export interface Backup {
  readonly file: string
  readonly name: string
  readonly description?: string
  readonly engine?: string
  readonly database?: string
  readonly createdAt: string
  readonly sizeBytes: number
  readonly tables?: readonly string[]
  readonly recordCounts?: Readonly<Record<string, number>>
  readonly compression: Compression
  readonly encrypted: boolean
  readonly sha256?: string
  readonly catalogued: boolean
  readonly problem?: string
  /** `here`: sealed by this installation; `foreign`: uploaded or copied in (catalog.ts). */
  readonly origin?: 'here' | 'foreign'
  /** `smart` (the JSON backup) or `full` (the engine's own dump). */
  readonly kind?: 'smart' | 'full'
  /** How it came to be here: made on request, by a schedule, or uploaded (absent for older files). */
  readonly originKind?: 'manual' | 'scheduled' | 'uploaded'
  /** The last recorded verification (null: never verified, or the file changed since). */
  readonly verified?: { readonly ok: boolean; readonly at?: string; readonly detail?: string } | null
  /** An incremental backup: the file it applies on top of, and its place in the chain. */
  readonly incremental?: { readonly parent: string; readonly depth: number }
}

export interface DatabaseStats {
  readonly engine: string
  readonly version?: string
  readonly database: string
  readonly sizeBytes?: number | null
  readonly tables: readonly { readonly name: string; readonly rows: number; readonly sizeBytes?: number | null }[]
}

export interface DatabaseAlias {
  readonly alias: string
  readonly engine: string
  readonly url: string
  readonly default: boolean
}

export interface JobProgress {
  readonly phase: string | null
  readonly table: string | null
  readonly tableRowsDone?: number
  readonly tableRowsTotal?: number | null
  readonly rowsDone?: number
  readonly bytes?: number | null
  readonly rate?: number
  readonly elapsedMs?: number
}

export interface Job<R = unknown> {
  readonly id: string
  readonly kind: string
  readonly state: 'running' | 'succeeded' | 'failed' | 'cancelled'
  readonly database?: string
  readonly file?: string
  readonly actor?: { readonly name: string; readonly role: Role }
  readonly createdAt: string
  readonly finishedAt?: string | null
  readonly progress?: JobProgress | null
  readonly result?: R | null
  readonly error?: { readonly status: number; readonly error: string; readonly code?: string; readonly details?: Record<string, unknown> } | null
}

export interface MergeCounts {
  readonly new: number
  readonly unchanged: number
  readonly updated: number
  readonly kept: number
  readonly conflicts: number
  readonly resolved: { readonly backup: number; readonly current: number; readonly merged: number }
  readonly unresolved: number
  readonly currentOnly: number
  /** Three-way analysis only (a `base` was given): in the base and here, gone from the backup, unchanged here. */
  readonly deletedInBackup?: number
  /** Three-way only: in the base and the backup, unchanged there, deleted here (it stays deleted). */
  readonly deletedHere?: number
  /** Three-way only: records the merge deletes (non-zero only with `applyDeletions`). */
  readonly deleted?: number
}

export type WireValue = null | boolean | number | string | WireValue[] | { [k: string]: WireValue }

export interface MergeConflict {
  readonly table: string
  readonly key: WireValue
  readonly fields: readonly { readonly name: string; readonly backup: WireValue; readonly current: WireValue; readonly base?: WireValue }[]
  /** Three-way only: which sides changed (delete/modify: deleted in the backup; modify/delete: deleted here). */
  readonly kind?: 'modify/modify' | 'delete/modify' | 'modify/delete'
  readonly resolution?: 'backup' | 'current' | 'merged' | 'unresolved'
}

export interface MergeReport {
  readonly tables: Readonly<Record<string, MergeCounts>>
  readonly totals: MergeCounts
  readonly conflicts: readonly MergeConflict[]
}

export interface RestoreReport {
  readonly file: string
  readonly target: string
  readonly dryRun: boolean
  readonly tables: Readonly<Record<string, { inserted: number; skipped: number; created?: boolean; emptied?: boolean | number }>>
  readonly totals: { readonly inserted: number; readonly skipped: number }
  readonly warnings?: readonly string[]
  readonly durationMs?: number
}

export interface InspectReport {
  readonly file: string
  readonly layout: string
  readonly metadata: Record<string, unknown>
  readonly tables: readonly { readonly name: string; readonly records: number; readonly checksum?: string; readonly schema?: unknown }[]
}

export interface Verification {
  readonly file?: string
  readonly ok: boolean
  readonly checks?: readonly { readonly check: string; readonly ok: boolean; readonly detail?: string }[]
  readonly tables?: Readonly<Record<string, number>>
}

export interface AuditEntry {
  readonly seq?: number
  readonly time: string
  readonly actor?: string
  readonly action: string
  readonly outcome: string
  readonly file?: string
  readonly db?: string
  readonly counts?: Record<string, number>
  readonly error?: string
  readonly options?: Record<string, unknown>
  readonly [k: string]: unknown
}

export type Resolution = 'backup' | 'current' | 'merge' | { readonly fields: Record<string, WireValue> }
export interface ResolutionEntry {
  readonly table: string
  readonly key: WireValue
  readonly resolution: Resolution
}

export type Strategy = 'backup_wins' | 'current_wins' | 'merge_fields' | 'manual'

export interface MergeOptions {
  readonly database?: string
  readonly conflictResolution: Strategy
  readonly preserveNewer: boolean
  readonly timestampField?: string
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  readonly resolutions?: readonly ResolutionEntry[]
  readonly dryRun?: boolean
  readonly skipUnresolved?: boolean
  /** analyze: save the plan; its id comes back as `planId`. */
  readonly savePlan?: boolean
  /** merge: apply exactly this saved plan (its options win), or be refused as stale. */
  readonly plan?: string
  /** Three-way merge: the base backup both sides started from (docs/merge.md). */
  readonly base?: string
  /** Three-way merge: delete what was deleted in the backup and is unchanged here (merge: super_admin). */
  readonly applyDeletions?: boolean
}

const seg = (name: string) => encodeURIComponent(name)

/** Tells the job banner that jobs started or ended, so it asks the server now rather than at its next poll. */
export function jobsChanged(): void {
  window.dispatchEvent(new Event('mergeback:jobs-changed'))
}

export async function whoAmI(token?: string): Promise<Identity> {
  const r = await request<Identity & { success: boolean }>('/api/me', { token })
  return { name: r.name, role: r.role, encryption: r.encryption }
}

export async function listBackups(): Promise<readonly Backup[]> {
  return (await request<{ backups: Backup[] }>('/api/backups')).backups
}

export async function databaseStats(database?: string, targetDatabase?: string): Promise<DatabaseStats> {
  return (await request<{ stats: DatabaseStats }>('/api/stats', { query: { database, targetDatabase } })).stats
}

export async function listDatabases(): Promise<readonly DatabaseAlias[]> {
  return (await request<{ databases: DatabaseAlias[] }>('/api/databases')).databases
}

export interface CreateBackupInput {
  readonly database?: string
  readonly name?: string
  readonly description?: string
  readonly gzip: boolean
  readonly zstd?: boolean
  /** Only the changes since the newest backup of the same name (issue #18). */
  readonly incremental?: boolean
  /** Encrypt with the server's passphrase (the page never knows it). */
  readonly encrypt: boolean
  readonly includeIndexes: boolean
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
}

export async function createBackup(input: CreateBackupInput): Promise<Job> {
  return (await request<{ job: Job }>('/api/backups', { method: 'POST', body: input })).job
}

export async function inspectBackup(name: string): Promise<{ backup: Backup; inspect: InspectReport }> {
  return request(`/api/backups/${seg(name)}`)
}

export async function verifyBackup(name: string): Promise<Job<Verification>> {
  return (await request<{ job: Job<Verification> }>(`/api/backups/${seg(name)}/verify`, { method: 'POST' })).job as Job<Verification>
}

export async function deleteBackup(name: string): Promise<void> {
  await request(`/api/backups/${seg(name)}`, { method: 'DELETE' })
}

export async function startRestore(name: string, body: { targetDatabase?: string; database?: string; drop: boolean; dryRun: boolean; tables?: readonly string[] }): Promise<Job<RestoreReport>> {
  return (await request<{ job: Job<RestoreReport> }>(`/api/backups/${seg(name)}/restore`, { method: 'POST', body })).job
}

export async function startAnalyze(name: string, options: MergeOptions): Promise<{ job: Job<MergeReport>; planId?: string }> {
  return request<{ job: Job<MergeReport>; planId?: string }>(`/api/backups/${seg(name)}/analyze`, { method: 'POST', body: options })
}

export async function startMerge(name: string, options: MergeOptions | { readonly plan: string; readonly base?: string }): Promise<{ job: Job<MergeReport> }> {
  return request<{ job: Job<MergeReport> }>(`/api/backups/${seg(name)}/merge`, { method: 'POST', body: options })
}

export async function listJobs(): Promise<readonly Job[]> {
  return (await request<{ jobs: Job[] }>('/api/jobs')).jobs
}

export async function getJob(id: string): Promise<Job> {
  return (await request<{ job: Job }>(`/api/jobs/${seg(id)}`)).job
}

export async function cancelJob(id: string): Promise<Job> {
  return (await request<{ job: Job }>(`/api/jobs/${seg(id)}`, { method: 'DELETE' })).job
}

export async function readAudit(offset: number, limit: number): Promise<{ total: number; entries: AuditEntry[]; damagedLines?: number }> {
  return request('/api/audit', { query: { offset, limit } })
}

export async function verifyAuditChain(): Promise<{ ok: boolean; entries?: number; error?: string; [k: string]: unknown }> {
  return request('/api/audit/verify')
}

/**
 * Follows a job to its end through its event stream, calling `onProgress` on the way; resolves
 * with the finished job (whatever its state). If the stream breaks, falls back to polling.
 */
export async function followJob<R>(id: string, onProgress: (p: JobProgress) => void, signal?: AbortSignal): Promise<Job<R>> {
  const controller = new AbortController()
  signal?.addEventListener('abort', () => controller.abort())
  let finished: Job<R> | undefined
  try {
    await readEvents(
      apiUrl(`/api/jobs/${seg(id)}/events`),
      (e) => {
        if (e.event === 'progress') onProgress(JSON.parse(e.data) as JobProgress)
        else if (e.event === 'end') finished = JSON.parse(e.data) as Job<R>
      },
      controller.signal,
    )
  } catch (err) {
    if (signal?.aborted) throw err
  }
  while (!finished) {
    const job = (await getJob(id)) as Job<R>
    if (job.state !== 'running') finished = job
    else {
      if (job.progress) onProgress(job.progress)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  jobsChanged()
  return finished
}

/** A finished job's result, or its error as an ApiError (with the server's words and code). */
export function resultOf<R>(job: Job<R>): R {
  if (job.state === 'succeeded') return job.result as R
  if (job.state === 'cancelled') throw new ApiError('The job was cancelled; nothing was changed.', 409, 'CANCELLED')
  const e = job.error
  throw new ApiError(e?.error ?? 'The job failed.', e?.status ?? 500, e?.code, e?.details)
}

/**
 * Starts a real browser download of a backup: a one-minute download token makes a plain link
 * work (a link cannot carry the Authorization header), so the file streams to disk and is never
 * held in the page's memory.
 */
export async function downloadBackup(name: string): Promise<void> {
  const r = await request<{ url: string }>(`/api/backups/${seg(name)}/download-token`, { method: 'POST' })
  const a = document.createElement('a')
  a.href = r.url
  a.download = name
  a.rel = 'noopener'
  document.body.appendChild(a)
  a.click()
  a.remove()
}

/**
 * Uploads a file with upload progress (XMLHttpRequest: fetch has no upload progress events).
 * Resolves with the server's answer once it has checked the file; rejects with an ApiError
 * carrying the server's words for a refusal.
 */
export function uploadBackup(file: File, onProgress: (sent: number, total: number) => void, signal?: AbortSignal): Promise<{ backup: Backup; verification: Verification }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', apiUrl('/api/backups/upload', { filename: file.name }))
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v)
    xhr.setRequestHeader('content-type', 'application/octet-stream')
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size)
    xhr.onload = async () => {
      jobsChanged()
      const response = new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText, headers: { 'content-type': 'application/json' } })
      if (xhr.status >= 200 && xhr.status < 300) resolve((await response.json()) as { backup: Backup; verification: Verification })
      else reject(await errorFrom(response))
    }
    xhr.onerror = () => reject(new ApiError('The upload was interrupted (the connection broke). Nothing was stored; try again.', 0))
    xhr.onabort = () => reject(new ApiError('Upload cancelled. Nothing was stored.', 0, 'CANCELLED'))
    signal?.addEventListener('abort', () => xhr.abort())
    xhr.send(file)
  })
}
