/**
 * Encrypted container → plaintext, as a Transform stream (docs/format-container.md).
 *
 * The caller first unlocks the container (`unlockContainer`: header checks, scrypt, key check),
 * so a wrong passphrase never gets this far. The stream is then fed the whole file from byte 0:
 *   1. The first HEADER_LENGTH bytes must equal the unlocked header (the file may not change
 *      between unlocking and reading).
 *   2. While MORE than one full sealed chunk (chunkSize + 16 bytes) is queued, the first one is
 *      not the last, so it is opened with last flag 0 and its plaintext released.
 *   3. At end of input, what is left is the final chunk and is opened with last flag 1.
 * Plaintext leaves the stream only after its chunk's tag has been verified; a failure destroys
 * the stream with an IntegrityError naming the chunk and its byte offset:
 *   - 'truncated': the input ends inside the header, with less than a tag left, or exactly at a
 *     chunk boundary (the would-be final chunk authenticates as a non-final one);
 *   - 'tampered': any other tag mismatch (a flipped byte, swapped or repeated chunks, a chunk
 *     from another file, or a cut inside a chunk, which cannot be told apart from damage).
 */
import { createDecipheriv } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { IntegrityError } from '../errors.js'
import { HEADER_LENGTH, TAG_LENGTH, chunkNonce, chunkOffset } from './container.js'
import type { UnlockedContainer } from './key-derivation.js'
import { ByteQueue } from './byte-queue.js'

/** Returns a Transform that verifies and decrypts a container unlocked by `unlockContainer`. */
export function createDecryptStream(container: UnlockedContainer): Transform {
  return new DecryptStream(container)
}

class DecryptStream extends Transform {
  readonly #container: UnlockedContainer
  readonly #sealedSize: number
  readonly #queue = new ByteQueue()
  #headerSeen = 0
  #index = 0

  constructor(container: UnlockedContainer) {
    super()
    this.#container = container
    this.#sealedSize = container.header.chunkSize + TAG_LENGTH
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      let rest = data
      if (this.#headerSeen < HEADER_LENGTH) {
        const part = rest.subarray(0, HEADER_LENGTH - this.#headerSeen)
        const expected = this.#container.header.bytes.subarray(this.#headerSeen, this.#headerSeen + part.length)
        if (!part.equals(expected)) {
          throw new IntegrityError('The encrypted file header changed while it was being read.', 'tampered', { details: { layer: 'encryption', byteOffset: this.#headerSeen } })
        }
        this.#headerSeen += part.length
        rest = rest.subarray(part.length)
      }
      this.#queue.push(rest)
      while (this.#queue.length > this.#sealedSize) this.push(this.#open(this.#queue.take(this.#sealedSize), false))
      callback()
    } catch (error) {
      callback(error as Error)
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.#headerSeen < HEADER_LENGTH) {
        throw new IntegrityError(`The encrypted file is truncated inside its header (at byte ${this.#headerSeen}).`, 'truncated', {
          details: { layer: 'encryption', byteOffset: this.#headerSeen },
        })
      }
      const sealed = this.#queue.takeAll()
      const offset = chunkOffset(this.#container.header.chunkSize, this.#index)
      if (sealed.length < TAG_LENGTH) {
        throw new IntegrityError(`The encrypted file is truncated: the final chunk (${this.#index}) at byte ${offset} is missing or incomplete.`, 'truncated', {
          details: { layer: 'encryption', chunk: this.#index, byteOffset: offset },
        })
      }
      this.push(this.#open(sealed, true))
      callback()
    } catch (error) {
      callback(error as Error)
    }
  }

  /** Verifies and decrypts one sealed chunk (ciphertext ‖ tag); throws IntegrityError on a mismatch. */
  #open(sealed: Buffer, last: boolean): Buffer {
    const plaintext = this.#tryOpen(sealed, last)
    if (plaintext) {
      this.#index += 1
      return plaintext
    }
    const offset = chunkOffset(this.#container.header.chunkSize, this.#index)
    // A full-size "final" chunk that opens as a non-final one means the file was cut right after it.
    if (last && sealed.length === this.#sealedSize && this.#tryOpen(sealed, false)) {
      throw new IntegrityError(`The encrypted file is truncated: it ends after chunk ${this.#index} (byte ${offset + sealed.length}), which is not the final chunk.`, 'truncated', {
        details: { layer: 'encryption', chunk: this.#index, byteOffset: offset + sealed.length },
      })
    }
    const what = last ? 'final chunk' : 'chunk'
    throw new IntegrityError(
      `The encrypted file is damaged: ${what} ${this.#index} at byte ${offset} failed authentication (altered, reordered or cut short).`,
      'tampered',
      { details: { layer: 'encryption', chunk: this.#index, byteOffset: offset } },
    )
  }

  #tryOpen(sealed: Buffer, last: boolean): Buffer | undefined {
    const { header, payloadKey } = this.#container
    const decipher = createDecipheriv('aes-256-gcm', payloadKey, chunkNonce(header.noncePrefix, this.#index, last))
    decipher.setAAD(header.bytes)
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH))
    const head = decipher.update(sealed.subarray(0, sealed.length - TAG_LENGTH))
    try {
      const tail = decipher.final()
      return tail.length ? Buffer.concat([head, tail]) : head
    } catch {
      // GCM's final() throws exactly when the tag does not match; the caller names the failure.
      return undefined
    }
  }
}
