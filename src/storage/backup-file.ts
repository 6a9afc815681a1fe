/**
 * Writing a backup file: the one entry point the backup engine uses (`createBackupFile`), plus
 * re-exports of the read side so callers import everything about backup files from here.
 *
 * Algorithm:
 *   1. Pick the final path: `{ dir }` → `<dir>/<name>-<UTC time>.json[.gz|.zst][.enc]` (the directory
 *      is created with mode 0700; if the name is taken, the next free second is used);
 *      `{ file }` → that path (its directory is created; an existing file is replaced at commit,
 *      atomically, as `pg_dump -f` would).
 *   2. Open `.tmp-<random>.partial` beside it (atomic-file.ts) and build the chain
 *         caller's JSON → [gzip / zstd] → [encrypt] → SHA-256 + byte count → temporary file
 *      The caller writes into the head of the chain and honours back-pressure as with any stream.
 *   3. commit(metadata): end the chain, wait until every byte is written, fsync, move the file
 *      onto its final name (never over another backup in `{ dir }` mode), fsync the directory,
 *      then write the catalog sidecar atomically. If the sidecar cannot be written the backup is
 *      removed again: a commit either leaves a catalogued backup or throws.
 *   4. abort(): remove the temporary file. A killed process leaves only `.tmp-*.partial`, which
 *      `list` ignores and `prune` never touches.
 */
import { originKey } from '../crypto/origin-seal.js'
import fs from 'node:fs/promises'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { Transform, finished, pipeline, type TransformCallback, type Writable } from 'node:stream'
import { InternalError, UsageError } from '../errors.js'
import type { BackupMetadata } from '../format/types.js'
import { createEncryptStream } from '../crypto/encrypt-stream.js'
import type { ScryptParams } from '../crypto/container.js'
import { hasContainerMagic } from '../crypto/container.js'
import { ParallelGzip } from './parallel-gzip.js'
import { FileSink, createAtomicFile, ensureDirectory, exists, fsyncDirectory } from './atomic-file.js'
import { sidecarFor, writeSidecar, type NativeFacts, type OriginKind, type Sidecar } from './catalog.js'
import { backupFileName, checkBackupName, sidecarPathFor, type BackupDataFormat } from './naming.js'
import { chooseCompression, createCompressor, type Compression } from './compression.js'

export { openBackupChunks, openBackupStream, verifyBackupFile, type BackupChunks, type OpenBackupOptions, type FileVerification, type FileCheck } from './open.js'
export { resolveBackupPath } from './path-safety.js'

export { DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL } from './compression.js'

export interface CreateBackupFileOptions {
  /** Backup name ([A-Za-z0-9._-], see naming.ts); names the file in `{ dir }` mode. */
  readonly name: string
  /** gzip the JSON: true (DEFAULT_GZIP_LEVEL) or a level 1–9. */
  readonly gzip?: boolean | number
  /** zstd the JSON instead: true (DEFAULT_ZSTD_LEVEL) or a level 1–19. Not with `gzip`. */
  readonly zstd?: boolean | number
  /** Encrypt (AES-256-GCM chunks, key by scrypt) with this passphrase. */
  readonly passphrase?: string
  /** The backup's time (file name, catalog); default now. */
  readonly now?: Date
  /** scrypt cost (default 2^17, 8, 1). Only tests should lower it. */
  readonly scrypt?: ScryptParams
  /** Plaintext bytes per encrypted chunk (default 64 KiB). */
  readonly chunkSize?: number
  /** What the caller writes: mergeback JSON (default) or a full native dump, which names the file's extension. */
  readonly format?: BackupDataFormat
  /** Full backups: what the dump is and what made it, recorded in the catalog. */
  readonly native?: NativeFacts
  /** How it came to be (catalog `originKind`): default 'manual'; the scheduler passes 'scheduled'. */
  readonly originKind?: OriginKind
}

export interface CommittedBackupFile {
  readonly path: string
  readonly sizeBytes: number
  /** Hex SHA-256 of the file as stored. */
  readonly sha256: string
}

export interface PendingBackupFile {
  /** The final path (nothing exists there until commit). */
  readonly path: string
  /** The temporary file the bytes go to until commit (the same inode as `path` afterwards). */
  readonly temporaryPath: string
  /** Write the JSON text here; gzip, encryption and hashing happen behind it. */
  readonly stream: NodeJS.WritableStream
  /**
   * Given when the caller may reuse a Buffer it wrote to `stream`: called after that write's
   * callback, it calls `then` once nothing in the chain reads the Buffer any more (the file has
   * its bytes, or gzip has compressed them) (docs/performance.md §Round fourteen: COPY chunks
   * reused). Not with zstd or encryption alone (they may still read a write's bytes, and say not
   * when they stop), nor for a remote upload (its parts may hold them).
   */
  readonly whenRead?: (then: () => void) => void
  /** Ends the stream, fsyncs, renames into place, fsyncs the directory, writes the catalog sidecar atomically. */
  commit(metadata: Partial<BackupMetadata>): Promise<CommittedBackupFile>
  /** Removes the temporary file. Safe after any failure, idempotent; a no-op after a successful commit. */
  abort(): Promise<void>
}

/**
 * Where a backup can be written besides a local directory: an S3-compatible bucket
 * (src/remote/s3-remote.ts implements it). Declared here so that storage does not load the SDK.
 */
export interface RemoteBackupTarget {
  /** `s3://bucket/prefix/`. */
  readonly url: string
  urlOf(file: string): string
  exists(file: string): Promise<boolean>
  /** A streaming upload that either completes into one whole object or is aborted (no object). */
  createUpload(file: string): { readonly stream: Writable; done(): Promise<void>; abort(): Promise<void> }
  /** Writes the catalog sidecar; on failure removes the backup object and throws. */
  putSidecar(file: string, sidecar: Sidecar): Promise<void>
}

/** The compression and encryption `options` ask for, as the flags file names and sidecars take. Throws UsageError for bad levels or both compressions. */
function layersOf(options: CreateBackupFileOptions): { compression: Compression; level?: number; flags: { gzip: boolean; zstd: boolean; encrypted: boolean } } {
  const { compression, level } = chooseCompression(options)
  return { compression, level, flags: { gzip: compression === 'gzip', zstd: compression === 'zstd', encrypted: options.passphrase !== undefined } }
}

function encryptStage(options: CreateBackupFileOptions, compression: Compression): Promise<Transform> | undefined {
  if (options.passphrase === undefined) return undefined
  return createEncryptStream(options.passphrase, {
    scrypt: options.scrypt,
    chunkSize: options.chunkSize,
    gzipPayload: compression === 'gzip',
    zstdPayload: compression === 'zstd',
  })
}

/** The chain the caller writes into: [gzip / zstd] → [encrypt] → SHA-256 + byte count → `sink`. */
async function buildChain(sink: Writable, layers: ReturnType<typeof layersOf>, options: CreateBackupFileOptions) {
  const encrypt = await encryptStage(options, layers.compression)
  const measure = new Measure()
  const stages: (Transform | Writable)[] = []
  const compressor = createCompressor(layers.compression, layers.level)
  if (compressor) stages.push(compressor)
  if (encrypt) stages.push(encrypt)
  stages.push(measure, sink)
  const written = new Promise<void>((resolve, reject) => pipeline(stages, (error) => (error ? reject(error) : resolve())))
  written.catch(() => undefined)
  return { head: stages[0] as Writable, stages, measure, written }
}

/**
 * The remote twin of `createBackupFile({ dir })`: the backup streams straight into a multipart
 * upload (no local file), named as it would be in a directory; commit completes the upload and
 * then writes the sidecar object; abort aborts the upload, so no object appears.
 */
async function createRemoteBackupFile(remote: RemoteBackupTarget, options: CreateBackupFileOptions): Promise<PendingBackupFile> {
  checkBackupName(options.name)
  const layers = layersOf(options)
  const flags = layers.flags
  const now = options.now ?? new Date()
  let fileName: string | undefined
  for (let second = 0; second < 60 && fileName === undefined; second++) {
    const candidate = backupFileName(options.name, new Date(now.getTime() + second * 1000), { ...flags, format: options.format })
    if (!(await remote.exists(candidate))) fileName = candidate
  }
  if (fileName === undefined) throw new UsageError(`Backups named "${options.name}" already exist in ${remote.url} for every second of the minute after ${now.toISOString()}.`, { code: 'FILE_EXISTS' })
  const upload = remote.createUpload(fileName)
  const chain = await buildChain(upload.stream, layers, options).catch(async (error) => {
    await upload.abort()
    throw error
  })
  const url = remote.urlOf(fileName)
  let state: 'open' | 'committing' | 'committed' | 'aborted' = 'open'
  const pending: PendingBackupFile = {
    path: url,
    temporaryPath: url,
    stream: chain.head,
    async commit(metadata) {
      if (state !== 'open') throw new InternalError(`commit() called on a backup upload that was already ${state}.`)
      state = 'committing'
      chain.head.end()
      try {
        await chain.written
        await upload.done()
      } catch (error) {
        state = 'aborted'
        await upload.abort()
        throw error
      }
      const sizeBytes = chain.measure.bytes
      const sha256 = chain.measure.digest()
      await remote.putSidecar(
        fileName,
        sidecarFor(fileName, { sizeBytes, sha256, ...flags, name: options.name, createdAt: now, committedAt: new Date(), native: options.native, originKey: originKey({ create: true }), originKind: options.originKind }, metadata),
      )
      state = 'committed'
      return { path: url, sizeBytes, sha256 }
    },
    async abort() {
      if (state === 'committed' || state === 'aborted') return
      state = 'aborted'
      await upload.abort()
      for (const stage of chain.stages) stage.destroy()
      await chain.written.catch(() => undefined)
    },
  }
  return pending
}

/** SHA-256 and byte count of the bytes written: the figures the catalog records. */
class ByteMeasure {
  readonly #hash = createHash('sha256')
  #bytes = 0
  get bytes(): number {
    return this.#bytes
  }
  /** Hex digest; call once, after the stream finished. */
  digest(): string {
    return this.#hash.digest('hex')
  }
  add(data: Buffer): void {
    this.#hash.update(data)
    this.#bytes += data.length
  }
}

/** Passes bytes through while measuring them (ByteMeasure). */
class Measure extends Transform {
  readonly measure = new ByteMeasure()
  get bytes(): number {
    return this.measure.bytes
  }
  digest(): string {
    return this.measure.digest()
  }
  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.measure.add(data)
    callback(null, data)
  }
}

/**
 * FileSink's high-water mark when it is the head of the chain (no gzip, no encryption): room for
 * one 1 MiB chunk of record lines, so the writer goes on with the next while this one is written,
 * as it did when the Measure transform stood in front.
 */
const HEAD_SINK_HIGH_WATER_MARK = 1536 * 1024

/** The first free `<name>-<time>` path in `dir` at or after `now`, one second at a time. */
async function freePathIn(dir: string, name: string, now: Date, flags: { gzip: boolean; zstd: boolean; encrypted: boolean; format?: BackupDataFormat }): Promise<string> {
  for (let second = 0; second < 60; second++) {
    const candidate = path.join(dir, backupFileName(name, new Date(now.getTime() + second * 1000), flags))
    if (!(await exists(candidate)) && !(await exists(sidecarPathFor(candidate)))) return candidate
  }
  throw new UsageError(`Backups named "${name}" already exist for every second of the minute after ${now.toISOString()}.`, { code: 'FILE_EXISTS' })
}

/**
 * Starts writing a backup (see the module header). Throws UsageError for a bad name, gzip level
 * or passphrase (empty); filesystem errors (permissions, a file where the directory should be)
 * pass through. Key derivation happens here, so with a passphrase this takes about 0.3 s.
 */
export async function createBackupFile(
  target: { dir: string } | { file: string } | { remote: RemoteBackupTarget },
  options: CreateBackupFileOptions,
): Promise<PendingBackupFile> {
  if ('remote' in target) return createRemoteBackupFile(target.remote, options)
  checkBackupName(options.name)
  const layers = layersOf(options)
  const flags = layers.flags
  const now = options.now ?? new Date()
  let finalPath: string
  const where = 'dir' in target ? target.dir : target.file
  try {
    if ('dir' in target) {
      if (target.dir === '') throw new UsageError('--out is empty: give a directory or a backup file name.')
      await ensureDirectory(target.dir)
      finalPath = path.resolve(await freePathIn(target.dir, options.name, now, { ...flags, format: options.format }))
    } else {
      finalPath = path.resolve(target.file)
      await refuseNonBackup(finalPath)
      await ensureDirectory(path.dirname(finalPath))
    }
  } catch (error) {
    throw outputError(error, where)
  }
  const encrypt = await encryptStage(options, layers.compression)
  const file = await createAtomicFile(finalPath, { noClobber: 'dir' in target }).catch((error: unknown) => {
    throw outputError(error, finalPath)
  })
  // The sink measures what it writes: with no transform in front of it, a write's callback is
  // then the sign that the bytes are in the file (whenRead).
  const measure = new ByteMeasure()
  const stages: (Transform | Writable)[] = []
  const compressor = createCompressor(layers.compression, layers.level)
  if (compressor) stages.push(compressor)
  if (encrypt) stages.push(encrypt)
  const sink = new FileSink(file.handle, { seen: (chunk) => measure.add(chunk), highWaterMark: stages.length === 0 ? HEAD_SINK_HIGH_WATER_MARK : undefined })
  stages.push(sink)
  const head = stages[0] as Writable
  const written = new Promise<void>((resolve, reject) => (stages.length === 1 ? finished(sink, (error) => (error ? reject(error) : resolve())) : pipeline(stages, (error) => (error ? reject(error) : resolve()))))
  // Observed here so a failure while the caller is still writing is not an unhandled rejection;
  // commit() awaits the same promise and throws it.
  written.catch(() => undefined)

  let state: 'open' | 'committing' | 'committed' | 'aborted' = 'open'
  return {
    path: finalPath,
    temporaryPath: file.tempPath,
    stream: head,
    // The file sink calls back once a write's bytes are in the file; ParallelGzip calls back when
    // a member has started (or the bytes wait for the next) and says when it is compressed.
    whenRead: stages.length === 1 ? (then) => then() : compressor instanceof ParallelGzip ? (then) => compressor.whenRead(then) : undefined,
    async commit(metadata) {
      if (state !== 'open') throw new InternalError(`commit() called on a backup file that was already ${state}.`)
      state = 'committing'
      head.end()
      await written
      await file.commit()
      const sizeBytes = measure.bytes
      const sha256 = measure.digest()
      try {
        await writeSidecar(
          finalPath,
          sidecarFor(
            finalPath,
            // Sealed with this installation's key: the catalog shows it as made here.
            { sizeBytes, sha256, ...flags, name: options.name, createdAt: now, committedAt: new Date(), native: options.native, originKey: originKey({ create: true }), originKind: options.originKind },
            metadata,
          ),
        )
      } catch (error) {
        // A backup without its catalog entry must not outlive a failed commit.
        await fs.rm(finalPath, { force: true })
        await fsyncDirectory(path.dirname(finalPath)).catch(() => undefined)
        throw error
      }
      state = 'committed'
      return { path: finalPath, sizeBytes, sha256 }
    },
    async abort() {
      if (state === 'committed' || state === 'aborted') return
      state = 'aborted'
      for (const stage of stages) stage.destroy()
      await written.catch(() => undefined)
      await file.abort()
    },
  }
}

/**
 * A file-system error about where a backup is to be written, as the UsageError it is (a path the
 * user gave that cannot take a backup); anything else passes through.
 */
function outputError(error: unknown, where: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const reasons: Record<string, string> = {
    EEXIST: 'a file that is not a directory is in the way',
    ENOTDIR: 'a part of the path is a file, not a directory',
    ENOENT: 'a part of the path does not exist and cannot be created',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the file system is read-only',
    EISDIR: 'it is a directory',
    ENAMETOOLONG: 'the name is too long',
  }
  if (code === undefined || reasons[code] === undefined) return error
  return new UsageError(`Cannot write a backup at ${where}: ${reasons[code]}. Give --out a directory, or a file name ending in .json, .json.gz, .json.zst or .enc.`, {
    code: 'BAD_OUTPUT',
    cause: error,
  })
}

/** An existing file at `file` that is not a backup (by its first bytes) is never overwritten. */
async function refuseNonBackup(file: string): Promise<void> {
  let handle: fs.FileHandle | undefined
  try {
    const stat = await fs.stat(file)
    if (!stat.isFile()) throw new UsageError(`Cannot write a backup at ${file}: it exists and is not a regular file.`, { code: 'BAD_OUTPUT' })
    if (stat.size === 0) return
    handle = await fs.open(file, 'r')
    const head = Buffer.alloc(16)
    const { bytesRead } = await handle.read(head, 0, 16, 0)
    const text = head.subarray(0, bytesRead).toString('latin1')
    // JSON (possibly after whitespace or a BOM), gzip, the encrypted container, or a full backup's dump.
    const looksLikeBackup =
      /^(?:\xef\xbb\xbf)?\s*[{]/.test(text) || (head[0] === 0x1f && head[1] === 0x8b) || hasContainerMagic(head) || /^(?:PGDMP|SQLite format 3|--|\/\*)/.test(text)
    if (!looksLikeBackup) {
      throw new UsageError(`Cannot write a backup at ${file}: a file that is not a backup is there, and it is never overwritten.`, { code: 'BAD_OUTPUT' })
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  } finally {
    await handle?.close()
  }
}
