/**
 * The shapes of schedules as they are stored and as `/api/schedules` sends them: one definition
 * for the server (schedule-store.ts validates input into `ScheduleFields` with zod) and the admin
 * page (web/src/api/schedules.ts imports these types). Types only: no imports, nothing at run time.
 */

export type ScheduleKind = 'smart' | 'full'
export type ScheduleDestination = 'local' | 'remote' | 'both'

export interface Retention {
  readonly keepLast?: number
  readonly keepDaily?: number
  readonly keepWeekly?: number
  readonly keepMonthly?: number
}

/** A schedule's own fields, after validation (defaults filled in). */
export interface ScheduleFields {
  /** Backup name of this schedule's backups (file names `<name>-<time>…`); retention applies to this name only. */
  readonly name: string
  /** Five- or six-field cron expression (croner syntax). */
  readonly cron: string
  /** IANA time zone the cron expression is read in. */
  readonly timezone: string
  /** Database alias of the server configuration (default: the default database). */
  readonly database?: string
  readonly kind: ScheduleKind
  readonly gzip: boolean
  readonly encrypt: boolean
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  readonly destination: ScheduleDestination
  /** s3://bucket/prefix, required when the destination includes the remote. */
  readonly remote?: string
  readonly retention?: Retention
  /** Alert: POSTed as JSON when a run fails. */
  readonly webhook?: string
  readonly enabled: boolean
}

export interface Schedule extends ScheduleFields {
  readonly id: string
  readonly createdAt: string
  readonly updatedAt: string
}

/** The outcome of a schedule's last run, as `schedule status` and the API show it. */
export interface ScheduleRun {
  /** The due time this run was for (ISO), or undefined for a manual run. */
  readonly dueAt?: string
  readonly startedAt: string
  readonly finishedAt?: string
  readonly outcome: 'running' | 'success' | 'failure'
  readonly trigger: 'schedule' | 'manual'
  /** Where the backup went (local path and/or s3:// URL). */
  readonly files?: readonly string[]
  readonly error?: string
  /** Backups removed by the retention policy after this run. */
  readonly pruned?: readonly string[]
  /** A failed run stays flagged (page banner, `schedule status`) until acknowledged. */
  readonly acknowledged?: boolean
}

/** One schedule with what the scheduler knows of it (`schedule status`, `GET /api/schedules`). */
export interface ScheduleStatus {
  readonly schedule: Schedule
  readonly nextRunAt?: string
  /** The next few due times (ISO), the first being `nextRunAt`; empty for a disabled schedule. */
  readonly nextRuns: readonly string[]
  readonly lastRun?: ScheduleRun
  readonly running: boolean
}
