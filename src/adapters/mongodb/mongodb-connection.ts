/**
 * Connecting to MongoDB, learning what the server can do, and turning driver errors into
 * mergeback's error classes (the one place that does it for this adapter).
 *
 * Connection: `serverSelectionTimeoutMS` and `connectTimeoutMS` are `config.connectTimeoutMs`
 * (default 5 s), so an unreachable host, a wrong port or refused credentials fail within seconds
 * instead of the driver's default 30 s. The URL is handed to the driver as given (it may hold
 * `authSource`, `replicaSet`, TLS options …); only its redacted form is ever printed, and driver
 * messages are scrubbed of the password as well.
 *
 * Topology (from `hello`): a replica set member (`setName`) or a mongos (`msg: "isdbgrid"`)
 * supports multi-document transactions (4.0 / 4.2 and later) and, from 5.0, snapshot reads; a
 * standalone server supports neither. The adapter chooses transactions or the undo journal, and
 * snapshot reads or plain reads, from this.
 */
import { MongoClient, MongoServerError, type Db } from 'mongodb'
import type { ConnectionConfig, WireValue } from '../adapter.js'
import { ConnectionError, DatabaseError, FormatError, MergebackError, UsageError, asMergebackError } from '../../errors.js'
import { EXACT_BSON_OPTIONS, describeKey } from './mongodb-values.js'

/** What kind of deployment the URL points at. */
export interface Topology {
  readonly kind: 'standalone' | 'replica-set' | 'sharded'
  /** Server version from buildInfo, e.g. "7.0.14". */
  readonly version: string
  readonly maxWireVersion: number
  /** Multi-document transactions: replica set ≥ 4.0, sharded cluster ≥ 4.2. */
  readonly supportsTransactions: boolean
  /** `readConcern: snapshot` outside transactions: replica set or sharded cluster ≥ 5.0. */
  readonly supportsSnapshotReads: boolean
}

/**
 * An open connection: the client, the target database twice, and the topology.
 *
 * The URL's database is opened twice because the driver decodes *every* reply with a handle's
 * BSON options, server answers included: through `documents` (promoteValues: false) a write's
 * `matchedCount`, a count and an error's `code` are Int32 objects, so `=== 1` and `=== 11000`
 * are never true. `db` keeps the driver's defaults (numbers are numbers) and is what commands,
 * writes, counts and the undo journal's lock use; `documents` is only for reading what must come
 * back exactly — user documents, pre-images, collection options and index definitions.
 */
export interface MongoConnection {
  readonly client: MongoClient
  /** The URL's database with the driver's defaults: commands, writes, counts, write results. */
  readonly db: Db
  /** The URL's database reading every BSON type apart (EXACT_BSON_OPTIONS): documents and definitions. */
  readonly documents: Db
  readonly topology: Topology
  readonly config: ConnectionConfig
}

const WIRE_VERSION_4_0 = 7
const WIRE_VERSION_4_2 = 8
const WIRE_VERSION_5_0 = 13

/**
 * Connects and reads the topology. Throws ConnectionError (unreachable, refused credentials;
 * within `config.connectTimeoutMs`) or UsageError (malformed URL options, invalid database name).
 * Never leaves a client open on failure.
 */
export async function connect(config: ConnectionConfig): Promise<MongoConnection> {
  const timeoutMs = effectiveTimeoutMs(config)
  let client: MongoClient
  try {
    // Timeouts written in the URL win: the user chose them for this server.
    const inUrl = urlOptionNames(config.url)
    client = new MongoClient(config.url, {
      ...(inUrl.has('serverselectiontimeoutms') ? {} : { serverSelectionTimeoutMS: timeoutMs }),
      ...(inUrl.has('connecttimeoutms') ? {} : { connectTimeoutMS: timeoutMs }),
      appName: 'mergeback',
    })
  } catch (error) {
    throw new UsageError(`Invalid MongoDB URL ${config.redacted}: ${scrub((error as Error).message, config)}`, { code: 'BAD_URL', cause: error })
  }
  try {
    await client.connect()
    const db = client.db(config.database)
    const documents = client.db(config.database, EXACT_BSON_OPTIONS)
    const admin = client.db('admin')
    const hello = await admin.command({ hello: 1 })
    const build = await admin.command({ buildInfo: 1 })
    const maxWireVersion = Number(hello.maxWireVersion ?? 0)
    const kind = hello.msg === 'isdbgrid' ? 'sharded' : typeof hello.setName === 'string' ? 'replica-set' : 'standalone'
    const sessions = hello.logicalSessionTimeoutMinutes !== undefined && hello.logicalSessionTimeoutMinutes !== null
    const topology: Topology = {
      kind,
      version: String(build.version ?? 'unknown'),
      maxWireVersion,
      supportsTransactions:
        sessions && ((kind === 'replica-set' && maxWireVersion >= WIRE_VERSION_4_0) || (kind === 'sharded' && maxWireVersion >= WIRE_VERSION_4_2)),
      supportsSnapshotReads: sessions && kind !== 'standalone' && maxWireVersion >= WIRE_VERSION_5_0,
    }
    return { client, db, documents, topology, config }
  } catch (error) {
    await client.close().catch(() => undefined)
    throw connectionFailure(error, config)
  }
}

/** The server selection timeout in force: the URL's `serverSelectionTimeoutMS`, else `connectTimeoutMs` (default 5000). */
function effectiveTimeoutMs(config: ConnectionConfig): number {
  const match = /[?&]serverSelectionTimeoutMS=(\d+)/i.exec(config.url)
  return match ? Number(match[1]) : (config.connectTimeoutMs ?? 5000)
}

/** Lower-cased names of the URL's query options. */
function urlOptionNames(url: string): Set<string> {
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : ''
  return new Set(query.split('&').map((pair) => pair.split('=')[0].toLowerCase()).filter(Boolean))
}

/** Closes the client; never throws (the session is over either way). */
export async function disconnect(connection: MongoConnection): Promise<void> {
  await connection.client.close().catch(() => undefined)
}

/**
 * The server's error code as a number, or undefined. An error decoded through `documents`
 * (promoteValues: false) carries its code as an Int32 object: compare codes only through this.
 */
export function errorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code
  const value = typeof code === 'object' && code !== null ? code.valueOf() : code
  return typeof value === 'number' ? value : undefined
}

function connectionFailure(error: unknown, config: ConnectionConfig): MergebackError {
  const name = (error as Error | undefined)?.name ?? ''
  const message = scrub(firstLine((error as Error | undefined)?.message ?? String(error)), config)
  if (error instanceof MongoServerError && errorCode(error) === 18) {
    return new ConnectionError(
      `MongoDB at ${config.redacted} refused the credentials (${message}). ` +
        'Check the user name and password, and authSource (it defaults to the database in the URL).',
      { cause: error, retryable: false, details: { engineCode: '18' } },
    )
  }
  if (name === 'MongoParseError' || name === 'MongoInvalidArgumentError' || name === 'MongoMissingCredentialsError') {
    return new UsageError(`Invalid MongoDB URL ${config.redacted}: ${message}`, { code: 'BAD_URL', cause: error })
  }
  if (error instanceof MongoServerError) {
    return new ConnectionError(`MongoDB at ${config.redacted} refused the connection: ${message}`, {
      cause: error,
      retryable: false,
      details: { engineCode: String(errorCode(error) ?? '') },
    })
  }
  return new ConnectionError(
    `Cannot reach MongoDB at ${config.redacted} within ${effectiveTimeoutMs(config)} ms: ${message}. ` +
      'Check that the server is running and that host, port, TLS and replicaSet options are right.',
    { cause: error, retryable: true },
  )
}

/** Where an error happened, for the message and the error's fields. */
export interface ErrorContext {
  /** What we were doing: "reading documents", "inserting documents", … */
  readonly action: string
  readonly table?: string
  /** The document's `_id`, in wire encoding. */
  readonly key?: WireValue
}

/**
 * Maps anything thrown by the driver (or by us) during an operation to a MergebackError:
 * network and server-selection failures → ConnectionError (retryable); refused credentials →
 * ConnectionError; a server refusal → DatabaseError with the server's code, the table and the
 * document's key, plus a hint for the errors a user can act on. MergebackErrors pass through.
 */
export function mapMongoError(error: unknown, config: ConnectionConfig, context: ErrorContext): MergebackError {
  if (error instanceof MergebackError) return error
  const name = (error as Error | undefined)?.name ?? ''
  // A bulk write cut off by the connection has no per-document errors, only the network error inside.
  const inner = (error as { errorResponse?: unknown } | undefined)?.errorResponse
  const writeErrors = [(error as { writeErrors?: unknown } | undefined)?.writeErrors].flat().filter((e) => e !== undefined)
  if (name === 'MongoBulkWriteError' && writeErrors.length === 0 && inner instanceof Error && inner !== error) return mapMongoError(inner, config, context)
  const raw = scrub(firstLine((error as Error | undefined)?.message ?? String(error)), config)
  const where = `${context.table ? ` ${context.table}` : ''}${context.key !== undefined ? ` (_id ${describeKey(context.key)})` : ''}`
  if (/^Mongo(Network|NetworkTimeout|ServerSelection|TopologyClosed|ServerClosed)Error$/.test(name)) {
    return new ConnectionError(`Lost the connection to MongoDB at ${config.redacted} while ${context.action}${where}: ${raw}`, {
      cause: error,
      retryable: true,
    })
  }
  if (name === 'BSONError' || name === 'BSONRuntimeError' || name === 'BSONVersionError') {
    return new FormatError(`Cannot convert a document${where} while ${context.action}: ${raw}`, { cause: error, table: context.table })
  }
  const code = errorCode(error)
  if (error instanceof MongoServerError || /^Mongo/.test(name)) {
    if (code === 18) {
      return new ConnectionError(`MongoDB at ${config.redacted} refused the credentials: ${raw}`, { cause: error, retryable: false })
    }
    const engineCode = code === undefined ? undefined : String(code)
    return new DatabaseError(`MongoDB refused ${context.action}${where}: ${raw}${hintFor(code, error)}`, {
      cause: error,
      engineCode,
      table: context.table,
      key: context.key,
    })
  }
  return asMergebackError(error)
}

/** A sentence for the server errors a user can do something about. */
function hintFor(code: number | undefined, error: unknown): string {
  const labels = (error as { errorLabels?: string[] }).errorLabels ?? []
  switch (code) {
    case 13:
      return ' (the user in the URL lacks the privileges this needs: readWrite on the database, or read for a backup)'
    case 121:
      return ' (the document fails the collection\'s validator)'
    case 112:
      return ' (another client changed the same documents during the transaction; nothing was changed, run it again)'
    case 239:
      return ' (the backup took longer than the server keeps snapshot history: raise minSnapshotHistoryWindowInSeconds, default 300 s)'
    case 290:
    case 251:
      return (
        ' (the transaction outlived the server\'s limit, transactionLifetimeLimitSeconds, default 60 s; nothing was changed. ' +
        'Raise the limit, or set MERGEBACK_MONGODB_WRITE_MODE=journal to use the undo journal instead of a transaction)'
      )
    case 10334:
      return ' (the transaction is too large for the server\'s cache; set MERGEBACK_MONGODB_WRITE_MODE=journal to use the undo journal instead)'
  }
  if (labels.includes('TransientTransactionError')) return ' (a transient transaction error; nothing was changed, run it again)'
  return ''
}

/** Removes the URL's password (raw and percent-decoded) from a driver message. */
export function scrub(message: string, config: ConnectionConfig): string {
  let out = message.split(config.url).join(config.redacted)
  const password = passwordOf(config.url)
  if (password) {
    for (const form of new Set([password, safeDecode(password)])) {
      if (form.length >= 3) out = out.split(form).join('***')
    }
  }
  return out
}

function passwordOf(url: string): string | undefined {
  return /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^@/?#]*)@/i.exec(url)?.[1]
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

function firstLine(message: string): string {
  const line = message.split('\n')[0]
  return line.length > 400 ? `${line.slice(0, 400)}…` : line
}
