/**
 * `mergeback serve`: builds the dependencies, listens, and shuts down gracefully.
 *
 * Shutdown (SIGTERM / SIGINT): stop accepting connections, let running jobs finish for up to
 * `shutdownTimeoutMs`, cancel what is left (their transactions roll back), close idle
 * connections, exit. A second signal exits at once (the jobs' processes die with the server and
 * roll back too: they exit when their IPC channel closes).
 */
import type { AddressInfo } from 'node:net'
import { serve, type ServerType } from '@hono/node-server'
import type { ServerConfig } from './config.js'
import { createApp } from './app.js'
import { resolveDatabase } from './config.js'
import { ScheduleStore } from '../schedule/schedule-store.js'
import { Scheduler, type RunWork } from '../schedule/scheduler.js'
import { alertFailure } from '../schedule/run-schedule.js'
import { appendAudit } from '../audit/audit-log.js'
import { createLogger, type Logger } from './log.js'
import { TokenStore } from './tokens.js'
import { JobManager } from './jobs/job-manager.js'
import { DownloadTokens } from './download-tokens.js'

export interface RunningServer {
  readonly url: string
  readonly port: number
  readonly jobs: JobManager
  /** Graceful stop (see the module header). */
  close(): Promise<void>
}

export async function startServer(config: ServerConfig, options: { logger?: Logger; handleSignals?: boolean } = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger()
  const jobs = new JobManager({ logger, passphrase: config.passphrase, limits: config.limits })
  const schedules = createScheduler(config, logger, jobs)
  const app = createApp({ config, tokens: new TokenStore(config.stateDir), jobs, downloadTokens: new DownloadTokens(), logger, schedules })
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s))
    s.once('error', reject)
  })
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      logger.info('shutdown', { runningJobs: jobs.running().length, timeoutMs: config.shutdownTimeoutMs })
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
      // No new scheduled runs; the running ones are jobs: they finish within the timeout like
      // any job, or are cancelled (their run is then recorded as failed).
      const schedulerStopped = schedules.scheduler.stop()
      ;(server as { closeIdleConnections?: () => void }).closeIdleConnections?.()
      await jobs.shutdown(config.shutdownTimeoutMs)
      await schedulerStopped
      ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
      await stopped
      logger.info('stopped', {})
    })())

  if (options.handleSignals) {
    let signals = 0
    const onSignal = (signal: NodeJS.Signals) => {
      signals++
      if (signals > 1) {
        logger.warn('second signal: exiting now', { signal })
        process.exit(130)
      }
      void close().then(() => process.exit(0))
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  }
  // Idle keep-alive connections stay open longer than clients keep them (undici: 4 s, browsers:
  // longer), so the server is never the side that closes a connection a client is about to reuse
  // (a POST on such a connection fails with "other side closed" and is not retried).
  const http = server as import('node:http').Server
  http.keepAliveTimeout = 65_000
  http.headersTimeout = 66_000
  await schedules.scheduler.start()
  const address = server.address() as AddressInfo
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
  logger.info('listening', {
    url,
    port: address.port,
    dir: config.dir,
    stateDir: config.stateDir,
    databases: [...config.databases.values()].map((d) => ({ alias: d.alias, engine: d.engine, url: d.redacted })),
  })

  return { url, port: address.port, jobs, close }
}

/**
 * The scheduler of `serve`: schedules from the state directory, alerts to the log, audit and
 * webhooks. Each run is a job (kind `schedule`) of the server's job manager, like an API backup:
 * listed in /api/jobs with its progress, shown in the page's banner, cancellable; the scheduler
 * waits for the job, so one schedule still never has two runs at once.
 */
function createScheduler(config: ServerConfig, logger: Logger, jobs: JobManager): { store: ScheduleStore; scheduler: Scheduler } {
  const store = new ScheduleStore(config.stateDir)
  const log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => logger[level](message, fields)
  const work: RunWork = async (schedule, context) => {
    const db = resolveDatabase(config, { database: schedule.database })
    const started = jobs.start({
      spec: { kind: 'schedule', params: { schedule, db: db.url, dir: config.dir, trigger: context.trigger, dueAt: context.dueAt?.toISOString() } },
      actor: context.actor,
      database: { name: db.name, key: db.redacted },
      file: schedule.name,
    })
    const job = await jobs.wait(started.id)
    if (job.state === 'succeeded') return job.result as { files: string[]; pruned: string[] }
    const message = job.error?.error ?? `The run's job ended ${job.state}.`
    // The job's process wrote the audit entry of a failure it saw; a cancelled or crashed one could not.
    if (job.state === 'cancelled' || job.error?.code === 'INTERNAL') {
      await appendAudit(config.dir, { action: 'backup', actor: `schedule:${schedule.name}`, target: db.redacted, options: { schedule: schedule.id, job: job.id }, outcome: 'failure', error: message }).catch(
        (error) => log('error', `cannot write the audit entry: ${(error as Error).message}`),
      )
    }
    throw new Error(job.state === 'cancelled' ? `Cancelled (job ${job.id}): ${message}` : message)
  }
  const scheduler = new Scheduler({ store, work, log, onFailure: (schedule, run) => void alertFailure(schedule, run, { log }) })
  return { store, scheduler }
}
