/**
 * The adapter interface: what every engine (PostgreSQL, MySQL/MariaDB, SQLite, MongoDB)
 * implements, and all the core knows about databases (STYLE.md §1.2).
 *
 * A backup is `Source → BackupWriter`, a restore is `BackupReader → Destination`, a merge is
 * `BackupReader → merge core → Destination`. What differs between engines is described by
 * `Capabilities`, never by subclasses.
 *
 * Values cross this interface already in their *wire encoding* (docs/format.md §Values): the
 * JSON-safe, exact form written to the backup file (64-bit integers and decimals as strings,
 * binary as base64, timestamps as ISO-8601 text, …). A Source encodes, a Destination decodes;
 * the core and the file format never see a driver's native value.
 *
 * Words (docs/format.md §Glossary): "table" is a SQL table or a MongoDB collection, "row" is a
 * row or a document, "key" is the primary key (or `_id`).
 */

import type { LineConverter } from '../format/reader.js'

export type Engine = 'postgres' | 'mysql' | 'sqlite' | 'mongodb'

/** A value in wire encoding: exactly what the backup file holds for one field. */
export type WireValue = null | boolean | number | string | WireValue[] | { [key: string]: WireValue }

/** A row (or document) in wire encoding, keyed by column name. Key order follows the table's columns. */
export type Row = Record<string, WireValue>

/**
 * The portable class of a column's type. It decides the wire encoding and the equality the merge
 * uses (docs/format.md has the table). `type` on the column keeps the engine's exact type.
 */
export type ValueKind =
  | 'integer' // fits a double exactly (≤ 32-bit, YEAR): JSON number
  | 'bigint' // 64-bit signed/unsigned: decimal string
  | 'decimal' // NUMERIC/DECIMAL: decimal string, or "NaN" / "Infinity" / "-Infinity"
  | 'float' // REAL/DOUBLE: JSON number when finite and not -0, else "NaN" / "Infinity" / "-Infinity" / "-0"
  | 'boolean' // true / false
  | 'text' // any character type, uuid, inet, …: string
  | 'binary' // bytea/BLOB: base64 string (standard alphabet, padded, no line breaks)
  | 'date' // "YYYY-MM-DD" (PostgreSQL may also give "infinity" / "-infinity" / "… BC")
  | 'timestamp' // without zone: "YYYY-MM-DDTHH:MM:SS[.ffffff]" (or "infinity" / "-infinity")
  | 'timestamptz' // with zone: the instant in UTC, "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (or "infinity" / "-infinity")
  | 'time' // "HH:MM:SS[.ffffff]" (MySQL: may be negative or beyond 24 h); timetz keeps its offset
  | 'interval' // ISO-8601 duration text, as PostgreSQL's iso_8601 IntervalStyle writes it
  | 'json' // the exact JSON text, as a string
  | 'array' // JSON array (nested for more dimensions) of `elementKind` wire values
  | 'enum' // the label, as a string
  | 'bit' // "0101…"
  | 'document' // MongoDB: canonical Extended JSON object
  | 'unknown' // a type the tool does not know: the engine's text output, cast back on restore with a warning

export interface ColumnSchema {
  readonly name: string
  /** The engine's own type, exactly as it would be written in DDL (e.g. `numeric(10,2)`, `integer[]`, `varchar(255)`). */
  readonly type: string
  readonly kind: ValueKind
  /** For `kind: 'array'`: the elements' kind. */
  readonly elementKind?: ValueKind
  readonly nullable: boolean
  /** Default expression in the engine's own SQL, when there is one. */
  readonly default?: string | null
  /** Identity column (PostgreSQL GENERATED … AS IDENTITY). */
  readonly identity?: 'always' | 'by-default'
  /** MySQL AUTO_INCREMENT, SQLite INTEGER PRIMARY KEY, PostgreSQL serial (nextval default). */
  readonly autoIncrement?: boolean
  /** Generated (computed) column: its expression. Backed up, never written back. */
  readonly generated?: string
  /** For `kind: 'enum'`: the allowed labels in order, and the enum type's name where the engine names it. */
  readonly enumValues?: readonly string[]
  readonly enumName?: string
}

export interface IndexSchema {
  readonly name: string
  readonly columns: readonly string[]
  readonly unique: boolean
  /** The engine's full definition when it has one (e.g. `pg_get_indexdef`), used on the same engine. */
  readonly definition?: string
  /** Engine-specific options (MongoDB: sparse, expireAfterSeconds, partialFilterExpression, collation, …). */
  readonly options?: Readonly<Record<string, unknown>>
}

export interface ForeignKeySchema {
  readonly name: string
  readonly columns: readonly string[]
  readonly referencedTable: string
  readonly referencedColumns: readonly string[]
  readonly onDelete?: string
  readonly onUpdate?: string
  readonly deferrable?: boolean
}

export interface TableSchema {
  /** Unqualified name, exactly as in the database (may need quoting: `Audit Log`). */
  readonly name: string
  /** Columns in their ordinal order. */
  readonly columns: readonly ColumnSchema[]
  /** Primary key columns in key order; empty when the table has none. */
  readonly primaryKey: readonly string[]
  /** UNIQUE constraints (not plain unique indexes, which are in `indexes`). */
  readonly uniqueConstraints: readonly { readonly name: string; readonly columns: readonly string[] }[]
  /** Indexes that are not the primary key or a unique constraint. */
  readonly indexes: readonly IndexSchema[]
  readonly foreignKeys: readonly ForeignKeySchema[]
  /** Engine-specific table facts (MySQL charset/collation, MongoDB collection options or view definition). */
  readonly options?: Readonly<Record<string, unknown>>
}

/** Source.lineBlocks: one key range's rows, read on demand (synchronously: SQLite). */
export interface LineBlocks {
  /**
   * Range `i`'s record lines as SQLite writes them, concatenated in key order ('\n' after each),
   * or undefined when it has no rows. A line holding a value SQLite does not spell holds the byte
   * 0x01 instead, and text that is not UTF-8 is as stored: such a value is never what the backup
   * holds (read the range with `rows`).
   */
  block(i: number): Buffer | undefined
  /** Range `i`'s record lines exactly as readRecordLines writes them. */
  rows(i: number): Buffer
  /**
   * Whether the row of key text `key` (as the digest index spells it) is in range `i` or a later
   * one (its key at least range `i`'s first key, in the order the ranges are cut in); undefined
   * when that cannot be told here (a key value of another kind than its column's). Lets a reader
   * of readRecordLines' stream (key order) cut it at the same ranges.
   */
  keyFrom?(key: string, i: number): boolean | undefined
}

export interface DatabaseSchema {
  readonly engine: Engine
  /** Database name from the URL (never the URL itself: it may hold a password). */
  readonly database: string
  /** PostgreSQL schema the tables live in (default `public`). */
  readonly schema?: string
  /** Tables in a stable order (by name). */
  readonly tables: readonly TableSchema[]
  /** Things the adapter could not describe exactly, for the user to read. */
  readonly warnings: readonly string[]
}

export interface Capabilities {
  /** All reads of one Source see one snapshot (PostgreSQL repeatable read, MySQL consistent snapshot). */
  readonly consistentSnapshot: boolean
  /** Data changes are invisible until commit() and undone by rollback(). */
  readonly transactionalWrite: boolean
  /** CREATE/DROP are undone by rollback() too (PostgreSQL, SQLite: yes; MySQL: no). */
  readonly transactionalDdl: boolean
  /**
   * Without transactional DDL, the tables a restore creates are built under staging names and
   * swapped in at commit (MySQL/MariaDB), so that a restore into new tables only is undone whole
   * by rollback(): PrepareResult.undoable says when that is the case.
   */
  readonly stagesNewTables?: boolean
  readonly bulkLoad: 'copy' | 'load-data' | 'insert-batch' | 'insert-many'
}

/** Parsed `--db` URL. `redacted` is the only form that may be printed or stored. */
export interface ConnectionConfig {
  readonly engine: Engine
  /** The URL as given (may contain a password: never print it). */
  readonly url: string
  /** The URL with any password replaced by `***`. */
  readonly redacted: string
  readonly database: string
  /** PostgreSQL: schema to use (`--schema`, default `public`). */
  readonly schema?: string
  /** Give up connecting after this long (default 5000). */
  readonly connectTimeoutMs?: number
}

export interface ReadOptions {
  /** Rows per batch (default chosen by the adapter, typically 1000–10000). */
  readonly batchSize?: number
  readonly signal?: AbortSignal
}

/** A block of Source.readRowDigestBlocks: `count` rows next to each other in key order (within the block, in the order the server read them). */
export interface RowDigestBlock {
  readonly count: number
  /** Row `i`'s digest is the 16 bytes of `bytes` at `digestAt[i]`. */
  readonly bytes: Buffer
  readonly digestAt: Uint32Array
  /** Row `i`'s key text (digest-index.ts keyText) as UTF-8 bytes: a view valid until the next call. */
  keyText(i: number): Buffer
}

export interface Source {
  readonly engine: Engine
  readonly capabilities: Capabilities
  /**
   * Describes the tables. With `tables`, only those (a name that does not exist is a UsageError).
   * Called once, before any readTable(); inside the snapshot when the engine has one.
   */
  describe(options?: { readonly tables?: readonly string[] }): Promise<DatabaseSchema>
  /**
   * Streams the table's rows in primary-key order (insertion order where there is no key), in
   * batches. Pull-based: a batch is fetched only when the consumer asks, so memory is bounded by
   * one batch. Leaving `for await` early (break or throw) closes the server-side cursor.
   */
  readTable(table: TableSchema, options?: ReadOptions): AsyncIterable<Row[]>
  /**
   * Optional, a fast path for backups: the same rows as readTable, in the same order, as text the
   * database wrote itself. Each chunk holds whole records, each exactly `JSON.stringify` of the
   * row readTable would give, followed by `\n`, so the writer can pass them through unparsed.
   * Returns undefined when the source cannot write some column of this table exactly that way;
   * the caller then uses readTable. Same pull-based flow, snapshot and early-exit rules.
   */
  readRecordLines?(table: TableSchema, options?: ReadOptions): AsyncIterable<Buffer> | undefined
  /**
   * Optional: set when a read that could have used a second session or thread uses one, and why
   * (SQLite: the write lock needed to share its snapshot was busy). The backup reports it.
   */
  readonly readerNote?: string
  /**
   * Optional, for incremental backups (issue #18): per row of readRecordLines, in the same order,
   * the line `<key text>\x02<hex of the first 16 bytes of SHA-256 of the record line>\n`, computed
   * by the database, so only digests cross the wire. `<key text>` is JSON text of the array of the
   * key columns' wire values (any spacing). Undefined when the table has no key or the source
   * cannot compute it exactly (then the caller hashes readTable's rows itself). Rows come in no
   * particular order. With `changedSince`, a row whose `column` is before `time` gets an empty
   * digest (not computed: the caller takes it as unchanged when its key is known).
   */
  readRowDigests?(table: TableSchema, options?: ReadOptions & { readonly changedSince?: { readonly column: string; readonly time: string } }): AsyncIterable<Buffer> | undefined
  /**
   * Optional, with readRowDigests: the record lines (as readRecordLines) of the rows with these
   * keys (arrays of key wire values), in key order. Undefined when the keys' kinds cannot be
   * matched exactly server-side.
   */
  readRecordLinesByKeys?(table: TableSchema, keys: readonly (readonly unknown[])[], options?: ReadOptions): AsyncIterable<Buffer> | undefined
  /**
   * Optional, for incremental backups (SQLite, engine/incremental-blocks.ts): the table's rows cut
   * into key ranges by `firstKeys` (key texts, in key order): range 0 is every key below
   * firstKeys[1] (no lower bound), range i from firstKeys[i] (included) to firstKeys[i + 1]
   * (excluded), the last one with no upper bound; so the ranges hold every row exactly once.
   * Undefined when the source cannot cut this table exactly (keys that may be NULL, a collation,
   * key texts it cannot bind, keys not strictly increasing) or its rows' lines would mostly need
   * JavaScript to spell them; `firstKeys` empty only asks whether the table can be cut at all.
   */
  lineBlocks?(table: TableSchema, firstKeys: readonly string[]): LineBlocks | undefined
  /**
   * Optional, for incremental backups: where the table's rows live (`scope`, equal between two
   * snapshots only when the table was not moved or rewritten) and the snapshot's transaction id.
   * Undefined when the source has no row stamps for this table. `kind: 'digest'` (MariaDB): the
   * stamps are not a row version but a digest of the row's native form computed by the server
   * (32 hex digits, the first 16 bytes), equal exactly when the row reads the same; `scope` then
   * names the digest expression, so a change of columns or of the expression is seen.
   */
  rowStampScope?(table: TableSchema): Promise<{ readonly scope: string; readonly xid: string; readonly kind?: 'xmin' | 'digest' } | undefined>
  /**
   * Optional, with rowStampScope: per row, `<key text>\x02<stamp>\n`, the key text as the record
   * line spells it and a number that changes whenever the row is written (PostgreSQL's xmin), or,
   * for a 'digest' scope, the row's digest as 32 hex digits, in key order.
   */
  readRowStamps?(table: TableSchema, options?: ReadOptions): AsyncIterable<Buffer> | undefined
  /**
   * Optional, with rowStampScope (xmin stamps): readRowStamps' rows in the key order of
   * adapters/key-order.ts, each `<key text>\x02<stamp>\x02<digest>\n`, `<digest>` the row's record
   * line's (32 hex digits) for every row written at or after transaction `since` (and perhaps a
   * few others), empty for the rest. Undefined when the table's key is outside that order.
   */
  readRowStampsInKeyOrder?(table: TableSchema, since: string, options?: ReadOptions): AsyncIterable<Buffer> | undefined
  /**
   * Optional, with rowStampScope, for a 'digest' scope: readRowStamps' rows in blocks of
   * consecutive rows in key order, each block one Buffer (MariaDB: one result row per block), so
   * that a row is handled by comparing its 16-byte digest and its key is read only when needed.
   * Undefined where readRowStamps is, or where the blocks cannot be cut exactly.
   */
  readRowDigestBlocks?(table: TableSchema, options?: { readonly blockBytes?: number }): AsyncIterable<RowDigestBlock> | undefined
  /**
   * Optional, with rowStampScope: readRecordLines (same lines, same order) with each row's stamp
   * after it, `<record line>\x02<stamp>\n` (stripStamps in storage/row-stamps.ts takes it off), so
   * that a full backup records its row stamps in the same read. Undefined where readRowStamps or
   * readRecordLines would be.
   */
  readRecordLinesWithStamps?(table: TableSchema, options?: ReadOptions): AsyncIterable<Buffer> | undefined
  /** Database size and per-table row counts for `mergeback stats`. */
  stats(): Promise<DatabaseStats>
  /** Ends the snapshot and releases the connection. Idempotent; never throws for an already closed source. */
  close(): Promise<void>
}

export interface DatabaseStats {
  readonly engine: Engine
  readonly database: string
  readonly version: string
  readonly sizeBytes: number | null
  readonly tables: readonly { readonly name: string; readonly rows: number; readonly sizeBytes: number | null }[]
}

export interface PrepareOptions {
  readonly mode: 'restore' | 'merge'
  /** Restore only: empty the given tables first (never cascading into other tables). */
  readonly drop: boolean
  /**
   * Where the engine cannot switch user triggers off for the session (MariaDB), let them run
   * (reported as a warning) instead of refusing. Ignored where they are switched off (PostgreSQL).
   */
  readonly allowTriggers?: boolean
  /**
   * Restore only: how many sessions may load the tables prepare() creates at once, where the
   * engine loads them out of sight and swaps them in at commit (MySQL/MariaDB staging tables,
   * when every selected table is new). Default 1.
   */
  readonly jobs?: number
}

export interface PrepareResult {
  /** Tables that did not exist and were created from the backup's schema. */
  readonly created: readonly string[]
  /** Tables that were emptied (`drop`). */
  readonly emptied: readonly string[]
  readonly warnings: readonly string[]
  /** Sessions that will load the rows (PrepareOptions.jobs where it applies); 1 when absent. */
  readonly sessions?: number
  /**
   * Restore, Capabilities.stagesNewTables: everything this restore writes is undone by rollback(),
   * DDL included (every selected table is new), so the file may be verified in the write pass.
   */
  readonly undoable?: boolean
}

export interface WriteResult {
  /** Rows written. */
  readonly inserted: number
  /** Rows left alone because their key (or, without a key, an identical row) was already there. */
  readonly skipped: number
  /**
   * Of `skipped`, rows whose key equals an existing row's only under the column's collation
   * (MariaDB: 'a' and 'A' under a _ci collation, 'b' and 'b ' under PAD SPACE): the existing,
   * different row was kept. Left out when none.
   */
  readonly skippedByCollation?: number
}

/**
 * A write session: one transaction from open to commit()/rollback(). Also reads, inside that
 * transaction, what the merge needs to compare against.
 *
 * Order of calls: describe()? → prepare() → (writeRows | readByKeys | updateRows)* → finish() → commit().
 * On any error the caller calls rollback(); after rollback() or commit(), only close() is allowed.
 */
export interface Destination {
  readonly engine: Engine
  readonly capabilities: Capabilities
  /** The current schema of the target (all tables), read inside the write transaction. */
  describe(): Promise<DatabaseSchema>
  /**
   * Makes the target ready for `backupSchema.tables` (already filtered to the selected tables).
   * restore: creates missing tables (with enums, keys, unique constraints, indexes; foreign keys
   *   may be deferred to finish()), and with `drop` empties the selected tables only.
   * merge: creates nothing; a missing table or a backup column the current table lacks is a UsageError.
   */
  prepare(backupSchema: DatabaseSchema, options: PrepareOptions): Promise<PrepareResult>
  /**
   * Inserts the rows, decoding wire values by the *target* column types. Rows whose key already
   * exists (or, for a table without any key, that already exist identically, counting duplicates)
   * are skipped and counted. Generated columns are never written. Resolves once the rows are in
   * the transaction. A constraint violation throws DatabaseError naming the table, key and constraint.
   * `table` is the backup's schema of the table (same name as the target's).
   */
  writeRows(table: TableSchema, batches: AsyncIterable<Row[]>): Promise<WriteResult>
  /**
   * Optional: rows per writeRows batch when the caller has no size of its own (a restore reads
   * the file in batches of this many records; absent: backup-input.ts DEFAULT_BATCH_ROWS).
   */
  readonly rowBatchSize?: number
  /**
   * Optional, a fast path for restores: whether writeRecordLines can take this table's records
   * as text (after prepare()). False for what it cannot decode exactly; the caller then uses
   * writeRows. `from.chain`: the records are a chain's final state (full backup + increments),
   * merged from several files.
   */
  acceptsRecordLines?(table: TableSchema, from?: { readonly chain: boolean }): Promise<boolean>
  /**
   * Optional: writeRows for records as their canonical JSON text, each followed by `\n`, many
   * to a chunk (a verified backup's record lines, BackupEvent 'lines'), for a destination that
   * parses JSON itself. Same semantics and errors as writeRows; a record missing a column
   * writes NULL there, as writeRows does. `converted`: the chunks are what the table's
   * lineConverter made of the lines instead.
   */
  writeRecordLines?(table: TableSchema, chunks: AsyncIterable<Buffer>, converted?: boolean): Promise<WriteResult>
  /**
   * Optional, for a table acceptsRecordLines took: how the reader may convert its record lines in
   * the walk that checks them (ReadBackupOptions.convertLines), as StagedRestore.lineConverter;
   * undefined: the table's lines as they are.
   */
  lineConverter?(table: TableSchema): LineConverter | undefined
  /**
   * Merge support: the current rows whose `keyColumns` values match one of `keys` (each key is an
   * object of those columns in wire encoding). Missing keys are omitted; order is not specified.
   * One round trip per call (or a few for very large calls), never one per key.
   */
  readByKeys(table: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<Row[]>
  /**
   * Optional, the fast path of merge and analyze: per current row of the table, in primary-key
   * order, its key and the digest of its record line, computed by the database (so only digests
   * cross the wire): the line is exactly `JSON.stringify` of the row readByKeys would give, keyed
   * by `columns` in that order, and the digest is the first 16 bytes of its SHA-256 as 32 hex
   * digits. The key is JSON text of the array of the primary key columns' wire values (any
   * spacing). The table is seen as the transaction sees it when this is called; batches are
   * fetched as the caller asks, and other calls may run between them. Undefined when the table
   * has no primary key, `columns` lacks a key column, or the destination cannot spell some of
   * these columns that way.
   */
  readRowDigests?(table: string, columns: readonly string[]): Promise<AsyncIterable<RowDigests> | undefined>
  /**
   * Merge support: for each row, sets the given columns (every column of the row that is not in
   * `keyColumns`) on the current row with that key. Returns the number of rows changed.
   */
  updateRows(table: string, keyColumns: readonly string[], rows: readonly Row[]): Promise<number>
  /** Rows currently in the table (inside the transaction). */
  /**
   * Deletes the records with these keys (only a three-way merge with --apply-deletions does);
   * returns how many were deleted. Optional: an engine without it cannot apply deletions.
   */
  deleteRows?(table: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<number>
  countRows(table: string): Promise<number>
  /**
   * After all writes: creates deferred foreign keys, moves sequences / identity / AUTO_INCREMENT
   * past the highest value now in each table, and checks deferred constraints, so that a violation
   * surfaces here (as DatabaseError) and not at commit().
   */
  finish(): Promise<void>
  commit(): Promise<void>
  /** Undoes everything since open. Safe to call after any failure, and more than once. */
  rollback(cause?: unknown): Promise<void>
  /** Releases the connection. Rolls back first if neither commit() nor rollback() was called. */
  close(): Promise<void>
}

/** One current row of Destination.readRowDigests: [key as JSON text, 32 hex digits]. */
export type RowDigest = readonly [key: string, digest: string]

/**
 * A batch of Destination.readRowDigests, packed: `count` current rows, their digests (32 hex
 * digits each) one after another in `digests`, their keys (JSON text, which never holds a raw
 * newline) one after another in `keys`, each ended by "\n". A few strings per batch, not an array
 * and two strings per row: the rows of a big table cost the driver and the GC little.
 */
export interface RowDigests {
  readonly count: number
  readonly digests: string
  readonly keys: string
}

/** RowDigests from rows. */
export function packRowDigests(rows: readonly RowDigest[]): RowDigests {
  let digests = ''
  let keys = ''
  for (const [key, digest] of rows) {
    digests += digest
    keys += `${key}\n`
  }
  return { count: rows.length, digests, keys }
}

/** The rows of a RowDigests batch (tests, and callers that want them one by one). */
export function unpackRowDigests(batch: RowDigests): RowDigest[] {
  const keys = batch.keys.split('\n')
  return Array.from({ length: batch.count }, (_, i) => [keys[i]!, batch.digests.slice(32 * i, 32 * i + 32)] as const)
}

export interface SourceOptions {
  /**
   * Sessions a read may use at once (default 1). PostgreSQL: with 2 or more, a big table's record
   * lines are read on two sessions of one exported snapshot (postgres-split-read.ts); the
   * bytes are the same. MySQL/MariaDB: with 2, an increment's row digests are read on two
   * sessions of one snapshot (mysql-source.ts). The other engines read on one. Undefined: the
   * adapter's default for the read (see `incremental`).
   */
  readonly sessions?: number
  /**
   * The read is an incremental backup's. MySQL/MariaDB then defaults `sessions` to 2, since an
   * increment's digest reads are the server's work and gain from a second core; the others ignore it.
   */
  readonly incremental?: boolean
  /** Where a read on several sessions may keep a temporary file (default: the system's temporary directory). */
  readonly spoolDir?: string
}

export interface DestinationOptions {
  /** A read-only session for analyze (see Adapter.openDestination). */
  readonly readOnly?: boolean
  /**
   * Read-only sessions only: database sessions readRowDigests may use at once (default 1). With
   * 2 or more, PostgreSQL reads a big table's digests on two sessions of one exported snapshot
   * (postgres-split-read.ts), the same digests in the same order. The other engines read on one.
   */
  readonly sessions?: number
  /** Where a read on several sessions may keep a temporary file (default: the system's temporary directory). */
  readonly spoolDir?: string
  /** Tests: the smallest table (heap bytes) read on two sessions (PostgreSQL's default 32 MiB, or MERGEBACK_PG_SPLIT_MIN_BYTES). */
  readonly splitMinBytes?: number
}

export interface Adapter {
  readonly engine: Engine
  readonly capabilities: Capabilities
  /** Opens a read session. With `consistentSnapshot`, all reads see one snapshot. Throws ConnectionError within connectTimeoutMs. */
  openSource(config: ConnectionConfig, options?: SourceOptions): Promise<Source>
  /**
   * Opens a write session (one transaction). Throws ConnectionError within connectTimeoutMs.
   * With `readOnly` (analyze), the transaction is a read-only one on one snapshot, taking no row
   * locks and needing read permission only: describe, prepare('merge') (which then checks but
   * changes nothing), readByKeys, readRowDigests and countRows work; anything that writes throws.
   * MongoDB ignores it.
   */
  openDestination(config: ConnectionConfig, options?: DestinationOptions): Promise<Destination>
  /**
   * Optional, for engines whose interrupted writes can leave something behind (MySQL: staging
   * tables of a restore killed before its swap): lists it and, unless `dryRun`, removes what
   * belongs to runs that are gone (`busy`: of runs still alive, left alone).
   */
  recover?(config: ConnectionConfig, options: { readonly dryRun: boolean; readonly waitSeconds?: number }): Promise<RecoverReport>
  /**
   * Optional (PostgreSQL): a restore on several sessions, still all-or-nothing (issue #17). See
   * StagedRestore. `jobs` is the number of loading sessions (≥ 2).
   */
  openStagedRestore?(config: ConnectionConfig, options: { readonly jobs: number }): Promise<StagedRestore>
}

/**
 * A restore that creates its tables where nobody sees them, loads them on several sessions,
 * and swaps them all in with one short transaction (PostgreSQL: a staging schema). Any failure
 * before the swap's commit leaves the database as it was; a process killed meanwhile leaves only
 * staging objects, which the next staged restore and `recover` remove.
 *
 * Order of calls: prepare() → writeRecordLines()* (one per table, in any order) → commit(); on
 * any error rollback(); close() always.
 */
export interface StagedRestore {
  /**
   * Creates the tables under staging names; undefined (and nothing created) when this restore
   * cannot be staged (a table already exists, a type the staged path does not create, …): the
   * caller then takes the single-session path. `warnings` include leftovers removed.
   */
  prepare(backupSchema: DatabaseSchema): Promise<PrepareResult | undefined>
  /**
   * Loads one table's record lines (as Destination.writeRecordLines) on a free session; resolves
   * once the lines are in (its keys and indexes are built afterwards, while the next table loads).
   * A failure of earlier background work is thrown here or from commit().
   */
  writeRecordLines(table: TableSchema, chunks: AsyncIterable<Buffer>, converted?: boolean): Promise<WriteResult>
  /**
   * Optional, after prepare(): how the reader may convert a table's record lines for it in the
   * walk that checks them (ReadBackupOptions.convertLines); undefined: the table's lines as they
   * are. The chunks of a table whose lines were converted so are given to writeRecordLines with
   * `converted` true.
   */
  lineConverter?(table: TableSchema): LineConverter | undefined
  /** Waits for the keys, adds foreign keys, moves sequences, and swaps everything in, in one transaction. */
  commit(): Promise<void>
  /** Drops every staging object. Safe after any failure, and more than once. */
  rollback(): Promise<void>
  close(): Promise<void>
}

export interface RecoverReport {
  /** Leftovers found (table names). */
  readonly found: readonly string[]
  readonly removed: readonly string[]
  readonly busy: readonly string[]
}
