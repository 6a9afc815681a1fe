/**
 * What one scheduled run does, and what happens when it fails.
 *
 * A run:
 *   1. makes the backup the schedule describes (smart or full, gzip, encryption, tables) of its
 *      database: into the backup directory (`local`), straight into the remote (`remote`), or
 *      into the directory and then copied up (`both`);
 *   2. after a success only, applies the schedule's retention to its own backups — those named
 *      like the schedule — in the directory and/or on the remote; other backups are never touched;
 *   3. appends a `backup` audit entry (actor `schedule:<name>`), success or failure.
 * A failure (`alertFailure`) is also POSTed to the schedule's webhook, without waiting for it.
 */
import os from 'node:os'
import { appendAudit } from '../audit/audit-log.js'
import { redactUrl } from '../adapters/registry.js'
import { UsageError } from '../errors.js'
import { backup } from '../engine/backup.js'
import { fullBackup } from '../native/full-backup.js'
import { pruneRemote } from '../remote/remote-ops.js'
import { S3Remote } from '../remote/s3-remote.js'
import { prune, type RetentionPolicy } from '../storage/retention.js'
import { postAlert, type AlertDelivery, type AlertOptions } from './webhook.js'
import type { Schedule, ScheduleRun } from './schedule-store.js'
import type { RunWork, SchedulerLog } from './scheduler.js'
import type { ProgressListener } from '../engine/progress.js'

export interface RunContext {
  /** Absolute backup directory. */
  readonly dir: string
  /** The database URL of an alias (undefined: the default database). Throws UsageError for an unknown alias. */
  readonly databaseUrl: (alias: string | undefined) => string
  /** Passphrase for schedules with `encrypt`. */
  readonly passphrase?: string
  /** Opens a remote (default: S3Remote with settings from the environment). */
  readonly openRemote?: (url: string) => S3Remote
  /** The backup's progress (a job's progress in `serve`). */
  readonly onProgress?: ProgressListener
  /** The backup's temporary file is open (a cancelled job's leftover is removed by the server). */
  readonly onFileOpened?: (file: { readonly path: string; readonly temporaryPath: string }) => void
}

/** The work function the Scheduler calls (see the module header). */
export function scheduleWork(context: RunContext): RunWork {
  return async (schedule) => {
    const started = Date.now()
    const db = context.databaseUrl(schedule.database)
    const actor = `schedule:${schedule.name}`
    const options = { schedule: schedule.id, kind: schedule.kind, destination: schedule.destination, gzip: schedule.gzip, encrypt: schedule.encrypt }
    let remote: S3Remote | undefined
    try {
      if (schedule.encrypt && !context.passphrase) {
        throw new UsageError(`Schedule "${schedule.name}" encrypts, but no passphrase is set: set MERGEBACK_PASSPHRASE or pass --passphrase-file.`, { code: 'NO_PASSPHRASE' })
      }
      if (schedule.destination !== 'local') {
        remote = (context.openRemote ?? ((url) => new S3Remote(url)))(schedule.remote!)
        await remote.check()
      }
      const streamTo = schedule.destination === 'remote' ? remote : undefined
      const common = { db, out: context.dir, name: schedule.name, gzip: schedule.gzip || undefined, passphrase: schedule.encrypt ? context.passphrase : undefined, remote: streamTo, originKind: 'scheduled' as const }
      const description = `scheduled (${schedule.cron} ${schedule.timezone})`
      if (schedule.kind === 'full') context.onProgress?.({ type: 'phase', phase: 'dump' })
      const made =
        schedule.kind === 'full'
          ? await fullBackup({ ...common, description, onFileOpened: context.onFileOpened })
          : await backup({ ...common, description, tables: schedule.tables, exclude: schedule.exclude, onProgress: context.onProgress, onFileOpened: context.onFileOpened })
      const files = [made.file]
      if (schedule.destination === 'both') {
        context.onProgress?.({ type: 'phase', phase: 'upload' })
        files.push((await remote!.uploadFile(made.file)).url)
      }
      await appendAudit(context.dir, { action: 'backup', actor, target: redactUrl(db), options, outcome: 'success', file: files.join(' '), durationMs: Date.now() - started })

      const pruned: string[] = []
      if (schedule.retention) {
        context.onProgress?.({ type: 'phase', phase: 'prune' })
        const policy: RetentionPolicy = { ...schedule.retention, groupBy: 'name' }
        const mine = (entry: { name: string }) => entry.name === schedule.name
        if (schedule.destination !== 'remote') pruned.push(...(await prune(context.dir, policy, { actor, only: mine })).remove.map((r) => r.file))
        if (remote) {
          const report = await pruneRemote(remote, policy, { only: mine })
          pruned.push(...report.remove.map((r) => remote!.urlOf(r.file)))
          await appendAudit(context.dir, { action: 'prune', actor, target: remote.url, options: policy, outcome: 'success', files: report.remove.map((r) => r.file), counts: { kept: report.keep.length, removed: report.remove.length } })
        }
      }
      return { files, pruned }
    } catch (error) {
      await appendAudit(context.dir, { action: 'backup', actor, target: redactUrl(db), options, outcome: 'failure', error: (error as Error).message, durationMs: Date.now() - started }).catch(() => undefined)
      throw error
    } finally {
      remote?.close()
    }
  }
}

/**
 * Checks, when a schedule is given (API, `schedule add`), that its remote can be used now: the
 * endpoint answers, the credentials are accepted, the bucket exists — rather than failing at its
 * first due time. Throws UsageError (code BAD_REMOTE) with the remote's own clear message; the
 * caller then saves nothing. A local-only schedule is not checked.
 */
export async function checkScheduleRemote(schedule: Pick<Schedule, 'destination' | 'remote'>, openRemote: (url: string) => S3Remote = (url) => new S3Remote(url)): Promise<void> {
  if (schedule.destination === 'local' || schedule.remote === undefined) return
  const remote = openRemote(schedule.remote)
  try {
    await remote.check()
  } catch (error) {
    throw new UsageError(`The schedule's remote cannot be used: ${(error as Error).message}`, { code: 'BAD_REMOTE', cause: error })
  } finally {
    remote.close()
  }
}

/**
 * The alert for a failed run: POSTs it to the schedule's webhook (when it has one) with retries,
 * in the background. Returns the delivery promise for callers that want to follow it (tests, logs);
 * the scheduler does not wait for it.
 */
export function alertFailure(schedule: Schedule, run: ScheduleRun, options: AlertOptions & { log?: SchedulerLog } = {}): Promise<AlertDelivery> | undefined {
  if (!schedule.webhook) return undefined
  const delivery = postAlert(
    schedule.webhook,
    {
      event: 'schedule.failed',
      schedule: { id: schedule.id, name: schedule.name },
      dueAt: run.dueAt,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt ?? new Date().toISOString(),
      error: run.error ?? 'unknown error',
      host: os.hostname(),
    },
    options,
  )
  delivery
    .then((result) => {
      if (!result.delivered) options.log?.('error', `schedule "${schedule.name}": the webhook alert was not delivered after ${result.attempts} attempts (${result.lastError})`, { schedule: schedule.id })
    })
    .catch(() => undefined)
  return delivery
}
