/**
 * Typed calls of `/api/schedules` (docs/operations.md §Schedules). The server validates every
 * schedule (cron, time zone, webhook, remote, retention) and says what is wrong; the page only
 * places its words next to the field they are about (`fieldOfError`).
 */
import { ApiError, request } from './client'

export type ScheduleKind = 'smart' | 'full'
export type ScheduleDestination = 'local' | 'remote' | 'both'

export interface Retention {
  readonly keepLast?: number
  readonly keepDaily?: number
  readonly keepWeekly?: number
  readonly keepMonthly?: number
}

/** What the page sends to create or replace a schedule. */
export interface ScheduleInput {
  readonly name: string
  readonly cron: string
  readonly timezone: string
  readonly database?: string
  readonly kind: ScheduleKind
  readonly gzip: boolean
  readonly encrypt: boolean
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  readonly destination: ScheduleDestination
  readonly remote?: string
  readonly retention?: Retention
  readonly webhook?: string
  readonly enabled: boolean
}

export interface Schedule extends ScheduleInput {
  readonly id: string
  readonly createdAt: string
  readonly updatedAt: string
}

export interface ScheduleRun {
  readonly dueAt?: string
  readonly startedAt: string
  readonly finishedAt?: string
  readonly outcome: 'running' | 'success' | 'failure'
  readonly trigger: 'schedule' | 'manual'
  readonly files?: readonly string[]
  readonly error?: string
  readonly pruned?: readonly string[]
  readonly acknowledged?: boolean
}

export interface ScheduleStatus {
  readonly schedule: Schedule
  readonly nextRunAt?: string
  /** The next few due times (ISO), the first being nextRunAt. */
  readonly nextRuns?: readonly string[]
  readonly lastRun?: ScheduleRun
  readonly running: boolean
}

export interface ScheduleList {
  readonly schedules: readonly ScheduleStatus[]
  /** Ids of the schedules whose last run failed and is not acknowledged (the banner). */
  readonly failed: readonly string[]
}

const seg = (id: string) => encodeURIComponent(id)

/** Tells the failure banner and the screen that schedules changed, so they ask the server now. */
export function schedulesChanged(): void {
  window.dispatchEvent(new Event('mergeback:schedules-changed'))
}

export async function listSchedules(signal?: AbortSignal): Promise<ScheduleList> {
  const r = await request<ScheduleList>('/api/schedules', { signal })
  return { schedules: r.schedules, failed: r.failed }
}

export async function createSchedule(input: ScheduleInput): Promise<Schedule> {
  return (await request<{ schedule: Schedule }>('/api/schedules', { method: 'POST', body: input })).schedule
}

export async function updateSchedule(id: string, input: ScheduleInput): Promise<Schedule> {
  return (await request<{ schedule: Schedule }>(`/api/schedules/${seg(id)}`, { method: 'PUT', body: input })).schedule
}

export async function deleteSchedule(id: string): Promise<void> {
  await request(`/api/schedules/${seg(id)}`, { method: 'DELETE' })
}

/** Starts a run now; resolves with its job id when the server runs it as a job. */
export async function runSchedule(id: string): Promise<string | undefined> {
  return (await request<{ jobId?: string }>(`/api/schedules/${seg(id)}/run`, { method: 'POST' })).jobId
}

export async function acknowledgeSchedule(id: string): Promise<void> {
  await request(`/api/schedules/${seg(id)}/acknowledge`, { method: 'POST' })
}

export type ScheduleField = 'name' | 'cron' | 'timezone' | 'database' | 'remote' | 'retention' | 'webhook' | 'form'

/** The form field an error of the server is about, from its code (and, for BAD_SCHEDULE, its words). */
export function fieldOfError(error: unknown): ScheduleField {
  if (!(error instanceof ApiError)) return 'form'
  switch (error.code) {
    case 'BAD_NAME':
    case 'DUPLICATE_SCHEDULE':
      return 'name'
    case 'BAD_CRON':
      return 'cron'
    case 'BAD_TIMEZONE':
      return 'timezone'
    case 'BAD_WEBHOOK':
      return 'webhook'
    case 'BAD_REMOTE':
      return 'remote'
    case 'BAD_POLICY':
    case 'EMPTY_POLICY':
      return 'retention'
    case 'UNKNOWN_DATABASE':
      return 'database'
    case 'BAD_SCHEDULE':
      if (/needs a remote/.test(error.message)) return 'remote'
      if (/^Invalid schedule: name:/.test(error.message)) return 'name'
      if (/^Invalid schedule: cron:/.test(error.message)) return 'cron'
      return 'form'
    default:
      return 'form'
  }
}
