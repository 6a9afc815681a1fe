/**
 * Reading one big table on two sessions of one snapshot (docs/performance.md §Round six: backup
 * on two sessions).
 *
 * A backup's time on PostgreSQL is the server's: turning each row into its JSON text
 * (`row_to_json`) runs on one backend per session, and this process waits for it. pg_dump -j
 * spreads tables over sessions that share the exporting session's snapshot; mergeback writes one
 * file whose tables and records come in a fixed order (tables by foreign keys, records by key),
 * and its largest table is most of the time, so it splits that table instead:
 *
 * 1. The reading session exports its snapshot once (`pg_export_snapshot()`, right after BEGIN);
 *    a helper session imports it (`SET TRANSACTION SNAPSHOT`), so both see the same rows.
 * 2. A table of at least SPLIT_MIN_BYTES with a primary key whose first column is of a kind
 *    that orders plainly is cut at a bound: the median of the first key column in a sample of
 *    its pages (`TABLESAMPLE SYSTEM … REPEATABLE`, a few hundred pages, no full scan). Rows with
 *    `k < bound` and rows with `k >= bound` partition the table exactly, whatever the bound (a
 *    key column is never NULL), and every row of the first part comes before every row of the
 *    second in key order. The bound travels as an untyped literal, which PostgreSQL reads with
 *    the column type's input function in both sessions alike.
 * 3. The helper runs the second part's COPY at once and writes its output, as it comes, to a
 *    temporary file unlinked as soon as it is opened (CopySpool), in the backup's own directory
 *    (SourceOptions.spoolDir: a disk meant for backups, where /tmp may be a RAM disk): the
 *    server's two backends work at the same time, memory does not grow, and the kernel frees the
 *    file when it is closed or the process dies.
 * 4. The reading session streams the first part to the consumer, then the spool is read back,
 *    following the file while the helper is still writing it. The consumer sees exactly the
 *    bytes one session would have sent: the same lines, in the same order.
 *
 * The same split serves analyze's read of the current rows' digests (postgres-destination.ts
 * readRowDigests, read-only sessions only): the first part through the destination's cursor, the
 * second spooled by the helper (docs/performance.md §Round eleven: analyze's digest read on two
 * sessions). SplitSessions holds what both share (the snapshot, the helper, the bound);
 * readInTwoParts the order of the parts and the fallback below.
 *
 * A helper that cannot be opened (too many connections, a standby that cannot import) leaves the
 * table to one session. A helper that fails before the first part is through (its connection
 * killed, its temporary file refused) has passed nothing on: the reading session then reads the
 * second part itself, the same bytes. One that fails while its part is being passed on fails the
 * read with its error. A consumer that stops early closes the helper's connection (its COPY dies
 * with it).
 *
 * @module
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import type pg from 'pg'
import copyStreams from 'pg-copy-streams'
import type { ConnectionConfig } from '../adapter.js'
import { openSession, readyForQuery, toDatabaseError } from './postgres-connection.js'
import { quoteLiteral } from './postgres-sql.js'

/** Tables smaller than this (heap bytes) are read on one session: a split would not pay its set-up. */
export const SPLIT_MIN_BYTES = 32 * 1024 * 1024

/** SPLIT_MIN_BYTES, or MERGEBACK_PG_SPLIT_MIN_BYTES when set to a whole number of bytes (tuning, tests). */
export function splitMinBytes(): number {
  const value = Number(process.env.MERGEBACK_PG_SPLIT_MIN_BYTES)
  return Number.isSafeInteger(value) && value >= 1 ? value : SPLIT_MIN_BYTES
}

/** Pages the bound's sample reads (about): enough rows for a median within a few percent. */
const SAMPLE_PAGES = 400

/** The spool hands out chunks of up to this many bytes. */
const SPOOL_READ_BYTES = 1024 * 1024

/** Key kinds whose text PostgreSQL reads back as an untyped literal (any value splits exactly; these only keep the literal plain). */
const SPLITTABLE_KINDS = new Set(['integer', 'bigint', 'decimal', 'float', 'text', 'enum', 'date', 'timestamp', 'timestamptz', 'time'])

/** Whether a table whose first key column is of `kind` may be split. */
export function splittableKind(kind: string): boolean {
  return SPLITTABLE_KINDS.has(kind)
}

/** The TABLESAMPLE percentage that reads about SAMPLE_PAGES of a table of `pages` pages. */
export function samplePercent(pages: number): number {
  if (pages <= SAMPLE_PAGES) return 100
  return Math.max(0.001, Math.round((SAMPLE_PAGES / pages) * 100 * 1000) / 1000)
}

/** A table as SplitSessions.split needs it (a PgTable has these). */
export interface SplitTable {
  readonly oid: number | string
  readonly relkind: string
  readonly schema: { readonly name: string }
}

/** Where SplitSessions.split cut a table: the helper, and the WHERE clauses of the two parts. */
export interface Split {
  readonly helper: HelperSession
  readonly before: string
  readonly after: string
}

/**
 * The exported snapshot of a reading session and the helper session on it (opened the first time
 * a table is split; refused for good when the server will not have it), shared by every table
 * the session reads.
 */
export class SplitSessions {
  readonly #config: ConnectionConfig
  readonly #snapshot: string
  readonly #minBytes: number
  /** Where the helper's spools go. */
  readonly spoolDir: string
  #helper: HelperSession | undefined
  #refused = false
  /** The tables split so far, in order. */
  readonly tables: string[] = []

  constructor(config: ConnectionConfig, snapshot: string, options: { readonly minBytes: number; readonly spoolDir: string }) {
    this.#config = config
    this.#snapshot = snapshot
    this.#minBytes = options.minBytes
    this.spoolDir = options.spoolDir
  }

  /**
   * Exports the snapshot of `client`'s transaction, begun by `begin`; undefined when the server
   * refuses (the transaction is then begun again without it). Must come first in the transaction:
   * a snapshot cannot be exported from a subtransaction, and a refusal aborts the transaction.
   */
  static async exportSnapshot(client: pg.Client, begin: string): Promise<string | undefined> {
    return client.query('SELECT pg_catalog.pg_export_snapshot() AS id').then(
      (result) => (result.rows[0] as { id: string }).id,
      async () => {
        await client.query('ROLLBACK')
        await client.query(begin)
        return undefined
      },
    )
  }

  /**
   * Where to cut `table`, read on `client` (the exporting session), at `key` (its first key
   * column as the rows are ordered by it; `from` the FROM clause): undefined to read it whole
   * there (not an ordinary table, smaller than minBytes, an empty sample, no helper to be had).
   * Behind a savepoint: a refusal (a statement timeout, a type without a median) leaves the
   * snapshot usable.
   */
  async split(client: pg.Client, table: SplitTable, key: string, from: string): Promise<Split | undefined> {
    if (this.#refused || table.relkind !== 'r') return undefined
    const bound = await client.query('SAVEPOINT mergeback_split').then(async () => {
      try {
        const size = await client.query(
          'SELECT pg_catalog.pg_relation_size(c.oid)::text AS bytes, c.relpages FROM pg_catalog.pg_class c WHERE c.oid = $1::oid',
          [table.oid],
        )
        const { bytes, relpages } = size.rows[0] as { bytes: string; relpages: number }
        if (Number(bytes) < this.#minBytes) return undefined
        const sample = await client.query(
          `SELECT (pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY ${key}))::text AS bound
             FROM ${from} TABLESAMPLE SYSTEM (${samplePercent(Math.max(relpages, Number(bytes) / 8192))}) REPEATABLE (0)`,
        )
        return (sample.rows[0] as { bound: string | null } | undefined)?.bound ?? undefined
      } catch {
        await client.query('ROLLBACK TO SAVEPOINT mergeback_split')
        return undefined
      } finally {
        await client.query('RELEASE SAVEPOINT mergeback_split')
      }
    }, (error: unknown) => {
      throw toDatabaseError(error, { action: 'sizing the table', table: table.schema.name })
    })
    if (bound === undefined) return undefined
    const helper = await this.#helperSession()
    if (helper === undefined) return undefined
    this.tables.push(table.schema.name)
    return { helper, before: ` WHERE ${key} < ${quoteLiteral(bound)}`, after: ` WHERE ${key} >= ${quoteLiteral(bound)}` }
  }

  async #helperSession(): Promise<HelperSession | undefined> {
    if (this.#helper === undefined && !this.#refused) {
      this.#helper = await HelperSession.open(this.#config, this.#snapshot).catch(() => {
        this.#refused = true
        return undefined
      })
    }
    return this.#helper
  }

  /** Closes the helper (a COPY still running dies with it); the next split opens another. */
  async dropHelper(): Promise<void> {
    const helper = this.#helper
    this.#helper = undefined
    await helper?.close()
  }
}

/**
 * A split table's read: `first()` (the rows before the bound, on the reading session), then the
 * helper's spooled part through `helped`, or, when the helper failed before any of its bytes were
 * passed on, `alone()` (the same part read on the reading session). Leaving early, or a failure,
 * drops the helper (its COPY dies with its connection); the spool is closed in every case.
 */
export async function* readInTwoParts<T>(
  sessions: SplitSessions,
  spool: CopySpool,
  parts: { readonly first: () => AsyncIterable<T>; readonly helped: (chunks: AsyncIterable<Buffer>) => AsyncIterable<T>; readonly alone: () => AsyncIterable<T> },
): AsyncGenerator<T, void, undefined> {
  let completed = false
  try {
    yield* parts.first()
    if (spool.failed) {
      await sessions.dropHelper()
      yield* parts.alone()
    } else yield* parts.helped(spool.read())
    completed = true
  } finally {
    if (!completed || !spool.finished) await sessions.dropHelper()
    await spool.close()
  }
}

/** Pulls chunks from a paused Readable without ever destroying it (so the COPY can be cancelled and drained). */
export class ChunkReader {
  readonly #stream: Readable
  #ended = false
  #error: unknown
  #wake: (() => void) | undefined

  constructor(stream: Readable) {
    this.#stream = stream
    const wake = (): void => {
      const resolve = this.#wake
      this.#wake = undefined
      resolve?.()
    }
    stream.on('readable', wake)
    stream.on('end', () => {
      this.#ended = true
      wake()
    })
    stream.on('error', (error) => {
      this.#error = error
      wake()
    })
  }

  /** True once the stream has ended or failed: nothing more will come from the server. */
  get done(): boolean {
    return this.#ended || this.#error !== undefined
  }

  /** The next chunk, or null at the end. Throws the stream's error. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error
      const chunk = this.#stream.read() as Buffer | null
      if (chunk !== null) return chunk
      if (this.#ended) return null
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
  }
}

/** A second session on the reading session's snapshot, which runs one spooled COPY at a time. */
export class HelperSession {
  readonly #client: pg.Client
  #spool: CopySpool | undefined
  #closed = false

  private constructor(client: pg.Client) {
    this.#client = client
  }

  /** Opens a session and imports `snapshot` (pg_export_snapshot's id). Throws what the server said. */
  static async open(config: ConnectionConfig, snapshot: string): Promise<HelperSession> {
    const client = await openSession(config)
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      await client.query(`SET TRANSACTION SNAPSHOT '${snapshot.replace(/'/g, "''")}'`)
    } catch (error) {
      await client.end().catch(() => {})
      throw error
    }
    return new HelperSession(client)
  }

  get busy(): boolean {
    return this.#spool !== undefined && !this.#spool.finished
  }

  /** Starts `copy` (a COPY … TO STDOUT) and spools its output into a file in `dir`; `table` names it in errors. */
  async spool(copy: string, table: string, dir: string, open?: SpoolOpener): Promise<CopySpool> {
    if (this.busy || this.#closed) throw new Error('the helper session is busy or closed')
    const spool = await CopySpool.start(this.#client, copy, table, dir, open)
    this.#spool = spool
    return spool
  }

  /**
   * Ends the session. A COPY still running, or one whose spool failed (its output no longer
   * read, so the server waits on a full socket), dies with its connection: a COMMIT would wait
   * behind it for ever.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.busy || this.#spool?.failed === true) {
      destroyConnection(this.#client)
      await this.#spool!.settled()
      await this.#client.end().catch(() => {})
      return
    }
    await this.#client.query('COMMIT').catch(() => {})
    await this.#client.end().catch(() => {})
  }
}

/** Drops a session's socket: whatever it was running ends with it, server-side too. */
function destroyConnection(client: pg.Client): void {
  ;(client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy()
}

/** The spool's file refused a write (a full disk): not the database's doing. */
class SpoolWriteError extends Error {}

/** How a spool opens its file (tests give one that fails). */
export type SpoolOpener = (name: string) => Promise<Pick<fs.FileHandle, 'write' | 'read' | 'close'>>

/**
 * One COPY's output in a temporary file, written as it arrives and read back in order by one
 * reader, which waits at the end of what is written until the COPY has ended or failed.
 */
export class CopySpool {
  readonly #file: Pick<fs.FileHandle, 'write' | 'read' | 'close'>
  readonly #table: string
  #written = 0
  #finished = false
  #error: unknown
  #waiters: (() => void)[] = []
  #run: Promise<void> = Promise.resolve()

  private constructor(file: Pick<fs.FileHandle, 'write' | 'read' | 'close'>, table: string) {
    this.#file = file
    this.#table = table
  }

  static async start(client: pg.Client, copy: string, table: string, dir: string, open: SpoolOpener = (name) => fs.open(name, 'wx+', 0o600)): Promise<CopySpool> {
    const name = path.join(dir, `.mergeback-spool-${process.pid}-${Math.random().toString(36).slice(2)}`)
    const file = await open(name)
    // Unlinked at once: the kernel frees it when it is closed, or when this process dies.
    await fs.unlink(name).catch(() => {})
    const spool = new CopySpool(file, table)
    spool.#run = spool.#copy(client, copy, dir)
    return spool
  }

  /** Bytes the COPY has sent so far. */
  get bytes(): number {
    return this.#written
  }

  /** Whether the COPY has failed (read() would throw its error). */
  get failed(): boolean {
    return this.#error !== undefined
  }

  /** Whether the COPY has ended, successfully or not. */
  get finished(): boolean {
    return this.#finished
  }

  /** Resolves once the COPY has ended (never rejects). */
  settled(): Promise<void> {
    return this.#run
  }

  async #copy(client: pg.Client, copy: string, dir: string): Promise<void> {
    let reader: ChunkReader | undefined
    try {
      const stream = client.query(copyStreams.to(copy))
      const finished = readyForQuery(client, stream)
      reader = new ChunkReader(stream)
      for (;;) {
        const chunk = await reader.next()
        if (chunk === null) break
        try {
          for (let at = 0; at < chunk.length; ) {
            const { bytesWritten } = await this.#file.write(chunk, at, chunk.length - at, this.#written + at)
            at += bytesWritten
          }
        } catch (error) {
          // The COPY goes on with nobody reading it: it ends with its connection.
          destroyConnection(client)
          throw new SpoolWriteError(
            `The second session's rows of "${this.#table}" could not be written to a temporary file in ${dir} (${(error as Error).message}): free space there, or run with --jobs 1.`,
            { cause: error },
          )
        }
        this.#written += chunk.length
        this.#wake()
      }
      await finished
    } catch (error) {
      this.#error = error instanceof SpoolWriteError ? error : toDatabaseError(error, { action: 'reading rows on the second session', table: this.#table })
    } finally {
      this.#finished = true
      this.#wake()
    }
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }

  /** The spooled bytes in order, as they are written; throws the COPY's error. */
  async *read(): AsyncGenerator<Buffer, void, undefined> {
    let position = 0
    for (;;) {
      if (this.#error !== undefined) throw this.#error
      if (position < this.#written) {
        const length = Math.min(SPOOL_READ_BYTES, this.#written - position)
        const buffer = Buffer.allocUnsafe(length)
        const { bytesRead } = await this.#file.read(buffer, 0, length, position)
        if (bytesRead === 0) throw new Error(`the spool of "${this.#table}" could not be read back at byte ${position}`)
        position += bytesRead
        yield bytesRead === length ? buffer : buffer.subarray(0, bytesRead)
        continue
      }
      if (this.#finished) return
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  /**
   * Closes the file once the COPY has ended: at once after it, or after the helper's close(),
   * which ends a COPY still running with its connection.
   */
  async close(): Promise<void> {
    await this.#run
    await this.#file.close().catch(() => {})
  }
}
