/**
 * Corruption fixtures (issue #6): every kind of damage to a stored backup is reported as the
 * specific IntegrityError it is, by the reader (`openBackupStream`) and by `verifyBackupFile`,
 * and no unauthenticated byte of an encrypted backup ever reaches the caller.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FormatError, IntegrityError, NotFoundError, UsageError, type IntegrityReason } from '../../../src/errors.js'
import { HEADER_LENGTH, OFFSET_KEY_CHECK, OFFSET_SALT, TAG_LENGTH, chunkOffset, DEFAULT_CHUNK_SIZE } from '../../../src/crypto/container.js'
import { openBackupChunks, openBackupStream, verifyBackupFile, type OpenBackupOptions } from '../../../src/storage/backup-file.js'
import { sidecarPathFor } from '../../../src/storage/naming.js'
import { makeTempDir } from '../../helpers/databases.js'
import { PASSPHRASE, backupJson, readBackupBytes, writeBackup } from './helpers.js'

const SEALED = DEFAULT_CHUNK_SIZE + TAG_LENGTH
let temp: { dir: string; cleanup: () => void }
let json: string
const originals: Record<'plain' | 'gzip' | 'enc' | 'gzipEnc', string> = { plain: '', gzip: '', enc: '', gzipEnc: '' }

beforeAll(async () => {
  temp = makeTempDir('mergeback-corruption-')
  json = backupJson(4000) // ≈ 480 KB: 8 encrypted chunks; ≈ 4 after gzip
  originals.plain = (await writeBackup(temp.dir, json, { name: 'plain' })).path
  originals.gzip = (await writeBackup(temp.dir, json, { name: 'gzip', gzip: true })).path
  originals.enc = (await writeBackup(temp.dir, json, { name: 'enc', passphrase: PASSPHRASE })).path
  originals.gzipEnc = (await writeBackup(temp.dir, json, { name: 'gzipenc', gzip: true, passphrase: PASSPHRASE })).path
})
afterAll(() => temp.cleanup())

let copies = 0
/** A damaged copy of one of the originals, with (or without) a copy of its sidecar. */
function damaged(kind: keyof typeof originals, damage: (bytes: Buffer) => Buffer, options: { sidecar?: boolean } = {}): string {
  const source = originals[kind]
  const ext = path.basename(source).replace(/^[^.]*/, '')
  const target = path.join(temp.dir, `copy${++copies}-2026-01-01T00-00-00${ext}`)
  fs.writeFileSync(target, damage(Buffer.from(fs.readFileSync(source))))
  if (options.sidecar ?? true) {
    const sidecar = JSON.parse(fs.readFileSync(sidecarPathFor(source), 'utf8'))
    fs.writeFileSync(sidecarPathFor(target), JSON.stringify({ ...sidecar, file: path.basename(target) }))
  }
  return target
}

const flip = (offset: number) => (bytes: Buffer) => {
  const at = offset < 0 ? bytes.length + offset : offset
  bytes[at] = (bytes[at] as number) ^ 0x40
  return bytes
}
const cut = (length: number) => (bytes: Buffer) => bytes.subarray(0, length < 0 ? bytes.length + length : length)

async function expectIntegrity(file: string, reason: IntegrityReason, options: { passphrase?: string; maxDecompressedBytes?: number } = { passphrase: PASSPHRASE }): Promise<{ error: IntegrityError; bytes: Buffer }> {
  const { bytes, error } = await readBackupBytes(file, options)
  expect(error, `${path.basename(file)}: expected IntegrityError '${reason}'`).toBeInstanceOf(IntegrityError)
  expect((error as IntegrityError).reason).toBe(reason)
  return { error: error as IntegrityError, bytes }
}

/** `bytes` holds only whole chunks from before chunk `damaged`, exactly as they were written. */
function expectAuthenticatedPrefix(bytes: Buffer, damaged: number): void {
  expect(bytes.length).toBeLessThanOrEqual(damaged * DEFAULT_CHUNK_SIZE)
  expect(bytes.length % DEFAULT_CHUNK_SIZE).toBe(0)
  expect(bytes.toString()).toBe(json.slice(0, bytes.length))
}

async function expectVerifyFails(file: string, check: RegExp, reason: IntegrityReason): Promise<void> {
  const report = await verifyBackupFile(file, { passphrase: PASSPHRASE })
  expect(report.ok).toBe(false)
  const failed = report.checks.filter((c) => !c.ok).map((c) => c.check)
  expect(failed.some((c) => check.test(c)), `failed checks: ${failed.join(' | ')}`).toBe(true)
  expect(report.error?.reason).toBe(reason)
}

describe('intact backups', () => {
  for (const kind of Object.keys(originals) as (keyof typeof originals)[]) {
    it(`${kind}: reads back byte for byte and verifies`, async () => {
      const { bytes, error } = await readBackupBytes(originals[kind], { passphrase: PASSPHRASE })
      expect(error).toBeUndefined()
      expect(bytes.toString()).toBe(json)
      const report = await verifyBackupFile(originals[kind], { passphrase: PASSPHRASE })
      expect(report.ok, JSON.stringify(report.checks)).toBe(true)
      expect(report.plainBytes).toBe(Buffer.byteLength(json))
    })
  }

  it('detects gzip and encryption by magic bytes, not by the file name', async () => {
    const renamed = path.join(temp.dir, 'renamed.json')
    fs.copyFileSync(originals.gzipEnc, renamed)
    expect((await readBackupBytes(renamed, { passphrase: PASSPHRASE })).bytes.toString()).toBe(json)
    const gz = path.join(temp.dir, 'renamed-gzip.json')
    fs.copyFileSync(originals.gzip, gz)
    expect((await readBackupBytes(gz)).bytes.toString()).toBe(json)
  })
})

describe('plain JSON', () => {
  it('a hand-edited value fails the whole-file SHA-256 at the end of the stream', async () => {
    const edited = damaged('plain', (b) => Buffer.from(b.toString().replace('"u17"', '"u18"')))
    await expectIntegrity(edited, 'checksum')
    await expectVerifyFails(edited, /SHA-256/, 'checksum')
  })

  it('truncation is reported before any byte is read', async () => {
    const file = damaged('plain', cut(-100))
    const error = await openBackupStream(file).catch((e: unknown) => e)
    expect((error as IntegrityError).reason).toBe('truncated')
    await expectVerifyFails(file, /size/, 'truncated')
  })

  it('appended bytes are reported before any byte is read', async () => {
    const file = damaged('plain', (b) => Buffer.concat([b, Buffer.from(' ')]))
    expect(((await openBackupStream(file).catch((e: unknown) => e)) as IntegrityError).reason).toBe('tampered')
  })
})

describe('gzip', () => {
  it('a flipped byte in the gzip header magic, with the catalog saying gzip', async () => {
    const file = damaged('gzip', flip(1))
    expect(((await openBackupStream(file).catch((e: unknown) => e)) as IntegrityError).reason).toBe('tampered')
  })

  for (const [label, offset] of [['deflate data (first block)', 40], ['deflate data (middle)', 0.5], ['CRC-32 in the trailer', -8], ['length in the trailer', -2]] as const) {
    it(`a flipped byte in the ${label}`, async () => {
      const size = fs.statSync(originals.gzip).size
      const at = offset > 0 && offset < 1 ? Math.floor(size * offset) : offset
      for (const sidecar of [true, false]) {
        const file = damaged('gzip', flip(at), { sidecar })
        await expectIntegrity(file, 'checksum', {})
      }
      await expectVerifyFails(damaged('gzip', flip(at)), /gzip|SHA-256/, 'checksum')
    })
  }

  it('truncation, without a catalog entry to compare with, is found by zlib', async () => {
    for (const length of [20, 1000, -9, -1]) {
      const { error } = await expectIntegrity(damaged('gzip', cut(length), { sidecar: false }), 'truncated', {})
      expect(error.details.layer).toBe('gzip')
    }
  })

  it('a gzip bomb stops at maxDecompressedBytes', async () => {
    const bomb = path.join(temp.dir, 'bomb.json.gz')
    fs.writeFileSync(bomb, zlib.gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20)))
    const { bytes } = await expectIntegrity(bomb, 'decompressed-too-large', { maxDecompressedBytes: 1024 * 1024 })
    expect(bytes.length).toBeLessThanOrEqual(1024 * 1024)
  })
})

describe('encrypted', () => {
  for (const kind of ['enc', 'gzipEnc'] as const) {
    describe(kind, () => {
      it('a wrong passphrase is reported before any byte is read', async () => {
        const error = await openBackupStream(originals[kind], { passphrase: 'wrong' }).catch((e: unknown) => e)
        expect((error as IntegrityError).reason).toBe('wrong-passphrase')
        const report = await verifyBackupFile(originals[kind], { passphrase: 'wrong' })
        expect(report.ok).toBe(false)
        expect(report.error?.reason).toBe('wrong-passphrase')
      })

      it('no passphrase is a usage error that says where to put one', async () => {
        const error = await openBackupStream(originals[kind]).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(UsageError)
        expect((error as UsageError).message).toMatch(/MERGEBACK_PASSPHRASE.*--passphrase-file/)
      })

      it('a flipped byte in the header (salt) is damage, found before any byte is read', async () => {
        for (const sidecar of [true, false]) {
          const error = await openBackupStream(damaged(kind, flip(OFFSET_SALT + 3), { sidecar }), { passphrase: PASSPHRASE }).catch((e: unknown) => e)
          expect((error as IntegrityError).reason).toBe('tampered')
        }
      })

      it('a flipped byte in the key check value reads as a wrong passphrase', async () => {
        const error = await openBackupStream(damaged(kind, flip(OFFSET_KEY_CHECK + 1)), { passphrase: PASSPHRASE }).catch((e: unknown) => e)
        expect((error as IntegrityError).reason).toBe('wrong-passphrase')
      })

      it('a flipped magic byte, with the catalog (or the .enc name) saying encrypted', async () => {
        for (const sidecar of [true, false]) {
          const error = await openBackupStream(damaged(kind, flip(2), { sidecar }), { passphrase: PASSPHRASE }).catch((e: unknown) => e)
          expect((error as IntegrityError).reason).toBe('tampered')
        }
      })

      it('an unsupported container version is a format error', async () => {
        const error = await openBackupStream(damaged(kind, (b) => ((b[8] = 9), b)), { passphrase: PASSPHRASE }).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(FormatError)
      })

      it('a flipped byte in the first, a middle and the last chunk: nothing unauthenticated comes out', async () => {
        const size = fs.statSync(originals[kind]).size
        const chunks = Math.ceil((size - HEADER_LENGTH) / SEALED)
        expect(chunks).toBeGreaterThanOrEqual(3)
        const middle = Math.floor(chunks / 2)
        for (const [chunk, offset] of [[0, HEADER_LENGTH + 5], [middle, chunkOffset(DEFAULT_CHUNK_SIZE, middle) + 1000], [chunks - 1, size - 1], [chunks - 1, size - TAG_LENGTH - 1]] as const) {
          for (const sidecar of [true, false]) {
            const { error, bytes } = await expectIntegrity(damaged(kind, flip(offset), { sidecar }), 'tampered')
            expect(error.details.chunk).toBe(chunk)
            // At most the chunks before the damaged one, whole (how many of them come out before
            // the error depends on how the file is read: 1 MiB at a time here).
            if (kind === 'enc') expectAuthenticatedPrefix(bytes, chunk)
          }
        }
        await expectVerifyFails(damaged(kind, flip(HEADER_LENGTH + 5)), /encryption/, 'tampered')
      })

      it('truncation at a chunk boundary is reported as truncation', async () => {
        for (const chunk of [1, 2]) {
          const file = damaged(kind, cut(chunkOffset(DEFAULT_CHUNK_SIZE, chunk)), { sidecar: false })
          const { error } = await expectIntegrity(file, 'truncated')
          expect(error.details.chunk).toBe(chunk - 1)
        }
        await expectIntegrity(damaged(kind, cut(HEADER_LENGTH), { sidecar: false }), 'truncated')
        await expectIntegrity(damaged(kind, cut(HEADER_LENGTH + TAG_LENGTH - 1), { sidecar: false }), 'truncated')
      })

      it('truncation inside a chunk: "truncated" with the catalog, "tampered" without (indistinguishable from damage)', async () => {
        const length = chunkOffset(DEFAULT_CHUNK_SIZE, 1) + 5000
        const withCatalog = damaged(kind, cut(length))
        expect(((await openBackupStream(withCatalog, { passphrase: PASSPHRASE }).catch((e: unknown) => e)) as IntegrityError).reason).toBe('truncated')
        await expectVerifyFails(withCatalog, /size/, 'truncated')
        await expectIntegrity(damaged(kind, cut(length), { sidecar: false }), 'tampered')
        await expectIntegrity(damaged(kind, cut(40), { sidecar: false }), 'truncated')
      })

      it('swapped and duplicated chunks', async () => {
        const swap = (b: Buffer) => {
          const first = Buffer.from(b.subarray(chunkOffset(DEFAULT_CHUNK_SIZE, 0), chunkOffset(DEFAULT_CHUNK_SIZE, 1)))
          b.copy(b, chunkOffset(DEFAULT_CHUNK_SIZE, 0), chunkOffset(DEFAULT_CHUNK_SIZE, 1), chunkOffset(DEFAULT_CHUNK_SIZE, 2))
          first.copy(b, chunkOffset(DEFAULT_CHUNK_SIZE, 1))
          return b
        }
        const duplicate = (b: Buffer) => (b.copy(b, chunkOffset(DEFAULT_CHUNK_SIZE, 1), chunkOffset(DEFAULT_CHUNK_SIZE, 0), chunkOffset(DEFAULT_CHUNK_SIZE, 1)), b)
        for (const damage of [swap, duplicate]) {
          const { error, bytes } = await expectIntegrity(damaged(kind, damage), 'tampered')
          expect(error.details.chunk).toBe(damage === swap ? 0 : 1)
          if (kind === 'enc') expectAuthenticatedPrefix(bytes, damage === swap ? 0 : 1)
          else if (damage === swap) expect(bytes.length).toBe(0)
        }
      })
    })
  }
})

describe('files that cannot be opened', () => {
  it('a missing file is NotFoundError', async () => {
    await expect(openBackupStream(path.join(temp.dir, 'nope.json'))).rejects.toBeInstanceOf(NotFoundError)
    await expect(verifyBackupFile(path.join(temp.dir, 'nope.json'))).rejects.toBeInstanceOf(NotFoundError)
  })

  it('a directory is a usage error', async () => {
    await expect(openBackupStream(temp.dir)).rejects.toBeInstanceOf(UsageError)
  })
})

describe('openBackupChunks: a plain file read into two buffers used in turn', () => {
  /** Every chunk copied as it comes (each is valid only until the next is asked for). */
  async function chunkBytes(file: string, options: OpenBackupOptions = {}): Promise<{ bytes: Buffer; chunks: Buffer[]; error?: unknown }> {
    const chunks: Buffer[] = []
    const copies: Buffer[] = []
    try {
      for await (const chunk of await openBackupChunks(file, options)) {
        chunks.push(chunk)
        copies.push(Buffer.from(chunk))
      }
      return { bytes: Buffer.concat(copies), chunks }
    } catch (error) {
      return { bytes: Buffer.concat(copies), chunks, error }
    }
  }
  const openFds = () => fs.readdirSync('/proc/self/fd').length

  it('gives every kind of file byte for byte, as openBackupStream does', async () => {
    for (const kind of Object.keys(originals) as (keyof typeof originals)[]) {
      const { bytes, error } = await chunkBytes(originals[kind], { passphrase: PASSPHRASE })
      expect(error, kind).toBeUndefined()
      expect(bytes.toString(), kind).toBe(json)
    }
  })

  it('reads a plain file into the same two buffers, whatever its size', async () => {
    const { chunks } = await chunkBytes(originals.plain, { readBytes: 4096 })
    expect(chunks.length).toBeGreaterThan(100)
    expect(new Set(chunks.map((chunk) => chunk.buffer)).size).toBe(2)
    expect(chunks[0]!.buffer).toBe(chunks[2]!.buffer)
  })

  it('a hand-edited plain file fails the SHA-256 after its last byte; unchecked, it reads', async () => {
    const edited = damaged('plain', (b) => Buffer.from(b.toString().replace('"u17"', '"u18"')))
    const { bytes, error } = await chunkBytes(edited, { readBytes: 65_536 })
    expect(error).toBeInstanceOf(IntegrityError)
    expect((error as IntegrityError).reason).toBe('checksum')
    expect(bytes.length).toBe(fs.statSync(edited).size)
    expect((await chunkBytes(edited, { checkDigest: false })).error).toBeUndefined()
  })

  it('refuses what openBackupStream refuses: a truncated file, a bad readBytes, more than maxDecompressedBytes', async () => {
    const error = await openBackupChunks(damaged('plain', cut(-100))).catch((e: unknown) => e)
    expect((error as IntegrityError).reason).toBe('truncated')
    await expect(openBackupChunks(originals.plain, { readBytes: 0 })).rejects.toBeInstanceOf(UsageError)
    await expect(openBackupChunks(path.join(temp.dir, 'nope.json'))).rejects.toBeInstanceOf(NotFoundError)
    const limited = await chunkBytes(originals.plain, { readBytes: 65_536, maxDecompressedBytes: 100_000 })
    expect((limited.error as IntegrityError).reason).toBe('decompressed-too-large')
    expect(limited.bytes.length).toBeLessThanOrEqual(100_000)
  })

  it('closes the file when the reading is left early, fails, or never starts', async () => {
    const before = openFds()
    for await (const chunk of await openBackupChunks(originals.plain, { readBytes: 4096 })) {
      expect(chunk.length).toBe(4096)
      break
    }
    expect(openFds()).toBe(before)
    await chunkBytes(damaged('plain', (b) => Buffer.from(b.toString().replace('"u17"', '"u18"'))))
    expect(openFds()).toBe(before)
    ;(await openBackupChunks(originals.plain)).destroy()
    for (let wait = 0; wait < 50 && openFds() !== before; wait++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(openFds()).toBe(before)
  })
})
