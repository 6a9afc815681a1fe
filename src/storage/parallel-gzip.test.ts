import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { pipeline } from 'node:stream/promises'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { createDecompressor } from './compression.js'
import { BLOCK_BYTES, ParallelGzip } from './parallel-gzip.js'

/** Text like a backup's: JSON lines, compressible, of `bytes` bytes written in chunks of `chunk`. */
function jsonText(bytes: number): Buffer {
  let text = ''
  for (let i = 0; text.length < bytes; i++) text += `,\n{"id":${i},"name":"user ${i % 977}","score":${(i * 7919) % 10007}}`
  return Buffer.from(text.slice(0, bytes))
}

async function compress(input: Buffer, chunk: number, level = 1): Promise<Buffer> {
  const chunks: Buffer[] = []
  for (let at = 0; at < input.length; at += chunk) chunks.push(input.subarray(at, at + chunk))
  const out: Buffer[] = []
  const gzip = new ParallelGzip(level)
  gzip.on('data', (data: Buffer) => out.push(data))
  await pipeline(Readable.from(chunks), gzip)
  return Buffer.concat(out)
}

/** Offsets of the gzip members' headers (1f 8b 08) that start where the previous member ended. */
function memberCount(gz: Buffer): number {
  let count = 0
  for (let at = gz.indexOf(Buffer.from([0x1f, 0x8b, 0x08])); at !== -1; at = gz.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), at + 1)) count++
  return count
}

describe('ParallelGzip', () => {
  it('writes one gzip member per block, in order, which every gzip reader reads as the whole text', async () => {
    const input = jsonText(3 * BLOCK_BYTES + 12345)
    const gz = await compress(input, 65536)
    expect(memberCount(gz)).toBeGreaterThanOrEqual(4)
    expect(gunzipSync(gz).equals(input)).toBe(true)
    expect((await buffer(Readable.from([gz]).pipe(createDecompressor('gzip')!))).equals(input)).toBe(true)
    const dir = mkdtempSync(path.join(tmpdir(), 'mb-pgzip-'))
    try {
      const file = path.join(dir, 'b.json.gz')
      writeFileSync(file, gz)
      execFileSync('gzip', ['-t', file])
      expect(execFileSync('zcat', [file], { maxBuffer: 64 << 20 }).equals(input)).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('takes writes larger than a block, and compresses about as well as one stream', async () => {
    const input = jsonText(2 * BLOCK_BYTES + 7)
    const gz = await compress(input, 5 * BLOCK_BYTES, 6)
    expect(gunzipSync(gz).equals(input)).toBe(true)
    const single = execFileSync('gzip', ['-6', '-c'], { input, maxBuffer: 64 << 20 })
    expect(gz.length).toBeLessThan(single.length * 1.02)
  })

  it('compresses each write of a block or more as it lies, and cuts a write of two blocks or more into blocks', async () => {
    const lines = jsonText(Math.floor(1.5 * BLOCK_BYTES))
    const gz = await compress(Buffer.concat([lines, lines, lines]), lines.length)
    expect(memberCount(gz)).toBe(3)
    expect(gunzipSync(gz).equals(Buffer.concat([lines, lines, lines]))).toBe(true)
    const big = jsonText(5 * BLOCK_BYTES + 3)
    const cut = await compress(big, big.length)
    // Four blocks of 1 MiB, then the rest (1 MiB + 3 bytes, under two blocks) whole.
    expect(memberCount(cut)).toBe(5)
    expect(gunzipSync(cut).equals(big)).toBe(true)
  })

  it('gathers small writes into one member, with the big write that follows them', async () => {
    const head = Buffer.from('{"format":"mergeback",\n"tables":[{"tableName":"t","records":[')
    const lines = jsonText(BLOCK_BYTES + 100)
    const input = Buffer.concat([head, head, lines, head])
    const chunks = [head, head, lines, head]
    const out: Buffer[] = []
    const gzip = new ParallelGzip(1)
    gzip.on('data', (data: Buffer) => out.push(data))
    await pipeline(Readable.from(chunks), gzip)
    const gz = Buffer.concat(out)
    expect(memberCount(gz)).toBe(2)
    expect(gunzipSync(gz).equals(input)).toBe(true)
  })

  it('gives a valid gzip file for no input at all', async () => {
    const gz = await compress(Buffer.alloc(0), 1)
    expect(gunzipSync(gz).length).toBe(0)
  })

  it('reports a truncated multi-member file as damaged', async () => {
    const gz = await compress(jsonText(BLOCK_BYTES + 100), 65536)
    const truncated = gz.subarray(0, gz.length - 20)
    await expect(buffer(Readable.from([truncated]).pipe(createDecompressor('gzip')!))).rejects.toThrow()
  })

  it('whenRead waits until the bytes written so far are compressed, not just called back for', async () => {
    const gzip = new ParallelGzip(1)
    const out = buffer(gzip)
    const read: string[] = []
    gzip.whenRead(() => read.push('nothing written'))
    expect(read).toEqual(['nothing written'])
    // A block: a member starts before the callback; its compression is not over yet.
    const block = Buffer.alloc(BLOCK_BYTES, 'a')
    await new Promise<void>((resolve, reject) => gzip.write(block, (error) => (error ? reject(error) : resolve())))
    gzip.whenRead(() => read.push('block'))
    expect(read).toEqual(['nothing written'])
    // Less than a block waits for the next member: called back at once, read only at the end.
    await new Promise<void>((resolve, reject) => gzip.write(Buffer.from('tail'), (error) => (error ? reject(error) : resolve())))
    gzip.whenRead(() => read.push('tail'))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(read).toEqual(['nothing written', 'block'])
    gzip.end()
    const text = gunzipSync(await out)
    expect(read).toEqual(['nothing written', 'block', 'tail'])
    expect(text.length).toBe(BLOCK_BYTES + 4)
  })
})
