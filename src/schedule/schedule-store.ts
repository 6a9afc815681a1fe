/**
 * Schedules and their run history, kept in the server's state directory
 * (docs/operations.md §Schedules):
 *
 *   <state>/schedules.json       { version: 1, schedules: [Schedule…] }            what to run
 *   <state>/schedule-runs.json   { version: 1, runs: { <id>: ScheduleRun } }       each schedule's last run
 *
 * Both are written atomically (temporary file, fsync, rename). A schedule is validated as a
 * whole before anything is written (`parseScheduleInput`): a malformed cron expression, an
 * unknown time zone, a webhook that is not http(s), a remote that is not s3://, retention that
 * keeps nothing — each a UsageError naming the field, and the file is left as it was.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { Cron } from 'croner'
import { z } from 'zod'
import { NotFoundError, UsageError } from '../errors.js'
import { ensureDirectory, writeFileAtomic } from '../storage/atomic-file.js'
import { checkBackupName } from '../storage/naming.js'
import { checkPolicy, type RetentionPolicy } from '../storage/retention.js'
import { parseRemoteUrl } from '../remote/s3-remote.js'
import type { Schedule, ScheduleFields, ScheduleRun } from './schedule-types.js'

export const SCHEDULES_FILE = 'schedules.json'
export const RUNS_FILE = 'schedule-runs.json'

const count = z.number().int().min(0).max(100_000)

/** What a person gives to create or replace a schedule (the API body, `schedule add`). */
export const scheduleInputSchema = z
  .object({
    /** Backup name of this schedule's backups (file names `<name>-<time>…`); retention applies to this name only. */
    name: z.string(),
    /** Five- or six-field cron expression (croner syntax). */
    cron: z.string().min(1),
    /** IANA time zone the cron expression is read in. */
    timezone: z.string().default('UTC'),
    /** Database alias of the server configuration (default: the default database). */
    database: z.string().optional(),
    kind: z.enum(['smart', 'full']).default('smart'),
    gzip: z.boolean().default(false),
    encrypt: z.boolean().default(false),
    tables: z.array(z.string().min(1)).optional(),
    exclude: z.array(z.string().min(1)).optional(),
    destination: z.enum(['local', 'remote', 'both']).default('local'),
    /** s3://bucket/prefix, required when the destination includes the remote. */
    remote: z.string().optional(),
    retention: z.object({ keepLast: count.optional(), keepDaily: count.optional(), keepWeekly: count.optional(), keepMonthly: count.optional() }).strict().optional(),
    /** Alert: POSTed as JSON when a run fails. */
    webhook: z.string().optional(),
    enabled: z.boolean().default(true),
  })
  .strict()

export type ScheduleInput = z.input<typeof scheduleInputSchema>

export type { Schedule, ScheduleRun } from './schedule-types.js'

/** The zod schema and the shared type describe the same fields (a compile-time check: the output fits the type, and no field is on one side only). */
type Validated = z.output<typeof scheduleInputSchema>
type OneSideOnly = Exclude<keyof Validated, keyof ScheduleFields> | Exclude<keyof ScheduleFields, keyof Validated>
const sameFields: [Validated extends ScheduleFields ? true : false, [OneSideOnly] extends [never] ? true : false] = [true, true]
void sameFields

/** Throws UsageError unless `expression` is a cron expression croner accepts and `timezone` is an IANA zone. Returns the next run after `from`. */
export function checkCron(expression: string, timezone: string, from = new Date()): Date | null {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone })
  } catch {
    throw new UsageError(`Unknown time zone ${JSON.stringify(timezone)}: use an IANA name such as "UTC", "Europe/Berlin" or "America/New_York".`, {
      code: 'BAD_TIMEZONE',
    })
  }
  try {
    return new Cron(expression, { timezone, paused: true }).nextRun(from)
  } catch (cause) {
    throw new UsageError(`Malformed cron expression ${JSON.stringify(expression)}: ${(cause as Error).message}. Example: "0 3 * * *" (03:00 every day).`, {
      code: 'BAD_CRON',
      cause,
    })
  }
}

/** Validates a schedule as a whole (see the module header). Throws UsageError naming the problem. */
export function parseScheduleInput(input: unknown): ScheduleFields {
  const parsed = scheduleInputSchema.safeParse(input)
  if (!parsed.success) {
    throw new UsageError(`Invalid schedule: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}.`, { code: 'BAD_SCHEDULE' })
  }
  const schedule = parsed.data
  checkBackupName(schedule.name)
  checkCron(schedule.cron, schedule.timezone)
  if (schedule.webhook !== undefined) {
    let url: URL
    try {
      url = new URL(schedule.webhook)
    } catch {
      throw new UsageError(`The webhook ${JSON.stringify(schedule.webhook)} is not a URL: give an http:// or https:// address.`, { code: 'BAD_WEBHOOK' })
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`The webhook must be an http:// or https:// URL, got ${url.protocol}//…`, { code: 'BAD_WEBHOOK' })
    }
  }
  if (schedule.destination !== 'local' && schedule.remote === undefined) {
    throw new UsageError(`destination "${schedule.destination}" needs a remote (s3://bucket/prefix).`, { code: 'BAD_SCHEDULE' })
  }
  if (schedule.remote !== undefined) parseRemoteUrl(schedule.remote)
  if (schedule.retention) checkPolicy(schedule.retention as RetentionPolicy)
  if (schedule.kind === 'full' && (schedule.tables || schedule.exclude)) {
    throw new UsageError('A full backup is the whole database: tables and exclude are for smart backups.', { code: 'BAD_SCHEDULE' })
  }
  return schedule
}

/** The schedules and runs files of one state directory. Writes are serialised within the process. */
export class ScheduleStore {
  readonly stateDir: string
  #queue: Promise<unknown> = Promise.resolve()

  constructor(stateDir: string) {
    this.stateDir = path.resolve(stateDir)
  }

  async list(): Promise<Schedule[]> {
    return (await this.#read<{ schedules: Schedule[] }>(SCHEDULES_FILE, { schedules: [] })).schedules
  }

  async get(id: string): Promise<Schedule> {
    const found = (await this.list()).find((s) => s.id === id)
    if (!found) throw new NotFoundError(`No schedule "${id}" (see mergeback schedule status).`)
    return found
  }

  /** Validates and adds a schedule; a name another schedule has is refused (retention works per name). */
  async create(input: unknown, now = new Date()): Promise<Schedule> {
    const valid = parseScheduleInput(input)
    return this.#write(async () => {
      const schedules = await this.list()
      if (schedules.some((s) => s.name === valid.name)) throw new UsageError(`A schedule named "${valid.name}" exists already: names keep schedules' backups apart.`, { code: 'DUPLICATE_SCHEDULE' })
      const schedule: Schedule = { ...valid, id: `sch_${randomBytes(6).toString('hex')}`, createdAt: now.toISOString(), updatedAt: now.toISOString() }
      await this.#save(SCHEDULES_FILE, { version: 1, schedules: [...schedules, schedule] })
      return schedule
    })
  }

  /** Replaces a schedule's settings (all of them, validated as for create). */
  async update(id: string, input: unknown, now = new Date()): Promise<Schedule> {
    const valid = parseScheduleInput(input)
    return this.#write(async () => {
      const schedules = await this.list()
      const index = schedules.findIndex((s) => s.id === id)
      if (index < 0) throw new NotFoundError(`No schedule "${id}".`)
      if (schedules.some((s) => s.id !== id && s.name === valid.name)) throw new UsageError(`A schedule named "${valid.name}" exists already.`, { code: 'DUPLICATE_SCHEDULE' })
      const schedule: Schedule = { ...valid, id, createdAt: schedules[index]!.createdAt, updatedAt: now.toISOString() }
      schedules[index] = schedule
      await this.#save(SCHEDULES_FILE, { version: 1, schedules })
      return schedule
    })
  }

  async remove(id: string): Promise<Schedule> {
    return this.#write(async () => {
      const schedules = await this.list()
      const found = schedules.find((s) => s.id === id)
      if (!found) throw new NotFoundError(`No schedule "${id}".`)
      await this.#save(SCHEDULES_FILE, { version: 1, schedules: schedules.filter((s) => s.id !== id) })
      const runs = await this.runs()
      delete runs[id]
      await this.#save(RUNS_FILE, { version: 1, runs })
      return found
    })
  }

  async runs(): Promise<Record<string, ScheduleRun>> {
    return (await this.#read<{ runs: Record<string, ScheduleRun> }>(RUNS_FILE, { runs: {} })).runs
  }

  async recordRun(id: string, run: ScheduleRun): Promise<void> {
    await this.#write(async () => {
      const runs = await this.runs()
      runs[id] = run
      await this.#save(RUNS_FILE, { version: 1, runs })
    })
  }

  /** Marks a failed last run as seen (the page's banner goes away; `status` still reports it). */
  async acknowledge(id: string): Promise<ScheduleRun | undefined> {
    return this.#write(async () => {
      const runs = await this.runs()
      if (!runs[id]) return undefined
      runs[id] = { ...runs[id]!, acknowledged: true }
      await this.#save(RUNS_FILE, { version: 1, runs })
      return runs[id]
    })
  }

  #write<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work)
    this.#queue = next.catch(() => undefined)
    return next
  }

  async #read<T>(file: string, empty: T): Promise<T> {
    let text: string
    try {
      text = await fs.readFile(path.join(this.stateDir, file), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return empty
      throw error
    }
    try {
      return JSON.parse(text) as T
    } catch (cause) {
      throw new UsageError(`${path.join(this.stateDir, file)} is not valid JSON: fix or remove it.`, { code: 'BAD_STATE', cause })
    }
  }

  async #save(file: string, content: unknown): Promise<void> {
    await ensureDirectory(this.stateDir)
    await writeFileAtomic(path.join(this.stateDir, file), `${JSON.stringify(content, null, 2)}\n`)
  }
}
