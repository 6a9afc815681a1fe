/**
 * The one place where errors become exit codes (DESIGN.md §6):
 * 0 done; 1 failed (nothing changed); 2 bad usage or bad input file; 3 merge refused;
 * 4 cancelled by the user at a confirmation prompt (nothing was done).
 */
import {
  AuthenticationError,
  BusyError,
  ConnectionError,
  ForbiddenError,
  TooLargeError,
  DatabaseError,
  FormatError,
  IntegrityError,
  InternalError,
  MergeRefusedError,
  MergebackError,
  NotFoundError,
  UsageError,
  asMergebackError,
} from '../errors.js'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_BAD_INPUT = 2
export const EXIT_MERGE_REFUSED = 3
/** The user answered "no" at a confirmation prompt: nothing was done. */
export const EXIT_CANCELLED = 4

export function exitCodeFor(error: unknown): number {
  const e = asMergebackError(error)
  if (e instanceof UsageError && e.code === 'CANCELLED') return EXIT_CANCELLED
  if (e instanceof UsageError || e instanceof NotFoundError || e instanceof FormatError || e instanceof IntegrityError) return EXIT_BAD_INPUT
  if (e instanceof AuthenticationError || e instanceof ForbiddenError || e instanceof TooLargeError) return EXIT_BAD_INPUT
  if (e instanceof MergeRefusedError) return EXIT_MERGE_REFUSED
  if (e instanceof ConnectionError || e instanceof DatabaseError || e instanceof InternalError) return EXIT_FAILED
  return EXIT_FAILED
}

/**
 * The HTTP status of an error (docs/api.md §Errors), the server's twin of `exitCodeFor`: 400 bad
 * input, 401/403 auth, 404 unknown, 409 busy / name taken / stale plan / a chain link increments need, 413 too large, 422 a file
 * that is damaged or not a backup, a merge refused for unresolved conflicts, data the database
 * refused (rolled back), 502 database unreachable, 500 only for our bugs.
 */
export function httpStatusFor(error: unknown): number {
  const e = asMergebackError(error)
  if (e instanceof AuthenticationError) return 401
  if (e instanceof ForbiddenError) return 403
  if (e instanceof NotFoundError) return 404
  if (e instanceof BusyError) return 409
  if (e instanceof TooLargeError) return 413
  if (e instanceof UsageError) return e.code === 'FILE_EXISTS' || e.code === 'CHAIN_LINK_NEEDED' ? 409 : e.code === 'RANGE_NOT_SATISFIABLE' ? 416 : 400
  if (e instanceof IntegrityError) return e.reason === 'decompressed-too-large' ? 413 : 422
  // A file beyond one of the reader's limits (details.limit names it) is too large, not damaged.
  if (e instanceof FormatError) return typeof e.details.limit === 'string' ? 413 : 422
  if (e instanceof MergeRefusedError) return e.reason === 'stale-plan' ? 409 : 422
  if (e instanceof DatabaseError) return 422
  if (e instanceof ConnectionError) return 502
  return 500
}

/** The JSON shape of a failure, for `--json` and the HTTP API: `{ success: false, error, code, details }`. */
export function errorDocument(error: unknown): { success: false; error: string; code: string; details: Record<string, unknown> } {
  const e = asMergebackError(error)
  const details = Object.fromEntries(Object.entries(e.details).filter(([, v]) => v !== undefined))
  return { success: false, error: e.message, code: e.code, details }
}

/** One line for a person. Internal errors (our bugs) keep their stack so they can be reported. */
export function errorLine(error: unknown): string {
  const e: MergebackError = asMergebackError(error)
  if (e instanceof InternalError) {
    const cause = e.cause instanceof Error ? e.cause : e
    return `mergeback: internal error: ${e.message}\n${cause.stack ?? ''}\nPlease report this.`
  }
  // One line, whatever the message quotes (a driver's or JSON.parse's text may hold newlines).
  return `mergeback: ${e.message.replace(/\s*[\r\n]+\s*/g, ' ')}`
}
