/**
 * MySQL/MariaDB connections: URL → mysql2 options, opening a session with mergeback's fixed
 * session settings, and mapping driver errors onto ConnectionError / DatabaseError.
 *
 * Every session mergeback opens is set up the same way, so that values never depend on the
 * server's or the client's configuration:
 * - `time_zone = '+00:00'`: TIMESTAMP values are read and written as UTC wall-clock text;
 * - connection character set utf8mb4 (handshake collation utf8mb4_general_ci): emoji survive;
 * - a fixed sql_mode: strict (a value that does not fit is an error, never a silent truncation),
 *   NO_AUTO_VALUE_ON_ZERO (an id 0 is restored as 0, not replaced by the next AUTO_INCREMENT),
 *   and neither NO_ZERO_DATE nor NO_ZERO_IN_DATE (zero dates round-trip) nor NO_BACKSLASH_ESCAPES
 *   (the literal escaping in mysql-values relies on backslash escapes);
 * - mysql2 returns DATE/DATETIME/TIMESTAMP, BIGINT, DECIMAL and JSON as the server's text.
 * The client flag FOUND_ROWS is turned off so that `affectedRows` counts rows really changed:
 * `INSERT … ON DUPLICATE KEY UPDATE k = k` then reports 1 per inserted row and 0 per skipped one.
 */
import type { Connection, ConnectionOptions } from 'mysql2/promise'
import type { ConnectionConfig } from '../adapter.js'
import { ConnectionError, DatabaseError, MergebackError, UsageError } from '../../errors.js'

/** The session sql_mode of every mergeback connection (see the module comment). */
export const SESSION_SQL_MODE = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'

/** An open, configured connection and what mergeback learned about the server. */
export interface MysqlSession {
  readonly connection: Connection
  readonly flavor: 'mariadb' | 'mysql'
  /** `SELECT VERSION()`, e.g. "10.11.6-MariaDB-0+deb12u1". */
  readonly version: string
  /** The server's max_allowed_packet in bytes: the largest statement it accepts. */
  readonly maxAllowedPacket: number
  /** Whether the server accepts LOAD DATA LOCAL INFILE (@@local_infile; off by default in MySQL 8). */
  readonly localInfile: boolean
  readonly config: ConnectionConfig
}

/** A mysql2 error as the driver throws it (only the fields mergeback reads). */
export interface MysqlDriverError extends Error {
  readonly code?: string
  readonly errno?: number
  readonly sqlState?: string
  readonly sqlMessage?: string
  readonly fatal?: boolean
}

/** A driver or socket error (as opposed to one of mergeback's own errors). */
export function isDriverError(error: unknown): error is MysqlDriverError {
  return error instanceof Error && !(error instanceof MergebackError) && ('errno' in error || 'code' in error)
}

/**
 * mysql2 options for a `mysql://` or `mariadb://` URL. Query parameters understood:
 * `ssl=true|required` (verify the certificate), `ssl=skip-verify`, `socket=/path/to/mysqld.sock`,
 * `local-infile=0` (never use LOAD DATA LOCAL INFILE: restores use INSERT statements only, as
 * the mysql client's `--local-infile=0`). Throws UsageError for anything else in the query
 * string, so a typo is not silently ignored.
 */
export function connectionOptions(config: ConnectionConfig): ConnectionOptions {
  let url: URL
  try {
    url = new URL(config.url)
  } catch (cause) {
    throw new UsageError(`Malformed database URL ${config.redacted}.`, { code: 'BAD_URL', cause })
  }
  const options: ConnectionOptions = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username) || 'root',
    password: decodeURIComponent(url.password),
    database: config.database,
    charset: 'UTF8MB4_GENERAL_CI',
    timezone: 'Z',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    jsonStrings: true,
    multipleStatements: false,
    flags: ['-FOUND_ROWS'],
    connectTimeout: config.connectTimeoutMs ?? 5000,
  }
  for (const [name, value] of url.searchParams) {
    if (name === 'ssl' && /^(true|1|required|verify)$/i.test(value)) options.ssl = { rejectUnauthorized: true }
    else if (name === 'ssl' && /^skip-verify$/i.test(value)) options.ssl = { rejectUnauthorized: false }
    else if (name === 'ssl' && /^(false|0|disabled)$/i.test(value)) options.ssl = undefined
    else if (name === 'socket') options.socketPath = value
    else if (name === 'local-infile' && /^(0|false|off)$/i.test(value)) options.flags = ['-FOUND_ROWS', '-LOCAL_FILES']
    else if (name === 'local-infile' && /^(1|true|on)$/i.test(value)) continue
    else {
      throw new UsageError(
        `Database URL ${config.redacted} has an unknown parameter "${name}=${value}": MySQL URLs accept ssl=true|skip-verify, socket=PATH and local-infile=0|1.`,
        { code: 'BAD_URL' },
      )
    }
  }
  return options
}

const ACCESS_DENIED = new Set([1044, 1045, 1698, 1251])
const UNKNOWN_DATABASE = 1049
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE'])

/** Maps a failure to connect onto a one-line ConnectionError naming the redacted URL. */
export function toConnectionError(error: unknown, config: ConnectionConfig): ConnectionError {
  const e = isDriverError(error) ? error : undefined
  const where = config.redacted
  const details = { url: where, engineCode: e?.errno ?? e?.code }
  if (e?.errno !== undefined && ACCESS_DENIED.has(e.errno)) {
    return new ConnectionError(`MySQL refused the credentials for ${where}: ${e.sqlMessage ?? e.message}`, { cause: error, retryable: false, details })
  }
  if (e?.errno === UNKNOWN_DATABASE) {
    return new ConnectionError(`Database "${config.database}" does not exist on the MySQL server at ${where}.`, { cause: error, retryable: false, details })
  }
  if (e?.code === 'ETIMEDOUT') {
    return new ConnectionError(`Could not connect to MySQL at ${where}: no answer within ${config.connectTimeoutMs ?? 5000} ms.`, { cause: error, details })
  }
  if (e?.code !== undefined && NETWORK_CODES.has(e.code)) {
    return new ConnectionError(`Could not connect to MySQL at ${where}: ${e.code} (${e.message}).`, { cause: error, details })
  }
  const message = error instanceof Error ? error.message : String(error)
  return new ConnectionError(`Could not connect to MySQL at ${where}: ${message}`, { cause: error, details })
}

/** Context added to a DatabaseError raised by a statement. */
export interface StatementContext {
  readonly table?: string
  readonly key?: unknown
  readonly constraint?: string
  /** What mergeback was doing, for the message: "inserting into `User`". */
  readonly action?: string
}

/**
 * Wraps a driver error raised by a statement. Server errors become DatabaseError keeping errno
 * (as `engineCode`), SQLSTATE and the server's message; a lost connection becomes ConnectionError.
 * Errors that already are mergeback errors pass through.
 */
export function toStatementError(error: unknown, context: StatementContext = {}): Error {
  if (!isDriverError(error)) return error instanceof Error ? error : new Error(String(error))
  // mysql2 attaches the whole statement: it can hold megabytes of the user's data, which
  // must not travel into logs and --json error details.
  delete (error as { sql?: string }).sql
  if (error.errno === undefined || error.fatal) {
    return new ConnectionError(`Lost the MySQL connection${context.action ? ` while ${context.action}` : ''}: ${error.message}`, { cause: error })
  }
  const constraint = context.constraint ?? constraintFromMessage(error.sqlMessage ?? error.message)
  const prefix = context.action ? `Failed ${context.action}` : 'MySQL refused a statement'
  const keyText = context.key === undefined ? '' : ` (key ${JSON.stringify(context.key)})`
  return new DatabaseError(`${prefix}${keyText}: ${error.sqlMessage ?? error.message} [${error.code ?? error.errno}]`, {
    cause: error,
    engineCode: String(error.errno),
    table: context.table,
    key: context.key,
    constraint,
    details: { sqlState: error.sqlState, errorName: error.code },
  })
}

/** The constraint a server message names, e.g. "CONSTRAINT `chk_x` failed" or "for key 'uq_email'". */
function constraintFromMessage(message: string): string | undefined {
  return (
    /CONSTRAINT [`'"]([^`'"]+)[`'"]/.exec(message)?.[1] ??
    /for key [`'"]([^`'"]+)[`'"]/.exec(message)?.[1]?.replace(/^.*\./, '') ??
    undefined
  )
}

/** The 1-based row number a server message points at ("… at row 3"), if any. */
export function rowNumberFromMessage(error: unknown): number | undefined {
  if (!isDriverError(error)) return undefined
  const match = / at row (\d+)/.exec(error.sqlMessage ?? error.message)
  return match ? Number(match[1]) : undefined
}

/**
 * Opens one connection with mergeback's session settings. Throws ConnectionError (wrong password,
 * unknown database, unreachable host) within `connectTimeoutMs`, with the redacted URL.
 */
export async function openSession(config: ConnectionConfig): Promise<MysqlSession> {
  const options = connectionOptions(config)
  const mysql = await import('mysql2/promise')
  const timeoutMs = config.connectTimeoutMs ?? 5000
  let timer: NodeJS.Timeout | undefined
  let connection: Connection
  const connecting = mysql.createConnection(options)
  try {
    // mysql2's connectTimeout covers the TCP connect; this also bounds DNS and the handshake.
    connection = await Promise.race([
      connecting,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), timeoutMs + 250)
      }),
    ])
  } catch (error) {
    connecting.then((late) => late.destroy()).catch(() => undefined)
    throw toConnectionError(error, config)
  } finally {
    clearTimeout(timer)
  }
  // A server that drops the connection later must not crash the process with an unhandled 'error'.
  connection.on('error', () => undefined)
  try {
    await connection.query(`SET SESSION time_zone = '+00:00', SESSION sql_mode = '${SESSION_SQL_MODE}'`)
    const [rows] = await connection.query<import('mysql2').RowDataPacket[]>('SELECT VERSION() AS version, @@max_allowed_packet AS maxAllowedPacket, @@local_infile AS localInfile')
    const version = String(rows[0].version)
    return {
      connection,
      flavor: /mariadb/i.test(version) ? 'mariadb' : 'mysql',
      version,
      maxAllowedPacket: Number(rows[0].maxAllowedPacket),
      localInfile: Number(rows[0].localInfile) === 1 && !(options.flags as string[]).includes('-LOCAL_FILES'),
      config,
    }
  } catch (error) {
    connection.destroy()
    throw toConnectionError(error, config)
  }
}

/** Ends a connection politely, destroying it if the server does not answer. Never throws. */
export async function endSession(session: MysqlSession): Promise<void> {
  try {
    await session.connection.end()
  } catch {
    session.connection.destroy()
  }
}
