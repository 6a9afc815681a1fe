/**
 * The test vector of docs/format-container.md, and a second reader written from that page alone
 * (node:crypto primitives only; nothing from src/crypto/), so the spec and the code cannot drift apart.
 */
import { createDecipheriv, createHash, createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { createEncryptStream } from './encrypt-stream.js'
import { createDecryptStream } from './decrypt-stream.js'
import { unlockContainer } from './key-derivation.js'

const VECTOR_HEX = `
4d5247424b454e43010100000400000000080000000100010203040506070809
0a0b0c0d0e0f101112131415161718191a1b1c1d1e1fa0a1a2a3a4a5a6000000
40000099bc8d253c59a10eb0640e70d4e7199816661b899eb63b850d7f4b88a1
f462d7173aaf6d800f3f2e9782a1b853f1ec6f110f3a6cdd01f70de3eb294696
088a9792b3747124f6bd7867584c7e0599c44add666e2b5e6ce2b31a67bf8660
7cf9487205316767c90b23336177119c58b16475ffbfba38e348bb9413161d9a
33535e4db05be65cd08accf4ce5b20710f7bb2a21b1ff3654dc4f05df44311`
const VECTOR = Buffer.from(VECTOR_HEX.replace(/\s/g, ''), 'hex')
const PASSPHRASE = 'mergeback test vector'
const PAYLOAD = '{"tables":[],"metadata":{"format":"mergeback","version":"1.0","backupName":"vector"}}'
const SALT = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
const NONCE_PREFIX = Buffer.from('a0a1a2a3a4a5a6', 'hex')

/** docs/format-container.md §Reading, step by step. Throws Error(reason) on any failure. */
function referenceRead(file: Buffer, passphrase: string): Buffer {
  if (file.length < 106) throw new Error('truncated')
  const header = file.subarray(0, 106)
  if (header.subarray(0, 8).toString('latin1') !== 'MRGBKENC' || header[8] !== 1 || header[9] !== 1) throw new Error('format')
  const [N, r, p] = [header.readUInt32BE(10), header.readUInt32BE(14), header.readUInt32BE(18)]
  const salt = header.subarray(22, 54)
  const prefix = header.subarray(54, 61)
  const chunkSize = header.readUInt32BE(61)
  if (!createHash('sha256').update(header.subarray(0, 66)).digest().subarray(0, 8).equals(header.subarray(66, 74))) throw new Error('tampered')
  const dk = scryptSync(Buffer.from(passphrase, 'utf8'), salt, 64, { N, r, p, maxmem: 256 * 1024 * 1024 })
  if (!timingSafeEqual(createHmac('sha256', dk.subarray(32)).update(header.subarray(0, 74)).digest(), header.subarray(74, 106))) throw new Error('wrong-passphrase')
  const open = (sealed: Buffer, index: number, last: boolean) => {
    const nonce = Buffer.concat([prefix, Buffer.from([index >>> 24, (index >>> 16) & 255, (index >>> 8) & 255, index & 255]), Buffer.from([last ? 1 : 0])])
    const decipher = createDecipheriv('aes-256-gcm', dk.subarray(0, 32), nonce)
    decipher.setAAD(header)
    decipher.setAuthTag(sealed.subarray(sealed.length - 16))
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()])
  }
  const out: Buffer[] = []
  let rest = file.subarray(106)
  let index = 0
  while (rest.length > chunkSize + 16) {
    out.push(open(rest.subarray(0, chunkSize + 16), index++, false))
    rest = rest.subarray(chunkSize + 16)
  }
  if (rest.length < 16) throw new Error('truncated')
  out.push(open(rest, index, true))
  return Buffer.concat(out)
}

async function encryptWithMergeback(plain: Buffer, options: Parameters<typeof createEncryptStream>[1]): Promise<Buffer> {
  const out: Buffer[] = []
  await pipeline(Readable.from([plain]), await createEncryptStream(PASSPHRASE, options), async function* (source) {
    for await (const part of source) out.push(part as Buffer)
  })
  return Buffer.concat(out)
}

describe('docs/format-container.md test vector', () => {
  it('is exactly what mergeback writes for those inputs', async () => {
    const written = await encryptWithMergeback(Buffer.from(PAYLOAD), {
      scrypt: { N: 1024, r: 8, p: 1 },
      chunkSize: 64,
      testVectorRandomness: { salt: SALT, noncePrefix: NONCE_PREFIX },
    })
    expect(written.toString('hex')).toBe(VECTOR.toString('hex'))
  })

  it('is read back by mergeback', async () => {
    const container = await unlockContainer(VECTOR.subarray(0, 106), PASSPHRASE)
    const parts: Buffer[] = []
    for await (const part of Readable.from([VECTOR]).pipe(createDecryptStream(container))) parts.push(part as Buffer)
    expect(Buffer.concat(parts).toString()).toBe(PAYLOAD)
  })

  it('is read by the reference reader, which also rejects a wrong passphrase and damage', () => {
    expect(referenceRead(VECTOR, PASSPHRASE).toString()).toBe(PAYLOAD)
    expect(() => referenceRead(VECTOR, 'nope')).toThrow('wrong-passphrase')
    const flipped = Buffer.from(VECTOR)
    flipped[150] ^= 1
    expect(() => referenceRead(flipped, PASSPHRASE)).toThrow()
    expect(() => referenceRead(VECTOR.subarray(0, 186), PASSPHRASE)).toThrow()
  })

  it('the reference reader reads what mergeback writes with its default chunk size', async () => {
    for (const size of [0, 1, 65536, 65537, 200_000]) {
      const plain = randomBytes(size)
      const written = await encryptWithMergeback(plain, { scrypt: { N: 1024, r: 8, p: 1 }, gzipPayload: true })
      expect(written[65]).toBe(1)
      expect(referenceRead(written, PASSPHRASE).equals(plain)).toBe(true)
    }
  })
})
