import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { checksumOfRecords, isChecksum, TableChecksum } from './checksum.js'

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`

describe('table checksums', () => {
  it('hash the canonical record texts, each followed by a newline, in order', () => {
    const records = [{ id: 'u1', name: 'Zoë 👋' }, { id: 'u2', name: null }]
    expect(checksumOfRecords(records)).toBe(sha256('{"id":"u1","name":"Zoë 👋"}\n{"id":"u2","name":null}\n'))
    expect(checksumOfRecords([...records].reverse())).not.toBe(checksumOfRecords(records))
  })

  it('of an empty table is the hash of nothing', () => {
    expect(checksumOfRecords([])).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })

  it('are the same whether fed record texts or the bytes of record lines', () => {
    const texts = ['{"a":1}', '{"b":"é\\n"}']
    const fromText = new TableChecksum()
    const fromBytes = new TableChecksum()
    for (const text of texts) {
      fromText.addCanonicalText(text)
      fromBytes.addCanonicalBytes(Buffer.from(text, 'utf8'))
    }
    expect(fromBytes.digest()).toBe(fromText.digest())
  })

  it('tell a well-formed checksum string', () => {
    expect(isChecksum(checksumOfRecords([]))).toBe(true)
    expect(isChecksum('sha256:' + 'A'.repeat(64))).toBe(false)
    expect(isChecksum('sha256:' + 'a'.repeat(63))).toBe(false)
    expect(isChecksum('md5:' + 'a'.repeat(64))).toBe(false)
    expect(isChecksum(42)).toBe(false)
  })
})

describe('TableChecksum, fed in pieces', () => {
  it('gives the same checksum whichever way each record comes, staged or not, long lines included', () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ id: i, text: 'é'.repeat(i % 7 === 0 ? 40_000 : i % 50) }))
    const expected = checksumOfRecords(records)
    const mixed = new TableChecksum()
    records.forEach((record, i) => {
      const text = JSON.stringify(record)
      if (i % 4 === 0) mixed.addCanonicalBytes(Buffer.from(text))
      else if (i % 4 === 1) mixed.addCanonicalText(text)
      else mixed.addCanonicalLines(Buffer.from(`${text}\n`))
    })
    expect(mixed.digest()).toBe(expected)
    const bytesOnly = new TableChecksum()
    for (const record of records) bytesOnly.addCanonicalBytes(Buffer.from(JSON.stringify(record)))
    expect(bytesOnly.digest()).toBe(expected)
  })
})
