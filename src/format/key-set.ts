/**
 * KeyDigestSet: the keys one table of a backup has shown so far, to refuse a key that comes twice
 * (issue #13, finding 4), in bounded memory.
 *
 * A key is not kept: its 16-byte MD5 digest is, in an open-addressing hash table of 32-bit words
 * (4 per slot) that doubles when half full. That is 32 to 64 bytes per record of the table (about
 * 32–64 MB per million rows; twice that for the moment of a doubling), freed when the table ends.
 * MD5 is used for speed, not secrecy: equal keys always give equal digests, so no duplicate is
 * missed; two different keys with the same digest (only if crafted on purpose) would make the
 * file refused, which hurts no one but the file's author.
 *
 * Key values are normalized first the way a database would compare them after loading: a number
 * and its decimal text are the same key (`1`, `1.0` and `"1"` in an integer column); any other
 * value by its JSON text. A key with a null part is never a duplicate (SQL NULLs are distinct).
 */
import { hash } from 'node:crypto'

const WORDS = 4
const INITIAL_SLOTS = 1024

export class KeyDigestSet {
  #slots: Uint32Array = new Uint32Array(INITIAL_SLOTS * WORDS)
  #mask = INITIAL_SLOTS - 1
  #size = 0

  get size(): number {
    return this.#size
  }

  /** Bytes held by the table (for docs and tests). */
  get bytes(): number {
    return this.#slots.byteLength
  }

  /**
   * Adds the key of `values` (the key columns' values of one record, in key order; `numeric[i]`
   * says whether column i holds numbers). Returns false when it was already there; true when it
   * was added, or when the key has a null part.
   */
  add(values: readonly unknown[], numeric: readonly boolean[]): boolean {
    const parts: string[] = []
    for (let i = 0; i < values.length; i++) {
      const value = values[i]
      if (value === null || value === undefined) return true
      parts.push(normalize(value, numeric[i] === true))
    }
    // One call (crypto.hash) rather than createHash/update/digest: a third of the cost per record.
    const digest = hash('md5', parts.length === 1 ? parts[0]! : JSON.stringify(parts), 'buffer')
    // Word 0 is never 0 in a used slot: an empty slot is all zeros.
    const w0 = (digest.readUInt32LE(0) | 1) >>> 0
    const w1 = digest.readUInt32LE(4)
    const w2 = digest.readUInt32LE(8)
    const w3 = digest.readUInt32LE(12)
    if (this.#insert(this.#slots, this.#mask, w0, w1, w2, w3) === false) return false
    this.#size++
    if (this.#size * 2 > this.#mask + 1) this.#grow()
    return true
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
    const old = this.#slots
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

/** `007` → `7`, `-1.50` → `-1.5`, `-0.0` → `0`: one spelling per decimal number, exactly (no rounding). */
function canonicalDecimal(text: string): string {
  const negative = text.startsWith('-')
  let [whole = '', fraction = ''] = (negative ? text.slice(1) : text).split('.')
  whole = whole.replace(/^0+(?=\d)/, '')
  fraction = fraction.replace(/0+$/, '')
  const zero = whole === '0' && fraction === ''
  return `${negative && !zero ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}
