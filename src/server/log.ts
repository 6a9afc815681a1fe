/**
 * Structured logs: one JSON object per line on stderr (docs/api.md §Starting the server).
 *
 * Callers pass only fields that are safe to show: request paths without their query string
 * (a download token travels there), actors by name and role, database URLs redacted. As a last
 * line of defence, values that look like a bearer or download token are masked here too.
 */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

const SECRET = /\b(mbk|dlt)_[A-Za-z0-9_-]{8,}/g

function mask(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(SECRET, '$1_***')
  if (Array.isArray(value)) return value.map(mask)
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v)]))
  return value
}

/** A logger writing JSON lines to `write` (default: stderr). */
export function createLogger(write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const emit = (level: string, msg: string, fields: Record<string, unknown> = {}) => {
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...(mask(fields) as Record<string, unknown>) })}\n`)
  }
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  }
}

/** A logger that drops everything (tests of pieces that log). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} }
