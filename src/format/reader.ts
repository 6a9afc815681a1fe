/**
 * readBackup: streams the events of a backup file (docs/format.md) from its JSON bytes, in
 * bounded memory, for every accepted layout (native, Smart Backup, native MongoDB).
 *
 * Two parsers work together, and the split is the whole point of this module:
 *
 * - The general parser is stream-json's tokenizer (a real, resumable JSON tokenizer) feeding a
 *   small state machine (`#token`) that knows the layouts: it assembles table headers, metadata
 *   and records, and skips what it does not know. It accepts any JSON spelling: whitespace,
 *   pretty-printing, key order among header fields, the seeds' files.
 *
 * - The fast path: mergeback's writer puts each record on a line of its own. When the state
 *   machine is between two records of a typed table and a whole line looks like one record
 *   (`{…}` or `{…},`), the line goes to JSON.parse instead, and the tokenizer is fed a
 *   stand-in (`0,` or `0`) so that it still checks the commas and brackets around records and
 *   stays in step. If JSON.parse refuses the line, the line goes to the tokenizer like any other,
 *   which then reports the error. Tables without column types (the seed layouts) never take it:
 *   JSON.parse would round integers beyond 2^53, which those tables keep as text. Measured on a
 *   130 MB file of 400,000 typical rows (Node 20, this machine; docs/format.md §Implementation
 *   notes): the tokenizer alone runs at ~70 MB/s before any object is built and JSON.parse per
 *   line at ~175 MB/s; this reader, checksums included, at ~37 MB/s on the general parser only
 *   and ~110 MB/s with the fast path.
 *
 * Input is cut into lines on `\n` bytes (UTF-8 never has that byte inside a character), so the
 * byte offset of each line is exact and a record line is decoded whole. A line longer than
 * MAX_LINE_BYTES (a minified file, a huge value) is fed to the tokenizer in pieces of that size
 * cut at character boundaries, and never takes the fast path: memory stays bounded by that size
 * plus one batch of rows. Cut points depend only on the bytes, never on how the input was
 * chunked, so any chunking yields the same events and the same errors.
 *
 * Errors carry a byte offset (of the decompressed, decrypted JSON text). For malformed JSON it
 * is the exact byte: the tokenizer reports no position, so the failing line is checked again by
 * stream-json's verifier, primed with a few characters that put it in the state the tokenizer was
 * in at the start of that line (known from the brackets seen so far and the previous line's last
 * character); inside a line longer than MAX_LINE_BYTES the offset is that of the piece. For
 * well-formed JSON that breaks a rule of the format (a record that is not an
 * object, a duplicate table) it is the offset of the line where the offending value starts.
 *
 * What is checked only at the end: `metadata` comes last in the native layout, so record counts,
 * checksums, the format version and the table list are compared when the document ends, and a
 * mismatch is thrown where the `metadata` event would have been. The `metadata` event is always
 * the last event and means "everything verified". A consumer that writes rows as they come must
 * do so inside a transaction it commits only after that event, or read the file twice (verify,
 * then restore).
 */
import { isUtf8 } from 'node:buffer'
import { jsonParser } from 'stream-json/parser.js'
import { jsonVerifier } from 'stream-json/utils/verifier.js'
import { LosslessNumber, stringify as losslessStringify } from 'lossless-json'
import * as z from 'zod'
import type { ColumnSchema, Row, TableSchema, ValueKind } from '../adapters/adapter.js'
import { FormatError, IntegrityError, UsageError } from '../errors.js'
import { isChecksum, TableChecksum } from './checksum.js'
import { mongoCollectionTable, smartBackupTable, widenedTable } from './legacy.js'
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, CR, LF, OPEN_BRACE, OPEN_BRACKET, QUOTE, skipSpace } from './json-bytes.js'
import { KeyDigestSet } from './key-set.js'
import { keyValues, recordShape, scanRecord, type RecordShape } from './record-scan.js'
import type { BackupEvent, BackupLayout, BackupMetadata } from './types.js'

export interface ReadBackupOptions {
  /** Rows per 'rows' event (default 1000). A batch is never larger; only a table's last one is smaller. */
  readonly batchSize?: number
  /**
   * Record lines per 'lines' event of a table whose lines are converted (`convertLines`; default
   * batchSize). A converted batch is one output buffer of the converter, so a caller that keeps its
   * parsed batches small (a chain's open links) can keep its converted ones large.
   */
  readonly convertedBatchSize?: number
  /**
   * Compare each table's checksum with the one in the metadata, when it has one (default true).
   * Off, checksums are still computed (tableEnd carries them) but a mismatch is not an error;
   * record counts are always compared.
   */
  readonly verifyChecksums?: boolean
  /**
   * What to do with the records (default 'parsed'):
   * - 'parsed': `rows` events of wire-encoded rows.
   * - 'lines': `lines` events instead, each a Buffer of records in canonical text, one per line,
   *   each followed by `\n` (a record line's bytes as they are; a record that is not on a line
   *   of its own, as JSON.stringify of it). Record lines are not parsed: they are checked for
   *   UTF-8 and a `{…}` shape only, and their fields are not compared with the columns. For a
   *   consumer that hands the JSON to something that parses it anyway (PostgreSQL).
   * - 'none': no record events at all. Record lines are hashed and counted without parsing, so
   *   a file is verified at the speed of SHA-256. Only a checksum proves such a line well-formed:
   *   the caller must check that the metadata had one for every table (scanBackup does).
   */
  readonly records?: 'parsed' | 'lines' | 'none'
  /**
   * Compute the checksums at all (default true). Off, for a file already verified by an earlier
   * pass: tableEnd then carries an empty checksum. Requires verifyChecksums off.
   */
  readonly computeChecksums?: boolean
  /** Limits on what one file may hold (see ReaderLimits; defaults from `readerLimits()`). */
  readonly limits?: Partial<ReaderLimits>
  /**
   * Accept an incremental backup (`format: "mergeback-incremental"`, a link of a chain): only the
   * chain resolver (engine/chain.ts) reads links. Default false: such a file is refused with a
   * FormatError saying it must be read through its chain.
   */
  readonly incremental?: boolean
  /**
   * 'lines' mode: a table given a converter here has its 'lines' events carry the converter's
   * output for the lines (`count` and the checksum are still the lines'), made in the reader's
   * own walk over each line (LineConverter). Undefined for a table: its lines as they are.
   */
  readonly convertLines?: (table: TableSchema) => LineConverter | undefined
  /**
   * A verifying pass (verifyChecksums) of a table with a primary key: given the table as it opens,
   * where to hand each record's key values (in key order, as JSON.parse reads them; undefined for
   * a missing field), taken from the check every record's key gets anyway (a key twice is a
   * damaged file). Undefined for a table: its keys are not handed on. For a chain's scan, which
   * collects the keys each increment touches in the pass that verifies it (engine/chain.ts).
   */
  readonly recordKeys?: (table: TableSchema) => ((key: readonly unknown[]) => void) | undefined
}

/**
 * What a consumer loads a table's record lines as (PostgreSQL's COPY text, MariaDB's LOAD DATA
 * text), made by the reader as it checks each line: one walk over the bytes that both checks and
 * converts, instead of the reader's scan (record-scan.ts) and then the consumer's own walk
 * (docs/performance.md, "Round ten: PostgreSQL restore CPU"). Calls come in the lines' order.
 */
export interface LineConverter {
  /**
   * Converts the record line [start, end) (valid UTF-8 within the limits, no newline) and
   * returns true only when it is one JSON object exactly as JSON.parse accepts it whose fields
   * are all columns of `shape` (each at most once): what scanRecord vouches for; it then leaves
   * the bounds of the key values in `shape.keyBounds` (two per key column, -1 for a missing one).
   * Otherwise it returns false, having written nothing, and the reader checks the line its
   * usual way and hands it to `convert`.
   */
  convertChecked(buffer: Buffer, start: number, end: number, shape: RecordShape): boolean
  /** Converts a record line the reader has checked (canonical text, no newline). */
  convert(line: Buffer): void
  /** The output for the lines converted since the last call. */
  take(): Buffer
}

/**
 * What one backup file may hold. A file beyond a limit is refused with a FormatError naming the
 * limit and how to raise it, in every pass (verify, restore, merge, the API), before the value
 * that breaks it is built. The defaults are far beyond what a database's export holds, and
 * bound what a hostile file can make this process do.
 */
export interface ReaderLimits {
  /** Nesting of arrays and objects in the document, counted from the top (records sit at 5). Env MERGEBACK_MAX_DEPTH, default 256. */
  readonly maxDepth: number
  /**
   * Bytes of one record, or of the metadata or a table header (UTF-8 JSON text). Such a value is
   * held whole in memory, several times over while it is decoded and written (about 7× for a
   * 100 MB string in a restore). Env MERGEBACK_MAX_RECORD_BYTES, default 256 MiB.
   */
  readonly maxRecordBytes: number
  /** Tables in one file. Env MERGEBACK_MAX_TABLES, default 10 000. */
  readonly maxTables: number
  /** Columns of one table. Env MERGEBACK_MAX_COLUMNS, default 4 096. */
  readonly maxColumns: number
  /**
   * Bytes of JSON text the file decompresses (and decrypts) to: a gzip bomb stops here, while it
   * is read. Env MERGEBACK_MAX_DECOMPRESSED_BYTES, default none (Infinity): the reader streams, so
   * a huge file costs time, not memory.
   */
  readonly maxDecompressedBytes: number
}

/** Each limit: its library key, its environment variable, its CLI flag, its default. */
export const LIMIT_SOURCES: readonly { readonly key: keyof ReaderLimits; readonly env: string; readonly flag: string; readonly fallback: number }[] = [
  { key: 'maxDepth', env: 'MERGEBACK_MAX_DEPTH', flag: '--max-depth', fallback: 256 },
  { key: 'maxRecordBytes', env: 'MERGEBACK_MAX_RECORD_BYTES', flag: '--max-record-bytes', fallback: 256 * 1024 * 1024 },
  { key: 'maxTables', env: 'MERGEBACK_MAX_TABLES', flag: '--max-tables', fallback: 10_000 },
  { key: 'maxColumns', env: 'MERGEBACK_MAX_COLUMNS', flag: '--max-columns', fallback: 4096 },
  { key: 'maxDecompressedBytes', env: 'MERGEBACK_MAX_DECOMPRESSED_BYTES', flag: '--max-decompressed-bytes', fallback: Number.POSITIVE_INFINITY },
]

/** The limits in force: `overrides`, else the environment, else the defaults. A bad value is a UsageError naming it. */
export function readerLimits(overrides: Partial<ReaderLimits> = {}, env: NodeJS.ProcessEnv = process.env): ReaderLimits {
  const limits: Record<string, number> = {}
  for (const { key, env: name, fallback } of LIMIT_SOURCES) {
    const given = overrides[key] ?? (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : fallback)
    if (given === Number.POSITIVE_INFINITY && fallback === given) {
      limits[key] = given
      continue
    }
    if (!Number.isSafeInteger(given) || given < 1) {
      const source = overrides[key] !== undefined ? `limits.${key}` : `${name} (${key})`
      throw new UsageError(`${source} must be a positive whole number, not ${JSON.stringify(overrides[key] ?? env[name] ?? given)}`)
    }
    limits[key] = given
  }
  return limits as unknown as ReaderLimits
}

function limitHint(key: keyof ReaderLimits, value: number): string {
  const source = LIMIT_SOURCES.find((s) => s.key === key)!
  return `(limit ${key} = ${value}; raise it with the flag ${source.flag}, the environment variable ${source.env} or the library option limits.${key})`
}

/** What a FormatError for a limit carries in its details (the API answers it with 413). */
function limitDetails(key: keyof ReaderLimits, value: number): Record<string, unknown> {
  const source = LIMIT_SOURCES.find((s) => s.key === key)!
  return { limit: key, limitValue: value, flag: source.flag, env: source.env }
}

/**
 * Streams the events of a backup, from its decompressed, decrypted JSON bytes (a Node Readable,
 * or any iterable or async iterable of Buffers or strings; strings must hold whole characters).
 *
 * A chunk is not used once the reader asks for the next one: nothing it hands on (a 'lines'
 * event's bytes, a row) and nothing it keeps (the unfinished line, an open batch of lines) is a
 * view of a chunk, so the input may read into the same buffers again (storage/open.ts
 * openBackupChunks: a new 1 MiB Buffer per read cost the verifying pass ~17 % of its CPU in
 * garbage collection; docs/performance.md, "Round thirteen: reused read buffers").
 *
 * Events: for each table in file order `table`, then `rows` batches, then `tableEnd`; and last,
 * once the whole document has been read and verified, `metadata`. Rows are in wire encoding. In
 * tables without column types (the seed layouts), an integer too large for a double
 * (beyond ±(2^53−1)) is kept as its exact decimal text, a string, rather than rounded.
 *
 * Throws FormatError (malformed JSON, not a backup, unsupported version, a rule of the format
 * broken, record counts that disagree) or IntegrityError (reason 'checksum'), with the byte
 * offset and, where it applies, the table and record index. Leaving `for await` early stops
 * reading the input (a Readable is destroyed).
 */
export async function* readBackup(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string> | NodeJS.ReadableStream,
  options: ReadBackupOptions = {},
): AsyncGenerator<BackupEvent> {
  const batchSize = options.batchSize ?? 1000
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new UsageError(`batchSize must be a positive integer, not ${batchSize}`)
  const verify = options.verifyChecksums ?? true
  const compute = options.computeChecksums ?? true
  if (verify && !compute) throw new UsageError('checksums cannot be verified without computing them')
  const convertedBatchSize = options.convertedBatchSize ?? batchSize
  if (!Number.isSafeInteger(convertedBatchSize) || convertedBatchSize < 1) throw new UsageError(`convertedBatchSize must be a positive integer, not ${convertedBatchSize}`)
  const parser = new BackupParser({ parsed: batchSize, converted: convertedBatchSize }, verify, options.records ?? 'parsed', compute, readerLimits(options.limits), options.incremental ?? false, options.convertLines, options.recordKeys)
  try {
    for await (const chunk of input as AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>) {
      yield* parser.write(toBuffer(chunk))
    }
    yield* parser.end()
  } finally {
    parser.dispose()
  }
}

function toBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8')
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

/** Column kinds whose key values compare as numbers (`1`, `1.0` and `"1"` are one key). */
const NUMERIC_KINDS: ReadonlySet<string> = new Set(['integer', 'bigint', 'decimal', 'float'])

/**
 * Lines longer than this are tokenized in pieces, except a line that is one record (a huge
 * value), which is kept whole up to maxRecordBytes and parsed from its bytes (parseRecordBytes).
 */
const MAX_LINE_BYTES = 8 * 1024 * 1024

/** What may follow a record's `}` on its line: `,`, `\r`, `\n`. */
const LINE_END_BYTES = 3

/** Distinct record fields an untyped (seed layout) table may have: its columns. */
const MAX_UNTYPED_COLUMNS = 4096

/**
 * A 'lines' event is cut once its text passes this size. 1 MiB rather than 4: each event then
 * pinned the input chunks its lines were cut from until it was joined (they are copied now), and
 * a PostgreSQL restore holds a few events' COPY text per loading session; peak RSS of a scale-5
 * restore 140-153 → 118-122 MB (docs/performance.md, round five: memory).
 */
const MAX_LINES_BYTES = 1024 * 1024
/**
 * The capacity of a table's first batch of lines, doubled as it fills, up to MAX_LINES_BYTES and
 * this slack (a batch ends with the line that passes MAX_LINES_BYTES); later batches start at
 * about their predecessor's size.
 */
const FIRST_LINES_CAPACITY = 64 * 1024
const LINES_SLACK = 64 * 1024

const INVALID = Symbol('invalid JSON')

/** stream-chain's "no value" marker (a registered symbol, so no import of a transitive package). */
const NONE = Symbol.for('object-stream.none')

interface Token {
  readonly name: string
  readonly value?: unknown
}
type Tokenizer = (text: string | symbol) => symbol | { readonly values: readonly Token[] }
type Verifier = (text: string | symbol) => unknown

/** What the state machine expects next. */
const enum Mode {
  Root, // the top-level value
  Top, // a key of the top-level object, or its end
  TablesOpen, // the `[` of "tables"
  Tables, // a table object, or the end of "tables"
  Table, // a key of a table object, or its end
  RecordsOpen, // the `[` of "records" or of a collection
  Records, // a record, or the end of the records
  CollectionsOpen, // the `{` of "collections"
  Collections, // a collection name, or the end of "collections"
  Value, // inside a value being assembled
  Skip, // inside a value being skipped
  Done, // after the top-level value
}

/** Where an assembled value goes. */
const enum Target {
  TableField,
  Metadata,
  Summary,
  Record,
}

/** Header fields of a table object; they must all come before "records". */
const HEADER_FIELDS = new Set(['tableName', 'primaryKey', 'columns', 'uniqueConstraints', 'indexes', 'foreignKeys', 'options'])

/** Top-level keys that make a document a backup (any other key first means it is not one). */
const TOP_KEYS = new Set(['tables', 'collections', 'metadata', 'summary'])

interface OpenTable {
  readonly name: string
  readonly layout: BackupLayout
  /** The header gave column types (so numbers are doubles and the fast path applies). */
  readonly typed: boolean
  /** Smart Backup tables wait for their first record to name the columns. */
  schema: TableSchema | undefined
  readonly header: Pick<TableSchema, 'name' | 'primaryKey' | 'uniqueConstraints' | 'indexes' | 'foreignKeys' | 'options'>
  /** Record keys must be among these (typed tables without document columns). */
  readonly columnNames: ReadonlySet<string> | undefined
  /** Typed tables: what a verifying pass checks an unparsed record line against (record-scan.ts). */
  readonly shape: RecordShape | undefined
  readonly offset: number
  readonly checksum: TableChecksum
  /** Untyped tables: every record key seen so far, in first-seen order (the columns at tableEnd). */
  readonly keys: Set<string> | undefined
  /** The primary keys seen so far (verifying passes of tables with a key): a key twice is a damaged file. */
  readonly keySet: KeyDigestSet | undefined
  /** Where each record's key goes once checked (ReadBackupOptions.recordKeys). */
  readonly keySink: ((key: readonly unknown[]) => void) | undefined
  /** Per primary-key column: whether it holds numbers (how its values compare). */
  readonly keyNumeric: readonly boolean[]
  count: number
  batch: Row[]
  /**
   * 'lines' mode without a converter: the batch's record texts, each followed by a newline, copied
   * in as they come (linesBytes of it used; never a view of an input chunk, which may be reused).
   */
  lines: Buffer | undefined
  /** The capacity to give the table's next batch of lines: about what its last one needed. */
  linesCapacity: number
  /** 'lines' mode: how many records the batch holds. */
  lineCount: number
  /** 'lines' mode: what the batch's lines are handed on as (ReadBackupOptions.convertLines), when not as they are. */
  readonly converter: LineConverter | undefined
  linesBytes: number
  batchStart: number
}

interface FinishedTable {
  readonly typed: boolean
  readonly offset: number
  readonly count: number
  readonly checksum: string
}

/**
 * The push parser behind readBackup: `write()` each chunk, then `end()`. Both are generators of
 * the events the input completes, so rows are handed on as soon as a batch is full.
 */
class BackupParser {
  /** Records per batch: parsed rows or unconverted lines, and converted lines (ReadBackupOptions.convertedBatchSize). */
  readonly #batchSize: { readonly parsed: number; readonly converted: number }
  readonly #verifyChecksums: boolean
  readonly #records: 'parsed' | 'lines' | 'none'
  readonly #hashing: boolean
  readonly #tokenizer = jsonParser({ streamValues: false }) as unknown as Tokenizer
  /**
   * The last text the tokenizer was fed is a record's stand-in `0,\n`: it is then between records
   * after a comma, and the next such stand-in would leave it exactly there again (its state is
   * its expectation and an empty buffer), giving one numberValue token. #tryFastRecord hands that
   * token on itself instead of running the tokenizer once more per record.
   */
  #afterCommaStandIn = false
  #events: BackupEvent[] = []

  // Input framing.
  #pending: Buffer[] = []
  #pendingBytes = 0
  /**
   * A long line that may be one record is gathered here (then #pending is its one filled part),
   * so that the input's chunks are not all held until the line is joined, then copied once more.
   */
  #gather: Buffer | undefined
  /** Byte offset of the first byte not yet handed to a segment (the start of #pending). */
  #offset = 0
  #atLineStart = true
  #sawInput = false
  /** Bytes of JSON text received so far (maxDecompressedBytes). */
  #inputBytes = 0
  /** end() is feeding the unterminated rest of the input. */
  #ending = false

  // Where the tokenizer is, for locating syntax errors (see #locate).
  /** 0 = object, 1 = array, for every container open at the end of the last segment. */
  readonly #structure: number[] = []
  #lastChar = -1
  #lastTokenWasKey = false
  #segmentOffset = 0

  // The state machine.
  #mode = Mode.Root
  #valueTarget = Target.TableField
  #returnMode = Mode.Top
  #fieldName = ''
  #skipDepth = 0
  readonly #stack: (Record<string, unknown> | unknown[])[] = []
  #key = ''
  #bigIntsAsText = false
  /** The record field whose value is being assembled (untyped tables). */
  #recordField = ''
  /** Record fields whose nested value holds an integer beyond a double (kept as exact JSON text). */
  readonly #losslessFields = new Set<string>()
  #valueOffset = 0
  /** Where the record that begins at the current segment's start begins (#openRecordStart). */
  #recordStart: number | undefined
  /** Whether #valueOffset is the open record's exact first byte, not its segment's. */
  #recordStartExact = false

  // What the document held.
  #layout: 'tables' | 'collections' | undefined
  #sawTopKey = false
  #metadata: Record<string, unknown> | undefined
  #metadataOffset = 0
  #summary: Record<string, unknown> | undefined
  #collectionSchemas: Map<string, TableSchema> | undefined
  #header: Record<string, unknown> | undefined
  #headerOffset = 0
  #recordsSeen = false
  /** Name of the table object being read (kept after its records end, for messages). */
  #tableName = ''
  #table: OpenTable | undefined
  readonly #finished = new Map<string, FinishedTable>()
  /** The record of the line just taken by the fast path; null when it was taken unparsed. */
  #fastRecord: Row | null | undefined
  /** The key values of a fast record checked on its bytes (record-scan.ts), left unparsed. */
  #fastKey: unknown[] | undefined
  #fastBytes: Buffer | undefined
  /** The fast record's line with a newline, when it may be handed on without a copy (#addLine). */
  #fastLine: Buffer | undefined
  /** The fast path's line was converted by the table's converter (convertChecked) as it was checked. */
  #fastConverted = false
  readonly #convertLines: ((table: TableSchema) => LineConverter | undefined) | undefined
  readonly #recordKeys: ReadBackupOptions['recordKeys']
  /** Whether the buffer #line is reading belongs to the reader (gathered from chunks), not the caller. */
  #ownLine = false
  /** The line being read is one of a chunk's whole lines, found valid UTF-8 together (write()). */
  #lineUtf8 = false
  readonly #limits: ReaderLimits

  readonly #incremental: boolean

  constructor(
    batchSize: { readonly parsed: number; readonly converted: number },
    verifyChecksums: boolean,
    records: 'parsed' | 'lines' | 'none',
    computeChecksums: boolean,
    limits: ReaderLimits,
    incremental = false,
    convertLines?: (table: TableSchema) => LineConverter | undefined,
    recordKeys?: ReadBackupOptions['recordKeys'],
  ) {
    this.#convertLines = records === 'lines' ? convertLines : undefined
    this.#recordKeys = recordKeys
    this.#incremental = incremental
    this.#limits = limits
    this.#batchSize = batchSize
    this.#verifyChecksums = verifyChecksums
    this.#records = records
    this.#hashing = computeChecksums
  }

  *write(chunk: Buffer): Generator<BackupEvent> {
    if (chunk.length === 0) return
    this.#sawInput = true
    this.#inputBytes += chunk.length
    if (this.#inputBytes > this.#limits.maxDecompressedBytes) {
      throw this.#limitError('maxDecompressedBytes', `the backup decompresses to more than ${this.#limits.maxDecompressedBytes} bytes`, this.#limits.maxDecompressedBytes)
    }
    let start = 0
    if (this.#pendingBytes > 0) {
      const newline = chunk.indexOf(LF)
      if (newline === -1) {
        this.#appendPending(chunk, true)
        this.#cutLongPending()
        yield* this.#drain()
        return
      }
      this.#appendPending(chunk.subarray(0, newline + 1))
      let line: Buffer | undefined = this.#takePending()
      this.#line(line, 0, line.length)
      this.#ownLine = false
      // A huge record line must not stay alive while its rows are written (the generator keeps
      // its locals across the yield).
      line = undefined
      yield* this.#drain()
      start = newline + 1
    }
    // The chunk's whole lines are checked for UTF-8 in one call: a line ends at `\n`, never inside
    // a character, so each of them is then valid too. Should the call fail, every line is
    // checked on its own, which finds the line and the byte to report.
    const lastNewline = chunk.lastIndexOf(LF)
    this.#lineUtf8 = lastNewline >= start && isUtf8(chunk.subarray(start, lastNewline + 1))
    try {
      for (;;) {
        const newline = chunk.indexOf(LF, start)
        if (newline === -1) break
        this.#line(chunk, start, newline + 1)
        if (this.#events.length > 0) yield* this.#drain()
        start = newline + 1
      }
    } finally {
      this.#lineUtf8 = false
    }
    if (start < chunk.length) {
      this.#appendPending(chunk.subarray(start), true)
      this.#cutLongPending()
      yield* this.#drain()
    }
  }

  *end(): Generator<BackupEvent> {
    this.#ending = true
    if (this.#pendingBytes > 0) {
      let rest: Buffer | undefined = this.#takePending()
      this.#line(rest, 0, rest.length)
      this.#ownLine = false
      rest = undefined
    }
    if (!this.#sawInput || (this.#mode === Mode.Root && this.#structure.length === 0 && this.#lastChar === -1)) {
      throw new FormatError('the backup is empty', { byteOffset: 0 })
    }
    try {
      const result = this.#tokenizer(NONE)
      if (typeof result !== 'symbol') for (const token of result.values) this.#token(token.name, token.value)
    } catch (error) {
      if (error instanceof FormatError) throw error
      throw this.#contextError(`the backup ends unexpectedly at byte ${this.#offset} (truncated?)`, this.#offset, error)
    }
    if (this.#mode !== Mode.Done) throw this.#contextError(`the backup ends unexpectedly at byte ${this.#offset} (truncated?)`, this.#offset)
    this.#finish()
    yield* this.#drain()
  }

  *#drain(): Generator<BackupEvent> {
    while (this.#events.length > 0) {
      const events = this.#events
      this.#events = []
      yield* events
    }
  }

  // ---- framing -------------------------------------------------------------------------------

  /** While the unfinished line is longer than MAX_LINE_BYTES, feeds its first piece to the tokenizer. */
  #cutLongPending(): void {
    if (this.#pendingBytes <= MAX_LINE_BYTES) return
    // A line that may be one long record (a huge value) is kept whole up to the record limit,
    // for the fast path: tokenized in pieces, it would be built from strings and copied again.
    if (this.#atLineStart && this.#pending[0]![0] === OPEN_BRACE && this.#pendingBytes <= this.#limits.maxRecordBytes + LINE_END_BYTES && this.#fastPathOpen()) {
      if (this.#pending.length > 1) this.#gatherPending()
      return
    }
    this.#gather = undefined
    const buffer = Buffer.concat(this.#pending)
    let start = 0
    while (buffer.length - start > MAX_LINE_BYTES) start = this.#piece(buffer, start)
    this.#pending = [buffer.subarray(start)]
    this.#pendingBytes = buffer.length - start
  }

  /**
   * `kept`: the bytes stay in #pending after write() returns, so they are copied (the input may
   * reuse the chunk's buffer once the next chunk is asked for); otherwise they are joined with
   * what is pending at once (#takePending), which copies them.
   */
  #appendPending(bytes: Buffer, kept = false): void {
    const gather = this.#gather
    if (gather !== undefined && this.#pendingBytes + bytes.length <= gather.length) {
      bytes.copy(gather, this.#pendingBytes)
      this.#pendingBytes += bytes.length
      this.#pending[0] = gather.subarray(0, this.#pendingBytes)
      return
    }
    this.#pending.push(kept ? Buffer.from(bytes) : bytes)
    this.#pendingBytes += bytes.length
  }

  /** Moves the unfinished line into one buffer with room to grow (twice its size, at most the record limit). */
  #gatherPending(): void {
    const capacity = Math.max(this.#pendingBytes, Math.min(2 * this.#pendingBytes, this.#limits.maxRecordBytes + LINE_END_BYTES))
    // allocUnsafeSlow: the room not yet written costs address space, not memory.
    const gather = Buffer.allocUnsafeSlow(capacity)
    let at = 0
    for (const part of this.#pending) at += part.copy(gather, at)
    this.#gather = gather
    this.#pending = [gather.subarray(0, at)]
  }

  /** The unfinished line as one buffer, and #pending emptied. */
  #takePending(): Buffer {
    this.#ownLine = this.#gather !== undefined || this.#pending.length > 1
    const line = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes)
    this.#pending = []
    this.#pendingBytes = 0
    this.#gather = undefined
    return line
  }

  /** Feeds the piece of a long line that starts at `start`; returns where the next piece starts. */
  #piece(buffer: Buffer, start: number): number {
    let cut = start + MAX_LINE_BYTES
    // Back up to the first byte of a character (continuation bytes are 10xxxxxx).
    while (cut > start && (buffer[cut]! & 0xc0) === 0x80) cut--
    if (cut === start) cut = start + MAX_LINE_BYTES
    this.#segment(buffer, start, cut)
    this.#atLineStart = false
    return cut
  }

  /** One line, `\n` included (or the unterminated end of the input). */
  #line(buffer: Buffer, start: number, end: number): void {
    if (end - start > MAX_LINE_BYTES && end - start <= this.#limits.maxRecordBytes + LINE_END_BYTES && this.#atLineStart && this.#fastPathOpen() && this.#tryFastRecord(buffer, start, end)) return
    while (end - start > MAX_LINE_BYTES) start = this.#piece(buffer, start)
    if (this.#atLineStart && this.#fastPathOpen() && this.#tryFastRecord(buffer, start, end)) {
      return
    }
    this.#segment(buffer, start, end)
    this.#atLineStart = buffer[end - 1] === LF
  }

  /** Between two records of a typed table: where a line may take the fast path. */
  #fastPathOpen(): boolean {
    return this.#mode === Mode.Records && this.#table?.typed === true
  }

  /** The fast path: a whole line that is one record. Returns false to let the tokenizer have it. */
  #tryFastRecord(buffer: Buffer, start: number, end: number): boolean {
    if (buffer[start] !== OPEN_BRACE || buffer[end - 1] !== LF) return false
    let last = end - 1
    if (buffer[last - 1] === CR) last--
    const comma = buffer[last - 1] === COMMA
    if (comma) last--
    if (buffer[last - 1] !== CLOSE_BRACE) return false
    // One view of the record's bytes serves every check and the record itself (a view per
    // check cost an object each per record). What follows them (`,`, `\r`, `\n`) is ASCII.
    const bytes = buffer.subarray(start, last)
    // A line of the chunk whose whole lines were found valid UTF-8 in one call (write()) is valid.
    if (!this.#lineUtf8 && !isUtf8(bytes)) return false
    // Longer than the limit: the general parser refuses it to the byte (#segment), or reads the
    // several records this line may hold.
    if (last - start > this.#limits.maxRecordBytes) return false
    const room = this.#limits.maxDepth - this.#structure.length
    let record: Row | null = null
    let key: unknown[] | undefined
    // A verifying pass checks every record, whatever it hands on: it makes the checks a restore
    // makes (fields, keys), so that a file that verifies is a file that restores. A line handed
    // on unparsed is checked on its bytes (record-scan.ts), the nesting limit included; one the
    // scan does not vouch for is parsed, and the parsed record checked, as before.
    const table = this.#table!
    let converted = false
    // Whether the line was found within the nesting limit by the walk that checked it.
    let withinNesting = false
    if (table.converter !== undefined && table.converter.convertChecked(buffer, start, last, table.shape!)) {
      // Checked as scanRecord checks, in the walk that converted it (the nesting limit apart).
      converted = true
      if (this.#verifyChecksums) key = keyValues(buffer, table.shape!)
    } else if (this.#records !== 'parsed' && this.#verifyChecksums && table.shape !== undefined && table.schema !== undefined && table.keys === undefined) {
      key = scanRecord(buffer, start, last, table.shape, room)
      withinNesting = key !== undefined
    }
    // Hashed, converted or handed on unparsed, the line must still obey the nesting limit: a later
    // pass (or the destination) parses it. A line the scan vouched for is within it.
    if (!withinNesting && nestingExceeds(buffer, start, last, room, bytes)) {
      throw this.#limitError('maxDepth', `record ${table.count} of table "${this.#tableName}" is nested deeper than ${this.#limits.maxDepth} levels`, this.#offset)
    }
    if (key === undefined && (this.#records === 'parsed' || this.#verifyChecksums)) {
      if (last - start > MAX_LINE_BYTES) {
        // A huge value: parsed from the bytes, so the line is not also copied into a string.
        // Handed on as bytes ('lines', 'none'), the record is parsed only for the checks, which
        // read its field names and key: other plain strings are checked, not decoded (a 100 MB
        // value would otherwise cost a 100 MB string while the line is still held).
        const primaryKey = table.header.primaryKey
        const parsed = parseRecordBytes(buffer, start, last, this.#records === 'parsed' ? undefined : (field) => primaryKey.includes(field))
        if (parsed === undefined) return false
        record = parsed
      } else {
        try {
          record = JSON.parse(buffer.toString('utf8', start, last)) as Row
        } catch {
          return false
        }
      }
    }
    this.#fastRecord = record
    this.#fastKey = key
    this.#fastBytes = bytes
    this.#fastConverted = converted
    if (this.#records === 'lines' && this.#ownLine && last - start > MAX_LINE_BYTES && table.converter === undefined) {
      // A huge record line handed on as bytes, in a buffer of the reader's own (gathered, not the
      // caller's): the byte after its `}` becomes its newline, and the line is its own 'lines'
      // event, not copied into a batch (#addLine).
      buffer[last] = LF
      this.#fastLine = buffer.subarray(start, last + 1)
    }
    // The stand-in keeps the tokenizer checking the separators around records.
    if (comma && this.#afterCommaStandIn) {
      this.#segmentOffset = this.#offset
      this.#token('numberValue', '0')
    } else {
      this.#feed(comma ? '0,\n' : '0\n', this.#offset, true)
      this.#afterCommaStandIn = comma
    }
    this.#offset += end - start
    return true
  }

  /** Hands bytes [start, end) to the tokenizer. */
  #segment(buffer: Buffer, start: number, end: number): void {
    let offset = this.#offset
    this.#offset += end - start
    if (offset === 0 && end - start >= 3 && buffer[start] === 0xef && buffer[start + 1] === 0xbb && buffer[start + 2] === 0xbf) {
      start += 3 // a UTF-8 byte order mark (some editors add one)
      offset = 3
    }
    const bytes = buffer.subarray(start, end)
    if (!isUtf8(bytes)) {
      const bad = firstInvalidUtf8(bytes)
      // A character cut short by the end of the input is a truncated file, not bad text.
      if (this.#ending && end === buffer.length && isCutShort(bytes.subarray(bad))) {
        throw this.#contextError(`the backup ends unexpectedly at byte ${this.#offset} (truncated?)`, this.#offset)
      }
      throw this.#contextError(`the backup is not valid UTF-8 at byte ${offset + bad}`, offset + bad)
    }
    const recordStart = this.#openRecordStart(buffer, start, end, offset)
    const limit = this.#limits.maxRecordBytes
    if (recordStart !== undefined && offset + (end - start) - recordStart > limit) {
      // The record open here (or starting here) may end past the limit, inside this segment:
      // feed up to its limit's last byte first. Still open there, it is too long, to the byte;
      // checked only once the segment ended, a record ending in it escaped by up to its size.
      let cut = start + (recordStart + limit - offset)
      while (cut > start && (buffer[cut]! & 0xc0) === 0x80) cut--
      const index = this.#table!.count
      if (cut > start) this.#feed(buffer.toString('utf8', start, cut), offset, false)
      if (this.#mode === Mode.Value && this.#valueTarget === Target.Record && this.#table!.count === index) {
        throw this.#limitError('maxRecordBytes', `record ${index} of table "${this.#tableName}" is longer than ${limit} bytes`, recordStart)
      }
      this.#feed(buffer.toString('utf8', cut, end), offset + (cut - start), false)
    } else this.#feed(bytes.toString('utf8'), offset, false)
    // A value assembled by the tokenizer (a long line is fed in pieces): refuse it once it
    // passes maxRecordBytes, so that memory stays bounded by the limit.
    if ((this.#mode === Mode.Value || this.#mode === Mode.Skip) && this.#offset - this.#valueOffset > this.#limits.maxRecordBytes) {
      const what = this.#mode === Mode.Value && this.#valueTarget === Target.Record ? `record ${this.#table?.count ?? 0} of table "${this.#tableName}"` : 'a value of the backup'
      throw this.#limitError('maxRecordBytes', `${what} is longer than ${this.#limits.maxRecordBytes} bytes`, this.#valueOffset)
    }
  }

  /**
   * The byte offset where the record open at `start` began, or where one begins right at `start`
   * (after blanks, commas, the records' `[`); undefined when the segment does not start in one.
   * A record found here starts at that exact byte; one that starts later in a segment (several
   * records on one line) is taken to start at the segment's start, which only errs on the safe
   * side, and one that also ends in that segment is measured in #valueDone.
   */
  #openRecordStart(buffer: Buffer, start: number, end: number, offset: number): number | undefined {
    this.#recordStart = undefined
    if (this.#mode === Mode.Value && this.#valueTarget === Target.Record) return this.#valueOffset
    if (this.#mode !== Mode.Records && this.#mode !== Mode.RecordsOpen) return undefined
    let at = start
    for (; at < end; at++) {
      const byte = buffer[at]!
      if (byte !== 0x20 && byte !== LF && byte !== CR && byte !== 0x09 && byte !== COMMA && !(byte === OPEN_BRACKET && this.#mode === Mode.RecordsOpen)) break
    }
    if (at === end || buffer[at] !== OPEN_BRACE) return undefined
    this.#recordStart = offset + (at - start)
    return this.#recordStart
  }

  #feed(text: string, offset: number, standIn: boolean): void {
    this.#segmentOffset = offset
    this.#afterCommaStandIn = false
    let result: ReturnType<Tokenizer>
    try {
      result = this.#tokenizer(text)
    } catch (error) {
      throw this.#syntaxError(error, text, offset, standIn)
    }
    if (typeof result !== 'symbol') {
      const tokens = result.values
      for (let i = 0; i < tokens.length; i++) this.#token(tokens[i]!.name, tokens[i]!.value)
    }
    for (let i = text.length - 1; i >= 0; i--) {
      const code = text.charCodeAt(i)
      if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) {
        this.#lastChar = code
        break
      }
    }
  }

  // ---- errors --------------------------------------------------------------------------------

  #syntaxError(error: unknown, text: string, offset: number, standIn: boolean): FormatError {
    const position = this.#locate(text)
    // A stand-in represents its whole record line: the problem is at the line's start.
    const byteOffset = position === undefined || standIn ? offset : offset + Buffer.byteLength(text.slice(0, position))
    const reason = error instanceof Error ? error.message.replace(/^Parser (cannot parse input: |has )/, '') : String(error)
    return this.#contextError(`the backup is not valid JSON at byte ${byteOffset}: ${reason}`, byteOffset, error)
  }

  /**
   * The character index in `text` where the JSON becomes invalid, found by running stream-json's
   * verifier (which reports positions) over `text` behind a short prefix that recreates the
   * tokenizer's state at the start of `text`. Undefined if that state cannot be recreated (the
   * text continues a piece of a long line) or the verifier does not fail.
   */
  #locate(text: string): number | undefined {
    if (!this.#atLineStart) return undefined
    let prefix = ''
    const depth = this.#structure.length
    for (let i = 0; i < depth; i++) {
      const innermost = i === depth - 1
      if (this.#structure[i] === 1) {
        prefix += '['
        if (innermost) prefix += this.#lastChar === 0x5b ? '' : this.#lastChar === COMMA ? '0,' : '0 '
      } else {
        prefix += '{'
        if (!innermost) prefix += '"":'
        else if (this.#lastChar === OPEN_BRACE) prefix += ''
        else if (this.#lastChar === COMMA) prefix += '"":0,'
        else if (this.#lastChar === 0x3a) prefix += '"":'
        else if (this.#lastTokenWasKey) prefix += '""'
        else prefix += '"":0 '
      }
    }
    if (depth === 0 && this.#mode === Mode.Done) prefix = '0 '
    const verifier = jsonVerifier() as unknown as Verifier
    try {
      verifier(prefix + text)
      verifier(NONE)
    } catch (error) {
      const offset = (error as { offset?: unknown }).offset
      if (typeof offset === 'number' && offset >= prefix.length) return Math.min(offset - prefix.length, text.length)
    }
    return undefined
  }

  /** A FormatError that names the table and record the parser is in, when it is in one. */
  #contextError(message: string, byteOffset: number, cause?: unknown, details?: Record<string, unknown>): FormatError {
    const table = this.#table
    if (table === undefined) return new FormatError(message, { byteOffset, cause, details })
    const inRecords = this.#mode === Mode.Records || (this.#mode === Mode.Value && this.#valueTarget === Target.Record)
    if (!inRecords) return new FormatError(`${message} (table "${table.name}")`, { byteOffset, table: table.name, cause, details })
    return new FormatError(`${message} (table "${table.name}", record ${table.count})`, { byteOffset, table: table.name, recordIndex: table.count, cause, details })
  }

  /** A file beyond limit `key`: the message names the limit, its value, and the flag and variable that raise it. */
  #limitError(key: keyof ReaderLimits, message: string, byteOffset: number): FormatError {
    const value = this.#limits[key]
    return this.#contextError(`${message} ${limitHint(key, value)}`, byteOffset, undefined, limitDetails(key, value))
  }

  #ruleError(message: string, byteOffset = this.#segmentOffset): FormatError {
    return this.#contextError(message, byteOffset)
  }

  // ---- the state machine ---------------------------------------------------------------------

  #token(name: string, value: unknown): void {
    this.#lastTokenWasKey = name === 'keyValue'
    switch (name) {
      case 'startObject':
      case 'startArray':
        this.#structure.push(name === 'startObject' ? 0 : 1)
        if (this.#structure.length > this.#limits.maxDepth) {
          const where = this.#mode === Mode.Value && this.#valueTarget === Target.Record ? `record ${this.#table?.count ?? 0} of table "${this.#tableName}"` : 'the backup'
          throw this.#limitError('maxDepth', `${where} is nested deeper than ${this.#limits.maxDepth} levels`, this.#segmentOffset)
        }
        break
      case 'endObject':
      case 'endArray':
        this.#structure.pop()
        break
    }
    switch (this.#mode) {
      case Mode.Value:
        this.#valueToken(name, value)
        return
      case Mode.Records:
        return this.#recordsToken(name)
      case Mode.Skip:
        if (name === 'startObject' || name === 'startArray') this.#skipDepth++
        else if (name === 'endObject' || name === 'endArray') this.#skipDepth--
        if (this.#skipDepth === 0) this.#mode = this.#returnMode
        return
      case Mode.Root:
        if (name !== 'startObject') throw this.#notABackup()
        this.#mode = Mode.Top
        return
      case Mode.Top:
        return this.#topToken(name, value)
      case Mode.TablesOpen:
        if (name !== 'startArray') throw this.#ruleError('"tables" is not an array')
        this.#mode = Mode.Tables
        return
      case Mode.Tables:
        if (name === 'endArray') {
          this.#mode = Mode.Top
          return
        }
        if (name !== 'startObject') throw this.#ruleError('an entry of "tables" is not an object')
        this.#header = {}
        this.#headerOffset = this.#segmentOffset
        this.#recordsSeen = false
        this.#mode = Mode.Table
        return
      case Mode.Table:
        return this.#tableToken(name, value)
      case Mode.RecordsOpen:
        if (name !== 'startArray') throw this.#ruleError(`the records of table "${this.#table?.name}" are not an array`)
        this.#mode = Mode.Records
        return
      case Mode.CollectionsOpen:
        if (name !== 'startObject') throw this.#ruleError('"collections" is not an object')
        this.#mode = Mode.Collections
        return
      case Mode.Collections:
        if (name === 'endObject') {
          this.#mode = Mode.Top
          return
        }
        if (value === '') throw this.#ruleError('a collection has an empty name')
        this.#openCollection(value as string)
        this.#mode = Mode.RecordsOpen
        return
      case Mode.Done:
        // The tokenizer rejects anything after the top-level value; this is only a guard.
        throw this.#ruleError('unexpected data after the end of the backup')
    }
  }

  #topToken(name: string, value: unknown): void {
    if (name === 'endObject') {
      this.#mode = Mode.Done
      return
    }
    const key = value as string
    if (!this.#sawTopKey && !TOP_KEYS.has(key)) throw this.#notABackup()
    this.#sawTopKey = true
    switch (key) {
      case 'tables':
      case 'collections':
        if (this.#layout !== undefined) {
          throw this.#ruleError(this.#layout === key ? `"${key}" appears twice` : 'the backup has both "tables" and "collections"')
        }
        this.#layout = key
        this.#mode = key === 'tables' ? Mode.TablesOpen : Mode.CollectionsOpen
        return
      case 'metadata':
      case 'summary':
        if ((key === 'metadata' ? this.#metadata : this.#summary) !== undefined) throw this.#ruleError(`"${key}" appears twice`)
        this.#beginValue(key === 'metadata' ? Target.Metadata : Target.Summary, Mode.Top)
        return
      default:
        // Unknown keys are skipped: a later 1.x may add some.
        this.#valueOffset = this.#segmentOffset
        this.#skipDepth = 0
        this.#returnMode = Mode.Top
        this.#mode = Mode.Skip
    }
  }

  #tableToken(name: string, value: unknown): void {
    if (name === 'endObject') {
      if (!this.#recordsSeen) {
        this.#openTable()
        this.#closeTable()
      }
      this.#mode = Mode.Tables
      return
    }
    const key = value as string
    if (key === 'records') {
      if (this.#recordsSeen) throw this.#ruleError(`"records" appears twice in table "${this.#tableName}"`)
      this.#recordsSeen = true
      this.#openTable()
      this.#mode = Mode.RecordsOpen
      return
    }
    if (HEADER_FIELDS.has(key)) {
      if (this.#recordsSeen) {
        throw this.#ruleError(`"${key}" comes after "records" in table "${this.#tableName}" (the header must come before the records)`)
      }
      this.#fieldName = key
      this.#beginValue(Target.TableField, Mode.Table)
      return
    }
    this.#valueOffset = this.#segmentOffset
    this.#skipDepth = 0
    this.#returnMode = Mode.Table
    this.#mode = Mode.Skip
  }

  #recordsToken(name: string): void {
    const table = this.#table!
    if (name === 'startObject') {
      this.#bigIntsAsText = !table.typed
      this.#losslessFields.clear()
      this.#valueOffset = this.#recordStart ?? this.#segmentOffset
      this.#recordStartExact = this.#recordStart !== undefined
      this.#recordStart = undefined
      this.#valueTarget = Target.Record
      this.#returnMode = Mode.Records
      this.#stack.length = 0
      const record: Record<string, unknown> = {}
      this.#stack.push(record)
      this.#mode = Mode.Value
      return
    }
    if (name === 'numberValue' && this.#fastRecord !== undefined) {
      const record = this.#fastRecord
      const bytes = this.#fastBytes
      const key = this.#fastKey
      this.#fastRecord = undefined
      this.#fastBytes = undefined
      this.#fastKey = undefined
      const converted = this.#fastConverted
      this.#fastConverted = false
      this.#acceptRecord(record, bytes, key, converted)
      return
    }
    if (name === 'endArray') {
      this.#closeTable()
      this.#mode = this.#layout === 'collections' ? Mode.Collections : Mode.Table
      return
    }
    throw this.#ruleError(`record ${table.count} of table "${table.name}" is not an object`)
  }

  #beginValue(target: Target, returnMode: Mode): void {
    this.#valueTarget = target
    this.#returnMode = returnMode
    this.#bigIntsAsText = false
    this.#valueOffset = this.#segmentOffset
    this.#stack.length = 0
    this.#mode = Mode.Value
  }

  /** Assembles a value from tokens, as JSON.parse would build it. */
  #valueToken(name: string, value: unknown): void {
    let item: unknown
    switch (name) {
      case 'keyValue':
        this.#key = value as string
        if (this.#stack.length === 1) this.#recordField = this.#key
        return
      case 'startObject':
      case 'startArray': {
        const container = name === 'startObject' ? {} : []
        if (this.#stack.length > 0) this.#add(container)
        this.#stack.push(container)
        return
      }
      case 'endObject':
      case 'endArray': {
        const done = this.#stack.pop()!
        if (this.#stack.length === 0) this.#valueDone(done)
        return
      }
      case 'stringValue':
        item = value
        break
      case 'numberValue':
        item = this.#number(value as string)
        break
      case 'nullValue':
        item = null
        break
      case 'trueValue':
        item = true
        break
      case 'falseValue':
        item = false
        break
      default:
        return
    }
    if (this.#stack.length === 0) this.#valueDone(item)
    else this.#add(item)
  }

  #add(item: unknown): void {
    const parent = this.#stack[this.#stack.length - 1]!
    if (Array.isArray(parent)) parent.push(item)
    else if (this.#key === '__proto__') {
      // JSON.parse makes "__proto__" an own property; plain assignment would set the prototype.
      Object.defineProperty(parent, '__proto__', { value: item, writable: true, enumerable: true, configurable: true })
    } else parent[this.#key] = item
  }

  #number(text: string): number | string | LosslessNumber {
    const number = Number(text)
    // Files without column types may hold integers beyond a double's precision (ids from
    // another engine): keep their exact text instead of rounding them. A record field is then
    // that text, a string; inside a nested object or array the number stays a number, and the
    // whole field becomes its exact JSON text (#valueDone), which JSON destinations store as is.
    if (this.#bigIntsAsText && text.length > 15 && !Number.isSafeInteger(number) && /^-?\d+$/.test(text)) {
      if (this.#stack.length <= 1) return text
      this.#losslessFields.add(this.#recordField)
      return new LosslessNumber(text)
    }
    return number
  }

  #valueDone(value: unknown): void {
    this.#mode = this.#returnMode
    switch (this.#valueTarget) {
      case Target.Record:
        // A record that began inside a segment and ended in it, when the segment is longer than
        // the limit (several records on one long line): its canonical JSON is never longer
        // than its bytes in the file, so this refuses no record within the limit.
        if (!this.#recordStartExact && this.#offset - this.#valueOffset > this.#limits.maxRecordBytes && Buffer.byteLength(JSON.stringify(value)) > this.#limits.maxRecordBytes) {
          throw this.#limitError('maxRecordBytes', `record ${this.#table!.count} of table "${this.#tableName}" is longer than ${this.#limits.maxRecordBytes} bytes`, this.#valueOffset)
        }
        if (this.#losslessFields.size > 0) {
          const record = value as Row
          for (const field of this.#losslessFields) record[field] = losslessStringify(record[field]) as string
          this.#losslessFields.clear()
        }
        this.#acceptRecord(value as Row, undefined)
        return
      case Target.TableField:
        this.#header![this.#fieldName] = value
        return
      case Target.Metadata:
        if (!isPlainObject(value)) throw this.#ruleError('"metadata" is not an object', this.#valueOffset)
        this.#metadata = value
        this.#metadataOffset = this.#valueOffset
        this.#readMetadataHead(value)
        return
      case Target.Summary:
        if (!isPlainObject(value)) throw this.#ruleError('"summary" is not an object', this.#valueOffset)
        this.#summary = value
        return
    }
  }

  // ---- tables --------------------------------------------------------------------------------

  #openTable(): void {
    const offset = this.#headerOffset
    const parsed = decodeTableHeader(this.#header!, (message) => this.#ruleError(message, offset))
    this.#header = undefined
    this.#startTable(parsed.schema, parsed.typed ? 'mergeback' : 'smart-backup', parsed.typed, offset)
  }

  #openCollection(name: string): void {
    const schema = this.#collectionSchemas?.get(name)
    this.#startTable(schema ?? mongoCollectionTable(name), 'mongo-native', schema !== undefined, this.#segmentOffset)
  }

  #startTable(schema: TableSchema, layout: BackupLayout, typed: boolean, offset: number): void {
    if (this.#finished.has(schema.name)) throw this.#ruleError(`table "${schema.name}" appears twice`, offset)
    if (this.#finished.size >= this.#limits.maxTables) {
      throw this.#limitError('maxTables', `the backup holds more than ${this.#limits.maxTables} tables`, offset)
    }
    if (schema.columns.length > this.#limits.maxColumns) {
      throw this.#limitError('maxColumns', `table "${schema.name}" has ${schema.columns.length} columns, more than ${this.#limits.maxColumns}`, offset)
    }
    this.#tableName = schema.name
    const documents = schema.columns.some((column) => column.kind === 'document')
    this.#table = {
      name: schema.name,
      layout,
      typed,
      schema: typed ? schema : undefined,
      header: schema,
      columnNames: typed && !documents ? new Set(schema.columns.map((column) => column.name)) : undefined,
      shape: typed ? recordShape(documents ? undefined : schema.columns.map((column) => column.name), schema.primaryKey) : undefined,
      offset,
      checksum: new TableChecksum(),
      keys: typed ? undefined : new Set(),
      keySet: this.#verifyChecksums && schema.primaryKey.length > 0 ? new KeyDigestSet() : undefined,
      keySink: this.#verifyChecksums && schema.primaryKey.length > 0 ? this.#recordKeys?.(schema) : undefined,
      keyNumeric: schema.primaryKey.map((name) => NUMERIC_KINDS.has(schema.columns.find((column) => column.name === name)?.kind ?? 'unknown')),
      count: 0,
      batch: [],
      lines: undefined,
      linesCapacity: FIRST_LINES_CAPACITY,
      lineCount: 0,
      linesBytes: 0,
      batchStart: 0,
      converter: typed && !documents && this.#convertLines !== undefined ? this.#convertLines(schema) : undefined,
    }
    if (this.#table.schema !== undefined) this.#events.push({ type: 'table', table: schema, layout })
  }

  /** `key`: for an unparsed record (`record` null) of a verifying pass, its key values, its fields checked on its bytes. */
  #acceptRecord(record: Row | null, bytes: Buffer | undefined, key?: readonly unknown[], converted = false): void {
    const table = this.#table!
    if (record === null) {
      // A record line taken unparsed ('lines' and 'none' modes; typed tables only).
      if (key !== undefined) this.#checkKey(table, key, bytes)
      // 'lines': hashed as it goes into its batch (#addLine, #flushBatch), not here.
      if (this.#hashing && this.#records !== 'lines') table.checksum.addCanonicalBytes(bytes!)
      table.count++
      if (this.#records === 'lines') {
        if (table.converter !== undefined && !converted) table.converter.convert(bytes!)
        this.#addLine(table, bytes!)
      }
      return
    }
    if (table.schema === undefined) {
      table.schema = smartBackupTable(table.header, record)
      this.#events.push({ type: 'table', table: table.schema, layout: table.layout })
    }
    if (table.keys !== undefined) {
      for (const key in record) table.keys.add(key)
      if (table.keys.size > MAX_UNTYPED_COLUMNS) {
        throw this.#ruleError(`the records of table "${table.name}" have more than ${MAX_UNTYPED_COLUMNS} different fields`, this.#recordOffset(bytes))
      }
    }
    if (table.columnNames !== undefined) {
      for (const key in record) {
        if (!table.columnNames.has(key)) {
          throw this.#ruleError(`record ${table.count} of table "${table.name}" has a field "${key}" that is not one of its columns`, this.#recordOffset(bytes))
        }
      }
    }
    this.#checkKey(table, table.header.primaryKey.map((column) => record[column]), bytes)
    let canonical: Buffer | undefined
    if (this.#records === 'lines') {
      // Hashed as it goes into its batch (#addLine, #flushBatch): the line handed on is the canonical text.
      if (bytes === undefined) canonical = Buffer.from(JSON.stringify(record))
    } else if (bytes !== undefined) {
      if (this.#hashing) table.checksum.addCanonicalBytes(bytes)
    } else if (this.#hashing) table.checksum.addCanonicalText(JSON.stringify(record))
    table.count++
    if (this.#records === 'parsed') {
      table.batch.push(record)
      if (table.batch.length >= this.#batchSize.parsed) this.#flushBatch(table)
    } else if (this.#records === 'lines') {
      table.converter?.convert(canonical ?? bytes!)
      this.#addLine(table, canonical ?? bytes!)
    }
  }

  /** A verifying pass: the record's key (its key columns' values, in key order) must not be an earlier record's. */
  #checkKey(table: OpenTable, values: readonly unknown[], bytes: Buffer | undefined): void {
    if (table.keySet === undefined) return
    if (table.keySet.add(values, table.keyNumeric)) {
      table.keySink?.(values)
      return
    }
    const shown = JSON.stringify(values.length === 1 ? values[0] : values)
    throw this.#ruleError(
      `table "${table.name}" holds the key (${table.header.primaryKey.join(', ')}) = ${shown.length > 200 ? `${shown.slice(0, 200)}…` : shown} twice: record ${table.count} has the key of an earlier record of the table, so the file is damaged`,
      this.#recordOffset(bytes),
    )
  }

  #addLine(table: OpenTable, bytes: Buffer): void {
    const line = this.#fastLine
    this.#fastLine = undefined
    if (line !== undefined && line.length === bytes.length + 1) {
      this.#flushBatch(table) // the lines before it
      if (this.#hashing) table.checksum.addCanonicalLines(line)
      this.#events.push({ type: 'lines', table: table.name, lines: line, count: 1, firstRecordIndex: table.count - 1 })
      table.batchStart = table.count
      return
    }
    if (table.converter === undefined) this.#copyLine(table, bytes)
    // Converted as it came (the converter holds the batch's output): the line is needed only as
    // the checksum's input, so it goes through the checksum's reused stage instead of being
    // gathered and concatenated into a new buffer per batch (which only the hash would read).
    else if (this.#hashing) table.checksum.addCanonicalBytes(bytes)
    table.lineCount++
    table.linesBytes += bytes.length + 1
    const batchSize = table.converter === undefined ? this.#batchSize.parsed : this.#batchSize.converted
    if (table.lineCount >= batchSize || table.linesBytes >= MAX_LINES_BYTES) this.#flushBatch(table)
  }

  /** Copies a record line and its newline into the table's batch, which grows as it must. */
  #copyLine(table: OpenTable, bytes: Buffer): void {
    const at = table.linesBytes
    const end = at + bytes.length + 1
    let batch = table.lines
    if (batch === undefined || end > batch.length) {
      const wanted = batch === undefined ? table.linesCapacity : Math.min(2 * batch.length, MAX_LINES_BYTES + LINES_SLACK)
      const grown = Buffer.allocUnsafeSlow(Math.max(wanted, end))
      if (batch !== undefined) grown.set(batch.subarray(0, at))
      table.lines = batch = grown
    }
    batch.set(bytes, at)
    batch[end - 1] = LF
  }

  #recordOffset(bytes: Buffer | undefined): number {
    return bytes === undefined ? this.#valueOffset : this.#segmentOffset
  }

  #flushBatch(table: OpenTable): void {
    if (table.lineCount > 0) {
      let handed: Buffer
      if (table.converter !== undefined) handed = table.converter.take()
      else {
        const batch = table.lines!
        const used = table.linesBytes
        // Handed on as a view, unless most of the buffer is unused (a table's last batch, a small
        // table): a copy then, so that a consumer holding the lines does not hold the room too.
        handed = 2 * used < batch.length ? Buffer.from(batch.subarray(0, used)) : batch.subarray(0, used)
        // A table's checksum input is its record lines, each followed by a newline: these bytes.
        if (this.#hashing) table.checksum.addCanonicalLines(handed)
        table.lines = undefined
        table.linesCapacity = Math.min(used + Math.max(4096, used >> 4), MAX_LINES_BYTES + LINES_SLACK)
      }
      this.#events.push({ type: 'lines', table: table.name, lines: handed, count: table.lineCount, firstRecordIndex: table.batchStart })
      table.lineCount = 0
      table.linesBytes = 0
      table.batchStart = table.count
      return
    }
    if (table.batch.length === 0) return
    this.#events.push({ type: 'rows', table: table.name, rows: table.batch, firstRecordIndex: table.batchStart })
    table.batch = []
    table.batchStart = table.count
  }

  #closeTable(): void {
    const table = this.#table!
    if (table.schema === undefined) {
      table.schema = smartBackupTable(table.header, undefined)
      this.#events.push({ type: 'table', table: table.schema, layout: table.layout })
    }
    this.#flushBatch(table)
    const checksum = this.#hashing ? table.checksum.digest() : ''
    const widened = table.keys !== undefined && table.keys.size > table.schema.columns.length ? widenedTable(table.schema, table.keys) : undefined
    this.#events.push({ type: 'tableEnd', table: table.name, count: table.count, checksum, ...(widened ? { schema: widened } : {}) })
    this.#finished.set(table.name, { typed: table.typed, offset: table.offset, count: table.count, checksum })
    table.keySet?.close()
    this.#table = undefined
  }

  /** Frees what an open table holds outside the heap (its key log's file), when reading stops early or fails. */
  dispose(): void {
    this.#table?.keySet?.close()
  }

  // ---- metadata ------------------------------------------------------------------------------

  /** Checks what can be checked as soon as the metadata is read (first, in the mongo-native layout). */
  #readMetadataHead(metadata: Record<string, unknown>): void {
    const offset = this.#metadataOffset
    checkFormatVersion(metadata, (message) => this.#ruleError(message, offset), this.#incremental)
    const schemas = metadata.collectionSchemas
    if (schemas === undefined) return
    if (!Array.isArray(schemas)) throw this.#ruleError('metadata "collectionSchemas" is not an array', offset)
    this.#collectionSchemas = new Map()
    for (const header of schemas) {
      if (!isPlainObject(header)) throw this.#ruleError('an entry of metadata "collectionSchemas" is not an object', offset)
      const { schema } = decodeTableHeader(header, (message) => this.#ruleError(`metadata "collectionSchemas": ${message}`, offset))
      this.#collectionSchemas.set(schema.name, schema)
    }
  }

  /** The end of the document: everything the metadata promises is compared with what was read. */
  #finish(): void {
    if (this.#layout === undefined) throw this.#notABackup()
    const metadata = this.#metadata
    if (metadata === undefined) throw new FormatError('the backup has no "metadata"', { byteOffset: this.#offset })
    const combined: Record<string, unknown> = this.#summary === undefined ? metadata : { ...metadata, ...this.#summary }
    const offset = this.#metadataOffset
    const fail = (message: string, table?: string): FormatError =>
      new FormatError(message, { byteOffset: table === undefined ? offset : this.#finished.get(table)?.offset ?? offset, table })
    const parsed = METADATA.safeParse(combined)
    if (!parsed.success) throw fail(`the backup's metadata is malformed: ${describeIssue(parsed.error)}`)
    const facts = parsed.data
    const ours = facts.format === 'mergeback' || facts.format === 'mergeback-incremental'
    const names = [...this.#finished.keys()]

    if (ours && this.#layout === 'tables') {
      for (const [name, table] of this.#finished) if (!table.typed) throw fail(`table "${name}" has no "columns"`, name)
    }
    if (ours) {
      const listed = facts.tables ?? []
      if (listed.length !== names.length || listed.some((name, i) => name !== names[i])) {
        throw fail(`the metadata lists the tables ${JSON.stringify(listed)} but the backup holds ${JSON.stringify(names)}`)
      }
    }

    const counts = facts.recordCounts ?? {}
    for (const [name, count] of Object.entries(counts)) {
      const table = this.#finished.get(name)
      if (table === undefined) {
        if (count > 0) throw fail(`the metadata counts ${count} records in table "${name}", which the backup does not hold`)
      } else if (table.count !== count) {
        throw fail(`table "${name}" holds ${table.count} records but the metadata counts ${count}`, name)
      }
    }
    const checksums = facts.checksums ?? {}
    for (const name of Object.keys(checksums)) {
      if (!this.#finished.has(name)) throw fail(`the metadata has a checksum for table "${name}", which the backup does not hold`)
    }
    if (ours) {
      for (const name of names) {
        if (!Object.hasOwn(counts, name)) throw fail(`the metadata has no record count for table "${name}"`, name)
        if (!Object.hasOwn(checksums, name)) throw fail(`the metadata has no checksum for table "${name}"`, name)
      }
    }
    if (this.#verifyChecksums) {
      for (const [name, expected] of Object.entries(checksums)) {
        const actual = this.#finished.get(name)!.checksum
        if (actual !== expected) {
          throw new IntegrityError(`table "${name}" does not match its checksum: its records were changed after the backup was written`, 'checksum', {
            details: { table: name, expected, actual },
          })
        }
      }
    }
    const layout: BackupLayout = this.#layout === 'collections' ? 'mongo-native' : ours ? 'mergeback' : 'smart-backup'
    this.#events.push({ type: 'metadata', metadata: combined as Partial<BackupMetadata> & Record<string, unknown>, layout })
  }

  #notABackup(): FormatError {
    return new FormatError('the file is not a mergeback backup (a backup is a JSON object with a "tables" array or a "collections" object)', {
      byteOffset: this.#segmentOffset,
    })
  }
}

// ---- table headers -------------------------------------------------------------------------

const VALUE_KINDS = [
  'integer',
  'bigint',
  'decimal',
  'float',
  'boolean',
  'text',
  'binary',
  'date',
  'timestamp',
  'timestamptz',
  'time',
  'interval',
  'json',
  'array',
  'enum',
  'bit',
  'document',
  'unknown',
] as const satisfies readonly ValueKind[]
// Fails to compile when ValueKind gains a member this list lacks.
const ALL_KINDS_LISTED: [Exclude<ValueKind, (typeof VALUE_KINDS)[number]>] extends [never] ? true : never = true
void ALL_KINDS_LISTED

const COLUMN = z.object({
  name: z.string().min(1),
  type: z.string().default(''),
  kind: z.enum(VALUE_KINDS).default('unknown'),
  elementKind: z.enum(VALUE_KINDS).optional(),
  nullable: z.boolean().default(true),
  default: z.string().nullable().optional(),
  identity: z.enum(['always', 'by-default']).optional(),
  autoIncrement: z.boolean().optional(),
  generated: z.string().optional(),
  enumValues: z.array(z.string()).optional(),
  enumName: z.string().optional(),
})

const NAMES = z.array(z.string().min(1))

const HEADER = z.object({
  tableName: z.string().min(1),
  primaryKey: z.union([z.string().min(1), NAMES, z.null()]).optional(),
  columns: z.array(COLUMN).optional(),
  uniqueConstraints: z.array(z.object({ name: z.string(), columns: NAMES })).default([]),
  indexes: z
    .array(
      z.object({
        name: z.string(),
        columns: NAMES,
        unique: z.boolean().default(false),
        definition: z.string().optional(),
        options: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .default([]),
  foreignKeys: z
    .array(
      z.object({
        name: z.string(),
        columns: NAMES,
        referencedTable: z.string().min(1),
        referencedColumns: NAMES,
        onDelete: z.string().optional(),
        onUpdate: z.string().optional(),
        deferrable: z.boolean().optional(),
      }),
    )
    .default([]),
  options: z.record(z.string(), z.unknown()).optional(),
})

/**
 * The TableSchema a reader decodes from a table header as the writer encoded it (for the origin
 * seal, which covers the schema exactly as a reader will see it). Throws FormatError.
 */
export function decodeWrittenHeader(header: Record<string, unknown>): TableSchema {
  return decodeTableHeader(JSON.parse(JSON.stringify(header)) as Record<string, unknown>, (message) => new FormatError(message)).schema
}

/**
 * A TableSchema from a table object's header fields (native layout, Smart Backup, or an entry of
 * `collectionSchemas`). `typed` when the header lists columns. Errors are made by `fail`.
 */
function decodeTableHeader(header: Record<string, unknown>, fail: (message: string) => FormatError): { schema: TableSchema; typed: boolean } {
  const parsed = HEADER.safeParse(header)
  if (!parsed.success) {
    const name = typeof header.tableName === 'string' ? `table "${header.tableName}"` : 'a table'
    throw fail(`${name} has a malformed header: ${describeIssue(parsed.error)}`)
  }
  const fields = parsed.data
  const key = fields.primaryKey
  const primaryKey = key === undefined || key === null ? [] : typeof key === 'string' ? [key] : key
  const columns = fields.columns as ColumnSchema[] | undefined
  if (columns !== undefined) {
    const names = new Set<string>()
    for (const column of columns) {
      if (names.has(column.name)) throw fail(`table "${fields.tableName}" has two columns named "${column.name}"`)
      names.add(column.name)
    }
    for (const column of primaryKey) {
      if (!names.has(column)) throw fail(`the primary key of table "${fields.tableName}" names "${column}", which is not one of its columns`)
    }
  }
  if (new Set(primaryKey).size !== primaryKey.length) throw fail(`the primary key of table "${fields.tableName}" names a column twice`)
  return {
    typed: columns !== undefined,
    schema: {
      name: fields.tableName,
      columns: columns ?? [],
      primaryKey,
      uniqueConstraints: fields.uniqueConstraints,
      indexes: fields.indexes,
      foreignKeys: fields.foreignKeys,
      ...(fields.options === undefined ? {} : { options: fields.options }),
    },
  }
}

// ---- metadata ------------------------------------------------------------------------------

const METADATA = z.looseObject({
  format: z.string().optional(),
  version: z.string().optional(),
  tables: z.array(z.string()).optional(),
  collections: z.array(z.string()).optional(),
  recordCounts: z.record(z.string(), z.number().int().min(0)).optional(),
  checksums: z.record(z.string(), z.string().refine(isChecksum, 'expected "sha256:" and 64 lowercase hex digits')).optional(),
  warnings: z.array(z.string()).optional(),
})

/** This build reads format 1.x. The seeds write "1.0" and no `format`. */
function checkFormatVersion(metadata: Record<string, unknown>, fail: (message: string) => FormatError, incremental = false): void {
  const { format, version } = metadata
  if (format === 'mergeback-incremental' && !incremental) {
    throw fail(
      'this is an incremental backup (format "mergeback-incremental"): it holds only the changes since its parent, not a whole state. Restore, analyze, merge or verify it by its name in the backup directory that holds its chain, which resolves the chain (docs/format.md §Incremental backups)',
    )
  }
  if (format !== undefined && format !== 'mergeback' && format !== 'mergeback-incremental') throw fail(`unsupported backup format ${JSON.stringify(format)}`)
  if (version === undefined) {
    if (format === 'mergeback' || format === 'mergeback-incremental') throw fail('the metadata has no format version')
    return
  }
  if (typeof version !== 'string' || !/^1(\.\d+)*$/.test(version)) {
    throw fail(`backup format version ${JSON.stringify(version)} is not supported (this build reads 1.x)`)
  }
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue === undefined) return 'invalid'
  const path = issue.path.map(String).join('.')
  return path === '' ? issue.message : `${path}: ${issue.message}`
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Whether the JSON text in bytes [start, end) nests arrays and objects deeper than `room`.
 * Cheap in the usual case: when the line holds no more than `room` brackets in all, it cannot;
 * only otherwise is it scanned, skipping strings.
 */
export function nestingExceeds(buffer: Buffer, start: number, end: number, room: number, view?: Buffer): boolean {
  // No more brackets than bytes: most record lines are shorter than the room.
  if (end - start <= room) return false
  let brackets = 0
  // Searched within the line only: a search of the whole buffer for a bracket the line lacks
  // would read the rest of the chunk (1 MiB) for every record. `view`: the caller's view of it.
  const line = view ?? buffer.subarray(start, end)
  for (let at = line.indexOf(OPEN_BRACE); at !== -1 && brackets <= room; at = line.indexOf(OPEN_BRACE, at + 1)) brackets++
  for (let at = line.indexOf(OPEN_BRACKET); at !== -1 && brackets <= room; at = line.indexOf(OPEN_BRACKET, at + 1)) brackets++
  if (brackets <= room) return false
  let depth = 0
  for (let i = start; i < end; i++) {
    const byte = buffer[i]!
    if (byte === QUOTE) {
      for (i++; i < end; i++) {
        const c = buffer[i]!
        if (c === BACKSLASH) i++
        else if (c === QUOTE) break
      }
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > room) return true
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth--
  }
  return false
}

/**
 * JSON.parse of one record line (bytes [start, end), valid UTF-8, one object expected), for a line
 * too long to copy needlessly: the record's fields are read from the bytes, a string value
 * without escapes is decoded straight from them (so a 100 MB text costs the 100 MB of its value
 * and nothing more), any other value by JSON.parse of its own text. Gives what JSON.parse gives
 * (a repeated field: the last one wins, "__proto__" an own field), except that with `decode` a
 * string without escapes of a field it refuses is checked but given as '' (a record parsed only
 * to check its fields and key); undefined where the text is
 * not one JSON object, so that the tokenizer can report the error.
 */
export function parseRecordBytes(buffer: Buffer, start: number, end: number, decode?: (field: string) => boolean): Row | undefined {
  let i = skipSpace(buffer, start, end)
  if (buffer[i] !== OPEN_BRACE) return undefined
  i = skipSpace(buffer, i + 1, end)
  const record: Row = {}
  if (buffer[i] === CLOSE_BRACE) return skipSpace(buffer, i + 1, end) === end ? record : undefined
  for (;;) {
    if (i >= end || buffer[i] !== QUOTE) return undefined
    const keyEnd = jsonStringEnd(buffer, i, end)
    if (keyEnd === -1) return undefined
    const key = parseJsonBytes(buffer, i, keyEnd)
    if (key === INVALID) return undefined
    i = skipSpace(buffer, keyEnd, end)
    if (buffer[i] !== COLON) return undefined
    i = skipSpace(buffer, i + 1, end)
    const valueEnd = jsonValueEnd(buffer, i, end)
    if (valueEnd === -1) return undefined
    const plain = buffer[i] === QUOTE && isPlainJsonString(buffer, i + 1, valueEnd - 1)
    // A plain string of a field the caller only checks stands in as '' (it is valid as it is).
    const value = plain ? (decode === undefined || decode(key as string) ? buffer.toString('utf8', i + 1, valueEnd - 1) : '') : parseJsonBytes(buffer, i, valueEnd)
    if (value === INVALID) return undefined
    if (key === '__proto__') Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true })
    else record[key as string] = value as Row[string]
    i = skipSpace(buffer, valueEnd, end)
    if (buffer[i] === CLOSE_BRACE && i < end) return skipSpace(buffer, i + 1, end) === end ? record : undefined
    if (buffer[i] !== COMMA || i >= end) return undefined
    i = skipSpace(buffer, i + 1, end)
  }
}

function parseJsonBytes(buffer: Buffer, start: number, end: number): unknown {
  try {
    return JSON.parse(buffer.toString('utf8', start, end)) as unknown
  } catch {
    return INVALID
  }
}

/** The index after the closing quote of the JSON string whose opening quote is at `i`; -1 if it does not end before `end`. */
function jsonStringEnd(buffer: Buffer, i: number, end: number): number {
  let from = i + 1
  for (;;) {
    const quote = buffer.indexOf(QUOTE, from)
    if (quote === -1 || quote >= end) return -1
    let backslashes = 0
    while (buffer[quote - 1 - backslashes] === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return quote + 1
    from = quote + 1
  }
}

/** The index after the JSON value that starts at `i` (its extent only: JSON.parse checks it); -1 if none. */
function jsonValueEnd(buffer: Buffer, i: number, end: number): number {
  const first = buffer[i]
  if (i >= end || first === undefined) return -1
  if (first === QUOTE) return jsonStringEnd(buffer, i, end)
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0
    for (let j = i; j < end; j++) {
      const c = buffer[j]!
      if (c === QUOTE) {
        j = jsonStringEnd(buffer, j, end)
        if (j === -1) return -1
        j--
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--depth === 0) return j + 1
      }
    }
    return -1
  }
  let j = i
  while (j < end) {
    const c = buffer[j]!
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === 0x20 || c === 0x09 || c === LF || c === CR) break
    j++
  }
  return j
}

/** True when bytes [start, end) are a JSON string's contents that need no decoding: no escape, no control character. */
function isPlainJsonString(buffer: Buffer, start: number, end: number): boolean {
  const backslash = buffer.indexOf(BACKSLASH, start)
  if (backslash !== -1 && backslash < end) return false
  for (let i = start; i < end; i++) if (buffer[i]! < 0x20) return false
  return true
}

/** True when `tail` is the start of a multi-byte UTF-8 character and nothing else. */
function isCutShort(tail: Buffer): boolean {
  const lead = tail[0]
  if (lead === undefined) return false
  const length = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xc2 && lead <= 0xdf ? 2 : 0
  if (tail.length >= length) return false
  for (let i = 1; i < tail.length; i++) if ((tail[i]! & 0xc0) !== 0x80) return false
  return true
}

/** Index of the first byte of `bytes` that is not part of a valid UTF-8 sequence (only called when there is one). */
function firstInvalidUtf8(bytes: Buffer): number {
  let i = 0
  while (i < bytes.length) {
    const byte = bytes[i]!
    let length: number
    let min: number
    if (byte < 0x80) length = 1, min = 0
    else if (byte >= 0xc2 && byte <= 0xdf) length = 2, min = 0x80
    else if (byte >= 0xe0 && byte <= 0xef) length = 3, min = 0x800
    else if (byte >= 0xf0 && byte <= 0xf4) length = 4, min = 0x10000
    else return i
    if (i + length > bytes.length) return i
    let codePoint = length === 1 ? byte : byte & (0xff >> (length + 1))
    for (let j = 1; j < length; j++) {
      const next = bytes[i + j]!
      if ((next & 0xc0) !== 0x80) return i
      codePoint = (codePoint << 6) | (next & 0x3f)
    }
    if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return i
    i += length
  }
  return bytes.length
}
