/**
 * KeyDigestSet: the keys one table of a backup has shown so far, to refuse a key that comes twice
 * (issue #13, finding 4), in memory that does not grow with the table while its keys come in order.
 *
 * Every backup mergeback writes lists a table's records in primary-key order (each source reads
 * `ORDER BY` the key), and a strictly increasing sequence holds no key twice. So while each key
 * is greater than the one before, only the last key is compared with and kept in memory. The
 * order is this module's own (numbers by value, text by UTF-16 code units, composite keys part
 * by part), not the database's collation: where the two disagree, the order breaks, and the
 * check falls back to the exact set below. A broken order costs memory, never a missed duplicate.
 *
 * The fallback needs the keys seen before the break, so each key in order is logged: its text
 * (UTF-8, up to SHORT_KEY_BYTES) or, for a longer one, its 16-byte digest; the digests of the
 * short ones are computed only if the order ever breaks, which it never does for a file
 * mergeback wrote (an MD5 per key was the largest cost of the check: docs/performance.md,
 * round ten). The log is kept in memory up to LOG_MEMORY_BYTES, then appended to a temporary
 * file that is unlinked as soon as it is opened (the kernel frees it when it is closed, or when the process
 * dies). When the order breaks, the log is read back into an open-addressing hash table of
 * 32-bit words (4 per slot, doubled when half full: 32 to 64 bytes per key), which then checks
 * every later key. Measured (docs/performance.md, round five): the table alone held 32 MB at
 * 600 000 keys (scale 20) and 64 MB, 96 MB while doubling, at 1.5 M.
 *
 * MD5 is used for speed, not secrecy: equal keys always give equal digests, so no duplicate is
 * missed; two different keys with the same digest (only if crafted on purpose, and only once the
 * order is broken) would make the file refused, which hurts no one but the file's author.
 *
 * Key values are normalized first the way a database would compare them after loading: a number
 * and its decimal text are the same key (`1`, `1.0` and `"1"` in an integer column); any other
 * value by its JSON text. A key with a null part is never a duplicate (SQL NULLs are distinct).
 */
import { hash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const WORDS = 4
const DIGEST_BYTES = 16
const INITIAL_SLOTS = 1024
/** Log bytes kept in memory before the log goes to its file (64 Ki digests; more short keys). */
const LOG_MEMORY_BYTES = 1024 * 1024
/**
 * Key texts of at most this many UTF-16 code units are logged as their text (at most 3 UTF-8
 * bytes each: 252), after a byte giving its length; longer ones as DIGEST_TAG and their digest.
 */
const SHORT_KEY_UNITS = 84
const DIGEST_TAG = 0xff
/** The most one log entry takes. */
const MAX_ENTRY_BYTES = 1 + 3 * SHORT_KEY_UNITS

/** A key part as the order compares it: numbers (tag 0) by value, everything else by its normalized text. */
type Part = number | string

export class KeyDigestSet {
  #logMemoryBytes: number
  #size = 0

  // While the keys come in order.
  #ordered = true
  /** The last key: its part, or its parts for a composite key. */
  #last: Part | readonly Part[] | undefined
  readonly #scratch = Buffer.allocUnsafe(DIGEST_BYTES)
  #log: Buffer = Buffer.allocUnsafe(DIGEST_BYTES * 64)
  #logBytes = 0
  #logFile: { fd: number; path: string; unlinked: boolean; bytes: number } | undefined

  // Once the order is broken.
  #slots: Uint32Array | undefined
  #mask = 0

  /** `logMemoryBytes`: how much of the log stays in memory (tests make it small to exercise the file). */
  constructor(options: { readonly logMemoryBytes?: number } = {}) {
    this.#logMemoryBytes = Math.max(DIGEST_BYTES, options.logMemoryBytes ?? LOG_MEMORY_BYTES)
  }

  get size(): number {
    return this.#size
  }

  /** Bytes held in memory (for docs and tests). */
  get bytes(): number {
    return this.#log.byteLength + (this.#slots?.byteLength ?? 0)
  }

  /** Whether every key so far came in order (nothing but the log is kept). */
  get ordered(): boolean {
    return this.#ordered
  }

  /**
   * Adds the key of `values` (the key columns' values of one record, in key order; `numeric[i]`
   * says whether column i holds numbers). Returns false when it was already there; true when it
   * was added, or when the key has a null part.
   */
  add(values: readonly unknown[], numeric: readonly boolean[]): boolean {
    // A key of one column (most tables) takes no arrays; a composite key is hashed as the JSON of its parts.
    let text: string
    let texts: string[] | undefined
    if (values.length === 1) {
      const value = values[0]
      if (value === null || value === undefined) return true
      text = normalize(value, numeric[0] === true)
    } else {
      texts = []
      for (let i = 0; i < values.length; i++) {
        const value = values[i]
        if (value === null || value === undefined) return true
        texts.push(normalize(value, numeric[i] === true))
      }
      text = JSON.stringify(texts)
    }
    if (this.#ordered) {
      if (texts === undefined) {
        const part = orderPart(text)
        const last = this.#last
        if (last === undefined || before(last as Part, part)) {
          this.#last = part
          this.#append(text)
          this.#size++
          return true
        }
      } else {
        const parts = texts.map(orderPart)
        const last = this.#last
        if (last === undefined || beforeAll(last as readonly Part[], parts)) {
          this.#last = parts
          this.#append(text)
          this.#size++
          return true
        }
      }
      this.#breakOrder()
    }
    this.#scratch.write(digestOf(text), 0, DIGEST_BYTES, 'latin1')
    if (!this.#insertDigest(this.#scratch, 0)) return false
    this.#size++
    if (this.#size * 2 > this.#mask + 1) this.#grow()
    return true
  }

  /** Frees the log's file, if any. The set must not be used afterwards. */
  close(): void {
    const file = this.#logFile
    this.#logFile = undefined
    if (file === undefined) return
    fs.closeSync(file.fd)
    if (!file.unlinked) fs.rmSync(file.path, { force: true })
  }

  /** Logs a key's text: as it is when short, else as its digest. */
  #append(text: string): void {
    if (this.#logBytes + MAX_ENTRY_BYTES > this.#log.length) {
      if (this.#log.length < this.#logMemoryBytes) {
        const grown = Buffer.allocUnsafe(Math.max(MAX_ENTRY_BYTES, Math.min(this.#log.length * 2, this.#logMemoryBytes)))
        this.#log.copy(grown, 0, 0, this.#logBytes)
        this.#log = grown
      } else {
        this.#spill()
      }
    }
    if (this.#logBytes + MAX_ENTRY_BYTES > this.#log.length) {
      // No temporary file could be made: the log stays in memory, as exact.
      const grown = Buffer.allocUnsafe(this.#log.length * 2)
      this.#log.copy(grown, 0, 0, this.#logBytes)
      this.#log = grown
    }
    const log = this.#log
    const at = this.#logBytes
    if (text.length <= SHORT_KEY_UNITS) {
      const written = log.write(text, at + 1, 'utf8')
      log[at] = written
      this.#logBytes = at + 1 + written
    } else {
      log[at] = DIGEST_TAG
      log.write(digestOf(text), at + 1, DIGEST_BYTES, 'latin1')
      this.#logBytes = at + 1 + DIGEST_BYTES
    }
  }

  /** Inserts the logged entries of `log[start, end)` into the hash table; returns where the first incomplete one starts. */
  #insertLogged(log: Buffer, start: number, end: number): number {
    let at = start
    while (at < end) {
      const tag = log[at]!
      const length = tag === DIGEST_TAG ? DIGEST_BYTES : tag
      if (at + 1 + length > end) break
      if (tag === DIGEST_TAG) this.#insertDigest(log, at + 1)
      else {
        // The digest of the text's UTF-8 bytes: what hashing the string gives.
        this.#scratch.write(hash('md5', log.subarray(at + 1, at + 1 + length), 'binary'), 0, DIGEST_BYTES, 'latin1')
        this.#insertDigest(this.#scratch, 0)
      }
      at += 1 + length
    }
    return at
  }

  /** Writes the log's memory part to its file. */
  #spill(): void {
    if (this.#logFile === undefined) {
      const file = path.join(os.tmpdir(), `mergeback-keys-${process.pid}-${Math.random().toString(36).slice(2)}`)
      let fd: number
      try {
        fd = fs.openSync(file, 'wx+', 0o600)
      } catch {
        this.#logMemoryBytes = Number.POSITIVE_INFINITY
        return
      }
      let unlinked = true
      try {
        fs.unlinkSync(file)
      } catch {
        unlinked = false // Windows: an open file cannot be unlinked; close() removes it
      }
      this.#logFile = { fd, path: file, unlinked, bytes: 0 }
    }
    const file = this.#logFile
    for (let at = 0; at < this.#logBytes; ) at += fs.writeSync(file.fd, this.#log, at, this.#logBytes - at, file.bytes + at)
    file.bytes += this.#logBytes
    this.#logBytes = 0
  }

  /** The order is broken: every key logged so far goes into the hash table, which checks from now on. */
  #breakOrder(): void {
    this.#ordered = false
    this.#last = undefined
    let slots = INITIAL_SLOTS
    while (this.#size * 2 > slots) slots *= 2
    this.#slots = new Uint32Array(slots * WORDS)
    this.#mask = slots - 1
    // Logged keys are distinct (they came in strictly increasing order): no duplicate can show here.
    const file = this.#logFile
    if (file !== undefined) {
      // Entries may straddle two reads: an incomplete one is moved to the front for the next.
      const chunk = Buffer.allocUnsafe(Math.max(MAX_ENTRY_BYTES, Math.min(file.bytes, this.#logMemoryBytes)))
      let carried = 0
      for (let position = 0; position < file.bytes; ) {
        const read = fs.readSync(file.fd, chunk, carried, Math.min(chunk.length - carried, file.bytes - position), position)
        if (read <= 0) throw new Error(`the key log ${file.path} could not be read back (${read} bytes at ${position})`)
        position += read
        const filled = carried + read
        const done = this.#insertLogged(chunk, 0, filled)
        carried = filled - done
        chunk.copy(chunk, 0, done, filled)
      }
      if (carried !== 0) throw new Error(`the key log ${file.path} ends inside an entry`)
      this.close()
    }
    if (this.#insertLogged(this.#log, 0, this.#logBytes) !== this.#logBytes) throw new Error('the key log ends inside an entry')
    this.#log = Buffer.alloc(0)
    this.#logBytes = 0
  }

  #insertDigest(digest: Buffer, at: number): boolean {
    // Word 0 is never 0 in a used slot: an empty slot is all zeros.
    const w0 = (digest.readUInt32LE(at) | 1) >>> 0
    return this.#insert(this.#slots!, this.#mask, w0, digest.readUInt32LE(at + 4), digest.readUInt32LE(at + 8), digest.readUInt32LE(at + 12))
  }

  #insert(slots: Uint32Array, mask: number, w0: number, w1: number, w2: number, w3: number): boolean {
    let i = w1 & mask
    for (;;) {
      const at = i * WORDS
      const s0 = slots[at]!
      if (s0 === 0) {
        slots[at] = w0
        slots[at + 1] = w1
        slots[at + 2] = w2
        slots[at + 3] = w3
        return true
      }
      if (s0 === w0 && slots[at + 1] === w1 && slots[at + 2] === w2 && slots[at + 3] === w3) return false
      i = (i + 1) & mask
    }
  }

  #grow(): void {
    const old = this.#slots!
    const count = (this.#mask + 1) * 2
    const slots = new Uint32Array(count * WORDS)
    const mask = count - 1
    for (let at = 0; at < old.length; at += WORDS) {
      if (old[at] !== 0) this.#insert(slots, mask, old[at]!, old[at + 1]!, old[at + 2]!, old[at + 3]!)
    }
    this.#slots = slots
    this.#mask = mask
  }
}

/**
 * A key text's MD5 digest as a latin1 string. One call (crypto.hash) rather than
 * createHash/update/digest, and a string (one character per byte, in the heap) rather than a new
 * Buffer: half the cost a call (docs/performance.md, round eight).
 */
function digestOf(text: string): string {
  return hash('md5', text, 'binary')
}

/** The text by which a key value is compared. */
function normalize(value: unknown, numeric: boolean): string {
  if (numeric) {
    if (typeof value === 'number') return `n${String(value)}`
    if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) && value.length <= 1000) return `n${canonicalDecimal(value)}`
  }
  if (typeof value === 'string') return `s${value}`
  if (typeof value === 'number' || typeof value === 'boolean') return `s${String(value)}`
  return `j${JSON.stringify(value)}`
}

/**
 * A normalized key part as the order sees it. Any strict weak order works, as long as equal texts
 * are never "before" each other: a number by its value (two different texts of the same double,
 * like a decimal beyond 2^53, compare equal, which breaks the order and so falls back to the set).
 */
function orderPart(text: string): Part {
  return text.charCodeAt(0) === 0x6e /* n */ ? Number(text.slice(1)) : text
}

/** Whether key part `x` comes strictly before key part `y`: numbers before texts. */
function before(x: Part, y: Part): boolean {
  if (x === y) return false
  if (typeof x === typeof y) return x < y
  return typeof x === 'number'
}

/** Whether composite key `a` comes strictly before key `b`: part by part. */
function beforeAll(a: readonly Part[], b: readonly Part[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x === y) continue
    return before(x, y)
  }
  return false
}

/** `007` → `7`, `-1.50` → `-1.5`, `-0.0` → `0`: one spelling per decimal number, exactly (no rounding). */
function canonicalDecimal(text: string): string {
  // Most keys (bigint ids read as text) are whole numbers without a leading zero: as they are.
  if (text.charCodeAt(text.charCodeAt(0) === 0x2d ? 1 : 0) !== 0x30 && !text.includes('.')) return text
  const negative = text.startsWith('-')
  let [whole = '', fraction = ''] = (negative ? text.slice(1) : text).split('.')
  whole = whole.replace(/^0+(?=\d)/, '')
  fraction = fraction.replace(/0+$/, '')
  const zero = whole === '0' && fraction === ''
  return `${negative && !zero ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}
