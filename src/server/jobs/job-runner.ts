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
import { scanBackup } from '../../engine/backup-input.js'
import { recordVerification, verifyOutcome } from '../../storage/catalog.js'
import { FormatError, IntegrityError, MergebackError } from '../../errors.js'
import { scheduleWork } from '../../schedule/run-schedule.js'
import { errorDocument, httpStatusFor } from '../../cli/exit-codes.js'
import type { ReaderLimits } from '../../format/reader.js'
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

async function run(spec: JobSpec, passphrase: string | undefined, progress: ProgressReporter, limits: Partial<ReaderLimits> = {}): Promise<unknown> {
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
        zstd: p.zstd,
        includeIndexes: p.includeIndexes,
        incremental: p.incremental,
        since: p.since,
        changedSinceColumn: p.changedSinceColumn,
        passphrase: p.encrypt ? passphrase : undefined,
        onProgress,
        progressTotals: true,
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
      const report = await restore({ ...p, passphrase, limits, onProgress })
      return { ...report, file: path.basename(report.file) }
    }
    case 'analyze':
    case 'merge': {
      const p = spec.params
      const warnings: string[] = []
      const options = { ...p.options, passphrase, limits, onProgress, onWarning: (w: string) => warnings.push(w) }
      const report = spec.kind === 'analyze' ? await analyze(p.file, p.db, options) : await merge(p.file, p.db, options)
      return warnings.length > 0 ? { ...report, warnings } : report
    }
    case 'verify': {
      const report = await verify(spec.params.file, { passphrase, limits })
      // Kept in the catalog before the job ends, so the list shows it as soon as the job is over.
      await recordVerification(spec.params.file, verifyOutcome(report))
      return { ...report, file: path.basename(report.file) }
    }
    case 'inspect': {
      const report = await inspect(spec.params.file, { passphrase, limits })
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
      // Definitions the schema guard cannot rebuild do not stop an upload: a restore refuses
      // them unless asked to leave them out (dropUnsafeDefinitions); types and the rest do.
      const report = await verify(spec.params.file, { passphrase, limits, dropUnsafeDefinitions: true })
      if (!report.ok) throw await uploadRefusal(spec.params.file, passphrase, limits, report.checks)
      const inspected = await inspect(spec.params.file, { passphrase, limits })
      // The seeds' layouts carry no table list or counts in their metadata: take them from the scan.
      const metadata = {
        ...inspected.metadata,
        tables: inspected.tables.map((t) => t.name),
        recordCounts: Object.fromEntries(inspected.tables.map((t) => [t.name, t.records])),
      }
      // The upload is still a temporary file with no catalog entry: say so in the upload's terms
      // rather than name the temporary file's missing sidecar.
      const checks = report.checks.map((c) =>
        c.ok && c.detail?.startsWith('not catalogued') ? { ...c, detail: `an upload has no catalog entry yet, so nothing to compare with; its SHA-256 is ${container.sha256}` } : c,
      )
      return { verification: { ...report, checks, file: undefined }, metadata, layout: inspected.layout, sha256: container.sha256, sizeBytes: container.sizeBytes, compression: container.compression, encrypted: container.encrypted }
    }
  }
}

/**
 * The library's messages speak to the CLI's user; over the API the same refusal names no flag.
 * A stale plan: the API's way to a new plan is another analyze with `savePlan` (the page's
 * "Analyze again"), not `analyze --plan`.
 */
function apiWording<E extends { error: string; details: Record<string, unknown> }>(error: E): E {
  if (error.details.reason !== 'stale-plan') return error
  return { ...error, error: error.error.replace(/;? ?run analyze --plan again\.?$/, '; analyze the backup again for a new plan.') }
}

/**
 * Why an upload is not a usable backup, as `details.reason` (docs/api.md §Uploads):
 * `unsupported-version` (a format or version this build does not read), `not-a-backup` (not
 * JSON from its first byte, or JSON without tables or collections), `damaged` (a backup whose
 * content is broken: a checksum, a count, a cut; `details.table` names the table when known).
 */
function uploadReason(error: FormatError): 'unsupported-version' | 'not-a-backup' | 'damaged' {
  if (/is not supported \(this build reads|unsupported backup format|has no format version/.test(error.message)) return 'unsupported-version'
  if (error.table !== undefined) return 'damaged'
  if (/is not a mergeback backup|not valid JSON at byte 0\b/.test(error.message)) return 'not-a-backup'
  return 'damaged'
}

/**
 * The refusal of an upload that failed verify: the reader's own error (read again, only on this
 * failure path, for its table and kind), as a FormatError with `details.reason` and `table`, in
 * words that name no file (the upload is still a temporary file here).
 */
async function uploadRefusal(file: string, passphrase: string | undefined, limits: Partial<ReaderLimits>, checks: readonly { check: string; ok: boolean; detail?: string }[]): Promise<Error> {
  try {
    // The reader's own error, with its status (413 for a limit, 422 for damage) and details.
    await scanBackup(file, { passphrase, limits, unsafeDefinitions: 'drop' })
  } catch (error) {
    if (error instanceof FormatError) {
      // Beyond one of the reader's limits (details.limit names it, answered 413): too large.
      const reason = typeof error.details.limit === 'string' ? 'too-large' : uploadReason(error)
      return new FormatError(`The uploaded file is not a usable backup: ${error.message}${/[.!?]$/.test(error.message) ? '' : '.'}`, {
        table: error.table,
        recordIndex: error.recordIndex,
        byteOffset: error.byteOffset,
        details: { ...error.details, reason },
      })
    }
    // A checksum or count that does not match inside the content: the upload is damaged (as
    // before, a BAD_FORMAT refusal of the upload), naming the table.
    if (error instanceof IntegrityError && error.reason !== 'decompressed-too-large') {
      const table = typeof error.details.table === 'string' ? error.details.table : undefined
      return new FormatError(`The uploaded file is not a usable backup: ${error.message}${/[.!?]$/.test(error.message) ? '' : '.'}`, { table, details: { reason: 'damaged', integrity: error.reason } })
    }
    if (error instanceof MergebackError) return error
  }
  const failed = checks.filter((c) => !c.ok)
  return new FormatError(`The uploaded file is not a usable backup: ${failed.map((c) => c.detail ?? c.check).join('; ')}.`, { details: { reason: 'damaged' } })
}

// The server owns Ctrl-C: it decides whether running jobs finish or are cancelled.
process.on('SIGINT', () => undefined)
// The server is gone: stop now, so that the database rolls back whatever is open.
process.on('disconnect', () => process.exit(1))

process.once('message', (message: ParentMessage) => {
  if (message?.type !== 'start') process.exit(2)
  const progress = new ProgressReporter()
  run(message.spec, message.passphrase, progress, message.limits).then(
    async (result) => {
      progress.flush()
      await send({ type: 'result', result })
      process.exit(0)
    },
    async (error: unknown) => {
      await send({ type: 'error', error: apiWording({ status: httpStatusFor(error), ...errorDocument(error) }) })
      process.exit(0)
    },
  )
})
