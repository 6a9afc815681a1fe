/**
 * The child process a job runs in (forked by job-manager.ts): receives one `start` message,
 * runs the library function it names, reports progress and the result over IPC, and exits.
 *
 * Why a child process and not a worker thread: cancelling must stop the work at once, wherever it
 * is (inside a driver, inside a synchronous SQLite call), and leave the database as it was. Killing
 * the process does both: its connections drop and each database rolls the open transaction back.
 * For the same reason the child exits as soon as its IPC channel closes (the server died): a
 * restore must not go on, and commit, with nobody left to report to.
 */
import fs from 'node:fs'
import path from 'node:path'
import { backup } from '../../engine/backup.js'
import { restore } from '../../engine/restore.js'
import { analyze, merge } from '../../engine/merge.js'
import { inspect, stats, verify } from '../../engine/inspect.js'
import type { ProgressEvent } from '../../engine/progress.js'
import { verifyBackupFile } from '../../storage/backup-file.js'
import { scheduleWork } from '../../schedule/run-schedule.js'
import { errorDocument, httpStatusFor } from '../../cli/exit-codes.js'
import { PROGRESS_INTERVAL_MS, type ChildMessage, type JobProgress, type JobSpec, type ParentMessage } from './protocol.js'

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })
}

/** Folds library progress events into snapshots and sends them, throttled. */
class ProgressReporter {
  readonly #started = Date.now()
  #phase: string | null = null
  #table: string | null = null
  #tableRowsDone = 0
  #tableRowsTotal: number | null = null
  #rowsDone = 0
  #lastSent = 0
  #bytesOf: () => number | null = () => null

  measureBytes(fn: () => number | null): void {
    this.#bytesOf = fn
  }

  readonly listener = (event: ProgressEvent): void => {
    if (event.type === 'phase') {
      this.#phase = event.phase
      this.flush()
    } else if (event.type === 'table') {
      this.#table = event.table
      this.#tableRowsDone = 0
      this.#tableRowsTotal = event.records ?? null
      this.flush()
    } else {
      this.#tableRowsDone += event.rows
      this.#rowsDone += event.rows
      if (Date.now() - this.#lastSent >= PROGRESS_INTERVAL_MS) this.flush()
    }
  }

  snapshot(): JobProgress {
    const elapsedMs = Date.now() - this.#started
    return {
      phase: this.#phase,
      table: this.#table,
      tableRowsDone: this.#tableRowsDone,
      tableRowsTotal: this.#tableRowsTotal,
      rowsDone: this.#rowsDone,
      bytes: this.#bytesOf(),
      rate: elapsedMs > 0 ? Math.round((this.#rowsDone * 1000) / elapsedMs) : 0,
      elapsedMs,
    }
  }

  flush(): void {
    this.#lastSent = Date.now()
    void send({ type: 'progress', progress: this.snapshot() })
  }
}

function fileSize(file: string): number | null {
  try {
    return fs.statSync(file).size
  } catch {
    return null
  }
}

async function run(spec: JobSpec, passphrase: string | undefined, progress: ProgressReporter): Promise<unknown> {
  const onProgress = progress.listener
  switch (spec.kind) {
    case 'backup': {
      const p = spec.params
      let temporary: string | undefined
      progress.measureBytes(() => (temporary ? fileSize(temporary) : null))
      const result = await backup({
        db: p.db,
        out: p.dir,
        name: p.name,
        description: p.description,
        tables: p.tables,
        exclude: p.exclude,
        gzip: p.gzip,
        includeIndexes: p.includeIndexes,
        passphrase,
        onProgress,
        onFileOpened: (file) => {
          temporary = file.temporaryPath
          void send({ type: 'file', path: file.path, temporaryPath: file.temporaryPath })
        },
      })
      return { ...result, file: path.basename(result.file) }
    }
    case 'restore': {
      const p = spec.params
      progress.measureBytes(() => fileSize(p.file))
      const report = await restore({ ...p, passphrase, onProgress })
      return { ...report, file: path.basename(report.file) }
    }
    case 'analyze':
    case 'merge': {
      const p = spec.params
      const warnings: string[] = []
      const options = { ...p.options, passphrase, onProgress, onWarning: (w: string) => warnings.push(w) }
      const report = spec.kind === 'analyze' ? await analyze(p.file, p.db, options) : await merge(p.file, p.db, options)
      return warnings.length > 0 ? { ...report, warnings } : report
    }
    case 'verify': {
      const report = await verify(spec.params.file, { passphrase })
      return { ...report, file: path.basename(report.file) }
    }
    case 'inspect': {
      const report = await inspect(spec.params.file, { passphrase })
      return { ...report, file: path.basename(report.file) }
    }
    case 'stats':
      return stats(spec.params.db)
    case 'schedule': {
      // The run as `mergeback schedule run` does it (audit entries included), in this process so
      // that it shows in /api/jobs with its progress and can be cancelled like any job.
      const p = spec.params
      let temporary: string | undefined
      progress.measureBytes(() => (temporary ? fileSize(temporary) : null))
      const work = scheduleWork({
        dir: p.dir,
        databaseUrl: () => p.db,
        passphrase,
        onProgress,
        onFileOpened: (file) => {
          // Straight to the remote there is no local file (temporaryPath is then the object's URL;
          // an upload cut off by a cancel never becomes an object).
          if (/^[a-z0-9]+:\/\//i.test(file.temporaryPath)) return
          temporary = file.temporaryPath
          void send({ type: 'file', path: file.path, temporaryPath: file.temporaryPath })
        },
      })
      return work(p.schedule, { trigger: p.trigger, dueAt: p.dueAt ? new Date(p.dueAt) : undefined })
    }
    case 'upload-check': {
      // The container first, with the decompressed-size limit (a gzip bomb stops here, while it
      // is read), then the content with every check `restore` makes (library verify).
      progress.listener({ type: 'phase', phase: 'verify' })
      const container = await verifyBackupFile(spec.params.file, { passphrase, maxDecompressedBytes: spec.params.maxDecompressedBytes })
      if (container.error) throw container.error
      const report = await verify(spec.params.file, { passphrase })
      if (!report.ok) {
        const failed = report.checks.filter((c) => !c.ok)
        const { FormatError } = await import('../../errors.js')
        throw new FormatError(`The uploaded file is not a valid backup: ${failed.map((c) => `${c.check}: ${c.detail ?? 'failed'}`).join('; ')}`)
      }
      const inspected = await inspect(spec.params.file, { passphrase })
      // The seeds' layouts carry no table list or counts in their metadata: take them from the scan.
      const metadata = {
        ...inspected.metadata,
        tables: inspected.tables.map((t) => t.name),
        recordCounts: Object.fromEntries(inspected.tables.map((t) => [t.name, t.records])),
      }
      return { verification: { ...report, file: undefined }, metadata, layout: inspected.layout, sha256: container.sha256, sizeBytes: container.sizeBytes, compression: container.compression, encrypted: container.encrypted }
    }
  }
}

// The server owns Ctrl-C: it decides whether running jobs finish or are cancelled.
process.on('SIGINT', () => undefined)
// The server is gone: stop now, so that the database rolls back whatever is open.
process.on('disconnect', () => process.exit(1))

process.once('message', (message: ParentMessage) => {
  if (message?.type !== 'start') process.exit(2)
  const progress = new ProgressReporter()
  run(message.spec, message.passphrase, progress).then(
    async (result) => {
      progress.flush()
      await send({ type: 'result', result })
      process.exit(0)
    },
    async (error: unknown) => {
      await send({ type: 'error', error: { status: httpStatusFor(error), ...errorDocument(error) } })
      process.exit(0)
    },
  )
})
