/**
 * The encrypted container's fixed binary header and chunk framing (docs/format-container.md).
 *
 * A container is `header ‖ chunk₀ ‖ chunk₁ ‖ … ‖ chunkₙ`. The header carries everything a reader
 * needs to derive the key (scrypt parameters and salt), the random nonce prefix, the chunk size,
 * one flag byte, an unkeyed checksum (so a damaged header is told apart from a wrong passphrase)
 * and a keyed check value (so a wrong passphrase is reported before any chunk is touched).
 *
 * Chunk `i` is AES-256-GCM over at most `chunkSize` plaintext bytes with
 *   nonce = noncePrefix (7 bytes) ‖ uint32be(i) ‖ lastFlag (0x00, or 0x01 on the final chunk)
 *   AAD   = the whole header (HEADER_LENGTH bytes)
 * and is stored as `ciphertext ‖ tag` (tag 16 bytes). This is the STREAM construction
 * (Hoang, Reyhanitabar, Rogaway, Vizár 2015) as used by Tink and age: the counter makes swapped,
 * dropped or repeated chunks fail authentication, the last-chunk flag makes a file cut at a chunk
 * boundary fail too, and the header in the AAD ties every chunk to this file's parameters.
 *
 * This module only encodes and checks bytes; it never sees a passphrase (see key-derivation.ts).
 */
import { createHash } from 'node:crypto'
import { FormatError, IntegrityError, UsageError } from '../errors.js'

/** The first 8 bytes of every encrypted container. */
export const CONTAINER_MAGIC = Buffer.from('MRGBKENC', 'latin1')
export const CONTAINER_VERSION = 1
/** Key-derivation function identifiers (header byte 9). Only scrypt exists. */
export const KDF_SCRYPT = 1
export const SALT_LENGTH = 32
export const NONCE_PREFIX_LENGTH = 7
export const TAG_LENGTH = 16
export const HEADER_CHECKSUM_LENGTH = 8
export const KEY_CHECK_LENGTH = 32
/** Header flag bit 0: the encrypted payload is a gzip stream. */
export const FLAG_GZIP_PAYLOAD = 0x01
/** Header flag bit 1: the encrypted payload is a zstd stream. Never together with bit 0; other bits are reserved and must be 0. */
export const FLAG_ZSTD_PAYLOAD = 0x02

const OFFSET_VERSION = 8
const OFFSET_KDF = 9
const OFFSET_N = 10
const OFFSET_R = 14
const OFFSET_P = 18
export const OFFSET_SALT = 22
export const OFFSET_NONCE_PREFIX = OFFSET_SALT + SALT_LENGTH // 54
const OFFSET_CHUNK_SIZE = OFFSET_NONCE_PREFIX + NONCE_PREFIX_LENGTH // 61
export const OFFSET_FLAGS = OFFSET_CHUNK_SIZE + 4 // 65
const OFFSET_CHECKSUM = OFFSET_FLAGS + 1 // 66
/** Where the keyed check value starts; it covers every byte before it. */
export const OFFSET_KEY_CHECK = OFFSET_CHECKSUM + HEADER_CHECKSUM_LENGTH // 74
/** Total header length in bytes (version 1). */
export const HEADER_LENGTH = OFFSET_KEY_CHECK + KEY_CHECK_LENGTH // 106

/** 64 KiB: large enough that per-chunk overhead (16-byte tag, one cipher setup) is noise. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024
export const MIN_CHUNK_SIZE = 64
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024
/** The counter is 32 bits wide; at 64 KiB per chunk that is 256 TiB per file. */
export const MAX_CHUNKS = 2 ** 32

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number
  /** Block size. */
  readonly r: number
  /** Parallelisation. */
  readonly p: number
}

/**
 * N · p = 2^17 block mixes, about 0.3 s on a 2020s core (age's and restic's order of magnitude),
 * in 128 · N · r = 64 MiB: the cost of the earlier 2^17, 8, 1 with half its memory (OWASP lists
 * both as equivalent). Node runs the p lanes one after the other, so the memory is 64 MiB at any
 * moment. Files written with other parameters open as before: the header carries them.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 16, r: 8, p: 2 }

/**
 * Limits a reader enforces before running scrypt, so a hostile header cannot make it allocate
 * gigabytes or spin for minutes. Writers must stay inside them too.
 */
export const SCRYPT_LIMITS = { minN: 2, maxN: 2 ** 20, maxR: 32, maxP: 16, maxMemoryBytes: 1024 * 1024 * 1024 } as const

/** scrypt's memory use in bytes (128 · N · r), the figure Node's `maxmem` is compared against. */
export function scryptMemoryBytes(params: ScryptParams): number {
  return 128 * params.N * params.r
}

/** Throws unless `params` are within SCRYPT_LIMITS. `make` builds the error (FormatError when reading a file, UsageError for options). */
export function checkScryptParams(params: ScryptParams, make: (message: string) => Error = (m) => new UsageError(m)): void {
  const { N, r, p } = params
  const powerOfTwo = Number.isInteger(N) && N >= SCRYPT_LIMITS.minN && (N & (N - 1)) === 0
  if (!powerOfTwo || N > SCRYPT_LIMITS.maxN) throw make(`scrypt N must be a power of two between ${SCRYPT_LIMITS.minN} and 2^20, got ${N}.`)
  if (!Number.isInteger(r) || r < 1 || r > SCRYPT_LIMITS.maxR) throw make(`scrypt r must be between 1 and ${SCRYPT_LIMITS.maxR}, got ${r}.`)
  if (!Number.isInteger(p) || p < 1 || p > SCRYPT_LIMITS.maxP) throw make(`scrypt p must be between 1 and ${SCRYPT_LIMITS.maxP}, got ${p}.`)
  if (scryptMemoryBytes(params) > SCRYPT_LIMITS.maxMemoryBytes) throw make(`scrypt parameters need ${scryptMemoryBytes(params)} bytes of memory, more than the 1 GiB limit.`)
}

export function checkChunkSize(chunkSize: number, make: (message: string) => Error = (m) => new UsageError(m)): void {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw make(`Chunk size must be between ${MIN_CHUNK_SIZE} and ${MAX_CHUNK_SIZE} bytes, got ${chunkSize}.`)
  }
}

/** A parsed header. `bytes` is the exact header as stored: it is the AAD of every chunk. */
export interface ContainerHeader {
  readonly version: number
  readonly scrypt: ScryptParams
  readonly salt: Buffer
  readonly noncePrefix: Buffer
  readonly chunkSize: number
  /** Whether the plaintext inside is a gzip stream (flag bit 0). */
  readonly gzipPayload: boolean
  /** Whether the plaintext inside is a zstd stream (flag bit 1). */
  readonly zstdPayload: boolean
  readonly bytes: Buffer
}

/** What a writer chooses; the key check value is filled in by `sealHeader` once the key is known. */
export interface HeaderFields {
  readonly scrypt: ScryptParams
  readonly salt: Buffer
  readonly noncePrefix: Buffer
  readonly chunkSize: number
  readonly gzipPayload: boolean
  readonly zstdPayload?: boolean
}

function headerChecksum(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes.subarray(0, OFFSET_CHECKSUM)).digest().subarray(0, HEADER_CHECKSUM_LENGTH)
}

/**
 * Lays out a header with everything but the key check value (left zero). The caller fills bytes
 * OFFSET_KEY_CHECK.. with `keyCheckValue(headerKey, bytes)` (see key-derivation.ts).
 */
export function encodeHeaderFields(fields: HeaderFields): Buffer {
  checkScryptParams(fields.scrypt)
  checkChunkSize(fields.chunkSize)
  if (fields.salt.length !== SALT_LENGTH) throw new UsageError(`The salt must be ${SALT_LENGTH} bytes.`)
  if (fields.noncePrefix.length !== NONCE_PREFIX_LENGTH) throw new UsageError(`The nonce prefix must be ${NONCE_PREFIX_LENGTH} bytes.`)
  const bytes = Buffer.alloc(HEADER_LENGTH)
  CONTAINER_MAGIC.copy(bytes, 0)
  bytes[OFFSET_VERSION] = CONTAINER_VERSION
  bytes[OFFSET_KDF] = KDF_SCRYPT
  bytes.writeUInt32BE(fields.scrypt.N, OFFSET_N)
  bytes.writeUInt32BE(fields.scrypt.r, OFFSET_R)
  bytes.writeUInt32BE(fields.scrypt.p, OFFSET_P)
  fields.salt.copy(bytes, OFFSET_SALT)
  fields.noncePrefix.copy(bytes, OFFSET_NONCE_PREFIX)
  bytes.writeUInt32BE(fields.chunkSize, OFFSET_CHUNK_SIZE)
  if (fields.gzipPayload && fields.zstdPayload) throw new UsageError('The payload is gzip or zstd, not both.')
  bytes[OFFSET_FLAGS] = (fields.gzipPayload ? FLAG_GZIP_PAYLOAD : 0) | (fields.zstdPayload ? FLAG_ZSTD_PAYLOAD : 0)
  headerChecksum(bytes).copy(bytes, OFFSET_CHECKSUM)
  return bytes
}

/** True when `bytes` starts with the container magic (bytes may be shorter than the magic: then false). */
export function hasContainerMagic(bytes: Buffer): boolean {
  return bytes.length >= CONTAINER_MAGIC.length && bytes.subarray(0, CONTAINER_MAGIC.length).equals(CONTAINER_MAGIC)
}

/**
 * Parses and checks a header without any key: magic, version, KDF id, flags, parameter limits and
 * the unkeyed checksum. Throws IntegrityError 'truncated' when fewer than HEADER_LENGTH bytes are
 * given, IntegrityError 'tampered' when the checksum does not match (a damaged header), and
 * FormatError for a header this version cannot read (other magic, newer version, unknown KDF).
 * The key check value is not verified here (see `unlockContainer`).
 */
export function parseHeader(bytes: Buffer): ContainerHeader {
  if (!hasContainerMagic(bytes)) throw new FormatError('Not a mergeback encrypted file: the header magic "MRGBKENC" is missing.', { byteOffset: 0 })
  // The version decides the layout of everything after it, so it is checked before the length and
  // the checksum: a newer file is "unsupported", not "damaged".
  const version = bytes.length > OFFSET_VERSION ? bytes[OFFSET_VERSION] : CONTAINER_VERSION
  if (version !== CONTAINER_VERSION) {
    throw new FormatError(`Unsupported encrypted container version ${version} (this mergeback reads version ${CONTAINER_VERSION}).`, { byteOffset: OFFSET_VERSION })
  }
  if (bytes.length < HEADER_LENGTH) {
    throw new IntegrityError(`The encrypted file is truncated: its header needs ${HEADER_LENGTH} bytes, the file has ${bytes.length}.`, 'truncated', {
      details: { layer: 'encryption', byteOffset: bytes.length },
    })
  }
  const header = bytes.subarray(0, HEADER_LENGTH)
  const stored = header.subarray(OFFSET_CHECKSUM, OFFSET_CHECKSUM + HEADER_CHECKSUM_LENGTH)
  if (!headerChecksum(header).equals(stored)) {
    throw new IntegrityError('The encrypted file header is damaged (its checksum does not match).', 'tampered', { details: { layer: 'encryption', byteOffset: 0 } })
  }
  const kdf = header[OFFSET_KDF]
  if (kdf !== KDF_SCRYPT) throw new FormatError(`Unknown key-derivation function ${kdf} in the encrypted file header.`, { byteOffset: OFFSET_KDF })
  const flags = header[OFFSET_FLAGS]
  const bothPayloads = FLAG_GZIP_PAYLOAD | FLAG_ZSTD_PAYLOAD
  if ((flags & ~bothPayloads) !== 0 || (flags & bothPayloads) === bothPayloads) {
    throw new FormatError(`Unknown flags 0x${flags.toString(16)} in the encrypted file header.`, { byteOffset: OFFSET_FLAGS })
  }
  const scrypt = { N: header.readUInt32BE(OFFSET_N), r: header.readUInt32BE(OFFSET_R), p: header.readUInt32BE(OFFSET_P) }
  const formatError = (message: string) => new FormatError(`Encrypted file header: ${message}`, { byteOffset: OFFSET_N })
  checkScryptParams(scrypt, formatError)
  const chunkSize = header.readUInt32BE(OFFSET_CHUNK_SIZE)
  checkChunkSize(chunkSize, (m) => new FormatError(`Encrypted file header: ${m}`, { byteOffset: OFFSET_CHUNK_SIZE }))
  const copy = Buffer.from(header)
  return {
    version,
    scrypt,
    salt: copy.subarray(OFFSET_SALT, OFFSET_SALT + SALT_LENGTH),
    noncePrefix: copy.subarray(OFFSET_NONCE_PREFIX, OFFSET_NONCE_PREFIX + NONCE_PREFIX_LENGTH),
    chunkSize,
    gzipPayload: (flags & FLAG_GZIP_PAYLOAD) !== 0,
    zstdPayload: (flags & FLAG_ZSTD_PAYLOAD) !== 0,
    bytes: copy,
  }
}

/** The 12-byte GCM nonce of chunk `index`: prefix ‖ uint32be(index) ‖ last flag. */
export function chunkNonce(noncePrefix: Buffer, index: number, last: boolean): Buffer {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_CHUNKS) throw new UsageError('The encrypted stream is too long: more than 2^32 chunks.')
  const nonce = Buffer.alloc(12)
  noncePrefix.copy(nonce, 0)
  nonce.writeUInt32BE(index, NONCE_PREFIX_LENGTH)
  nonce[11] = last ? 1 : 0
  return nonce
}

/** Byte offset in the container file where chunk `index` starts. */
export function chunkOffset(chunkSize: number, index: number): number {
  return HEADER_LENGTH + index * (chunkSize + TAG_LENGTH)
}
