/**
 * Per-table checksums of a backup file (docs/format.md §Checksums).
 *
 * Definition: a table's checksum is `"sha256:" + hex(SHA-256(T))` where T is the concatenation,
 * over the table's records in file order, of each record's canonical text followed by "\n". The
 * canonical text of a record is `JSON.stringify(record)`: no whitespace, keys in the record's
 * own order, numbers and escapes as ECMAScript writes them. An empty table hashes the empty text.
 *
 * The writer puts every record on a line of its own, spelled exactly as its canonical text, so T
 * is also the bytes of the table's record lines (without the `,` separators). The reader uses
 * that: a record line it reads with the fast path is hashed as the bytes it is, without
 * serializing the parsed value again (which would cost a third of the read speed). A record that
 * is not on a line of its own (a pretty-printed file) is hashed as JSON.stringify of the parsed
 * value. Both give the same result for a file as mergeback wrote it; a record line that was
 * re-spelled by hand (spaces added, `1.0` for `1`) reads back as changed.
 */
import { createHash, type Hash } from 'node:crypto'
import type { Row } from '../adapters/adapter.js'

/** Prefix of every checksum string; the algorithm name keeps room for another one later. */
export const CHECKSUM_PREFIX = 'sha256:'

const CHECKSUM_PATTERN = /^sha256:[0-9a-f]{64}$/
const NEWLINE = Buffer.from('\n')
const STAGE_BYTES = 64 * 1024

/** True when `value` is a well-formed checksum string: "sha256:" and 64 lowercase hex digits. */
export function isChecksum(value: unknown): value is string {
  return typeof value === 'string' && CHECKSUM_PATTERN.test(value)
}

/**
 * The running checksum of one table. Feed it every record in file order, each exactly once, by
 * whichever of the two methods fits; `digest()` ends it.
 */
export class TableChecksum {
  readonly #hash: Hash = createHash('sha256')
  /**
   * Record lines are gathered here and hashed STAGE_BYTES at a time: two hash calls per record
   * (line, newline) cost about as much as hashing the bytes.
   */
  #stage: Buffer | undefined
  #staged = 0

  /** Adds a record by its canonical text (`JSON.stringify(record)`, without the newline). */
  addCanonicalText(text: string): void {
    this.#flushStage()
    this.#hash.update(text)
    this.#hash.update(NEWLINE)
  }

  /** Adds a record by the UTF-8 bytes of its record line (canonical text, without `,` or newline). */
  addCanonicalBytes(bytes: Uint8Array): void {
    const stage = (this.#stage ??= Buffer.allocUnsafe(STAGE_BYTES))
    if (this.#staged + bytes.length + 1 > STAGE_BYTES) {
      this.#flushStage()
      if (bytes.length + 1 > STAGE_BYTES) {
        this.#hash.update(bytes)
        this.#hash.update(NEWLINE)
        return
      }
    }
    stage.set(bytes, this.#staged)
    this.#staged += bytes.length
    stage[this.#staged++] = 0x0a
  }

  /** Adds records by their record lines, each followed by its newline (several lines at once). */
  addCanonicalLines(lines: Uint8Array): void {
    this.#flushStage()
    this.#hash.update(lines)
  }

  #flushStage(): void {
    if (this.#staged === 0) return
    this.#hash.update(this.#stage!.subarray(0, this.#staged))
    this.#staged = 0
  }

  /** The checksum string. Call once; the object cannot be used afterwards. */
  digest(): string {
    this.#flushStage()
    return CHECKSUM_PREFIX + this.#hash.digest('hex')
  }
}

/** The checksum of a whole list of records (tests and small tools; the writer and reader stream). */
export function checksumOfRecords(records: Iterable<Row>): string {
  const checksum = new TableChecksum()
  for (const record of records) checksum.addCanonicalText(JSON.stringify(record))
  return checksum.digest()
}
