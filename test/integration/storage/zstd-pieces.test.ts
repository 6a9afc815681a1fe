/**
 * Issue #17, round eight: zstd is read in 128 KiB pieces of compressed input (storage/open.ts
 * decodeLayers), so that one 1 MiB read is not decompressed into 5-8 MiB of Buffers at once.
 * A file of many pieces must still read back exactly, and damage or truncation past the first
 * piece must still be refused as the zstd layer's.
 */
import fs from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createCompressor } from '../../../src/storage/compression.js'
import { openBackupStream, ZSTD_PIECE_BYTES } from '../../../src/storage/open.js'
import { makeTempDir } from '../../helpers/databases.js'

/** ~10 MB of record-like lines that compress about as backups do (more than 8 pieces at every zstd level). */
function plainText(): Buffer {
  const lines: string[] = []
  let x = 12345
  for (let i = 0; i < 80_000; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    lines.push(JSON.stringify({ id: i, name: `user ${x.toString(36)}`, body: x.toString(16).repeat(1 + (x % 20)), n: x % 1000 }))
  }
  return Buffer.from(lines.join('\n') + '\n')
}

async function readAll(file: string): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const part of await openBackupStream(file)) parts.push(part as Buffer)
  return Buffer.concat(parts)
}

describe('zstd read in pieces', () => {
  it('reads a file of many pieces back exactly, and refuses it damaged or truncated past the first piece', async () => {
    const { dir, cleanup } = makeTempDir('mbzstdpieces-')
    onTestFinished(cleanup)
    const file = path.join(dir, 'x.json.zst')
    const plain = plainText()
    await pipeline(Readable.from([plain]), createCompressor('zstd')!, fs.createWriteStream(file))
    const size = fs.statSync(file).size
    expect(size).toBeGreaterThan(8 * ZSTD_PIECE_BYTES)
    expect((await readAll(file)).equals(plain)).toBe(true)

    const bytes = fs.readFileSync(file)
    const damaged = Buffer.from(bytes)
    damaged[Math.floor(size * 0.7)] ^= 0x55
    fs.writeFileSync(file, damaged)
    await expect(readAll(file)).rejects.toMatchObject({ details: { layer: 'zstd' } })

    fs.writeFileSync(file, bytes.subarray(0, Math.floor(size * 0.6)))
    await expect(readAll(file)).rejects.toMatchObject({ reason: 'truncated', details: { layer: 'zstd' } })
  })
})

describe('readBytes', () => {
  it('refuses a read size that is not a whole number of bytes ≥ 1, before opening the file', async () => {
    const { dir, cleanup } = makeTempDir('mbreadbytes-')
    onTestFinished(cleanup)
    const file = path.join(dir, 'x.json.zst')
    const plain = Buffer.from('{"a":1}\n'.repeat(50_000))
    await pipeline(Readable.from([plain]), createCompressor('zstd')!, fs.createWriteStream(file))
    // 0 used to give an empty stream without an error, as if the file held nothing.
    for (const readBytes of [0, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(openBackupStream(file, { readBytes })).rejects.toMatchObject({ name: 'UsageError', code: 'BAD_OPTION' })
    }
    const parts: Buffer[] = []
    for await (const part of await openBackupStream(file, { readBytes: 7 })) parts.push(part as Buffer)
    expect(Buffer.concat(parts).equals(plain)).toBe(true)
  })
})
