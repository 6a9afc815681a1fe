/**
 * Typed calls of `/api/schedules` (docs/operations.md §Schedules). The server validates every
 * schedule (cron, time zone, webhook, remote, retention) and says what is wrong; the page only
 * places its words next to the field they are about (`fieldOfError`).
 */
import { ApiError, request } from './client'

// The server's own definitions (types only; nothing of the server is bundled into the page).
import type { Schedule, ScheduleFields, ScheduleStatus } from '../../../src/schedule/schedule-types'
export type { Retention, Schedule, ScheduleDestination, ScheduleKind, ScheduleRun, ScheduleStatus } from '../../../src/schedule/schedule-types'

/** What the page sends to create or replace a schedule. */
export type ScheduleInput = ScheduleFields

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
