/**
 * Reading a backup file: magic-byte detection, decryption, decompression and integrity checks.
 *
 * Algorithm (`openBackupStream`):
 *   1. Open the file (missing → NotFoundError) and read its sidecar, if any. A file shorter or
 *      longer than the catalog records fails now, before any byte is used.
 *   2. Look at the first bytes, never at the name: "MRGBKENC" → encrypted container (its header
 *      flags say whether gzip or zstd is inside), 1f 8b → gzip, 28 b5 2f fd → zstd, anything else → plain JSON. A file the
 *      catalog or its `.enc` suffix calls encrypted but that lacks the magic is refused as tampered.
 *   3. Encrypted: without a passphrase → UsageError; otherwise unlock the header (scrypt + key
 *      check): a wrong passphrase → IntegrityError 'wrong-passphrase' before any chunk is read.
 *   4. Stream: file → [SHA-256 against the catalog] → [decrypt] → [gunzip / zstd] → size limit → caller.
 *      Each failure surfaces on the returned stream as the stage reaches it, as an IntegrityError
 *      (tag mismatch, truncation, gzip CRC, size limit, whole-file hash) with `details.layer`.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { PassThrough, Transform, pipeline, type TransformCallback, type Readable } from 'node:stream'
import { IntegrityError, MergebackError, NotFoundError, UsageError } from '../errors.js'
import { asCompressionError, createDecompressor, sniffCompression, type Compression } from './compression.js'
import { HEADER_LENGTH, TAG_LENGTH, hasContainerMagic } from '../crypto/container.js'
import { unlockContainer, type UnlockedContainer } from '../crypto/key-derivation.js'
import { createDecryptStream } from '../crypto/decrypt-stream.js'
import { readSidecar, type Sidecar } from './catalog.js'
import { PASSPHRASE_ENV } from './passphrase.js'

export interface OpenBackupOptions {
  /** Needed for encrypted files; ignored for others. */
  readonly passphrase?: string
  /** Upper bound on the plain JSON bytes (gzip bombs, uploads): beyond it → IntegrityError 'decompressed-too-large'. */
  readonly maxDecompressedBytes?: number
  /** Bytes per read of the file (default READ_BYTES). A small file read beside others (a chain's increments) needs less. */
  readonly readBytes?: number
  /**
   * Check the file's SHA-256 against its catalog sidecar (default true). Off only for a pass whose
   * caller reads the whole file again with the check on before it relies on anything (restore's
   * structure-only scan: its loading pass checks it, inside the transaction it commits after).
   */
  readonly checkDigest?: boolean
}

/** Bytes per read of a backup file: a restore reads gigabytes, and 64 KiB reads left the main thread waiting on them. */
export const READ_BYTES = 1024 * 1024

/** What the first bytes (and the catalog) say about a file, plus the unlocked container when encrypted. */
export interface BackupLayers {
  readonly file: string
  readonly sizeBytes: number
  readonly encrypted: boolean
  readonly gzip: boolean
  /** The compression inside (any encryption): by the magic bytes, or the container's header flag. */
  readonly compression: Compression
  readonly sidecar?: Sidecar
  readonly container?: UnlockedContainer
}

/** Turns a zlib or zstd error into the IntegrityError it means; leaves anything else alone. */
export function asStorageError(error: unknown): unknown {
  if (error instanceof MergebackError) return error
  return asCompressionError(error)
}

async function openHandle(file: string): Promise<fs.FileHandle> {
  try {
    const handle = await fs.open(file, 'r')
    if ((await handle.stat()).isDirectory()) {
      await handle.close()
      throw new UsageError(`${file} is a directory, not a backup file.`, { code: 'NOT_A_FILE' })
    }
    return handle
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`No backup file ${file}.`, { cause: error })
    if ((error as NodeJS.ErrnoException).code === 'EISDIR') throw new UsageError(`${file} is a directory, not a backup file.`, { code: 'NOT_A_FILE' })
    throw error
  }
}

/**
 * Steps 1–3 of the module header: opens `file`, checks its size against the catalog, detects the
 * layers and unlocks an encrypted header. Returns the open handle (the caller owns it) and the layers.
 */
export async function probeBackupFile(
  file: string,
  options: OpenBackupOptions & { checkSize?: boolean } = {},
): Promise<{ handle: fs.FileHandle; layers: BackupLayers }> {
  const handle = await openHandle(file)
  try {
    const sizeBytes = (await handle.stat()).size
    const sidecar = await readSidecar(file)
    const checkSize = options.checkSize ?? true
    if (checkSize && sidecar && sizeBytes < sidecar.sizeBytes) {
      throw new IntegrityError(`${file} is truncated: it has ${sizeBytes} bytes, the catalog records ${sidecar.sizeBytes}.`, 'truncated', {
        details: { layer: 'file', byteOffset: sizeBytes },
      })
    }
    if (checkSize && sidecar && sizeBytes > sidecar.sizeBytes) {
      throw new IntegrityError(`${file} was changed: it has ${sizeBytes} bytes, the catalog records ${sidecar.sizeBytes}.`, 'tampered', {
        details: { layer: 'file' },
      })
    }
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(HEADER_LENGTH), 0, HEADER_LENGTH, 0)
    const head = buffer.subarray(0, bytesRead)
    if (hasContainerMagic(head)) {
      if (options.passphrase === undefined) {
        throw new UsageError(`${file} is encrypted: set ${PASSPHRASE_ENV} or pass --passphrase-file FILE.`, { code: 'NO_PASSPHRASE' })
      }
      const container = await unlockContainer(head, options.passphrase)
      const compression: Compression = container.header.gzipPayload ? 'gzip' : container.header.zstdPayload ? 'zstd' : 'none'
      return { handle, layers: { file, sizeBytes, encrypted: true, gzip: compression === 'gzip', compression, sidecar, container } }
    }
    if (sidecar?.encrypted || /\.enc$/i.test(file)) {
      throw new IntegrityError(`${file} should be encrypted but does not start with the "MRGBKENC" header: it was damaged or replaced.`, 'tampered', {
        details: { layer: 'encryption', byteOffset: 0 },
      })
    }
    const compression = sniffCompression(head)
    if (sidecar && sidecar.compression !== 'none' && compression !== sidecar.compression) {
      throw new IntegrityError(
        `${file} should be ${sidecar.compression}-compressed but does not start with the ${sidecar.compression} magic: it was damaged or replaced.`,
        'tampered',
        { details: { layer: sidecar.compression, byteOffset: 0 } },
      )
    }
    return { handle, layers: { file, sizeBytes, encrypted: false, gzip: compression === 'gzip', compression, sidecar } }
  } catch (error) {
    await handle.close()
    throw error
  }
}

/**
 * Passes bytes through, hashing them. The verdict is asked for by the last stage once everything
 * else has ended, so damage an inner layer can name (a chunk, the gzip CRC) is reported as such
 * and the bare "hash differs" only when every layer was fine (an edited plain file, a stale catalog).
 */
class DigestCheck extends Transform {
  readonly #hash = createHash('sha256')
  readonly #expected: string
  #actual: string | undefined
  constructor(expected: string) {
    super()
    this.#expected = expected
  }
  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(data)
    callback(null, data)
  }
  override _flush(callback: TransformCallback): void {
    this.#actual = this.#hash.digest('hex')
    callback()
  }
  /** The mismatch, once the whole file went through; undefined when it matches. */
  verdict(): IntegrityError | undefined {
    if (this.#actual === undefined) return undefined
    return digestMismatch(this.#actual, this.#expected)
  }
}

function digestMismatch(actual: string, expected: string): IntegrityError | undefined {
  if (actual === expected) return undefined
  return new IntegrityError(`The file's SHA-256 (${actual}) does not match the catalog (${expected}).`, 'checksum', { details: { layer: 'file' } })
}

function decompressedTooLarge(limit: number): IntegrityError {
  return new IntegrityError(
    `The backup decompresses to more than the limit of ${limit} bytes (limit maxDecompressedBytes = ${limit}; raise it with the flag --max-decompressed-bytes or the environment variable MERGEBACK_MAX_DECOMPRESSED_BYTES, on the server with serve --max-decompressed).`,
    'decompressed-too-large',
    { details: { layer: 'gzip', limit, limitValue: limit, flag: '--max-decompressed-bytes', env: 'MERGEBACK_MAX_DECOMPRESSED_BYTES' } },
  )
}

/**
 * The last stage of every read: enforces `maxDecompressedBytes`, and maps whatever error destroyed
 * the pipeline (zlib's own errors included) to the IntegrityError it means, so the caller sees one.
 */
class PlainOutput extends Transform {
  readonly #limit: number
  readonly #digest: DigestCheck | undefined
  #bytes = 0
  constructor(limit: number | undefined, digest: DigestCheck | undefined) {
    super()
    this.#limit = limit ?? Number.POSITIVE_INFINITY
    this.#digest = digest
  }
  get bytes(): number {
    return this.#bytes
  }
  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += data.length
    if (this.#bytes > this.#limit) {
      callback(decompressedTooLarge(this.#limit))
      return
    }
    callback(null, data)
  }
  override _flush(callback: TransformCallback): void {
    callback(this.#digest?.verdict())
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    callback(error ? (asStorageError(error) as Error) : null)
  }
}

/** Compressed bytes handed to zstd's decompressor at a time (see decodeLayers). */
export const ZSTD_PIECE_BYTES = 128 * 1024

/** Passes its input on in pieces of at most `size` bytes (views, not copies). */
class Pieces extends Transform {
  readonly #size: number
  constructor(size: number) {
    super()
    this.#size = size
  }
  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let at = 0; at < data.length; at += this.#size) this.push(data.subarray(at, at + this.#size))
    callback()
  }
}

/**
 * The decoding stages for `layers`, ending in a PlainOutput. `input` receives the raw file bytes
 * from offset 0. Errors anywhere surface on the returned stream.
 */
export function decodeLayers(input: Readable, layers: BackupLayers, options: OpenBackupOptions & { checkDigest: boolean }): PlainOutput {
  const stages: NodeJS.ReadWriteStream[] = []
  const digest = options.checkDigest && layers.sidecar ? new DigestCheck(layers.sidecar.sha256) : undefined
  if (digest) stages.push(digest)
  if (layers.container) stages.push(createDecryptStream(layers.container))
  const decompressor = createDecompressor(layers.compression)
  // zstd-napi's DecompressStream decompresses a whole written chunk at once, 128 KiB Buffers
  // pushed regardless of backpressure: a 1 MiB read of zstd is 5-8 MiB of plain text held at once,
  // which put zstd restores 20-40 MB above the others. Pieces of 128 KiB bound that to ~1 MiB.
  if (layers.compression === 'zstd') stages.push(new Pieces(ZSTD_PIECE_BYTES))
  if (decompressor) stages.push(decompressor)
  const output = new PlainOutput(options.maxDecompressedBytes, digest)
  // The callback is required by the API; errors reach the caller through `output` (see PlainOutput).
  pipeline([input, ...stages, output], () => undefined)
  return output
}

/**
 * Opens a backup for reading and returns its plain JSON bytes as a stream (see the module header
 * for the checks and their order). Throws NotFoundError for a missing file, UsageError for an
 * encrypted file without passphrase, IntegrityError for a wrong passphrase, a damaged header or
 * a size that differs from the catalog; later damage errors the returned stream. Destroying the
 * returned stream early closes the file.
 */
export async function openBackupStream(file: string, options: OpenBackupOptions = {}): Promise<NodeJS.ReadableStream> {
  const readBytes = checkedReadBytes(options)
  const { handle, layers } = await probeBackupFile(file, options)
  return decodeLayers(handle.createReadStream({ start: 0, highWaterMark: readBytes }), layers, { ...options, checkDigest: options.checkDigest ?? true })
}

function checkedReadBytes(options: OpenBackupOptions): number {
  const readBytes = options.readBytes ?? READ_BYTES
  // A zero would read nothing and end the stream as if the file were empty; the others throw from fs.
  if (!Number.isSafeInteger(readBytes) || readBytes < 1) {
    throw new UsageError(`readBytes must be a whole number of bytes, at least 1 (got ${String(options.readBytes)}).`, { code: 'BAD_OPTION' })
  }
  return readBytes
}

/** Chunks of a backup's plain JSON, each valid only until the next is asked for (openBackupChunks). */
export interface BackupChunks extends AsyncIterable<Buffer> {
  /** Closes the file (also done when the iteration ends or is left). */
  destroy(): void
}

/**
 * openBackupStream for a consumer that is done with each chunk once it asks for the next and keeps
 * no view of it (readBackup): the same bytes, checks and errors, but a plain file (neither
 * compressed nor encrypted) is read into two buffers used in turn, not into a new Buffer per read.
 * A new 1 MiB Buffer per read is external memory V8 answers with mark-compacts: reused, the
 * verifying pass took ~17 % less CPU (docs/performance.md, "Round thirteen: reused read buffers").
 * Other files come through openBackupStream's stream (their layers make Buffers of their own).
 */
export async function openBackupChunks(file: string, options: OpenBackupOptions = {}): Promise<BackupChunks> {
  const readBytes = checkedReadBytes(options)
  const { handle, layers } = await probeBackupFile(file, options)
  if (layers.encrypted || layers.compression !== 'none') {
    const stream = decodeLayers(handle.createReadStream({ start: 0, highWaterMark: readBytes }), layers, { ...options, checkDigest: options.checkDigest ?? true })
    return stream as PlainOutput & BackupChunks
  }
  const expected = (options.checkDigest ?? true) && layers.sidecar ? layers.sidecar.sha256 : undefined
  return new ReusedReads(handle, readBytes, expected, options.maxDecompressedBytes ?? Number.POSITIVE_INFINITY)
}

/**
 * A plain file read ahead by one read into two buffers taken in turn: chunk n is a view of one,
 * while the other receives chunk n+1, so chunk n's bytes stay as they are until chunk n+1 is asked
 * for, and are overwritten by the read of chunk n+2, which starts then.
 */
class ReusedReads implements BackupChunks {
  readonly #handle: fs.FileHandle
  readonly #readBytes: number
  readonly #expected: string | undefined
  readonly #limit: number
  #closed: Promise<void> | undefined

  constructor(handle: fs.FileHandle, readBytes: number, expected: string | undefined, limit: number) {
    this.#handle = handle
    this.#readBytes = readBytes
    this.#expected = expected
    this.#limit = limit
  }

  destroy(): void {
    void this.#close()
  }

  #close(): Promise<void> {
    // FileHandle.close waits for a read in flight.
    return (this.#closed ??= this.#handle.close().catch(() => undefined))
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const buffers = [Buffer.allocUnsafeSlow(this.#readBytes), Buffer.allocUnsafeSlow(this.#readBytes)] as const
    const hash = this.#expected === undefined ? undefined : createHash('sha256')
    let position = 0
    let turn = 0
    const read = (buffer: Buffer): Promise<number> => {
      const reading = this.#handle.read(buffer, 0, buffer.length, position).then((result) => result.bytesRead)
      // Awaited below, or dropped in `finally` when the iteration is left.
      reading.catch(() => undefined)
      return reading
    }
    let next: Promise<number> | undefined = read(buffers[0])
    try {
      for (;;) {
        const bytesRead = await next
        next = undefined
        if (bytesRead === 0) break
        const chunk = buffers[turn]!.subarray(0, bytesRead)
        position += bytesRead
        if (position > this.#limit) throw decompressedTooLarge(this.#limit)
        hash?.update(chunk)
        turn ^= 1
        next = read(buffers[turn]!)
        yield chunk
      }
      const mismatch = hash === undefined ? undefined : digestMismatch(hash.digest('hex'), this.#expected!)
      if (mismatch !== undefined) throw mismatch
    } finally {
      await next?.catch(() => undefined)
      await this.#close()
    }
  }
}

export interface FileCheck {
  readonly check: string
  readonly ok: boolean
  readonly detail?: string
}

/** What `verifyBackupFile` found. `ok` is true when every check passed. */
export interface FileVerification {
  readonly file: string
  readonly ok: boolean
  readonly checks: readonly FileCheck[]
  readonly sizeBytes: number
  /** Hex SHA-256 of the file as stored. */
  readonly sha256: string
  readonly encrypted: boolean
  readonly compression: Compression
  readonly catalogued: boolean
  /** Bytes of plain JSON that decoded cleanly (all of them when ok). */
  readonly plainBytes: number
  /** The first failure as an error, for callers that want to throw it. */
  readonly error?: IntegrityError
}

function waitForDrain(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('close', done)
      resolve()
    }
    stream.on('drain', done)
    stream.on('close', done)
  })
}

/**
 * Checks a backup file's container layers end to end, in one read: its size and SHA-256 against
 * the catalog sidecar (when there is one), the passphrase and every AEAD tag (encrypted), and the
 * gzip stream with its CRC-32 and length (gzip), or the zstd frames with their checksums (zstd). The JSON inside (structure, per-table checksums,
 * record counts) is not parsed here: `readBackup` does that (the engine's `verify` runs both).
 * Damage is reported, not thrown (`ok: false`, failing checks with details). Throws only when the
 * file cannot be examined at all: NotFoundError, or UsageError for an encrypted file without passphrase.
 */
export async function verifyBackupFile(file: string, options: OpenBackupOptions = {}): Promise<FileVerification> {
  const checks: FileCheck[] = []
  let firstError: IntegrityError | undefined
  const pass = (check: string, detail: string) => checks.push({ check, ok: true, detail })
  const fail = (check: string, error: IntegrityError) => {
    checks.push({ check, ok: false, detail: error.message })
    firstError ??= error
  }
  const sidecar = await readSidecar(file)
  let layers: BackupLayers | undefined
  try {
    const probed = await probeBackupFile(file, { ...options, checkSize: false })
    await probed.handle.close()
    layers = probed.layers
  } catch (error) {
    if (!(error instanceof IntegrityError)) throw error
    fail(error.details.layer === 'gzip' ? CHECK_GZIP : error.details.layer === 'zstd' ? CHECK_ZSTD : CHECK_ENCRYPTION, error)
  }
  // The whole file is hashed even when a layer fails, so the report also says whether it matches the catalog.
  const hash = createHash('sha256')
  let sizeBytes = 0
  let plainBytes = 0
  let layerError: unknown
  let input: PassThrough | undefined
  let drained: Promise<void> = Promise.resolve()
  if (layers) {
    input = new PassThrough()
    const output = decodeLayers(input, layers, { ...options, checkDigest: false })
    drained = (async () => {
      try {
        for await (const part of output) plainBytes += (part as Buffer).length
      } catch (error) {
        layerError = asStorageError(error)
      }
    })()
  }
  const raw = await openHandle(file)
  try {
    for await (const part of raw.createReadStream({ start: 0, autoClose: false })) {
      hash.update(part as Buffer)
      sizeBytes += (part as Buffer).length
      if (input && !input.destroyed && layerError === undefined && !input.write(part)) await waitForDrain(input)
    }
  } finally {
    await raw.close()
  }
  input?.end()
  await drained
  const sha256 = hash.digest('hex')

  // Order: size, then the layers (they name the damaged chunk or gzip part), then the bare hash.
  if (sidecar) {
    if (sizeBytes === sidecar.sizeBytes) pass(CHECK_SIZE, `${sizeBytes} bytes`)
    else {
      const reason = sizeBytes < sidecar.sizeBytes ? 'truncated' : 'tampered'
      fail(CHECK_SIZE, new IntegrityError(`The file has ${sizeBytes} bytes, the catalog records ${sidecar.sizeBytes}.`, reason, { details: { layer: 'file' } }))
    }
  }
  if (layers) {
    if (layerError !== undefined && !(layerError instanceof IntegrityError)) throw layerError
    const failed = layerError as IntegrityError | undefined
    if (layers.encrypted) {
      if (failed?.details.layer === 'encryption') fail(CHECK_ENCRYPTION, failed)
      else pass(CHECK_ENCRYPTION, `passphrase accepted, ${plural(chunkCount(layers, sizeBytes), 'chunk')} authenticated`)
    }
    if (layers.compression !== 'none') {
      const check = layers.compression === 'gzip' ? CHECK_GZIP : CHECK_ZSTD
      if (failed?.details.layer === layers.compression) fail(check, failed)
      else if (!failed) pass(check, `${plainBytes} bytes decompressed`)
    }
  }
  if (sidecar) {
    if (sha256 === sidecar.sha256) pass(CHECK_SHA256, sha256)
    else fail(CHECK_SHA256, new IntegrityError(`The file's SHA-256 ${sha256} does not match the catalog's ${sidecar.sha256}.`, 'checksum', { details: { layer: 'file' } }))
  } else {
    pass(CHECK_SHA256, `not catalogued (no sidecar ${path.basename(file)}.meta.json), nothing to compare with; the file's SHA-256 is ${sha256}`)
  }
  return {
    file,
    ok: checks.every((c) => c.ok),
    checks,
    sizeBytes,
    sha256,
    encrypted: layers?.encrypted ?? sidecar?.encrypted ?? /\.enc$/i.test(file),
    compression: layers?.compression ?? sidecar?.compression ?? 'none',
    catalogued: sidecar !== undefined,
    plainBytes,
    ...(firstError ? { error: firstError } : {}),
  }
}

const CHECK_SIZE = 'file size against the catalog'
const CHECK_SHA256 = 'SHA-256 against the catalog'
const CHECK_ENCRYPTION = 'encryption (passphrase and every authentication tag)'
const CHECK_GZIP = 'gzip (deflate stream, CRC-32 and length)'
const CHECK_ZSTD = 'zstd (frames and their content checksums)'

function chunkCount(layers: BackupLayers, sizeBytes: number): number {
  const sealed = (layers.container?.header.chunkSize ?? 0) + TAG_LENGTH
  return Math.max(1, Math.ceil((sizeBytes - HEADER_LENGTH) / sealed))
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}
