/**
 * Row digests computed by MariaDB, for incremental backups (docs/performance.md §Round six): the
 * server cannot write a row's record line, but it can digest the row's native form, so that an
 * increment reads only each row's key and this digest, and fetches by key the rows whose digest
 * differs from the one recorded beside the parent (storage/row-stamps.ts, 'digest' tables).
 *
 * The digest is the first 16 bytes (32 hex digits) of SHA-256 over every column in order, each
 * self-delimiting, so that NULL, '' and the text 'NULL' differ and no value can run into the
 * next: a value of free text or bytes as `<byte length>:<bytes>`, one of a fixed alphabet (a
 * number, date or time: no ',' and no 'N' in it) as `<text>,`; NULL as `N` (`N,`). Read left to
 * right with the columns' kinds, the string gives back every value. (Whether a column is
 * nullable is part of the expression, and so of its scope.) The bytes are what the server reads for the column
 * in the backup's own SELECT (mysql-values.ts valueExpression: FLOAT widened to DOUBLE), in string
 * form, under the session settings every mergeback connection has (time_zone '+00:00', a fixed
 * sql_mode: mysql-config.ts), so TIMESTAMP text does not move with the server's zone:
 *   - text, JSON, ENUM, SET (and UUID, INET): the column's bytes as stored (CAST AS BINARY, no
 *     conversion between character sets: a UUID reads as its 16 bytes);
 *   - binary and geometry: their bytes (geometry: SRID + WKB, as the backup reads it);
 *   - BIT: its number (`c + 0`);
 *   - numbers, dates and times: their text (DOUBLE and FLOAT as the shortest text that reads
 *     back as the same double, DECIMAL with its scale, temporal values with their fraction).
 * Every value's record line is a function of that text, so rows with equal digests have equal
 * record lines (barring a SHA-256 collision): a digest that differs only costs a fetch, since the
 * fetched line is compared with the parent's row digest before it is written.
 *
 * SHA-256 rather than MD5: MD5 collisions can be made at will, so a writer of two crafted BLOBs
 * could swap one for the other unseen by increments; SHA2 cost about 20 % more server CPU than
 * MD5 in the expression (measured on the bench's Message table), small beside the row's reading.
 *
 * A value longer than max_allowed_packet makes CONCAT NULL: such a row's digest is then 32 zeros,
 * which an increment never takes as a match (the row is fetched and compared).
 */
import { createHash } from 'node:crypto'
import type { ColumnSchema, RowDigestBlock } from '../adapter.js'
import type { RecordLineParser, RowPacket } from './mysql-record-lines.js'
import { quoteIdentifier, typeClassOf, valueExpression } from './mysql-values.js'

/** Changes whenever the expression below does: stamps made with another are not compared. */
const EXPRESSION_VERSION = 'mariadb-row-sha2-v1'

/** The bytes of a row digest (its first 16 bytes of SHA-256). */
export const ROW_DIGEST_BYTES = 16

/** The digest of a row CONCAT could not build (a value over max_allowed_packet): never a match. */
export const UNKNOWN_ROW_DIGEST = '0'.repeat(32)

/**
 * The SQL expression of a row's digest (32 hex digits), or undefined when some column's type is
 * not one whose value is known to read back the same (then increments hash record lines). This
 * text is the digest's definition: it names the stamps' scope (rowDigestScope). The server runs
 * rowDigestSql, which computes the same bytes for less.
 */
export function rowDigestExpression(columns: readonly Pick<ColumnSchema, 'name' | 'type' | 'nullable'>[]): string | undefined {
  return digestExpression(columns, false)
}

/**
 * The expression the server evaluates for rowDigestExpression: the same digest of the same bytes
 * (docs/performance.md §Round eight), built so that the server copies less. Its separators are
 * binary strings of the same derivation as a column (`CAST(',' AS BINARY)`, folded once), and
 * between equal derivations the binary character set wins, so every CONCAT is binary and takes
 * each text value's bytes as they are stored, with no conversion. (A `_binary','` literal would
 * not do: a literal yields to a column, and the CONCAT would convert a latin1 or utf16 column's
 * bytes into the other text column's character set.) So a column of free text (CHAR,
 * VARCHAR, the TEXTs, JSON, ENUM, SET) is then given bare instead of as `CAST(c AS BINARY)`, whose
 * copy of every TEXT value cost MariaDB 10.11 about a third of the digest's time (the bench's
 * Message table). `LENGTH(c)` is the bytes' length either way. UUID and INET keep their CAST (bare,
 * they read as text, not as their stored bytes). The scope stays rowDigestExpression's, so stamps
 * made before this read the same.
 */
export function rowDigestSql(columns: readonly Pick<ColumnSchema, 'name' | 'type' | 'nullable'>[]): string | undefined {
  return digestExpression(columns, true)
}

/** Free-text column types whose bytes a binary CONCAT takes as stored (rowDigestSql). */
const BARE_TEXT = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'json', 'enum', 'set'])

function digestExpression(columns: readonly Pick<ColumnSchema, 'name' | 'type' | 'nullable'>[], fast: boolean): string | undefined {
  if (columns.length === 0) return undefined
  const comma = fast ? "CAST(',' AS BINARY)" : "','"
  const colon = fast ? "CAST(':' AS BINARY)" : "':'"
  const parts: string[] = []
  for (const column of columns) {
    const ref = quoteIdentifier(column.name)
    let value: string
    // Text of a fixed alphabet (digits, signs, '.', ':', 'e', space): never a ',' nor an 'N',
    // so a ',' after it is enough to tell where it ends, and 'N' is its NULL.
    let fixed = true
    switch (typeClassOf(column.type)) {
      case 'text':
      case 'json':
      case 'enum':
      case 'set': {
        const base = /^\s*([a-z][a-z0-9]*)/i.exec(column.type)?.[1]?.toLowerCase() ?? ''
        value = fast && BARE_TEXT.has(base) ? ref : `CAST(${ref} AS BINARY)`
        fixed = false
        break
      }
      case 'binary':
      case 'geometry':
        value = ref
        fixed = false
        break
      case 'bit':
        value = `(${ref} + 0)`
        break
      case 'integer':
      case 'year':
      case 'bigint':
      case 'decimal':
      case 'float':
      case 'double':
      case 'date':
      case 'datetime':
      case 'timestamp':
      case 'time':
        value = valueExpression(column)
        break
      case 'other':
        return undefined
    }
    if (fixed) parts.push(column.nullable === false ? value : `IFNULL(${value}, 'N')`, comma)
    else if (column.nullable === false) parts.push(`LENGTH(${value})`, colon, value)
    else parts.push(`IFNULL(CONCAT(LENGTH(${value}), ${colon}, ${value}), 'N')`)
  }
  return `IFNULL(LEFT(SHA2(CONCAT(${parts.join(', ')}), 256), 32), '${UNKNOWN_ROW_DIGEST}')`
}

/** The scope of a table's digest stamps: names the expression, which names every column and type. */
export function rowDigestScope(expression: string): string {
  return `${EXPRESSION_VERSION}:${createHash('sha256').update(expression).digest('hex').slice(0, 32)}`
}

/**
 * One block of MysqlSource.readRowDigestBlocks: per row, in key order, its digest (16 bytes) and
 * its key, each key column as uint16be(byte length) + the column's text as a SELECT sends it.
 */
export class DigestBlock implements RowDigestBlock {
  readonly count: number
  readonly bytes: Buffer
  readonly digestAt: Uint32Array
  readonly #parser: RecordLineParser

  private constructor(bytes: Buffer, digestAt: Uint32Array, parser: RecordLineParser) {
    this.count = digestAt.length
    this.bytes = bytes
    this.digestAt = digestAt
    this.#parser = parser
  }

  /**
   * The block of `count` rows whose entries are `bytes`, or undefined when they are not exactly
   * that many whole entries (a concatenation cut short by the server).
   */
  static of(bytes: Buffer, count: number, parser: RecordLineParser, keyColumns: number): DigestBlock | undefined {
    const digestAt = new Uint32Array(count)
    let at = 0
    for (let row = 0; row < count; row++) {
      digestAt[row] = at
      at += ROW_DIGEST_BYTES
      for (let k = 0; k < keyColumns; k++) {
        if (at + 2 > bytes.length) return undefined
        at += 2 + ((bytes[at]! << 8) | bytes[at + 1]!)
      }
      if (at > bytes.length) return undefined
    }
    return at === bytes.length ? new DigestBlock(bytes, digestAt, parser) : undefined
  }

  /**
   * The key text of the key encoded at `bytes[at]` (each column uint16be(length) + text), written
   * by `parser` (the key columns' line parser, `array` shape): a view valid until its next call.
   */
  static keyText(parser: RecordLineParser, bytes: Buffer, at: number): Buffer {
    // The parser reads a row packet's length-coded values: here each is a uint16be length.
    const packet: RowPacket = {
      buffer: bytes,
      offset: at,
      readLengthCodedNumber() {
        const length = (bytes[this.offset]! << 8) | bytes[this.offset + 1]!
        this.offset += 2
        return length
      },
    }
    const line = parser.next(packet)
    return line.subarray(0, line.length - 1)
  }

  keyText(row: number): Buffer {
    return DigestBlock.keyText(this.#parser, this.bytes, this.digestAt[row]! + ROW_DIGEST_BYTES)
  }
}
