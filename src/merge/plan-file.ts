/**
 * Saved merge plans: `analyze --plan FILE` writes one, `merge --plan FILE` applies it exactly, or
 * refuses (MergeRefusedError 'stale-plan', exit 3, nothing changed) when anything it was computed
 * from has changed.
 *
 * A plan is JSON Lines, so that it is written and read in bounded memory in the same order the
 * merge processes records:
 *
 *   {"format":"mergeback-plan","version":1,"createdAt":…,"backup":{"file":…,"sha256":…},
 *    "database":{"engine":…,"database":…},"options":{…}}             ← header
 *   {"t":"User","k":"u01","d":"new","f":null}                         ← one per keyed record
 *   {"t":"User","k":"u02","d":"conflict:backup","f":"<fingerprint>"}
 *   {"t":"AuditLog","rows":2000,"n":12,"u":1988}                      ← one per batch of a table
 *                                                                        without any key
 *   {"end":true,"entries":3,"sha256":"…"}                            ← count and hash of the lines above
 *
 * `f` is the fingerprint (plan.ts recordFingerprint) of the current record the decision depends
 * on, or null when there was none. Applying re-runs the same deterministic merge with the plan's
 * options against the same backup file (its sha256 is checked first) and compares record by
 * record: a different fingerprint — including a record that now exists where the plan said `new`
 * — or a different decision or sequence means the plan is stale. A table without a key is checked
 * by its per-batch counts of inserted and already-present rows. Everything happens inside the
 * merge's transaction, so a refusal rolls back whatever was written before the difference was met.
 */
import { randomBytes, createHash, type Hash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { z } from 'zod'
import type { Engine, Row, WireValue } from '../adapters/adapter.js'
import { MergeRefusedError, UsageError } from '../errors.js'
import type { Decision, RecordDecision } from './plan.js'
import { parseResolutions, type Resolution } from './resolutions.js'
import { STRATEGIES, type Strategy } from './strategies.js'
import { keyString, type MergeTable } from './table-info.js'

/** The header's `format`: what marks a file as a plan. */
export const PLAN_FORMAT = 'mergeback-plan'
/** The plan layout's version; a reader refuses others. */
export const PLAN_VERSION = 1

/** The options a plan fixes: applying it uses these, never the command line's. */
export interface PlanOptions {
  readonly strategy: Strategy
  readonly preserveNewer: boolean
  readonly timestampField: string | null
  readonly tables: readonly string[] | null
  readonly exclude: readonly string[] | null
  readonly resolutions: readonly Resolution[]
  readonly batchSize: number
  /**
   * Three-way merge (issue #18): the base backup's file name and SHA-256 (applying the plan needs
   * the same base file), or absent / null for a two-way merge.
   */
  readonly base?: { readonly file: string; readonly sha256: string } | null
  /** Three-way merge: whether deletions are applied (`--apply-deletions`). */
  readonly applyDeletions?: boolean
}

/** The first line of a plan: what it was computed from. */
export interface PlanHeader {
  readonly format: typeof PLAN_FORMAT
  readonly version: typeof PLAN_VERSION
  readonly createdAt: string
  readonly backup: { readonly file: string; readonly sha256: string }
  readonly database: { readonly engine: Engine; readonly database: string }
  readonly options: PlanOptions
}

const DECISIONS = [
  'new',
  'unchanged',
  'updated',
  'kept',
  'conflict:backup',
  'conflict:current',
  'conflict:merged',
  'conflict:unresolved',
  'deletedInBackup',
  'deleted',
  'deletedHere',
  'deletedBoth',
] as const

const HeaderSchema = z.object({
  format: z.literal(PLAN_FORMAT),
  version: z.literal(PLAN_VERSION),
  createdAt: z.string(),
  backup: z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  database: z.object({ engine: z.enum(['postgres', 'mysql', 'sqlite', 'mongodb']), database: z.string() }),
  options: z.object({
    strategy: z.enum(STRATEGIES),
    preserveNewer: z.boolean(),
    timestampField: z.string().nullable(),
    tables: z.array(z.string()).nullable(),
    exclude: z.array(z.string()).nullable(),
    resolutions: z.array(z.unknown()),
    batchSize: z.number().int().positive(),
    base: z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).nullable().optional(),
    applyDeletions: z.boolean().optional(),
  }),
})

const RecordEntrySchema = z.object({ t: z.string(), k: z.json(), d: z.enum(DECISIONS), f: z.string().nullable() })
const RowBatchEntrySchema = z.object({ t: z.string(), rows: z.number().int(), n: z.number().int(), u: z.number().int() })
const EndSchema = z.object({ end: z.literal(true), entries: z.number().int(), sha256: z.string() })

type RecordEntry = { readonly t: string; readonly k: WireValue; readonly d: Decision; readonly f: string | null }
type RowBatchEntry = { readonly t: string; readonly rows: number; readonly n: number; readonly u: number }

/** The sha256 (hex) of a file's bytes, as stored (compressed and encrypted files included). */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

const FLUSH_BYTES = 1 << 16

/**
 * Writes a plan next to its final path and renames it into place on commit() (after fsync), so a
 * failed or interrupted analyze never leaves a plan that looks whole.
 */
export class PlanWriter {
  readonly #file: string
  readonly #temp: string
  readonly #handle: fs.promises.FileHandle
  readonly #hash: Hash = createHash('sha256')
  #buffer: string[] = []
  #bufferBytes = 0
  #entries = 0

  private constructor(file: string, temp: string, handle: fs.promises.FileHandle) {
    this.#file = file
    this.#temp = temp
    this.#handle = handle
  }

  /** Starts a plan at `file` with its header. Throws UsageError when the directory cannot be written. */
  static async create(file: string, header: PlanHeader): Promise<PlanWriter> {
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
    let handle: fs.promises.FileHandle
    try {
      handle = await fs.promises.open(temp, 'wx')
    } catch (cause) {
      throw new UsageError(`Cannot write the plan ${file}: ${(cause as Error).message}`, { code: 'BAD_PLAN', cause })
    }
    const writer = new PlanWriter(file, temp, handle)
    await writer.#line(header)
    return writer
  }

  /** Records one keyed record's decision. */
  async record(table: string, decision: RecordDecision): Promise<void> {
    this.#entries++
    await this.#line({ t: table, k: decision.reportKey, d: decision.decision, f: decision.fingerprint })
  }

  /** Records one batch of a table without any key: how many rows were inserted and found present. */
  async rowBatch(table: string, rows: number, inserted: number, present: number): Promise<void> {
    this.#entries++
    await this.#line({ t: table, rows, n: inserted, u: present })
  }

  /** Finishes the plan and moves it into place. */
  async commit(): Promise<void> {
    const end = JSON.stringify({ end: true, entries: this.#entries, sha256: this.#hash.digest('hex') })
    this.#buffer.push(`${end}\n`)
    await this.#flush()
    await this.#handle.sync()
    await this.#handle.close()
    await fs.promises.rename(this.#temp, this.#file)
  }

  /** Discards the plan. Safe to call after a failure, and more than once. */
  async abort(): Promise<void> {
    await this.#handle.close().catch(() => undefined)
    await fs.promises.rm(this.#temp, { force: true })
  }

  async #line(value: unknown): Promise<void> {
    const text = `${JSON.stringify(value)}\n`
    this.#hash.update(text)
    this.#buffer.push(text)
    this.#bufferBytes += text.length
    if (this.#bufferBytes >= FLUSH_BYTES) await this.#flush()
  }

  async #flush(): Promise<void> {
    if (this.#buffer.length === 0) return
    const chunk = this.#buffer.join('')
    this.#buffer = []
    this.#bufferBytes = 0
    await this.#handle.write(chunk)
  }
}

/**
 * Reads a plan in step with a merge and refuses at the first difference (see the module header).
 * Malformed plan files are UsageErrors (exit 2); differences are MergeRefusedError 'stale-plan'.
 */
export class PlanReader {
  readonly header: PlanHeader
  readonly #file: string
  readonly #lines: AsyncIterator<string>
  readonly #close: () => void
  readonly #hash: Hash = createHash('sha256')
  #entries = 0

  private constructor(file: string, header: PlanHeader, lines: AsyncIterator<string>, close: () => void) {
    this.#file = file
    this.header = header
    this.#lines = lines
    this.#close = close
  }

  /** Opens a plan and validates its header. Throws UsageError (code BAD_PLAN) when it cannot be read or is not a plan. */
  static async open(file: string): Promise<PlanReader> {
    let stream: fs.ReadStream
    try {
      await fs.promises.access(file, fs.constants.R_OK)
      stream = fs.createReadStream(file, { encoding: 'utf8' })
    } catch (cause) {
      throw new UsageError(`Cannot read the plan ${file}: ${(cause as Error).message}`, { code: 'BAD_PLAN', cause })
    }
    const rl = readline.createInterface({ input: stream, crlfDelay: Infinity })
    const lines = rl[Symbol.asyncIterator]()
    const close = () => {
      rl.close()
      stream.destroy()
    }
    const first = await lines.next()
    const bad = (why: string) => {
      close()
      return new UsageError(`${file} is not a mergeback plan: ${why}.`, { code: 'BAD_PLAN' })
    }
    if (first.done) throw bad('it is empty')
    let parsed: unknown
    try {
      parsed = JSON.parse(first.value)
    } catch {
      throw bad('its first line is not JSON')
    }
    const header = HeaderSchema.safeParse(parsed)
    if (!header.success) throw bad(`bad header (${header.error.issues[0].path.join('.')}: ${header.error.issues[0].message})`)
    const reader = new PlanReader(file, { ...header.data, options: { ...header.data.options, resolutions: parseResolutions(header.data.options.resolutions, `resolutions in the plan ${file}`) } }, lines, close)
    reader.#hash.update(`${first.value}\n`)
    return reader
  }

  /** Checks the next keyed record's decision against the plan. */
  async expectRecord(table: MergeTable, decision: RecordDecision): Promise<void> {
    const entry = await this.#next(RecordEntrySchema, table.name)
    if (entry === null || entry.t !== table.name || planKeyString(table, entry.k) !== decision.key) {
      throw stale(
        `the plan does not list record ${JSON.stringify(decision.reportKey)} of table ${JSON.stringify(table.name)} next: the database's keys or foreign keys changed since`,
        table.name,
        decision.reportKey,
      )
    }
    if (entry.f !== decision.fingerprint) {
      const what = entry.f === null ? 'now exists (the plan inserts it)' : decision.fingerprint === null ? 'no longer exists' : 'changed'
      throw stale(`record ${JSON.stringify(decision.reportKey)} of table ${JSON.stringify(table.name)} ${what} since the plan was made`, table.name, decision.reportKey)
    }
    if (entry.d !== decision.decision) {
      throw stale(
        `record ${JSON.stringify(decision.reportKey)} of table ${JSON.stringify(table.name)} would now be ${decision.decision}, the plan says ${entry.d}`,
        table.name,
        decision.reportKey,
      )
    }
  }

  /** Checks one batch of a table without any key against the plan. */
  async expectRowBatch(table: string, rows: number, inserted: number, present: number): Promise<void> {
    const entry = await this.#next(RowBatchEntrySchema, table)
    if (entry === null || entry.t !== table || entry.rows !== rows) {
      throw stale(`the plan does not list this batch of table ${JSON.stringify(table)} next`, table)
    }
    if (entry.n !== inserted || entry.u !== present) {
      throw stale(
        `table ${JSON.stringify(table)} (no key) changed since the plan was made: ${present} of ${rows} backup rows are present now, the plan found ${entry.u}`,
        table,
      )
    }
  }

  /** Checks that the merge used the whole plan and that the plan file is intact. */
  async expectEnd(): Promise<void> {
    const line = await this.#lines.next()
    if (line.done) throw this.#bad('it is truncated (no end line)')
    let end: z.infer<typeof EndSchema>
    try {
      end = EndSchema.parse(JSON.parse(line.value))
    } catch {
      throw stale('the plan lists records this merge did not meet: the backup or the database changed since')
    }
    if (end.entries !== this.#entries || end.sha256 !== this.#hash.digest('hex')) throw this.#bad('it was modified or truncated')
  }

  /** Releases the file. Idempotent. */
  close(): void {
    this.#close()
  }

  async #next<T extends RecordEntry | RowBatchEntry>(schema: z.ZodType<T>, table: string): Promise<T | null> {
    const line = await this.#lines.next()
    if (line.done) throw this.#bad('it is truncated (no end line)')
    this.#hash.update(`${line.value}\n`)
    this.#entries++
    let value: unknown
    try {
      value = JSON.parse(line.value)
    } catch {
      throw this.#bad(`line ${this.#entries + 1} is not JSON`)
    }
    if (EndSchema.safeParse(value).success) {
      throw stale(`the plan has no more records, but table ${JSON.stringify(table)} has: the backup or the database changed since`, table)
    }
    const parsed = schema.safeParse(value)
    return parsed.success ? parsed.data : null
  }

  #bad(why: string): UsageError {
    return new UsageError(`The plan ${this.#file} cannot be used: ${why}.`, { code: 'BAD_PLAN' })
  }
}

function planKeyString(table: MergeTable, key: WireValue): string {
  const row: Row = {}
  if (table.keyColumns.length === 1) row[table.keyColumns[0]] = key
  else if (key !== null && typeof key === 'object' && !Array.isArray(key)) Object.assign(row, key)
  return keyString(table, row)
}

function stale(message: string, table?: string, key?: WireValue): MergeRefusedError {
  return new MergeRefusedError(`Stale plan: ${message}. Nothing was changed; run analyze --plan again.`, 'stale-plan', {
    details: { table, key },
  })
}

/** A stale-plan refusal for differences found outside the record stream (backup file, options). */
export function stalePlan(message: string): MergeRefusedError {
  return stale(message)
}
