/**
 * Plaintext → encrypted container, as a Transform stream (docs/format-container.md).
 *
 * Algorithm:
 *   1. Draw a random 32-byte salt and 7-byte nonce prefix; derive the keys with scrypt.
 *   2. Emit the header (with its key check value) before any chunk.
 *   3. Queue plaintext; whenever MORE than `chunkSize` bytes are queued, seal exactly `chunkSize`
 *      of them as a non-final chunk. Holding back the last full chunk until more data arrives is
 *      what lets the final chunk carry the last flag without knowing the length in advance.
 *   4. On end, seal what is left (0…chunkSize bytes) as the final chunk. An empty final chunk
 *      therefore only occurs for an empty plaintext.
 * Memory: one chunk plus one incoming write.
 */
import { createCipheriv, randomBytes } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_SCRYPT,
  HEADER_LENGTH,
  NONCE_PREFIX_LENGTH,
  OFFSET_KEY_CHECK,
  OFFSET_NONCE_PREFIX,
  OFFSET_SALT,
  SALT_LENGTH,
  chunkNonce,
  encodeHeaderFields,
  type ScryptParams,
} from './container.js'
import { deriveKeys, keyCheckValue } from './key-derivation.js'
import { ByteQueue } from './byte-queue.js'

export interface EncryptOptions {
  /** scrypt cost; default DEFAULT_SCRYPT. Tests pass a cheap N to stay fast. */
  readonly scrypt?: ScryptParams
  /** Plaintext bytes per chunk; default 64 KiB. */
  readonly chunkSize?: number
  /** Sets header flag bit 0: the plaintext written is a gzip stream. */
  readonly gzipPayload?: boolean
  /** Sets header flag bit 1: the plaintext written is a zstd stream. */
  readonly zstdPayload?: boolean
  /**
   * Fixed salt and nonce prefix instead of random ones: ONLY for reproducing the published test
   * vector (docs/format-container.md). Reusing them across files would reuse keys and nonces.
   */
  readonly testVectorRandomness?: { readonly salt: Buffer; readonly noncePrefix: Buffer }
}

/**
 * Derives the key (async: scrypt runs on the thread pool) and returns a Transform that turns
 * the bytes written into a complete container. Throws UsageError for an empty passphrase or
 * out-of-range options. The stream's output is only a valid container once it has ended.
 */
export async function createEncryptStream(passphrase: string, options: EncryptOptions = {}): Promise<Transform> {
  const scrypt = options.scrypt ?? DEFAULT_SCRYPT
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
  const header = encodeHeaderFields({
    scrypt,
    salt: options.testVectorRandomness?.salt ?? randomBytes(SALT_LENGTH),
    noncePrefix: options.testVectorRandomness?.noncePrefix ?? randomBytes(NONCE_PREFIX_LENGTH),
    chunkSize,
    gzipPayload: options.gzipPayload ?? false,
    zstdPayload: options.zstdPayload ?? false,
  })
  const keys = await deriveKeys(passphrase, header.subarray(OFFSET_SALT, OFFSET_SALT + SALT_LENGTH), scrypt)
  keyCheckValue(keys.headerKey, header).copy(header, OFFSET_KEY_CHECK)
  return new EncryptStream(header, keys.payloadKey, chunkSize)
}

class EncryptStream extends Transform {
  readonly #header: Buffer
  readonly #key: Buffer
  readonly #chunkSize: number
  readonly #noncePrefix: Buffer
  readonly #queue = new ByteQueue()
  #index = 0

  constructor(header: Buffer, key: Buffer, chunkSize: number) {
    super()
    this.#header = header
    this.#key = key
    this.#chunkSize = chunkSize
    this.#noncePrefix = header.subarray(OFFSET_NONCE_PREFIX, OFFSET_NONCE_PREFIX + NONCE_PREFIX_LENGTH)
    this.push(header.subarray(0, HEADER_LENGTH))
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#queue.push(data)
      while (this.#queue.length > this.#chunkSize) this.#seal(this.#queue.take(this.#chunkSize), false)
      callback()
    } catch (error) {
      callback(error as Error)
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#seal(this.#queue.takeAll(), true)
      callback()
    } catch (error) {
      callback(error as Error)
    }
  }

  #seal(plaintext: Buffer, last: boolean): void {
    const cipher = createCipheriv('aes-256-gcm', this.#key, chunkNonce(this.#noncePrefix, this.#index, last))
    cipher.setAAD(this.#header)
    const head = cipher.update(plaintext)
    const tail = cipher.final()
    this.#index += 1
    this.push(tail.length ? Buffer.concat([head, tail, cipher.getAuthTag()]) : Buffer.concat([head, cipher.getAuthTag()]))
  }
}
