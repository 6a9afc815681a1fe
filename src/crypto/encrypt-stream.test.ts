import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { FormatError, IntegrityError, UsageError } from '../errors.js'
import { DEFAULT_SCRYPT, HEADER_LENGTH, TAG_LENGTH, chunkOffset, parseHeader, scryptMemoryBytes } from './container.js'
import { createDecryptStream } from './decrypt-stream.js'
import { createEncryptStream } from './encrypt-stream.js'
import { unlockContainer } from './key-derivation.js'

const FAST = { N: 1024, r: 8, p: 1 }
const CHUNK = 64

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const part of stream) parts.push(part as Buffer)
  return Buffer.concat(parts)
}

async function encrypt(plain: Buffer, passphrase = 'correct horse', chunkSize = CHUNK, writeSize = 13): Promise<Buffer> {
  const enc = await createEncryptStream(passphrase, { scrypt: FAST, chunkSize })
  const pieces = [] as Buffer[]
  for (let i = 0; i < plain.length; i += writeSize) pieces.push(plain.subarray(i, i + writeSize))
  const out: Buffer[] = []
  await pipeline(Readable.from(pieces), enc, async function* (source) {
    for await (const part of source) out.push(part as Buffer)
  })
  return Buffer.concat(out)
}

async function decrypt(file: Buffer, passphrase = 'correct horse'): Promise<Buffer> {
  const container = await unlockContainer(file.subarray(0, HEADER_LENGTH), passphrase)
  const source = Readable.from([file.subarray(0, 50), file.subarray(50)])
  return collect(source.pipe(createDecryptStream(container)))
}

async function decryptError(file: Buffer, passphrase = 'correct horse'): Promise<unknown> {
  try {
    await decrypt(file, passphrase)
  } catch (error) {
    return error
  }
  throw new Error('expected decryption to fail')
}

describe('encrypted container round trip', () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7, 5000]) {
    it(`restores ${size} bytes exactly`, async () => {
      const plain = randomBytes(size)
      const file = await encrypt(plain)
      const chunks = Math.max(1, Math.ceil(size / CHUNK))
      expect(file.length).toBe(HEADER_LENGTH + size + chunks * TAG_LENGTH)
      expect(await decrypt(file)).toEqual(plain)
    })
  }

  it('writes the default scrypt parameters, 64 MiB (N = 2^16, r = 8, p = 2), and a file with p > 1 opens', async () => {
    expect(DEFAULT_SCRYPT).toEqual({ N: 2 ** 16, r: 8, p: 2 })
    expect(scryptMemoryBytes(DEFAULT_SCRYPT)).toBe(64 * 1024 * 1024)
    const enc = await createEncryptStream('correct horse', { scrypt: { N: 1024, r: 8, p: 2 }, chunkSize: CHUNK })
    const out: Buffer[] = []
    await pipeline(Readable.from([Buffer.from('two lanes')]), enc, async function* (source) {
      for await (const part of source) out.push(part as Buffer)
    })
    const file = Buffer.concat(out)
    expect(parseHeader(file.subarray(0, HEADER_LENGTH)).scrypt).toEqual({ N: 1024, r: 8, p: 2 })
    expect((await decrypt(file)).toString()).toBe('two lanes')
  })

  it('gives two encryptions of the same data different bytes (fresh salt and nonce prefix)', async () => {
    const plain = Buffer.from('same text')
    expect((await encrypt(plain)).equals(await encrypt(plain))).toBe(false)
  })

  it('refuses an empty passphrase', async () => {
    await expect(createEncryptStream('', { scrypt: FAST })).rejects.toBeInstanceOf(UsageError)
  })

  it('refuses out-of-range parameters when writing', async () => {
    await expect(createEncryptStream('x', { scrypt: { N: 1000, r: 8, p: 1 } })).rejects.toBeInstanceOf(UsageError)
    await expect(createEncryptStream('x', { scrypt: FAST, chunkSize: 10 })).rejects.toBeInstanceOf(UsageError)
  })
})

describe('encrypted container damage', () => {
  const plain = randomBytes(4 * CHUNK + 10) // five chunks, the last one short

  it('reports a wrong passphrase before decrypting anything', async () => {
    const file = await encrypt(plain)
    const error = await unlockContainer(file.subarray(0, HEADER_LENGTH), 'wrong horse').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IntegrityError)
    expect((error as IntegrityError).reason).toBe('wrong-passphrase')
  })

  it('detects a flipped byte anywhere after the header as tampering of that chunk', async () => {
    const file = await encrypt(plain)
    for (let offset = HEADER_LENGTH; offset < file.length; offset += 7) {
      const bad = Buffer.from(file)
      bad[offset] ^= 0x01
      const error = (await decryptError(bad)) as IntegrityError
      expect(error).toBeInstanceOf(IntegrityError)
      expect(error.reason).toBe('tampered')
      const chunk = Math.floor((offset - HEADER_LENGTH) / (CHUNK + TAG_LENGTH))
      expect(error.details.chunk).toBe(chunk)
    }
  })

  it('detects a flipped byte in every header field', async () => {
    const file = await encrypt(plain)
    for (let offset = 0; offset < HEADER_LENGTH; offset++) {
      const bad = Buffer.from(file)
      bad[offset] ^= 0x01
      const error = await unlockContainer(bad.subarray(0, HEADER_LENGTH), 'correct horse').catch((e: unknown) => e)
      if (offset < 9) expect(error).toBeInstanceOf(FormatError) // magic or version: not a container this version reads
      else if (offset < 74) expect((error as IntegrityError).reason).toBe('tampered') // unkeyed checksum catches it
      else expect((error as IntegrityError).reason).toBe('wrong-passphrase') // only the key check value changed
    }
  })

  it('detects truncation at every length, and calls a cut at a chunk boundary truncation', async () => {
    const file = await encrypt(plain)
    for (let length = 0; length < file.length; length++) {
      const cut = file.subarray(0, length)
      const error =
        length < HEADER_LENGTH
          ? await unlockContainer(cut, 'correct horse').catch((e: unknown) => e)
          : await decryptError(cut)
      expect(error, `length ${length}`).toBeInstanceOf(length < 8 ? FormatError : IntegrityError)
      if (length < 8) continue
      const reason = (error as IntegrityError).reason
      const atBoundary = length >= HEADER_LENGTH && (length - HEADER_LENGTH) % (CHUNK + TAG_LENGTH) === 0
      const tooShortForTag = length >= HEADER_LENGTH && (length - HEADER_LENGTH) % (CHUNK + TAG_LENGTH) < TAG_LENGTH
      if (length < HEADER_LENGTH || atBoundary || tooShortForTag) expect(reason, `length ${length}`).toBe('truncated')
      else expect(reason, `length ${length}`).toBe('tampered')
    }
  })

  it('detects swapped, repeated and dropped chunks', async () => {
    const file = await encrypt(plain)
    const sealed = CHUNK + TAG_LENGTH
    const chunk = (i: number) => file.subarray(chunkOffset(CHUNK, i), chunkOffset(CHUNK, i) + sealed)
    const header = file.subarray(0, HEADER_LENGTH)
    const tail = file.subarray(chunkOffset(CHUNK, 4))
    const swapped = Buffer.concat([header, chunk(1), chunk(0), chunk(2), chunk(3), tail])
    const repeated = Buffer.concat([header, chunk(0), chunk(0), chunk(2), chunk(3), tail])
    const dropped = Buffer.concat([header, chunk(0), chunk(2), chunk(3), tail])
    for (const bad of [swapped, repeated, dropped]) {
      const error = (await decryptError(bad)) as IntegrityError
      expect(error.reason).toBe('tampered')
    }
    expect(((await decryptError(swapped)) as IntegrityError).details.chunk).toBe(0)
    expect(((await decryptError(dropped)) as IntegrityError).details.chunk).toBe(1)
  })

  it('detects a chunk taken from another file encrypted with the same passphrase', async () => {
    const a = await encrypt(plain)
    const b = await encrypt(plain)
    const mixed = Buffer.concat([a.subarray(0, chunkOffset(CHUNK, 1)), b.subarray(chunkOffset(CHUNK, 1))])
    expect(((await decryptError(mixed)) as IntegrityError).reason).toBe('tampered')
  })

  it('refuses a header that changed between unlocking and reading', async () => {
    const file = await encrypt(plain)
    const container = await unlockContainer(file.subarray(0, HEADER_LENGTH), 'correct horse')
    const other = await encrypt(plain)
    const error = await collect(Readable.from([other]).pipe(createDecryptStream(container))).catch((e: unknown) => e)
    expect((error as IntegrityError).reason).toBe('tampered')
  })

  it('parses the header fields it wrote', async () => {
    const file = await encrypt(plain)
    const header = parseHeader(file)
    expect(header).toMatchObject({ version: 1, scrypt: FAST, chunkSize: CHUNK, gzipPayload: false })
    expect(header.salt.length).toBe(32)
    expect(header.noncePrefix.length).toBe(7)
  })
})
