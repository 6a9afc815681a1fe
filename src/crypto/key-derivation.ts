/**
 * Passphrase → keys, and the header's key check value.
 *
 * scrypt(passphrase as UTF-8, salt, N, r, p) yields 64 bytes: the first 32 are the AES-256-GCM
 * payload key, the last 32 the header key. The header key only computes
 * HMAC-SHA256(headerKey, header[0..74)), stored as the header's last 32 bytes: checking it tells a
 * wrong passphrase apart from damaged data before any chunk is decrypted, and since the payload
 * key is a different part of the scrypt output, the check value reveals nothing about it.
 */
import { createHash, createHmac, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto'
import { IntegrityError, UsageError } from '../errors.js'
import { HEADER_LENGTH, KEY_CHECK_LENGTH, OFFSET_KEY_CHECK, parseHeader, scryptMemoryBytes, type ContainerHeader, type ScryptParams } from './container.js'

/** Keys for one container. Held only in memory; never logged. */
export interface ContainerKeys {
  readonly payloadKey: Buffer
  readonly headerKey: Buffer
}

/** A header whose key check value matched: the keys are right for this file. */
export interface UnlockedContainer {
  readonly header: ContainerHeader
  readonly payloadKey: Buffer
}

/**
 * Keys derived in this process, by SHA-256(passphrase, salt, parameters). A restore opens the same
 * file several times (a verifying scan, then the data pass, sometimes one pass per table); without
 * the cache each open would pay scrypt's ~0.3 s again. Bounded: the oldest entry goes first.
 */
const derivedKeys = new Map<string, Promise<ContainerKeys>>()
const DERIVED_KEYS_LIMIT = 16

function cacheKey(passphrase: string, salt: Buffer, params: ScryptParams): string {
  return createHash('sha256').update(`${params.N}:${params.r}:${params.p}:`).update(salt).update(passphrase, 'utf8').digest('hex')
}

/**
 * Runs scrypt off the main thread (libuv pool), or returns the keys this process already derived
 * for the same passphrase, salt and parameters. Throws UsageError for an empty passphrase.
 */
export async function deriveKeys(passphrase: string, salt: Buffer, params: ScryptParams): Promise<ContainerKeys> {
  if (passphrase.length === 0) throw new UsageError('The encryption passphrase is empty.', { code: 'EMPTY_PASSPHRASE' })
  const key = cacheKey(passphrase, salt, params)
  let derived = derivedKeys.get(key)
  if (!derived) {
    derived = runScrypt(passphrase, salt, params)
    // A failed derivation is not remembered.
    derived.catch(() => derivedKeys.delete(key))
    derivedKeys.set(key, derived)
    if (derivedKeys.size > DERIVED_KEYS_LIMIT) derivedKeys.delete(derivedKeys.keys().next().value as string)
  }
  return derived
}

async function runScrypt(passphrase: string, salt: Buffer, params: ScryptParams): Promise<ContainerKeys> {
  // Node refuses scrypt above `maxmem` (32 MiB by default); allow what the parameters need plus slack.
  const maxmem = scryptMemoryBytes(params) + 16 * 1024 * 1024
  const derived = await new Promise<Buffer>((resolve, reject) => {
    scryptCallback(Buffer.from(passphrase, 'utf8'), salt, 64, { N: params.N, r: params.r, p: params.p, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    )
  })
  return { payloadKey: derived.subarray(0, 32), headerKey: derived.subarray(32, 64) }
}

/** HMAC-SHA256(headerKey, header bytes before the key check value). */
export function keyCheckValue(headerKey: Buffer, headerBytes: Buffer): Buffer {
  return createHmac('sha256', headerKey).update(headerBytes.subarray(0, OFFSET_KEY_CHECK)).digest()
}

/**
 * Parses `headerBytes` (at least HEADER_LENGTH bytes from the start of the file), derives the keys
 * and checks the key check value. Throws what `parseHeader` throws, and IntegrityError
 * 'wrong-passphrase' when the passphrase does not fit. Nothing of the payload is read.
 */
export async function unlockContainer(headerBytes: Buffer, passphrase: string): Promise<UnlockedContainer> {
  const header = parseHeader(headerBytes)
  const keys = await deriveKeys(passphrase, header.salt, header.scrypt)
  const expected = keyCheckValue(keys.headerKey, header.bytes)
  const stored = header.bytes.subarray(OFFSET_KEY_CHECK, HEADER_LENGTH)
  if (stored.length !== KEY_CHECK_LENGTH || !timingSafeEqual(expected, stored)) {
    throw new IntegrityError('Wrong passphrase: it does not unlock this encrypted backup.', 'wrong-passphrase', { details: { layer: 'encryption' } })
  }
  return { header, payloadKey: keys.payloadKey }
}
