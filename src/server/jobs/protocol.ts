/**
 * The messages between the server and a job's child process (IPC, structured clone).
 *
 * server → child: one `start`, nothing else (cancelling is SIGKILL: see job-manager.ts).
 * child → server: `file` (a backup's temporary file is open), `progress` snapshots (at most
 * every PROGRESS_INTERVAL_MS and on every table or phase change), then exactly one `result` or
 * `error`, after which the child exits.
 */
import type { AnalyzeOptions, MergeOptions } from '../../engine/merge.js'
import type { ReaderLimits } from '../../format/reader.js'
import type { Schedule } from '../../schedule/schedule-store.js'

export const PROGRESS_INTERVAL_MS = 200

export type JobKind = 'backup' | 'restore' | 'analyze' | 'merge' | 'verify' | 'inspect' | 'stats' | 'upload-check' | 'schedule'

export interface BackupParams {
  readonly db: string
  readonly dir: string
  readonly name: string
  readonly description?: string
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  readonly gzip?: boolean
  readonly zstd?: boolean
  /** Encrypt with the server's passphrase (the manager hands it to every job; only this decides). */
  readonly encrypt: boolean
  readonly includeIndexes?: boolean
  readonly incremental?: boolean
  readonly since?: string
  readonly changedSinceColumn?: string
}

export interface RestoreParams {
  readonly file: string
  readonly db: string
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  readonly drop?: boolean
  readonly dryRun?: boolean
  readonly dropUnsafeDefinitions?: boolean
}

export type MergeParamsOptions = Omit<MergeOptions & AnalyzeOptions, 'onProgress' | 'onWarning' | 'passphrase'>

export interface MergeParams {
  readonly file: string
  readonly db: string
  readonly options: MergeParamsOptions
}

export interface FileParams {
  readonly file: string
}

export interface UploadCheckParams {
  readonly file: string
  readonly maxDecompressedBytes: number
}

/** One run of a schedule (src/schedule/run-schedule.ts): the backup, its copy, the schedule's retention. */
export interface ScheduleParams {
  readonly schedule: Schedule
  /** The database URL of the schedule's alias, resolved by the server. */
  readonly db: string
  readonly dir: string
  readonly trigger: 'schedule' | 'manual'
  readonly dueAt?: string
}

export interface StatsParams {
  readonly db: string
}

export type JobSpec =
  | { readonly kind: 'backup'; readonly params: BackupParams }
  | { readonly kind: 'restore'; readonly params: RestoreParams }
  | { readonly kind: 'analyze' | 'merge'; readonly params: MergeParams }
  | { readonly kind: 'verify' | 'inspect'; readonly params: FileParams }
  | { readonly kind: 'upload-check'; readonly params: UploadCheckParams }
  | { readonly kind: 'stats'; readonly params: StatsParams }
  | { readonly kind: 'schedule'; readonly params: ScheduleParams }

/** What a job's progress looks like at one moment (docs/api.md §Jobs). */
export interface JobProgress {
  readonly phase: string | null
  readonly table: string | null
  readonly tableRowsDone: number
  readonly tableRowsTotal: number | null
  readonly rowsDone: number
  readonly bytes: number | null
  /** Rows per second since the job started. */
  readonly rate: number
  readonly elapsedMs: number
}

/** An error as the API shows it: the status and the error document. */
export interface JobError {
  readonly status: number
  readonly error: string
  readonly code: string
  readonly details: Record<string, unknown>
}

/** `limits`: the server's reader limits (ServerConfig.limits and maxDecompressedBytes), for every file a job reads. */
export type ParentMessage = { readonly type: 'start'; readonly spec: JobSpec; readonly passphrase?: string; readonly limits?: Partial<ReaderLimits> }

export type ChildMessage =
  | { readonly type: 'file'; readonly path: string; readonly temporaryPath: string }
  | { readonly type: 'progress'; readonly progress: JobProgress }
  | { readonly type: 'result'; readonly result: unknown }
  | { readonly type: 'error'; readonly error: JobError }
