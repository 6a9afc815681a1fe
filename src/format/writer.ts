/**
 * BackupWriter: streams a backup file (docs/format.md) to a Node Writable in one pass.
 *
 * Native layout (DESIGN.md §3), as written, one line per row so that files diff and grep well:
 *
 *     {"tables":[
 *     {"tableName":"User","primaryKey":"id","columns":[…],…,"records":[      ← table header line
 *     {"id":"u1","email":"a@example.com"},                                    ← one record per line
 *     {"id":"u2","email":"b@example.com"}
 *     ]},
 *     {"tableName":"Empty",…,"records":[
 *     ]}
 *     ],
 *     "metadata":{ … pretty-printed, written last … }
 *     }
 *
 * Algorithm:
 *   1. The first call writes the opening (`{"tables":[`, or for the mongo-native layout the
 *      metadata head and `"collections":{`).
 *   2. beginTable writes the table's header and opens its records array.
 *   3. writeRows writes each row as `JSON.stringify(row)` on its own line, the separator comma
 *      at the end of the previous line, and feeds the same text to the table's checksum.
 *   4. endTable closes the array and keeps the table's count and checksum.
 *   5. finish writes the metadata (native: last; mongo-native: a `summary` trailer) and the
 *      closing brace. It does not end `out`: the caller owns it (gzip, cipher, file).
 *
 * Output is gathered into ~64 KiB strings; a write that returns false waits for 'drain', so a
 * slow destination slows the database read instead of filling memory. An error emitted by
 * `out` is kept and rethrown by the next call, and no call ever swallows one.
 *
 * Rows must already be in wire encoding. The writer refuses (InternalError) a value that
 * JSON.stringify would silently change: NaN, ±Infinity and -0 numbers (use encodeFloat), undefined,
 * bigint, and non-plain objects such as Date or Buffer. That check costs ~10% of the write and
 * guards the promise that data is never silently changed.
 */
import { isUtf8 } from 'node:buffer'
import type { ColumnSchema, Engine, ForeignKeySchema, IndexSchema, Row, TableSchema } from '../adapters/adapter.js'
import { InternalError, UsageError } from '../errors.js'
import { FORMAT_VERSION, VERSION } from '../version.js'
import { seal, sealMaterial } from '../crypto/origin-seal.js'
import { TableChecksum } from './checksum.js'
import { decodeWrittenHeader } from './reader.js'
import { mongoNativeHead, type MongoNativeHead } from './legacy.js'
import type { BackupMetadata, IncrementalInfo } from './types.js'

export interface BackupWriterOptions {
  readonly engine: Engine
  /** Database name (never a URL: it may hold a password). */
  readonly database: string
  /** PostgreSQL schema the tables came from. */
  readonly schema?: string
  readonly backupName: string
  readonly description?: string
  /** Recorded in the metadata; the writer itself writes plain JSON (the container compresses). */
  readonly compression: 'none' | 'gzip' | 'zstd'
  /** Recorded in the metadata; the container encrypts. Default 'none'. */
  readonly encryption?: 'none' | 'aes-256-gcm'
  /** Whether table headers carry the indexes (`--no-indexes` turns it off). Default true. */
  readonly includesIndexes?: boolean
  /** 'mongo-native' writes seed 002's layout (metadata first, `collections: {name: [docs]}`). Default 'mergeback'. */
  readonly layout?: 'mergeback' | 'mongo-native'
  /**
   * The tables that will be written, in the order they will be written. Required for the
   * mongo-native layout, whose metadata comes first and lists every collection with its schema.
   * Optional otherwise; when given, the writer checks that exactly these tables are written.
   */
  readonly tables?: readonly TableSchema[]
  /** Time recorded as `exportedAt` (default: now). */
  readonly now?: Date
  /**
   * The installation's origin key (crypto/origin-seal.ts): the metadata gets a `seal` over the
   * engine, the schemas and the checksums, so this installation trusts the file later.
   */
  readonly originKey?: Buffer
}

const LF = 0x0a
const COMMA = 0x2c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

/** Output is handed to `out` in pieces of about this size. */
const WRITE_CHUNK_CHARS = 64 * 1024

type WriterState = 'idle' | 'table' | 'finished'

/**
 * Writes one backup file. Call order: (beginTable → writeRows* → endTable)* → finish. Calls must
 * not overlap (await each). A call out of order is an InternalError (a bug in the caller); an
 * error from `out` rejects the call that meets it and every later call.
 */
export class BackupWriter {
  readonly #out: NodeJS.WritableStream
  readonly #options: BackupWriterOptions
  readonly #layout: 'mergeback' | 'mongo-native'
  readonly #includesIndexes: boolean
  readonly #exportedAt: string
  readonly #tableNames: string[] = []
  readonly #recordCounts: Record<string, number> = {}
  readonly #checksums: Record<string, string> = {}
  #state: WriterState = 'idle'
  #started = false
  #pending = ''
  #failure: unknown = undefined
  #table: { name: string; count: number; checksum: TableChecksum } | undefined
  /** The tables as a reader will decode them, for the seal. */
  readonly #sealedSchemas: TableSchema[] = []

  /**
   * Nothing is written until the first call. Throws UsageError for options that cannot make a
   * valid file (empty backup name, mongo-native without `tables` or for another engine).
   */
  constructor(out: NodeJS.WritableStream, options: BackupWriterOptions) {
    if (typeof options.backupName !== 'string' || options.backupName === '') throw new UsageError('a backup needs a name')
    if (typeof options.database !== 'string') throw new UsageError('a backup needs the database name')
    this.#layout = options.layout ?? 'mergeback'
    if (this.#layout === 'mongo-native') {
      if (options.engine !== 'mongodb') throw new UsageError(`the mongo-native layout is for MongoDB backups, not ${options.engine}`)
      if (options.tables === undefined) throw new UsageError('the mongo-native layout needs the list of tables up front (options.tables)')
    }
    if (options.tables !== undefined) {
      const seen = new Set<string>()
      for (const table of options.tables) {
        if (seen.has(table.name)) throw new UsageError(`table "${table.name}" is listed twice`)
        seen.add(table.name)
      }
    }
    this.#out = out
    this.#options = options
    this.#includesIndexes = options.includesIndexes ?? true
    this.#exportedAt = (options.now ?? new Date()).toISOString()
    // Kept for the life of the writer: an error between two calls must reach the next call.
    out.on('error', (error: unknown) => {
      this.#failure ??= error
    })
  }

  /** Opens a table: writes its header. The name must be new in this file (and the next of `tables` when given). */
  async beginTable(table: TableSchema): Promise<void> {
    this.#checkUsable()
    if (this.#state !== 'idle') throw new InternalError(`beginTable("${table.name}") while ${this.#describeState()}`)
    if (Object.hasOwn(this.#recordCounts, table.name)) throw new InternalError(`table "${table.name}" was already written to this backup`)
    const problem = findSchemaProblem(table)
    if (problem !== undefined) throw new InternalError(`table "${table.name}" cannot be written: ${problem}`)
    const declared = this.#options.tables
    if (declared !== undefined) {
      const expected = declared[this.#tableNames.length]
      if (expected?.name !== table.name) {
        throw new InternalError(`beginTable("${table.name}") but the next declared table is ${expected ? `"${expected.name}"` : 'none'}`)
      }
    }
    this.#start()
    const first = this.#tableNames.length === 0
    if (this.#layout === 'mongo-native') {
      this.#pending += `${first ? '\n' : ',\n'}${JSON.stringify(table.name)}:[`
    } else {
      const encoded = encodeTableHeader(table, this.#includesIndexes)
      if (this.#options.originKey) this.#sealedSchemas.push(decodeWrittenHeader(encoded))
      const header = JSON.stringify(encoded)
      // The header object stays open: its last member is the records array.
      this.#pending += `${first ? '\n' : ',\n'}${header.slice(0, -1)},"records":[`
    }
    this.#tableNames.push(table.name)
    this.#recordCounts[table.name] = 0
    this.#table = { name: table.name, count: 0, checksum: new TableChecksum() }
    this.#state = 'table'
    await this.#flushIfFull()
  }

  /** Appends rows (wire encoding) to the open table. Resolves when `out` has taken them, or at least buffered them without pushing back. */
  async writeRows(rows: readonly Row[]): Promise<void> {
    this.#checkUsable()
    const table = this.#table
    if (this.#state !== 'table' || table === undefined) throw new InternalError(`writeRows while ${this.#describeState()}`)
    let records = ''
    for (const row of rows) {
      const problem = findUnwritableValue(row)
      if (problem !== undefined) {
        throw new InternalError(`table "${table.name}", row ${table.count}: ${problem} cannot be written exactly (rows must be in wire encoding)`)
      }
      records += `${table.count === 0 ? '\n' : ',\n'}${JSON.stringify(row)}`
      table.count++
      if (records.length >= WRITE_CHUNK_CHARS) {
        await this.#writeRecords(records, table.checksum)
        records = ''
      }
    }
    if (records !== '') await this.#writeRecords(records, table.checksum)
  }

  /**
   * Writes record text as the layout spells it (`\n{…}` for a table's first record, `,\n{…}` for
   * the others), encoded once: the same bytes are hashed for the checksum (each record line,
   * without its comma) and written. A record's text never holds a raw newline (JSON escapes it),
   * so the lines of the text are its records.
   */
  async #writeRecords(records: string, checksum: TableChecksum): Promise<void> {
    await this.#flush()
    const bytes = Buffer.from(records)
    let start = bytes.indexOf(LF) + 1
    while (start > 0 && start < bytes.length) {
      const newline = bytes.indexOf(LF, start)
      let end = newline === -1 ? bytes.length : newline
      if (bytes[end - 1] === COMMA) end--
      checksum.addCanonicalBytes(bytes.subarray(start, end))
      start = newline + 1
    }
    await this.#writeOut(bytes)
  }

  /**
   * Appends records that a Source wrote as text itself (Source.readRecordLines): `lines` holds
   * whole records, each exactly its canonical text (JSON.stringify of its wire encoding, which
   * the source vouches for) followed by `\n`. They are hashed and written as the bytes they are,
   * with the separators the layout needs, and never parsed. Checked: each line is UTF-8 and
   * looks like one object (`{…}`). Resolves with the number of records.
   *
   * `scratch`, when given, is memory the caller gives up that holds `lines` at its end (as
   * stripStamps leaves them): when the bytes before `lines` are room enough (more than one a
   * record), the output is laid out there, over `lines`, instead of in a new Buffer. Each record
   * moves left (the separators take one byte more a record than the lines' newlines, the room
   * makes up for it), so no byte is overwritten before it is read.
   *
   * `release`, when given, is called once `scratch` is no longer read: when the stream's write
   * callback for the output laid out there fires, or before this resolves when the output went to
   * a Buffer of its own (never after a failed write). The caller may reuse `scratch` once its
   * stream no longer reads the bytes: at once for a file sink, later for gzip (PendingBackupFile.whenRead).
   */
  async writeRecordLines(lines: Buffer, scratch?: Buffer, release?: () => void): Promise<number> {
    this.#checkUsable()
    const table = this.#table
    if (this.#state !== 'table' || table === undefined) throw new InternalError(`writeRecordLines while ${this.#describeState()}`)
    if (this.#layout !== 'mergeback') throw new InternalError('record lines can only be written in the mergeback layout')
    if (lines.length === 0) return 0
    if (lines[lines.length - 1] !== LF) throw new InternalError(`table "${table.name}": record lines must end with a newline`)
    if (!isUtf8(lines)) throw new InternalError(`table "${table.name}": record lines are not UTF-8`)
    let count = 0
    for (let start = 0; start < lines.length; ) {
      const end = lines.indexOf(LF, start)
      if (lines[start] !== OPEN_BRACE || lines[end - 1] !== CLOSE_BRACE) {
        throw new InternalError(`table "${table.name}", row ${table.count + count}: a record line that is not one JSON object`)
      }
      count++
      start = end + 1
    }
    // Hashed before the output may be laid out over the lines.
    table.checksum.addCanonicalLines(lines)
    // Every record but the table's first is preceded by ",\n", the first by "\n" (as writeRows).
    const first = table.count === 0
    const size = lines.length + count - (first ? 1 : 0)
    const room = scratch !== undefined && scratch.buffer === lines.buffer && scratch.byteOffset + scratch.length === lines.byteOffset + lines.length ? scratch.length - lines.length : 0
    const output = room > count ? scratch!.subarray(0, size) : Buffer.allocUnsafe(size)
    let at = 0
    for (let start = 0; start < lines.length; ) {
      const end = lines.indexOf(LF, start)
      if (!(first && start === 0)) output[at++] = COMMA
      output[at++] = LF
      if (room > count) scratch!.copyWithin(at, room + start, room + end)
      else lines.copy(output, at, start, end)
      at += end - start
      start = end + 1
    }
    table.count += count
    await this.#flush()
    const inPlace = room > count
    await this.#writeOut(output, inPlace ? release : undefined)
    if (!inPlace) release?.()
    return count
  }

  /** Closes the open table and records its count and checksum for the metadata. */
  async endTable(): Promise<void> {
    this.#checkUsable()
    const table = this.#table
    if (this.#state !== 'table' || table === undefined) throw new InternalError(`endTable while ${this.#describeState()}`)
    this.#pending += this.#layout === 'mongo-native' ? '\n]' : '\n]}'
    this.#recordCounts[table.name] = table.count
    this.#checksums[table.name] = table.checksum.digest()
    this.#table = undefined
    this.#state = 'idle'
    await this.#flushIfFull()
  }

  /**
   * Writes the metadata and the end of the JSON text, and hands everything to `out` (it does not
   * end `out`). Returns the metadata exactly as a reader's `metadata` event will show it.
   */
  async finish(extra: { warnings?: string[]; incremental?: IncrementalInfo } = {}): Promise<BackupMetadata> {
    this.#checkUsable()
    if (this.#state !== 'idle') throw new InternalError(`finish while ${this.#describeState()}`)
    const declared = this.#options.tables
    if (declared !== undefined && declared.length !== this.#tableNames.length) {
      throw new InternalError(`finish() but the declared table "${declared[this.#tableNames.length]?.name}" was not written`)
    }
    this.#start()
    const options = this.#options
    const warnings = [...(extra.warnings ?? [])]
    let metadata: BackupMetadata
    if (this.#layout === 'mongo-native') {
      const summary = { recordCounts: this.#recordCounts, checksums: this.#checksums, warnings }
      this.#pending += `${this.#tableNames.length === 0 ? '' : '\n'}},\n"summary":${JSON.stringify(summary, null, 2)}\n}\n`
      metadata = { ...this.#mongoHead(), ...summary }
    } else {
      if (extra.incremental !== undefined && this.#options.layout === 'mongo-native') throw new InternalError('an incremental backup is written in the mergeback layout')
      metadata = {
        // An increment is not a whole state: a reader that does not know the format refuses it
        // rather than restoring it as one (docs/format.md §Incremental backups).
        format: extra.incremental === undefined ? 'mergeback' : 'mergeback-incremental',
        version: FORMAT_VERSION,
        tool: VERSION,
        exportedAt: this.#exportedAt,
        engine: options.engine,
        database: options.database,
        ...(options.schema === undefined ? {} : { schema: options.schema }),
        backupName: options.backupName,
        ...(options.description === undefined ? {} : { description: options.description }),
        tables: [...this.#tableNames],
        recordCounts: this.#recordCounts,
        compression: options.compression,
        encryption: options.encryption ?? 'none',
        checksums: this.#checksums,
        includesIndexes: this.#includesIndexes,
        warnings,
        ...(extra.incremental === undefined ? {} : { incremental: extra.incremental }),
        ...(options.originKey
          ? {
              seal: seal(
                options.originKey,
                sealMaterial(
                  options.engine,
                  this.#sealedSchemas.map((schema) => ({ schema, checksum: this.#checksums[schema.name] })),
                ),
              ),
            }
          : {}),
      }
      this.#pending += `\n],\n"metadata":${JSON.stringify(metadata, null, 2)}\n}\n`
    }
    this.#state = 'finished'
    await this.#flush()
    return metadata
  }

  /** Writes the opening of the document once, on the first call that writes anything. */
  #start(): void {
    if (this.#started) return
    this.#started = true
    if (this.#layout === 'mongo-native') {
      this.#pending += `{"metadata":${JSON.stringify(this.#mongoHead(), null, 2)},\n"collections":{`
    } else {
      this.#pending += '{"tables":['
    }
  }

  #mongoHead(): MongoNativeHead {
    const options = this.#options
    const tables = options.tables ?? []
    return mongoNativeHead({
      database: options.database,
      exportedAt: this.#exportedAt,
      backupName: options.backupName,
      description: options.description,
      compression: options.compression,
      encryption: options.encryption ?? 'none',
      includesIndexes: this.#includesIndexes,
      tables: tables.map((table) => table.name),
      tableHeaders: tables.map((table) => encodeTableHeader(table, this.#includesIndexes)),
    })
  }

  #checkUsable(): void {
    if (this.#failure !== undefined) throw this.#failure
    if (this.#state === 'finished') throw new InternalError('the backup writer is already finished')
  }

  #describeState(): string {
    if (this.#state === 'table') return `table "${this.#table?.name}" is open`
    return this.#state === 'finished' ? 'finished' : 'no table is open'
  }

  async #flushIfFull(): Promise<void> {
    if (this.#pending.length >= WRITE_CHUNK_CHARS) await this.#flush()
  }

  async #flush(): Promise<void> {
    if (this.#pending === '') return
    const text = this.#pending
    this.#pending = ''
    await this.#writeOut(text)
  }

  /** Writes `text` to the stream, waiting for its drain; `written` is called when the stream calls back without an error. */
  async #writeOut(text: string | Buffer, written?: () => void): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure
    const out = this.#out as NodeJS.WritableStream & { destroyed?: boolean; writableEnded?: boolean }
    // A destroyed stream neither emits 'error' nor 'drain' again: waiting would hang forever.
    if (out.destroyed === true || out.writableEnded === true) this.#failure = prematureClose()
    else {
      try {
        const ready = out.write(text, (error?: Error | null) => {
          if (error) this.#failure ??= error
          else written?.()
        })
        if (!ready) await waitForDrain(out)
      } catch (error) {
        this.#failure ??= error
      }
    }
    if (this.#failure !== undefined) throw this.#failure
  }
}

/**
 * The header object of a table as the native layout writes it (also the entries of the
 * mongo-native layout's `collectionSchemas`): every field of the TableSchema, in a fixed order,
 * `primaryKey` as a string for one column, an array for several, null for none.
 */
export function encodeTableHeader(table: TableSchema, includesIndexes = true): Record<string, unknown> {
  const key = table.primaryKey
  return {
    tableName: table.name,
    primaryKey: key.length === 0 ? null : key.length === 1 ? key[0] : [...key],
    columns: table.columns.map(encodeColumn),
    uniqueConstraints: table.uniqueConstraints.map((unique) => ({ name: unique.name, columns: [...unique.columns] })),
    indexes: includesIndexes ? table.indexes.map(encodeIndex) : [],
    foreignKeys: table.foreignKeys.map(encodeForeignKey),
    ...(table.options === undefined ? {} : { options: table.options }),
  }
}

/** What would make a reader refuse this table's header (docs/format.md §What a reader must reject). */
function findSchemaProblem(table: TableSchema): string | undefined {
  if (typeof table.name !== 'string' || table.name === '') return 'a table needs a name'
  const names = new Set<string>()
  for (const column of table.columns) {
    if (typeof column.name !== 'string' || column.name === '') return 'a column has no name'
    if (names.has(column.name)) return `two columns are named "${column.name}"`
    names.add(column.name)
  }
  if (new Set(table.primaryKey).size !== table.primaryKey.length) return 'its primary key names a column twice'
  const missing = table.primaryKey.find((name) => !names.has(name))
  return missing === undefined ? undefined : `its primary key names "${missing}", which is not one of its columns`
}

function encodeColumn(column: ColumnSchema): Record<string, unknown> {
  // A fixed key order keeps headers identical for identical schemas, whoever built the object.
  return pickDefined({
    name: column.name,
    type: column.type,
    kind: column.kind,
    elementKind: column.elementKind,
    nullable: column.nullable,
    default: column.default,
    identity: column.identity,
    autoIncrement: column.autoIncrement,
    generated: column.generated,
    enumValues: column.enumValues,
    enumName: column.enumName,
  })
}

function encodeIndex(index: IndexSchema): Record<string, unknown> {
  return pickDefined({ name: index.name, columns: index.columns, unique: index.unique, definition: index.definition, options: index.options })
}

function encodeForeignKey(key: ForeignKeySchema): Record<string, unknown> {
  return pickDefined({
    name: key.name,
    columns: key.columns,
    referencedTable: key.referencedTable,
    referencedColumns: key.referencedColumns,
    onDelete: key.onDelete,
    onUpdate: key.onUpdate,
    deferrable: key.deferrable,
  })
}

function pickDefined(object: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(object)) if (value !== undefined) result[key] = value
  return result
}

/**
 * Describes the first value in `row` that JSON.stringify would not write exactly, or undefined
 * when there is none. Walks nested arrays and objects (documents, arrays of values).
 */
function findUnwritableValue(row: unknown): string | undefined {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return `a row that is ${Array.isArray(row) ? 'an array' : String(row)}`
  return findInObject(row as Record<string, unknown>)
}

function findInObject(object: Record<string, unknown>): string | undefined {
  const prototype = Object.getPrototypeOf(object) as unknown
  if (prototype !== Object.prototype && prototype !== null) return `a ${object.constructor?.name ?? 'non-plain'} object`
  for (const key in object) {
    const problem = findInValue(object[key])
    if (problem !== undefined) return `${JSON.stringify(key)}: ${problem}`
  }
  return undefined
}

function findInValue(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? undefined : `the number ${Object.is(value, -0) ? '-0' : value}`
    case 'object':
      if (value === null) return undefined
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const problem = findInValue(value[i])
          if (problem !== undefined) return `[${i}] ${problem}`
        }
        return undefined
      }
      return findInObject(value as Record<string, unknown>)
    default:
      return `a ${typeof value}`
  }
}

/** Resolves on 'drain'; rejects on 'error', or on 'close' first (the reader went away). */
function waitForDrain(out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      out.off('drain', onDrain)
      out.off('error', onError)
      out.off('close', onClose)
    }
    const onDrain = (): void => {
      cleanup()
      resolve()
    }
    const onError = (error: unknown): void => {
      cleanup()
      reject(error)
    }
    const onClose = (): void => {
      cleanup()
      reject(prematureClose())
    }
    out.on('drain', onDrain)
    out.on('error', onError)
    out.on('close', onClose)
    if ((out as { destroyed?: boolean }).destroyed === true) onClose()
  })
}

/** The error for an output that went away mid-backup, with Node's own code for it (stream.finished). */
function prematureClose(): Error {
  return Object.assign(new Error('the backup output was closed before the backup was complete'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
}

/**
 * The default file name of a backup (DESIGN.md §3): `<name>-YYYY-MM-DDTHH-mm-ss.json`, then
 * `.gz` when compressed and `.enc` when encrypted; the time in UTC. Throws UsageError for a name
 * that is empty or contains a path separator.
 */
export function defaultBackupFileName(
  name: string,
  options: { readonly now?: Date; readonly compression?: 'none' | 'gzip' | 'zstd'; readonly encryption?: 'none' | 'aes-256-gcm' } = {},
): string {
  if (name === '' || /[/\\]/.test(name) || name === '.' || name === '..') throw new UsageError(`"${name}" cannot be used as a backup name`)
  const stamp = (options.now ?? new Date()).toISOString().slice(0, 19).replace(/:/g, '-')
  const gzip = options.compression === 'gzip' ? '.gz' : options.compression === 'zstd' ? '.zst' : ''
  const enc = options.encryption === 'aes-256-gcm' ? '.enc' : ''
  return `${name}-${stamp}.json${gzip}${enc}`
}
