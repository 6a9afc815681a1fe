/**
 * A second read connection on its own thread, in the same snapshot as the source's (issue #17,
 * docs/performance.md §Round ten: SQLite backup on two threads). A SQLite backup's main thread
 * was SQLite building every row's record line (sqlRecordLines) and then writing it; with this
 * thread, SQLite's part runs here while the main thread writes the lines of the chunk before.
 *
 * One snapshot on two connections (better-sqlite3 has no `sqlite3_snapshot_*`), by locking:
 *   1. a third connection opens the file read-write and takes `BEGIN IMMEDIATE`: the write lock
 *      (RESERVED in rollback-journal mode, the WAL write lock in WAL mode). No other connection
 *      can commit while it is held; readers still can read. Busy at once → no second thread.
 *   2. the source's connection and this thread's each `BEGIN` and read: their snapshots are now
 *      fixed, and they are the same, since nothing was committed in between.
 *   3. the locking connection rolls back and closes. From here on, in WAL mode writers commit
 *      beside the two readers (which go on seeing their snapshot); in rollback-journal mode their
 *      commits wait for both readers' shared locks, as they waited for the one before.
 * test/integration/adapters/sqlite-reader-thread.test.ts checks both modes with a writer.
 *
 * The thread is plain JavaScript run with `new Worker(source, { eval: true })`, as the digest
 * index's (storage/digest-index-worker.ts): the same text works under dist/, tsx and vitest. It
 * requires better-sqlite3 by the path the main thread resolved.
 *
 * Messages (main → thread):
 *   { type: 'read', id, sql, batchSize, credits }  run `sql` (`.raw()`, first column the line as
 *                                                  a BLOB, then the raw columns of sqlRecordLines)
 *                                                  and send its rows in chunks; at most `credits`
 *                                                  chunks ahead of the acks
 *   { type: 'ack', id }                            one chunk taken: one more may be read
 *   { type: 'stop', id }                           the reader left early: finalize the statement
 *   { type: 'close' }                              roll back, close the file, exit
 * (thread → main):
 *   { type: 'ready' }                              its snapshot is taken
 *   { type: 'chunk', id, data, gaps, done }        `data`: the lines of up to batchSize rows, one
 *                                                  transferred buffer; `gaps`: [column, value] pairs
 *                                                  flat, in order, one per 0x01 byte of `data`
 *                                                  (the raw columns that are not NULL)
 *   { type: 'error', id, message, code }           a SQLite error (id 0: while opening)
 */
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { UsageError } from '../../errors.js'

/** Chunks the thread may read ahead of the main thread (each about 1 MB). */
const CREDITS = 3

const READER_WORKER_SOURCE = String.raw`
'use strict'
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const reads = new Map()
let db
function fail(id, error) {
  parentPort.postMessage({ type: 'error', id, message: String((error && error.message) || error), code: error && typeof error.code === 'string' ? error.code : undefined })
}
function pump(id) {
  const read = reads.get(id)
  if (read === undefined) return
  try {
    while (read.credits > 0) {
      const lines = []
      const gaps = []
      let done = false
      let total = 0
      while (lines.length < read.batchSize) {
        const next = read.iterator.next()
        if (next.done) {
          done = true
          break
        }
        const row = next.value
        lines.push(row[0])
        total += row[0].length
        for (let i = 1; i < row.length; i++) if (row[i] !== null) gaps.push(i - 1, row[i])
      }
      // A buffer of its own (not a slice of Node's pool), so that it can be transferred.
      const data = new Uint8Array(total)
      let at = 0
      for (const line of lines) {
        data.set(line, at)
        at += line.length
      }
      read.credits--
      if (done) reads.delete(id)
      parentPort.postMessage({ type: 'chunk', id, data, gaps, done }, [data.buffer])
      if (done) return
    }
  } catch (error) {
    reads.delete(id)
    try { read.iterator.return() } catch {}
    fail(id, error)
  }
}
try {
  db = new Database(workerData.file, { readonly: true, fileMustExist: true, timeout: workerData.timeoutMs })
  db.defaultSafeIntegers(true)
  db.pragma('cache_size = -' + workerData.cacheKib)
  db.exec('BEGIN')
  db.prepare('SELECT count(*) FROM main.sqlite_schema').get()
  parentPort.postMessage({ type: 'ready' })
} catch (error) {
  fail(0, error)
}
parentPort.on('message', (message) => {
  if (message.type === 'read') {
    let iterator
    try {
      iterator = db.prepare(message.sql).raw(true).iterate()
    } catch (error) {
      fail(message.id, error)
      return
    }
    reads.set(message.id, { iterator, batchSize: message.batchSize, credits: message.credits })
    pump(message.id)
  } else if (message.type === 'ack') {
    const read = reads.get(message.id)
    if (read !== undefined) {
      read.credits++
      pump(message.id)
    }
  } else if (message.type === 'stop') {
    const read = reads.get(message.id)
    reads.delete(message.id)
    if (read !== undefined) try { read.iterator.return() } catch {}
  } else if (message.type === 'close') {
    for (const read of reads.values()) try { read.iterator.return() } catch {}
    reads.clear()
    try {
      if (db !== undefined) {
        if (db.inTransaction) db.exec('ROLLBACK')
        db.close()
      }
    } finally {
      parentPort.close()
    }
  }
})
`

/** One chunk from the thread: lines with 0x01 gaps, and the [column, value] pairs that fill them. */
export interface ReaderChunk {
  readonly data: Buffer
  readonly gaps: readonly unknown[]
}

type FromThread =
  | { type: 'ready' }
  | { type: 'chunk'; id: number; data: Uint8Array; gaps: unknown[]; done: boolean }
  | { type: 'error'; id: number; message: string; code?: string }

interface Pending {
  chunks: ReaderChunk[]
  done: boolean
  error?: Error
  wake?: () => void
}

/** A SQLite error as better-sqlite3 raises it, so that withErrors maps it as it maps the main thread's. */
function sqliteError(message: string, code: string | undefined): Error {
  return code === undefined ? new Error(message) : new Database.SqliteError(message, code)
}

/** The thread (module header). Made by `SqliteReaderThread.start`, after the write lock is taken. */
export class SqliteReaderThread {
  readonly #worker: Worker
  readonly #reads = new Map<number, Pending>()
  #nextId = 1
  #closed = false
  #failure: Error | undefined
  readonly #exited: Promise<void>

  private constructor(worker: Worker) {
    this.#worker = worker
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()))
    worker.on('message', (message: FromThread) => this.#receive(message))
    worker.on('error', (error) => this.#fail(error))
    worker.once('exit', () => this.#fail(new Error('The SQLite reader thread stopped.')))
  }

  /** Starts the thread and resolves once its snapshot is taken; rejects (and ends the thread) when it cannot open the file. */
  static async start(file: string, timeoutMs: number, cacheKib: number): Promise<SqliteReaderThread> {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3')
    const worker = new Worker(READER_WORKER_SOURCE, { eval: true, workerData: { file, timeoutMs, cacheKib, driver } })
    let onMessage: (message: FromThread) => void = () => undefined
    let onError: (error: Error) => void = () => undefined
    let onExit: () => void = () => undefined
    const ready = new Promise<void>((resolve, reject) => {
      onMessage = (message) => {
        if (message.type === 'ready') resolve()
        else if (message.type === 'error') reject(sqliteError(message.message, message.code))
      }
      onError = reject
      onExit = () => reject(new Error('The SQLite reader thread stopped before its snapshot was taken.'))
      worker.on('message', onMessage).on('error', onError).on('exit', onExit)
    })
    try {
      await ready
    } catch (error) {
      await worker.terminate()
      throw error
    } finally {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit)
    }
    return new SqliteReaderThread(worker)
  }

  /**
   * The rows of `sql` in chunks of `batchSize`, read on the thread while the caller works on the
   * chunk before. Leaving early stops the statement on the thread.
   */
  async *read(sql: string, batchSize: number, signal?: AbortSignal): AsyncGenerator<ReaderChunk> {
    if (this.#closed) throw new UsageError('The SQLite reader thread is closed.')
    const id = this.#nextId++
    const pending: Pending = { chunks: [], done: false }
    this.#reads.set(id, pending)
    this.#worker.postMessage({ type: 'read', id, sql, batchSize, credits: CREDITS })
    let finished = false
    try {
      for (;;) {
        signal?.throwIfAborted()
        const chunk = pending.chunks.shift()
        if (chunk !== undefined) {
          // One taken, one more may be read (the thread has forgotten a read it finished).
          if (!pending.done) this.#worker.postMessage({ type: 'ack', id })
          yield chunk
          continue
        }
        if (pending.error !== undefined) throw pending.error
        if (pending.done) {
          finished = true
          return
        }
        if (this.#failure !== undefined) throw this.#failure
        await new Promise<void>((resolve) => (pending.wake = resolve))
        pending.wake = undefined
      }
    } finally {
      this.#reads.delete(id)
      if (!finished && !this.#closed && this.#failure === undefined) this.#worker.postMessage({ type: 'stop', id })
    }
  }

  /** Ends the thread: its transaction is rolled back and its file closed. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#worker.postMessage({ type: 'close' })
    const timer = setTimeout(() => void this.#worker.terminate(), 5000)
    await this.#exited
    clearTimeout(timer)
  }

  #receive(message: FromThread): void {
    if (message.type === 'ready') return
    const pending = this.#reads.get(message.id)
    if (pending === undefined) return
    if (message.type === 'error') pending.error = sqliteError(message.message, message.code)
    else {
      pending.chunks.push({ data: Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength), gaps: message.gaps })
      if (message.done) pending.done = true
    }
    pending.wake?.()
  }

  #fail(error: Error): void {
    if (this.#closed || this.#failure !== undefined) return
    this.#failure = error
    for (const pending of this.#reads.values()) pending.wake?.()
  }
}
