/**
 * Every error mergeback raises, grouped by who has to act (STYLE.md §1.3).
 *
 * The CLI maps these onto exit codes in exactly one place (`src/cli/exit-codes.ts`)
 * and the HTTP server onto statuses in one place; nothing else matches on them.
 * Match on `instanceof` or `code`, never on `message`.
 *
 * Messages never contain passwords: build them from `redactUrl()` output only.
 */

export interface ErrorDetails {
  readonly [key: string]: unknown
}

/** Base class: a string `code`, ES `cause`, and structured `details` for `--json` / the API. */
export abstract class MergebackError extends Error {
  abstract readonly code: string
  readonly details: ErrorDetails

  constructor(message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.details = options.details ?? {}
  }
}

/** Bad arguments, configuration, an unknown table, a schema that does not fit, a missing capability. Exit 2. */
export class UsageError extends MergebackError {
  override readonly name = 'UsageError'
  readonly code: string
  constructor(message: string, options: { code?: string; cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options)
    this.code = options.code ?? 'USAGE'
  }
}

/** A file, backup or table that does not exist. Exit 2, HTTP 404. */
export class NotFoundError extends MergebackError {
  override readonly name = 'NotFoundError'
  readonly code = 'NOT_FOUND'
}

/** The backup file is not a backup, is malformed, or uses an unsupported version. Exit 2. */
export class FormatError extends MergebackError {
  override readonly name = 'FormatError'
  readonly code = 'BAD_FORMAT'
  /** Byte offset in the (decompressed, decrypted) JSON text where the problem was found, when known. */
  readonly byteOffset?: number
  /** Table and zero-based record index, when the problem is inside a record. */
  readonly table?: string
  readonly recordIndex?: number

  constructor(
    message: string,
    options: { cause?: unknown; byteOffset?: number; table?: string; recordIndex?: number; details?: ErrorDetails } = {},
  ) {
    super(message, {
      cause: options.cause,
      details: { ...options.details, byteOffset: options.byteOffset, table: options.table, recordIndex: options.recordIndex },
    })
    this.byteOffset = options.byteOffset
    this.table = options.table
    this.recordIndex = options.recordIndex
  }
}

export type IntegrityReason = 'wrong-passphrase' | 'tampered' | 'truncated' | 'checksum' | 'decompressed-too-large' | 'broken-chain'

/** A checksum or authentication tag does not match, the file was truncated, or the passphrase is wrong. Exit 2. */
export class IntegrityError extends MergebackError {
  override readonly name = 'IntegrityError'
  readonly code = 'INTEGRITY'
  readonly reason: IntegrityReason
  constructor(message: string, reason: IntegrityReason, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, { cause: options.cause, details: { ...options.details, reason } })
    this.reason = reason
  }
}

/** The database could not be reached, or refused the credentials. `retryable` when it may work later. Exit 1. */
export class ConnectionError extends MergebackError {
  override readonly name = 'ConnectionError'
  readonly code = 'CONNECTION'
  readonly retryable: boolean
  constructor(message: string, options: { cause?: unknown; retryable?: boolean; details?: ErrorDetails } = {}) {
    super(message, options)
    this.retryable = options.retryable ?? true
  }
}

/**
 * The engine refused a statement. Keeps the engine's own code (SQLSTATE, MySQL errno, Mongo code)
 * and, where known, the table, the row's key and the constraint. Exit 1: the transaction was rolled back.
 */
export class DatabaseError extends MergebackError {
  override readonly name = 'DatabaseError'
  readonly code = 'DATABASE'
  readonly engineCode?: string
  readonly table?: string
  readonly key?: unknown
  readonly constraint?: string
  constructor(
    message: string,
    options: { cause?: unknown; engineCode?: string; table?: string; key?: unknown; constraint?: string; details?: ErrorDetails } = {},
  ) {
    super(message, {
      cause: options.cause,
      details: { ...options.details, engineCode: options.engineCode, table: options.table, key: options.key, constraint: options.constraint },
    })
    this.engineCode = options.engineCode
    this.table = options.table
    this.key = options.key
    this.constraint = options.constraint
  }
}

export type MergeRefusal = 'unresolved-conflicts' | 'stale-plan'

/** A merge that would not be safe: unresolved conflicts under `manual`, or a plan whose records changed. Exit 3. */
export class MergeRefusedError extends MergebackError {
  override readonly name = 'MergeRefusedError'
  readonly code = 'MERGE_REFUSED'
  readonly reason: MergeRefusal
  constructor(message: string, reason: MergeRefusal, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, { cause: options.cause, details: { ...options.details, reason } })
    this.reason = reason
  }
}

/** A request without a valid credential: no token, a malformed one, an unknown or revoked one. HTTP 401, exit 2. */
export class AuthenticationError extends MergebackError {
  override readonly name = 'AuthenticationError'
  readonly code = 'UNAUTHENTICATED'
}

/** A valid credential whose role may not do this (e.g. an `admin` restoring with drop). HTTP 403, exit 2. */
export class ForbiddenError extends MergebackError {
  override readonly name = 'ForbiddenError'
  readonly code = 'FORBIDDEN'
}

/** Another operation holds what this one needs (one restore or merge per database at a time). HTTP 409, exit 1. */
export class BusyError extends MergebackError {
  override readonly name = 'BusyError'
  readonly code = 'BUSY'
}

/** Input larger than the configured limit (an upload body). HTTP 413, exit 2. */
export class TooLargeError extends MergebackError {
  override readonly name = 'TooLargeError'
  readonly code = 'TOO_LARGE'
}

/** Our own bug. Printed with its stack. Exit 1. */
export class InternalError extends MergebackError {
  override readonly name = 'InternalError'
  readonly code = 'INTERNAL'
}

/** Turns anything thrown into a MergebackError, keeping it as `cause`. */
export function asMergebackError(error: unknown): MergebackError {
  if (error instanceof MergebackError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new InternalError(message, { cause: error })
}
