/**
 * The compressions a backup file can have: none, gzip (zlib) and Zstandard (zstd-napi, the
 * reference C library statically linked). Readers go by the magic bytes, never by the file name.
 *
 * zstd is written with the frame checksum on (damage inside the data is found, as gzip's CRC-32
 * finds it) and with one worker thread: the compression runs beside the main thread, which is
 * busy making the JSON, so on two cores a zstd backup costs little more wall time than a plain one.
 */
import type { Transform } from 'node:stream'
import zlib from 'node:zlib'
import { CompressStream, DecompressStream } from 'zstd-napi'
import { IntegrityError, UsageError } from '../errors.js'
import { ParallelGzip } from './parallel-gzip.js'

export type Compression = 'none' | 'gzip' | 'zstd'

/**
 * gzip level used for `gzip: true`. Level 1 compresses typical backup JSON about 5× at roughly
 * four times the speed of level 6, whose files are only ~15 % smaller (measured figures in
 * docs/storage.md §Cost), so the fast level is the default and `--gzip-level 6..9` is there for
 * archives kept a long time.
 */
export const DEFAULT_GZIP_LEVEL = 1

/**
 * zstd level used for `zstd: true`. Level 1, not zstd's own default 3: on backup JSON in 1 MiB
 * jobs it takes about a quarter less CPU and its files are no larger (a scale-5 PostgreSQL backup:
 * 30.0 MB against 30.3 MB, both smaller than gzip -6; docs/performance.md §Round twelve:
 * compressed PostgreSQL backup).
 */
export const DEFAULT_ZSTD_LEVEL = 1
export const MAX_ZSTD_LEVEL = 19
const ZSTD_JOB_BYTES = 1 << 20

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b])
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])

/** The compression whose magic bytes `head` starts with ('none' for anything else). */
export function sniffCompression(head: Uint8Array): Compression {
  const bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength)
  if (bytes.length >= 2 && bytes.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip'
  if (bytes.length >= 4 && bytes.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd'
  return 'none'
}

/** The file name suffix of a compression ('' for none). */
export function compressionSuffix(compression: Compression): string {
  return compression === 'gzip' ? '.gz' : compression === 'zstd' ? '.zst' : ''
}

/** What the caller asked for (`gzip` / `zstd`: true or a level) as one compression and its level. Throws UsageError for both, or a bad level. */
export function chooseCompression(options: { gzip?: boolean | number; zstd?: boolean | number }): { compression: Compression; level?: number } {
  const gzip = options.gzip !== undefined && options.gzip !== false
  const zstd = options.zstd !== undefined && options.zstd !== false
  if (gzip && zstd) throw new UsageError('Choose one compression: gzip or zstd, not both.', { code: 'BAD_COMPRESSION' })
  if (gzip) {
    const level = options.gzip === true ? DEFAULT_GZIP_LEVEL : (options.gzip as number)
    if (!Number.isInteger(level) || level < 1 || level > 9) throw new UsageError(`The gzip level must be a whole number from 1 to 9, got ${level}.`, { code: 'BAD_GZIP_LEVEL' })
    return { compression: 'gzip', level }
  }
  if (zstd) {
    const level = options.zstd === true ? DEFAULT_ZSTD_LEVEL : (options.zstd as number)
    if (!Number.isInteger(level) || level < 1 || level > MAX_ZSTD_LEVEL) {
      throw new UsageError(`The zstd level must be a whole number from 1 to ${MAX_ZSTD_LEVEL}, got ${level}.`, { code: 'BAD_ZSTD_LEVEL' })
    }
    return { compression: 'zstd', level }
  }
  return { compression: 'none' }
}

/** The stage that compresses, or undefined for 'none'. */
export function createCompressor(compression: Compression, level?: number): Transform | undefined {
  if (compression === 'gzip') return new ParallelGzip(level ?? DEFAULT_GZIP_LEVEL)
  // 1 MiB jobs: zstd's default for a worker is 4 windows (8 MiB at level 3, 2 MiB at level 1), and its buffers for
  // a job in, one out and one compressing cost ~40 MB of peak RSS; 1 MiB jobs compress as well here
  // (docs/performance.md §Round four: backup).
  if (compression === 'zstd') return new CompressStream({ compressionLevel: level ?? DEFAULT_ZSTD_LEVEL, checksumFlag: true, nbWorkers: 1, jobSize: ZSTD_JOB_BYTES })
  return undefined
}

/** The stage that decompresses, or undefined for 'none'. Damage and truncation error the stream (see asCompressionError). */
export function createDecompressor(compression: Compression): Transform | undefined {
  if (compression === 'gzip') return zlib.createGunzip()
  if (compression === 'zstd') return new DecompressStream()
  return undefined
}

/** Turns a zlib or zstd error into the IntegrityError it means; leaves anything else alone. */
export function asCompressionError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof IntegrityError) return error
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'Z_BUF_ERROR') {
    return new IntegrityError('The gzip data is truncated: the file ends before the compressed stream does.', 'truncated', { cause: error, details: { layer: 'gzip' } })
  }
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new IntegrityError(`The gzip data is damaged (${error.message}).`, 'checksum', { cause: error, details: { layer: 'gzip' } })
  }
  if (code === undefined && /ended in middle of compressed data frame/i.test(error.message)) {
    return new IntegrityError('The zstd data is truncated: the file ends inside a compressed frame.', 'truncated', { cause: error, details: { layer: 'zstd' } })
  }
  if (code === undefined && /frame|checksum|corrupt|block|Restored data doesn't match|zstd/i.test(error.message)) {
    return new IntegrityError(`The zstd data is damaged (${error.message}).`, 'checksum', { cause: error, details: { layer: 'zstd' } })
  }
  return error
}
