/**
 * Opening PostgreSQL sessions and turning the driver's errors into mergeback's.
 *
 * Every session the adapter opens is pinned to settings that make PostgreSQL's text output
 * exact and independent of the server's configuration (postgres-values.ts relies on them):
 * UTC time zone, ISO dates, ISO-8601 intervals, shortest-exact floats, hex bytea, UTF-8, and the
 * configured schema as the only search_path entry.
 *
 * Errors are wrapped here, once (STYLE.md §1.3): connection failures become ConnectionError
 * (with the redacted URL and a hint), anything the server refuses becomes DatabaseError keeping
 * SQLSTATE, table, constraint and — parsed from pg's `detail` — the offending key.
 *
 * @module
 */
import net from 'node:net'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import copyStreams from 'pg-copy-streams'
import type { ConnectionConfig } from '../adapter.js'
import { ConnectionError, DatabaseError, InternalError, MergebackError } from '../../errors.js'
import { quoteIdent, quoteLiteral } from './postgres-sql.js'

/** Fields of pg's DatabaseError that we read (declared here rather than imported, STYLE.md §1.2). */
interface PgErrorFields {
  readonly code?: string
  readonly detail?: string
  readonly hint?: string
  readonly table?: string
  readonly column?: string
  readonly constraint?: string
  readonly where?: string
  readonly message: string
}

/** The network errors that mean "could not reach the server". */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE'])

/**
 * Connects and configures a session. Throws ConnectionError within `connectTimeoutMs` (default
 * 5000) when the server cannot be reached, refuses the login, or the database does not exist.
 */
export async function openSession(config: ConnectionConfig): Promise<pg.Client> {
  const timeoutMs = config.connectTimeoutMs ?? 5000
  const client = new pg.Client({
    connectionString: config.url,
    connectionTimeoutMillis: timeoutMs,
    application_name: 'mergeback',
  })
  // An idle client's socket error (server restart, network loss) must not crash the process:
  // the next query on it fails and is reported through the normal path.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    await client.end().catch(() => {})
    throw connectionError(error, config)
  }
  const schema = config.schema ?? 'public'
  try {
    await client.query(
      [
        "SET client_encoding = 'UTF8'",
        "SET TimeZone = 'UTC'",
        "SET DateStyle = 'ISO, YMD'",
        "SET IntervalStyle = 'iso_8601'",
        'SET extra_float_digits = 3',
        "SET bytea_output = 'hex'",
        'SET standard_conforming_strings = on',
        `SET search_path = ${quoteIdent(schema)}`,
      ].join('; '),
    )
  } catch (error) {
    await client.end().catch(() => {})
    throw toDatabaseError(error, { action: 'configuring the session' })
  }
  return client
}

/** A ConnectionError for a failed connect, never quoting the password. */
export function connectionError(error: unknown, config: ConnectionConfig): ConnectionError {
  if (error instanceof ConnectionError) return error
  const fields = error as PgErrorFields
  const reason = fields.message ?? String(error)
  switch (fields.code) {
    case '3D000':
      return new ConnectionError(
        `Database "${config.database}" does not exist on the PostgreSQL server at ${config.redacted}. Create it first (createdb) or check the name.`,
        { cause: error, retryable: false, details: { engineCode: fields.code } },
      )
    case '28P01':
    case '28000':
      return new ConnectionError(`PostgreSQL refused the login for ${config.redacted}: ${reason}. Check the user name, password and pg_hba.conf.`, {
        cause: error,
        retryable: false,
        details: { engineCode: fields.code },
      })
    case '53300':
    case '57P03':
      return new ConnectionError(`PostgreSQL at ${config.redacted} cannot take the connection now: ${reason}.`, {
        cause: error,
        details: { engineCode: fields.code },
      })
  }
  const timedOut = /timeout/i.test(reason)
  const hint = timedOut ? `no answer within ${config.connectTimeoutMs ?? 5000} ms` : reason
  return new ConnectionError(
    `Cannot connect to PostgreSQL at ${config.redacted} (${hint}). Is the server running, and are host and port right?`,
    { cause: error, retryable: true, details: { engineCode: fields.code ?? (timedOut ? 'ETIMEDOUT' : undefined) } },
  )
}

/** Where a statement failed, to name it in the error message. */
export interface ErrorContext {
  /** What we were doing, e.g. `writing rows`. */
  readonly action: string
  readonly table?: string
}

/**
 * Wraps an error thrown by a statement. Server errors become DatabaseError with SQLSTATE, table,
 * constraint, and the key parsed from `Key (a, b)=(1, x)` in the detail. Lost connections
 * become ConnectionError. MergebackErrors pass through unchanged.
 */
export function toDatabaseError(error: unknown, context: ErrorContext): MergebackError {
  if (error instanceof MergebackError) return error
  const fields = error as PgErrorFields
  const code = fields.code
  const message = fields.message ?? String(error)
  if ((code !== undefined && NETWORK_CODES.has(code)) || /Connection terminated|not queryable/i.test(message)) {
    return new ConnectionError(`Lost the connection to PostgreSQL while ${context.action}: ${message}`, { cause: error })
  }
  if (code === undefined || !/^[0-9A-Z]{5}$/.test(code)) {
    return new InternalError(`Unexpected error while ${context.action}: ${message}`, { cause: error })
  }
  const table = fields.table ?? context.table
  const key = parseKey(fields.detail)
  // COPY says where it stopped: `COPY t, line 3, column qty: "abc"` (line 1 is the first row sent).
  const copy = fields.where ? /^COPY [^\n]*?, line (\d+)(?:, column ([^:\n]+))?/.exec(fields.where) : null
  const position = copy ? ` (row ${copy[1]} of this write${copy[2] ? `, column "${copy[2]}"` : ''})` : ''
  const parts = [`PostgreSQL refused ${context.action}${table ? ` in "${table}"` : ''}${position}: ${message}.`]
  if (fields.detail) parts.push(fields.detail)
  if (fields.hint) parts.push(`Hint: ${fields.hint}`)
  return new DatabaseError(parts.join(' '), {
    cause: error,
    engineCode: code,
    table,
    key,
    constraint: fields.constraint,
    details: { column: fields.column ?? copy?.[2], detail: fields.detail, ...(copy ? { copyLine: Number(copy[1]) } : {}) },
  })
}

/**
 * Parses the key out of a constraint violation's detail: `Key (id)=(5) already exists.` →
 * `{ id: "5" }`. Values stay PostgreSQL text; a key whose text contains ", " is returned whole.
 */
export function parseKey(detail: string | undefined): Record<string, string> | undefined {
  const match = detail ? /Key \((.+?)\)=\((.*)\)/s.exec(detail) : null
  if (!match) return undefined
  const columns = match[1].split(', ')
  const values = match[2].split(', ')
  if (columns.length === values.length) return Object.fromEntries(columns.map((c, i) => [c.replace(/^"(.*)"$/, '$1'), values[i]]))
  return { [match[1]]: match[2] }
}

/**
 * Sends a CancelRequest for the statement running on `client` and resolves once the server has
 * closed the cancel connection, i.e. once the backend has been signalled. Never throws: a cancel
 * that cannot be delivered just means the statement runs to its end.
 */
export function cancelRunningStatement(client: pg.Client, config: ConnectionConfig): Promise<void> {
  const processId = (client as unknown as { processID?: number }).processID
  const secretKey = (client as unknown as { secretKey?: number }).secretKey
  if (processId === undefined || secretKey === undefined) return Promise.resolve()
  const params = client as unknown as { host: string; port: number }
  return new Promise((resolve) => {
    const socket = params.host.startsWith('/')
      ? net.connect(`${params.host}/.s.PGSQL.${params.port}`)
      : net.connect(params.port, params.host)
    const timer = setTimeout(() => socket.destroy(), config.connectTimeoutMs ?? 5000)
    socket.on('connect', () => {
      // CancelRequest: length 16, code 80877102, backend pid, secret key (protocol §55.2.7).
      const message = Buffer.alloc(16)
      message.writeInt32BE(16, 0)
      message.writeInt32BE(80877102, 4)
      message.writeInt32BE(processId, 8)
      message.writeInt32BE(secretKey, 12)
      socket.write(message)
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** The parts of a pg submittable (a COPY stream) that pg calls as the statement ends. */
interface Submittable {
  handleReadyForQuery(connection: unknown): void
  handleError(error: unknown, connection: unknown): void
}

/**
 * Resolves once the server has answered ReadyForQuery for `submitted`, i.e. the statement is
 * over (successfully or not) and the connection takes the next one. A COPY stream's
 * `end`/`error` comes before that, and a statement issued then would be queued behind it. Also
 * resolves if the connection ends, so it never hangs.
 */
export function readyForQuery(client: pg.Client, submitted: object): Promise<void> {
  const query = submitted as Submittable
  const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection
  return new Promise((resolve) => {
    const done = (): void => {
      client.off('end', done)
      connection.off('readyForQuery', done)
      resolve()
    }
    const handleReadyForQuery = query.handleReadyForQuery.bind(query)
    query.handleReadyForQuery = (con: unknown) => {
      handleReadyForQuery(con)
      done()
    }
    // After an error pg forgets the statement, so its ReadyForQuery only shows on the connection.
    const handleError = query.handleError.bind(query)
    query.handleError = (error: unknown, con: unknown) => {
      connection.once('readyForQuery', done)
      handleError(error, con)
    }
    client.once('end', done)
  })
}

/**
 * COPY `lines` (COPY text) FROM STDIN into `relation` on `client`; resolves with the number of rows
 * once the statement is over. A failure of the input (a truncated or damaged backup) is passed on
 * as it is, not as a database error: it is why the COPY was abandoned (pipeline() destroys the
 * COPY stream, which sends CopyFail). `written(chunk)` is called for a Buffer of `lines` once
 * the socket has written it (noteWritten): not for every one.
 */
export async function copyFromStdin(
  client: pg.Client,
  relation: string,
  columns: readonly string[],
  lines: AsyncIterable<string | Buffer>,
  context: ErrorContext,
  written?: (chunk: Buffer) => void,
): Promise<number> {
  const sink = client.query(copyStreams.from(`COPY ${relation} (${columns.map(quoteIdent).join(', ')}) FROM STDIN`))
  const finished = readyForQuery(client, sink)
  if (written !== undefined) noteWritten(client, sink, written)
  let inputFailure: { error: unknown } | undefined
  const input = (async function* () {
    try {
      yield* lines
    } catch (error) {
      inputFailure = { error }
      throw error
    }
  })()
  try {
    await pipeline(Readable.from(input, { objectMode: false }), sink)
  } catch (error) {
    await finished
    if (inputFailure) throw inputFailure.error
    throw toDatabaseError(error, context)
  }
  return sink.rowCount
}

/**
 * Calls `written(chunk)` for the chunks of a COPY FROM STDIN (pg-copy-streams' `flushChunk`
 * writes each one to the connection's socket, after its message header) that the socket is known
 * to have let go of: written at once (nothing left in the socket's queue after the write), or
 * written by its 'drain' (the write was over the socket's high-water mark, which a batch of COPY
 * text always is; 'drain' comes once its queue is empty). A chunk written in part behind a
 * queue below the mark is never reported: its memory is then left to the collector. Reported,
 * a chunk may be written into again (a ChunkPool's), so this must not report one early.
 */
function noteWritten(client: pg.Client, sink: object, written: (chunk: Buffer) => void): void {
  const query = sink as { flushChunk?: (chunk: Buffer) => boolean }
  const socket = (client as unknown as { connection?: { stream?: NodeJS.WritableStream & { readonly writableLength?: number } } }).connection?.stream
  // pg-copy-streams' and pg's internals (pinned by package-lock.json): if a version lacks them,
  // nothing is reported and every chunk is left to the collector, as before the pool.
  if (typeof query.flushChunk !== 'function' || socket === undefined || typeof socket.writableLength !== 'number') return
  const flushChunk = query.flushChunk.bind(query)
  query.flushChunk = (chunk: Buffer): boolean => {
    const ok = flushChunk(chunk)
    if (socket.writableLength === 0) written(chunk)
    else if (!ok) socket.once('drain', () => written(chunk))
    return ok
  }
}

/**
 * Creates the enum types in `wanted` (name, as SQL, → labels) that do not exist yet, through `run`
 * (the caller's session). An existing type lacking some labels is left as it is, with a warning:
 * ALTER TYPE … ADD VALUE cannot run inside the restore's transaction.
 */
export async function createMissingEnums(
  run: (query: pg.QueryConfig & { queryMode?: 'extended' }, context: ErrorContext) => Promise<pg.QueryResult>,
  wanted: ReadonlyMap<string, readonly string[]>,
  warnings: string[],
): Promise<void> {
  for (const [name, labels] of wanted) {
    const context: ErrorContext = { action: `creating enum type ${name}` }
    const found = await run({ text: 'SELECT pg_catalog.to_regtype($1)::oid AS oid', values: [name] }, context)
    const oid = (found.rows[0] as { oid: number | null }).oid
    if (oid === null) {
      await run({ text: `CREATE TYPE ${name} AS ENUM (${labels.map(quoteLiteral).join(', ')})`, queryMode: 'extended' }, context)
      continue
    }
    const existing = await run({ text: 'SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = $1', values: [oid] }, context)
    const have = new Set((existing.rows as { enumlabel: string }[]).map((r) => r.enumlabel))
    const lacking = labels.filter((label) => !have.has(label))
    if (lacking.length > 0) {
      warnings.push(
        `Enum type ${name} exists without the label(s) ${lacking.map((l) => JSON.stringify(l)).join(', ')}; rows using them will fail. ` +
          `Add them with ALTER TYPE … ADD VALUE (outside this transaction) first.`,
      )
    }
  }
}
