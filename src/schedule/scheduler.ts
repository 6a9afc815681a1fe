/**
 * The scheduler: runs each enabled schedule at its cron times (croner computes them, in the
 * schedule's time zone), one run per schedule at a time.
 *
 * Algorithm:
 *   start: for each enabled schedule, compare its last due time (from the runs file; else its
 *     creation) with now: a due time that passed while no scheduler was running is logged as
 *     missed and NOT run late — the schedule runs at its next due time. Then arm a timer for
 *     the next due time.
 *   fire(dueAt): if the schedule's previous run is still going, log that this due time is
 *     skipped; otherwise start a run (not awaited). Either way arm the next due time, computed
 *     from max(dueAt, now) so that a late timer never runs a due time twice nor catches up a burst.
 *   a run: record `running`, do the work (`RunWork`), record success or failure; on failure call
 *     `onFailure` (audit entry, webhook), which must not block.
 *   reload: after schedules changed (API, CLI), timers are re-armed from the file.
 *   stop: no new runs; waits for the running ones.
 *
 * Time comes from a `Clock`, so tests drive it by hand.
 */
import { Cron } from 'croner'
import { UsageError } from '../errors.js'
import type { Schedule, ScheduleRun, ScheduleStore } from './schedule-store.js'
import type { ScheduleStatus } from './schedule-types.js'

export type { ScheduleStatus }

export interface Clock {
  now(): Date
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** Node's timers; long delays are split (setTimeout holds at most ~24.8 days). */
export const systemClock: Clock = {
  now: () => new Date(),
  setTimeout: (callback, ms) => setTimeout(callback, Math.min(ms, 2 ** 31 - 1)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

export type LogLevel = 'info' | 'warn' | 'error'
export type SchedulerLog = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void

/** Who asked for a manual run (the API's token), when known. */
export interface RunActor {
  readonly name: string
  readonly role: 'admin' | 'super_admin'
}

/** Does one run's work; resolves with what it made, throws on failure. */
export type RunWork = (
  schedule: Schedule,
  context: { readonly trigger: 'schedule' | 'manual'; readonly dueAt?: Date; readonly actor?: RunActor },
) => Promise<{ files: string[]; pruned: string[] }>

export interface SchedulerOptions {
  readonly store: ScheduleStore
  readonly work: RunWork
  readonly clock?: Clock
  readonly log?: SchedulerLog
  /** Called after a failed run was recorded; must not block (start the webhook, do not await it). */
  readonly onFailure?: (schedule: Schedule, run: ScheduleRun) => void | Promise<void>
}

/** How many coming due times `status` lists per schedule. */
export const NEXT_RUNS = 5

/** The next `count` due times of `schedule` after `from` (fewer when the expression has no more). */
export function nextDues(schedule: Pick<Schedule, 'cron' | 'timezone'>, from: Date, count: number): Date[] {
  return new Cron(schedule.cron, { timezone: schedule.timezone, paused: true }).nextRuns(count, from)
}

/** The next due time of `schedule` after `from`, or undefined when the expression has no more. */
export function nextDue(schedule: Pick<Schedule, 'cron' | 'timezone'>, from: Date): Date | undefined {
  return new Cron(schedule.cron, { timezone: schedule.timezone, paused: true }).nextRun(from) ?? undefined
}

export class Scheduler {
  readonly #store: ScheduleStore
  readonly #work: RunWork
  readonly #clock: Clock
  readonly #log: SchedulerLog
  readonly #onFailure: SchedulerOptions['onFailure']
  readonly #timers = new Map<string, unknown>()
  readonly #next = new Map<string, Date>()
  readonly #running = new Map<string, Promise<ScheduleRun>>()
  /** Runs whose record is still being written (stop waits for them). */
  readonly #settling = new Set<Promise<ScheduleRun>>()
  /** Runs of this process, newer than the runs file while it is being written. */
  readonly #lastRuns = new Map<string, ScheduleRun>()
  #stopped = true
  #generation = 0

  constructor(options: SchedulerOptions) {
    this.#store = options.store
    this.#work = options.work
    this.#clock = options.clock ?? systemClock
    this.#log = options.log ?? (() => undefined)
    this.#onFailure = options.onFailure
  }

  /** Arms every enabled schedule; logs due times missed while no scheduler ran. */
  async start(): Promise<void> {
    this.#stopped = false
    await this.#arm(true)
  }

  /** Re-reads the schedules and re-arms the timers (after a create, update or delete). */
  async reload(): Promise<void> {
    if (this.#stopped) return
    await this.#arm(false)
  }

  /** Stops arming and starting runs, then waits for the running ones. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#generation++
    for (const handle of this.#timers.values()) this.#clock.clearTimeout(handle)
    this.#timers.clear()
    this.#next.clear()
    await Promise.allSettled([...this.#running.values(), ...this.#settling])
  }

  /** The next due time the scheduler has armed for a schedule. */
  nextRunOf(id: string): Date | undefined {
    return this.#next.get(id)
  }

  isRunning(id: string): boolean {
    return this.#running.has(id)
  }

  /** Each schedule with its next run and last result. */
  async status(): Promise<ScheduleStatus[]> {
    const [schedules, runs] = await Promise.all([this.#store.list(), this.#store.runs()])
    const now = this.#clock.now()
    return schedules.map((schedule) => {
      const next = this.#next.get(schedule.id) ?? (schedule.enabled ? nextDue(schedule, now) : undefined)
      // The armed due time first, then the ones after it.
      const nextRuns = next ? [next, ...nextDues(schedule, next, NEXT_RUNS - 1)] : []
      return {
        schedule,
        nextRunAt: next?.toISOString(),
        nextRuns: nextRuns.map((d) => d.toISOString()),
        lastRun: this.#lastRuns.get(schedule.id) ?? runs[schedule.id],
        running: this.#running.has(schedule.id),
      }
    })
  }

  /**
   * Runs a schedule now (POST /api/schedules/{id}/run, `schedule run --now`). Throws UsageError
   * (code ALREADY_RUNNING) when its previous run is still going. Resolves with the finished run.
   */
  async runNow(id: string, options: { actor?: RunActor } = {}): Promise<ScheduleRun> {
    const schedule = await this.#store.get(id)
    if (this.#running.has(id)) throw new UsageError(`Schedule "${schedule.name}" is running now: wait for that run to finish.`, { code: 'ALREADY_RUNNING' })
    return this.#execute(schedule, 'manual', undefined, options.actor)
  }

  /**
   * Marks a schedule's failed last run as seen (the page's banner goes), in the runs file and in
   * this scheduler's own memory of its runs, which `status` reads first.
   */
  async acknowledge(id: string): Promise<ScheduleRun | undefined> {
    const mine = this.#lastRuns.get(id)
    if (mine && mine.outcome === 'failure') this.#lastRuns.set(id, { ...mine, acknowledged: true })
    return this.#store.acknowledge(id)
  }

  async #arm(checkMissed: boolean): Promise<void> {
    const generation = ++this.#generation
    const [schedules, runs] = await Promise.all([this.#store.list(), this.#store.runs()])
    if (generation !== this.#generation) return
    for (const handle of this.#timers.values()) this.#clock.clearTimeout(handle)
    this.#timers.clear()
    this.#next.clear()
    const now = this.#clock.now()
    for (const schedule of schedules) {
      if (!schedule.enabled) continue
      if (checkMissed) {
        const last = runs[schedule.id]?.dueAt ?? runs[schedule.id]?.startedAt ?? schedule.updatedAt
        const expected = nextDue(schedule, new Date(last))
        if (expected && expected.getTime() < now.getTime()) {
          const next = nextDue(schedule, now)
          this.#log('warn', `schedule "${schedule.name}" missed its run due at ${expected.toISOString()} (no scheduler was running then); it runs at its next due time ${next?.toISOString() ?? '(none)'}`, {
            schedule: schedule.id,
            missedAt: expected.toISOString(),
          })
        }
      }
      this.#armOne(schedule, now, generation)
    }
  }

  #armOne(schedule: Schedule, from: Date, generation: number): void {
    const due = nextDue(schedule, from)
    if (!due || this.#stopped || generation !== this.#generation) return
    this.#next.set(schedule.id, due)
    const wait = () => {
      const left = due.getTime() - this.#clock.now().getTime()
      const handle = this.#clock.setTimeout(() => {
        if (this.#stopped || generation !== this.#generation) return
        // A timer may fire early (long delays are split, clocks drift): wait for the rest.
        if (this.#clock.now().getTime() < due.getTime()) return wait()
        this.#fire(schedule, due, generation)
      }, Math.max(0, left))
      this.#timers.set(schedule.id, handle)
    }
    wait()
  }

  #fire(schedule: Schedule, dueAt: Date, generation: number): void {
    if (this.#running.has(schedule.id)) {
      this.#log('warn', `schedule "${schedule.name}": the run due at ${dueAt.toISOString()} is skipped, the previous run is still going`, { schedule: schedule.id })
    } else {
      void this.#execute(schedule, 'schedule', dueAt)
    }
    const now = this.#clock.now()
    this.#armOne(schedule, now.getTime() > dueAt.getTime() ? now : dueAt, generation)
  }

  #execute(schedule: Schedule, trigger: 'schedule' | 'manual', dueAt?: Date, actor?: RunActor): Promise<ScheduleRun> {
    const started = this.#clock.now()
    const base = { trigger, startedAt: started.toISOString(), ...(dueAt ? { dueAt: dueAt.toISOString() } : {}) }
    this.#lastRuns.set(schedule.id, { ...base, outcome: 'running' })
    // The 'running' record is written while the work already goes on: the work must start at its due time.
    const recorded = this.#store.recordRun(schedule.id, { ...base, outcome: 'running' }).catch((error) => this.#log('error', `cannot record the run: ${(error as Error).message}`))
    this.#log('info', `schedule "${schedule.name}": ${trigger} run started`, { schedule: schedule.id })
    // The work alone is what "running" means: once it is done, the next due time may start
    // another run while this one's record is still being written.
    const work = (async (): Promise<ScheduleRun> => {
      try {
        const made = await this.#work(schedule, { trigger, dueAt, actor })
        this.#log('info', `schedule "${schedule.name}": run succeeded`, { schedule: schedule.id, files: made.files })
        return { ...base, outcome: 'success', finishedAt: this.#clock.now().toISOString(), files: made.files, pruned: made.pruned }
      } catch (error) {
        const message = (error as Error).message
        this.#log('error', `schedule "${schedule.name}": run failed: ${message}`, { schedule: schedule.id })
        return { ...base, outcome: 'failure', finishedAt: this.#clock.now().toISOString(), error: message, acknowledged: false }
      }
    })()
    this.#running.set(schedule.id, work)
    const whole = work.then(async (run) => {
      if (this.#running.get(schedule.id) === work) this.#running.delete(schedule.id)
      this.#lastRuns.set(schedule.id, run)
      if (run.outcome === 'failure') {
        try {
          await this.#onFailure?.(schedule, run)
        } catch (error) {
          this.#log('error', `schedule "${schedule.name}": the failure alert failed: ${(error as Error).message}`, { schedule: schedule.id })
        }
      }
      await recorded
      // Acknowledged meanwhile (the page, while the alert went out): keep that.
      const latest = this.#lastRuns.get(schedule.id)
      const final = latest?.startedAt === run.startedAt ? latest : run
      await this.#store.recordRun(schedule.id, final)
      return final
    })
    this.#settling.add(whole)
    whole.finally(() => this.#settling.delete(whole)).catch(() => undefined)
    return whole
  }
}
