/**
 * Opening SQLite files, quoting, and turning better-sqlite3's errors into mergeback's.
 *
 * better-sqlite3 is synchronous: every call here runs to completion on the calling thread. The
 * Source and Destination keep their async interfaces by doing bounded work per call (one batch).
 *
 * Opening never creates a file by accident: a Source opens read-only and requires the file; a
 * Destination creates it only when asked (`create: true`) and reports whether it did, so that a
 * failed restore can remove it again.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import type { Capabilities } from '../adapter.js'
import { ConnectionError, DatabaseError, MergebackError, NotFoundError, UsageError } from '../../errors.js'

export type SqliteDatabase = Database.Database
export type SqliteStatement = Database.Statement<unknown[], unknown>

/** Quotes an identifier ("Audit Log", names with quotes) for SQL text. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** Quotes a string literal. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`
}

/** The shape of better-sqlite3's SqliteError that we read (its extended result code name). */
interface SqliteErrorLike {
  readonly code: string
  readonly message: string
}

/** Is this an error raised by SQLite itself (as opposed to a TypeError from the driver, or ours)? */
export function isSqliteError(error: unknown): error is Error & SqliteErrorLike {
  return error instanceof Database.SqliteError
}

/** What the caller was doing, to put in the message and the error's fields. */
export interface ErrorContext {
  /** The database file. */
  readonly file: string
  readonly table?: string
  /** The row's key (or, without one, the row) in wire encoding. */
  readonly key?: unknown
  /** A few words: "inserting into", "reading", "committing". */
  readonly action?: string
}

function constraintOf(message: string): string | undefined {
  // "UNIQUE constraint failed: User.email", "CHECK constraint failed: amount_positive",
  // "NOT NULL constraint failed: User.name", "FOREIGN KEY constraint failed".
  const match = /constraint failed(?::\s*(.+))?$/i.exec(message)
  return match?.[1]?.trim() || undefined
}

/**
 * Maps anything thrown while talking to SQLite onto mergeback's error classes (STYLE.md §1.3):
 * constraint violations → DatabaseError with table, key and constraint; a locked database →
 * retryable ConnectionError; a file that is not a database → UsageError; MergebackErrors pass
 * through unchanged. The SQLite error is kept as `cause`.
 */
export function toMergebackError(error: unknown, context: ErrorContext): Error {
  if (error instanceof MergebackError) return error
  if (!isSqliteError(error)) return error instanceof Error ? error : new Error(String(error))
  const where = context.table === undefined ? context.file : `table "${context.table}" of ${context.file}`
  const keyText = context.key === undefined ? '' : ` (key ${JSON.stringify(context.key)})`
  const code = error.code
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    return new DatabaseError(`${error.message}${keyText} in ${where}.`, {
      cause: error,
      engineCode: code,
      table: context.table,
      key: context.key,
      constraint: constraintOf(error.message),
    })
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new ConnectionError(`${context.file} is locked by another connection (${error.message}); try again when it is free.`, {
      cause: error,
      retryable: true,
    })
  }
  if (code === 'SQLITE_NOTADB') {
    return new UsageError(`${context.file} is not a SQLite database (${error.message}).`, { code: 'NOT_A_DATABASE', cause: error })
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return new ConnectionError(`Cannot open ${context.file}: ${error.message}.`, { cause: error, retryable: false })
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_AUTH')) {
    return new ConnectionError(`${context.file} cannot be written: ${error.message}.`, { cause: error, retryable: false })
  }
  const action = context.action ? `${context.action} ` : ''
  return new DatabaseError(`SQLite failed ${action}${where}${keyText}: ${error.message}`, {
    cause: error,
    engineCode: code,
    table: context.table,
    key: context.key,
  })
}

/** Runs `fn`, mapping whatever it throws with `toMergebackError`. */
export function withErrors<T>(context: ErrorContext, fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw toMergebackError(error, context)
  }
}

/**
 * Opens an existing database file read-only. Throws NotFoundError when there is no such file,
 * UsageError for a directory or a file that is not a SQLite database, ConnectionError when it
 * cannot be opened.
 */
export function openReadOnly(file: string, timeoutMs: number): SqliteDatabase {
  const stat = statOrUndefined(file)
  if (!stat) throw new NotFoundError(`SQLite database ${file} does not exist.`)
  if (stat.isDirectory()) throw new UsageError(`${file} is a directory, not a SQLite database file.`, { code: 'NOT_A_DATABASE' })
  const db = withErrors({ file, action: 'opening' }, () => new Database(file, { readonly: true, fileMustExist: true, timeout: timeoutMs }))
  db.defaultSafeIntegers(true)
  return db
}

/**
 * Opens a database file for writing, creating it when it does not exist (its directory must).
 * `created` tells whether this call made the file, so a failed restore can remove it.
 */
export function openReadWrite(file: string, timeoutMs: number): { db: SqliteDatabase; created: boolean } {
  const stat = statOrUndefined(file)
  if (stat?.isDirectory()) throw new UsageError(`${file} is a directory, not a SQLite database file.`, { code: 'NOT_A_DATABASE' })
  if (!stat) {
    const dir = path.dirname(path.resolve(file))
    if (!statOrUndefined(dir)?.isDirectory()) {
      throw new NotFoundError(`Cannot create SQLite database ${file}: directory ${dir} does not exist.`)
    }
  }
  const db = withErrors({ file, action: 'opening' }, () => new Database(file, { fileMustExist: stat !== undefined, timeout: timeoutMs }))
  db.defaultSafeIntegers(true)
  return { db, created: stat === undefined }
}

/** The files SQLite may keep beside a database (rollback journal, write-ahead log, its index). */
export function sidecarFiles(file: string): string[] {
  return [`${file}-journal`, `${file}-wal`, `${file}-shm`]
}

/** Removes a database file this process created, and its sidecars. Never throws for a missing file. */
export function removeDatabaseFile(file: string): void {
  for (const candidate of [file, ...sidecarFiles(file)]) fs.rmSync(candidate, { force: true })
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined
    throw new ConnectionError(`Cannot read ${file}: ${(error as Error).message}`, { cause: error, retryable: false })
  }
}

/** What SQLite can do (adapter.ts `Capabilities`): one file, one transaction for everything. */
export const SQLITE_CAPABILITIES = {
  consistentSnapshot: true,
  transactionalWrite: true,
  transactionalDdl: true,
  bulkLoad: 'insert-batch',
} as const satisfies Capabilities
