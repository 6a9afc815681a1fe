/**
 * Jobs: long work off the event loop, with progress, cancellation and one writer per database
 * (docs/api.md §Jobs, STYLE.md §1.8). Routes only start jobs and read them.
 *
 * Each job is one child process running job-runner.ts (`child_process.fork`, IPC):
 *   1. `start(spec)` checks the per-database lock (restore and merge are exclusive on their
 *      database; a second one gets BusyError naming the first), forks, sends `start`.
 *   2. The child's `progress` snapshots update the job and go to subscribers in order, numbered.
 *   3. The child's `result` / `error` ends the job; its exit without either is a failed job
 *      (InternalError): a crash, or memory exhausted.
 *   4. `cancel(id)` SIGKILLs the child's process group (the child and the programs it started,
 *      such as a scheduled full backup's pg_dump). Its database connections drop, and the database rolls
 *      the open transaction back — the same guarantee as a crash, which the engines give anyway.
 *      A backup's temporary file is then removed here (the child had no chance to).
 * Finished jobs are kept in memory (the newest MAX_FINISHED), for `GET /api/jobs/{id}`.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { BusyError, NotFoundError, UsageError } from '../../errors.js'
import type { Logger } from '../log.js'
import type { ReaderLimits } from '../../format/reader.js'
import type { Actor } from '../tokens.js'
import type { ChildMessage, JobError, JobKind, JobProgress, JobSpec, ParentMessage } from './protocol.js'

export const MAX_FINISHED = 200

export type JobState = 'running' | 'succeeded' | 'failed' | 'cancelled'

/** A job as the API shows it. */
export interface JobView {
  readonly id: string
  readonly kind: JobKind
  readonly state: JobState
  readonly database: string | null
  readonly file: string | null
  readonly actor: Actor | null
  readonly createdAt: string
  readonly finishedAt: string | null
  readonly progress: JobProgress
  readonly result: unknown
  readonly error: JobError | null
}

export type JobEvent =
  | { readonly type: 'progress'; readonly seq: number; readonly progress: JobProgress }
  | { readonly type: 'file'; readonly path: string; readonly temporaryPath: string }
  | { readonly type: 'end'; readonly seq: number; readonly job: JobView }

export type JobListener = (event: JobEvent) => void

export interface StartJob {
  readonly spec: JobSpec
  readonly actor?: Actor
  /** The database alias (shown) and its lock key (the URL, so two aliases of one database share it). */
  readonly database?: { readonly name: string; readonly key: string }
  /** Take the database's writer lock (restore, merge). */
  readonly exclusive?: boolean
  /** The backup file's name (shown). */
  readonly file?: string
}

interface Job {
  readonly id: string
  readonly kind: JobKind
  state: JobState
  readonly database: { readonly name: string; readonly key: string } | undefined
  file: string | undefined
  readonly actor: Actor | undefined
  readonly createdAt: Date
  finishedAt: Date | undefined
  progress: JobProgress
  seq: number
  result: unknown
  error: JobError | null
  temporaryPath: string | undefined
  child: ChildProcess | undefined
  /** Set before the child is killed, so its exit is read as the cancellation it is. */
  cancelling: boolean
  readonly listeners: Set<JobListener>
  readonly done: Promise<JobView>
  resolveDone: (view: JobView) => void
}

const EMPTY_PROGRESS: JobProgress = { phase: null, table: null, tableRowsDone: 0, tableRowsTotal: null, rowsDone: 0, bytes: null, rate: 0, elapsedMs: 0 }

/** glibc malloc arenas for a job's process (docs/performance.md, round eight: peak RSS); the same as bin/mergeback.js's shebang. */
const MALLOC_ARENA_MAX = '2'

/**
 * A job's node flags: the same as bin/mergeback.js's shebang (test/integration/cli/bin.test.ts checks
 * that they stay equal), so a backup run from the API bounds its heap and frees its dead Buffers
 * (engine/buffer-reclaim.ts needs `--expose-gc`) as the CLI's does.
 */
export const JOB_NODE_FLAGS: readonly string[] = ['--max-old-space-size=192', '--max-semi-space-size=4', '--expose-gc']

/** The runner next to this module: compiled JavaScript in dist, or TypeScript (through tsx) when running from src. */
function runnerPath(): { file: string; execArgv: string[] } {
  const js = fileURLToPath(new URL('./job-runner.js', import.meta.url))
  if (fs.existsSync(js)) return { file: js, execArgv: [...JOB_NODE_FLAGS] }
  return { file: fileURLToPath(new URL('./job-runner.ts', import.meta.url)), execArgv: ['--import', 'tsx'] }
}

export class JobManager {
  readonly #jobs = new Map<string, Job>()
  readonly #locks = new Map<string, string>()
  readonly #logger: Logger
  readonly #passphrase: string | undefined
  readonly #limits: Partial<ReaderLimits> | undefined
  #accepting = true

  constructor(options: { logger: Logger; passphrase?: string; limits?: Partial<ReaderLimits> }) {
    this.#logger = options.logger
    this.#passphrase = options.passphrase
    this.#limits = options.limits
  }

  /** Starts a job. Throws BusyError when `exclusive` and another restore/merge holds the database; UsageError while shutting down. */
  start(request: StartJob): JobView {
    if (!this.#accepting) throw new UsageError('The server is shutting down and starts no new work.', { code: 'SHUTTING_DOWN' })
    if (request.exclusive && request.database) {
      const holder = this.#locks.get(request.database.key)
      if (holder) {
        const running = this.#jobs.get(holder)
        throw new BusyError(`A ${running?.kind ?? 'job'} (job ${holder}) is running on database "${request.database.name}": wait for it or cancel it (DELETE /api/jobs/${holder}).`, {
          details: { jobId: holder, kind: running?.kind },
        })
      }
    }
    let resolveDone!: (view: JobView) => void
    const done = new Promise<JobView>((resolve) => (resolveDone = resolve))
    const job: Job = {
      id: `j_${randomBytes(9).toString('base64url')}`,
      kind: request.spec.kind,
      state: 'running',
      database: request.database,
      file: request.file,
      actor: request.actor,
      createdAt: new Date(),
      finishedAt: undefined,
      progress: EMPTY_PROGRESS,
      seq: 0,
      result: null,
      error: null,
      temporaryPath: undefined,
      child: undefined,
      cancelling: false,
      listeners: new Set(),
      done,
      resolveDone,
    }
    this.#jobs.set(job.id, job)
    if (request.exclusive && request.database) this.#locks.set(request.database.key, job.id)
    const runner = runnerPath()
    // Its own process group, so that a cancel kills what it started too (a scheduled full backup's
    // pg_dump / mariadb-dump), not just the job's process. The child still ends with the server:
    // it exits when its IPC channel closes.
    // MALLOC_ARENA_MAX as bin/mergeback.js's shebang sets it (unless the server's environment sets it):
    // the thread pool's threads otherwise each keep a malloc arena at its high-water mark.
    const env = { MALLOC_ARENA_MAX: MALLOC_ARENA_MAX, ...process.env }
    const child = fork(runner.file, [], { execArgv: runner.execArgv, env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'advanced', detached: true })
    job.child = child
    let finished = false
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') {
        job.progress = message.progress
        this.#emit(job, { type: 'progress', seq: ++job.seq, progress: message.progress })
      } else if (message.type === 'file') {
        job.temporaryPath = message.temporaryPath
        this.#emit(job, { type: 'file', path: message.path, temporaryPath: message.temporaryPath })
      } else if (message.type === 'result') {
        finished = true
        this.#finish(job, 'succeeded', message.result, null)
      } else if (message.type === 'error') {
        finished = true
        this.#finish(job, 'failed', null, message.error)
      }
    })
    child.on('exit', (code, signal) => {
      if (finished || job.state !== 'running' || job.cancelling) return
      this.#finish(job, 'failed', null, {
        status: 500,
        error: `The job's process ended without a result (${signal ? `signal ${signal}` : `exit code ${code}`}). Nothing was committed unless the job reported success.`,
        code: 'INTERNAL',
        details: {},
      })
    })
    child.on('error', (error) => this.#logger.error('job process error', { jobId: job.id, error: error.message }))
    const start: ParentMessage = { type: 'start', spec: request.spec, passphrase: this.#passphrase, limits: this.#limits }
    child.send(start)
    this.#logger.info('job', { jobId: job.id, kind: job.kind, state: 'running', database: job.database?.name, file: job.file, actor: job.actor })
    return this.#view(job)
  }

  /** The job, or NotFoundError. */
  get(id: string): JobView {
    return this.#view(this.#find(id))
  }

  list(): JobView[] {
    return [...this.#jobs.values()].reverse().map((job) => this.#view(job))
  }

  /** Resolves with the finished job (never rejects: a failure is in `error`). */
  wait(id: string): Promise<JobView> {
    return this.#find(id).done
  }

  /** Calls `listener` for every later event of the job until it ends; returns the unsubscribe function. */
  subscribe(id: string, listener: JobListener): () => void {
    const job = this.#find(id)
    job.listeners.add(listener)
    return () => job.listeners.delete(listener)
  }

  /** Kills a running job (the database rolls back) and resolves with it cancelled; a finished job is returned as it is. */
  async cancel(id: string): Promise<JobView> {
    const job = this.#find(id)
    if (job.state !== 'running') return this.#view(job)
    await this.#kill(job)
    return this.#view(job)
  }

  /** The running jobs. */
  running(): JobView[] {
    return [...this.#jobs.values()].filter((j) => j.state === 'running').map((j) => this.#view(j))
  }

  /** Stops taking jobs, waits up to `timeoutMs` for the running ones, then cancels the rest. */
  async shutdown(timeoutMs: number): Promise<void> {
    this.#accepting = false
    const running = [...this.#jobs.values()].filter((j) => j.state === 'running')
    if (running.length === 0) return
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))
    await Promise.race([Promise.all(running.map((j) => j.done)), timeout])
    clearTimeout(timer)
    await Promise.all(running.filter((j) => j.state === 'running').map((j) => this.#kill(j)))
  }

  async #kill(job: Job): Promise<void> {
    const child = job.child
    job.cancelling = true
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      try {
        // The whole group: the job's process and the programs it runs.
        if (child.pid === undefined) throw new Error('no pid')
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        child.kill('SIGKILL')
      }
      await exited
    }
    if (job.temporaryPath) await fs.promises.rm(job.temporaryPath, { force: true })
    if (job.state === 'running') {
      this.#finish(job, 'cancelled', null, { status: 409, error: 'The job was cancelled: nothing it was doing was committed.', code: 'CANCELLED', details: {} })
    }
  }

  #find(id: string): Job {
    const job = this.#jobs.get(id)
    if (!job) throw new NotFoundError(`No job ${id} (jobs are kept in memory until the server restarts; see GET /api/jobs).`)
    return job
  }

  #finish(job: Job, state: JobState, result: unknown, error: JobError | null): void {
    if (job.state !== 'running') return
    job.state = state
    job.result = result
    job.error = error
    job.finishedAt = new Date()
    if (job.database && this.#locks.get(job.database.key) === job.id) this.#locks.delete(job.database.key)
    const view = this.#view(job)
    this.#logger.info('job', { jobId: job.id, kind: job.kind, state, durationMs: job.finishedAt.getTime() - job.createdAt.getTime(), status: error?.status, error: error?.error })
    this.#emit(job, { type: 'end', seq: ++job.seq, job: view })
    job.listeners.clear()
    job.resolveDone(view)
    this.#trim()
  }

  #emit(job: Job, event: JobEvent): void {
    for (const listener of job.listeners) {
      try {
        listener(event)
      } catch (error) {
        this.#logger.error('job listener failed', { jobId: job.id, error: (error as Error).message })
      }
    }
  }

  #trim(): void {
    const finished = [...this.#jobs.values()].filter((j) => j.state !== 'running')
    for (const job of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED))) this.#jobs.delete(job.id)
  }

  #view(job: Job): JobView {
    return {
      id: job.id,
      kind: job.kind,
      state: job.state,
      database: job.database?.name ?? null,
      file: job.file ?? null,
      actor: job.actor ?? null,
      createdAt: job.createdAt.toISOString(),
      finishedAt: job.finishedAt?.toISOString() ?? null,
      progress: job.progress,
      result: job.result,
      error: job.error,
    }
  }
}
