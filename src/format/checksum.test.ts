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
