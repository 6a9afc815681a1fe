import fs from 'node:fs'
import os from 'node:os'
import { describe, expect, it } from 'vitest'
import { KeyDigestSet } from './key-set.js'

const NUMERIC = [true]
const TEXT = [false]

function keyLogs(): string[] {
  return fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(`mergeback-keys-${process.pid}-`))
}

describe('KeyDigestSet', () => {
  it('keys in order: nothing but a small log in memory, however many', () => {
    const set = new KeyDigestSet()
    let added = 0
    for (let i = 0; i < 300_000; i++) if (set.add([i], NUMERIC)) added++
    expect(added).toBe(300_000)
    expect(set.ordered).toBe(true)
    // The hash table of the unordered case would hold 2^20 slots of 16 bytes (16 MiB) here.
    expect(set.bytes).toBeLessThanOrEqual(1024 * 1024)
    set.close()
  })

  it('a duplicate after the order breaks is found, also among keys logged to the file', () => {
    const set = new KeyDigestSet({ logMemoryBytes: 64 }) // 4 digests in memory: the rest go to the file
    for (let i = 0; i < 1000; i++) expect(set.add([i * 2], NUMERIC)).toBe(true)
    expect(set.add([1], NUMERIC)).toBe(true) // breaks the order: not a duplicate
    expect(set.ordered).toBe(false)
    expect(set.add([3], NUMERIC)).toBe(true)
    expect(set.add([0], NUMERIC)).toBe(false) // the first key, read back from the file
    expect(set.add([998], NUMERIC)).toBe(false)
    expect(set.add([1998], NUMERIC)).toBe(false) // the last key, still in memory
    expect(set.add([1], NUMERIC)).toBe(false)
    expect(set.add([2000], NUMERIC)).toBe(true)
    expect(set.size).toBe(1003)
    set.close()
  })

  it('the same key again right after itself breaks the order and is refused', () => {
    const set = new KeyDigestSet()
    expect(set.add(['a'], TEXT)).toBe(true)
    expect(set.add(['b'], TEXT)).toBe(true)
    expect(set.add(['b'], TEXT)).toBe(false)
  })

  it('numbers compare by value in the order, and equal spellings are one key', () => {
    const set = new KeyDigestSet()
    expect(set.add([9], NUMERIC)).toBe(true)
    expect(set.add([10], NUMERIC)).toBe(true) // "10" < "9" as text, not as numbers
    expect(set.ordered).toBe(true)
    expect(set.add(['10.0'], NUMERIC)).toBe(false)
    expect(set.add(['009'], NUMERIC)).toBe(false)
  })

  it('whole numbers as text (bigint keys) take their one spelling as it is, and other spellings still meet them', () => {
    const set = new KeyDigestSet()
    for (const key of ['-10', '-1', '0', '1', '2', '10', '9007199254740993']) expect(set.add([key], NUMERIC)).toBe(true)
    expect(set.ordered).toBe(true)
    expect(set.add(['010'], NUMERIC)).toBe(false)
    expect(set.add(['-0'], NUMERIC)).toBe(false)
    expect(set.add([2], NUMERIC)).toBe(false)
    expect(set.add(['1.0'], NUMERIC)).toBe(false)
    expect(set.add(['9007199254740993.00'], NUMERIC)).toBe(false)
    expect(set.add(['3'], NUMERIC)).toBe(true)
  })

  it('decimals beyond a double: two keys that round alike are told apart by the set, not the order', () => {
    const set = new KeyDigestSet()
    expect(set.add(['9007199254740993'], NUMERIC)).toBe(true)
    expect(set.add(['9007199254740992'], NUMERIC)).toBe(true) // same double: the order breaks
    expect(set.ordered).toBe(false)
    expect(set.add(['9007199254740993'], NUMERIC)).toBe(false)
  })

  it('composite keys in order part by part; a null part is never a duplicate', () => {
    const set = new KeyDigestSet()
    const numeric = [true, false]
    expect(set.add([1, 'b'], numeric)).toBe(true)
    expect(set.add([1, 'c'], numeric)).toBe(true)
    expect(set.add([2, 'a'], numeric)).toBe(true)
    expect(set.add([2, null], numeric)).toBe(true)
    expect(set.add([2, null], numeric)).toBe(true)
    expect(set.ordered).toBe(true)
    expect(set.add([1, 'c'], numeric)).toBe(false)
  })

  it('keys in no order: every duplicate is found, as in order', () => {
    let seed = 7
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
    const seen = new Set<number>()
    const set = new KeyDigestSet({ logMemoryBytes: 256 })
    const wrong: number[] = []
    for (let i = 0; i < 20_000; i++) {
      const key = random() % 15_000
      if (set.add([`k${key}`], TEXT) === seen.has(key)) wrong.push(i)
      seen.add(key)
    }
    expect(wrong).toEqual([])
    expect(set.size).toBe(seen.size)
    set.close()
  })

  it('keys logged as text (short) and as digests (long), across the file and memory, are all found once the order breaks', () => {
    // Lengths around the 84-unit line, characters of 1 to 4 UTF-8 bytes: entries of every size,
    // straddling the reads of the log's file back.
    const pieces = ['a', 'é', '€', '🎉']
    const keys: string[] = []
    for (let i = 0; i < 600; i++) keys.push(`${String(i).padStart(4, '0')}${pieces[i % 4]!.repeat((i * 7) % 95)}`)
    keys.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
    const set = new KeyDigestSet({ logMemoryBytes: 300 })
    for (const key of keys) expect(set.add([key], TEXT)).toBe(true)
    expect(set.ordered).toBe(true)
    expect(set.add(['000'], TEXT)).toBe(true) // before the first: breaks the order, not a duplicate
    expect(set.ordered).toBe(false)
    for (const key of keys) expect(set.add([key], TEXT), key).toBe(false)
    expect(set.add(['000'], TEXT)).toBe(false)
    expect(set.add(['zzz'], TEXT)).toBe(true)
    expect(set.size).toBe(602)
    set.close()
  })

  it("keys logged as text (hashed only when the order breaks): long, non-ASCII and cut by the file's read chunks, every one found again", () => {
    // Keys of every length up to past the memory part, UTF-8 of 1 to 4 bytes a character and a
    // lone surrogate, in order; a tiny memory part, so that nearly all of them go to the file and
    // many are cut where the read-back's chunks end.
    const keys: string[] = []
    for (let i = 0; i < 400; i++) keys.push(`k${String(i).padStart(4, '0')}${'é✓😀\ud800x'.repeat(i % 7)}${'z'.repeat(i % 3 === 0 ? i * 7 : 0)}`)
    keys.sort()
    for (const memory of [16, 100, 4096]) {
      const set = new KeyDigestSet({ logMemoryBytes: memory })
      for (const key of keys) expect(set.add([key], TEXT)).toBe(true)
      expect(set.ordered).toBe(true)
      expect(set.add(['a'], TEXT)).toBe(true) // breaks the order
      expect(set.ordered).toBe(false)
      for (const key of keys) expect(set.add([key], TEXT)).toBe(false)
      expect(set.add(['k'], TEXT)).toBe(true)
      expect(set.size).toBe(keys.length + 2)
      set.close()
    }
  })

  it('a composite key logged in order is found again after the break', () => {
    const set = new KeyDigestSet({ logMemoryBytes: 16 })
    const numeric = [true, false]
    for (let i = 0; i < 200; i++) expect(set.add([i, `ü${i}`], numeric)).toBe(true)
    expect(set.add([0, 'a'], numeric)).toBe(true)
    expect(set.ordered).toBe(false)
    expect(set.add(['7.0', 'ü7'], numeric)).toBe(false)
    expect(set.add([7, 'ü8'], numeric)).toBe(true)
    set.close()
  })

  it('the log file is unlinked at once and closed by close()', () => {
    const set = new KeyDigestSet({ logMemoryBytes: 16 })
    for (let i = 0; i < 100; i++) set.add([i], NUMERIC)
    expect(keyLogs()).toEqual([])
    set.close()
    set.close() // twice is harmless
  })
})
