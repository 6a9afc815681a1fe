/**
 * Atomic file creation: a file appears under its final name complete and durable, or not at all.
 *
 * Algorithm (the classic one, as in restic's local backend and SQLite's journal handling):
 *   1. Create `.tmp-<random>.partial` in the SAME directory as the final name (rename is only
 *      atomic within one filesystem), exclusively and with mode 0600 (backups hold data).
 *   2. Write it, then fsync it: the bytes are on disk before the name points to them.
 *   3. Rename (or, with `noClobber`, hard-link then unlink) onto the final name.
 *   4. fsync the directory: the new name itself is on disk.
 * A crash before step 3 leaves only the temporary file, which nothing lists; a crash after it
 * leaves the complete file.
 */
import fs from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { InternalError, UsageError } from '../errors.js'
import { TEMP_PREFIX, TEMP_SUFFIX } from './naming.js'

export const FILE_MODE = 0o600
export const DIRECTORY_MODE = 0o700

export interface AtomicFile {
  readonly finalPath: string
  readonly tempPath: string
  /** Open for writing; `commit` closes it. */
  readonly handle: FileHandle
  /**
   * fsyncs and closes the file, moves it onto `finalPath`, fsyncs the directory. With `noClobber`
   * an existing file at `finalPath` makes it throw UsageError and leaves that file alone.
   */
  commit(): Promise<void>
  /** Closes and removes the temporary file. Idempotent, safe after any failure, a no-op after commit. */
  abort(): Promise<void>
}

/**
 * A Writable onto an open FileHandle that never closes it (the atomic file fsyncs and closes it
 * at commit). `FileHandle.createWriteStream({ autoClose: false })` is not used because it keeps a
 * reference on the handle that makes `handle.close()` wait forever.
 *
 * A write's callback fires once its bytes are in the file (the kernel has them), not before: a
 * backup that writes Buffers it means to reuse takes the callback as the sign that it may
 * (docs/performance.md §Round fourteen: COPY chunks reused). `seen`, when given, is shown every
 * Buffer in order before it is written (the backup's SHA-256 and byte count).
 */
export class FileSink extends Writable {
  readonly #handle: FileHandle
  readonly #seen: ((chunk: Buffer) => void) | undefined
  constructor(handle: FileHandle, options: { readonly seen?: (chunk: Buffer) => void; readonly highWaterMark?: number } = {}) {
    super({ highWaterMark: options.highWaterMark ?? 64 * 1024 })
    this.#handle = handle
    this.#seen = options.seen
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#seen?.(chunk)
    this.#writeAll(chunk).then(() => callback(), callback)
  }
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    if (this.#seen) for (const { chunk } of chunks) this.#seen(chunk)
    this.#writeAll(Buffer.concat(chunks.map((c) => c.chunk))).then(() => callback(), callback)
  }
  async #writeAll(buffer: Buffer): Promise<void> {
    let offset = 0
    while (offset < buffer.length) {
      const { bytesWritten } = await this.#handle.write(buffer, offset, buffer.length - offset)
      offset += bytesWritten
    }
  }
}

/** A fresh temporary path next to `finalPath`. */
export function temporaryPathFor(finalPath: string): string {
  return path.join(path.dirname(finalPath), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`)
}

/** fsync of a directory, so that a rename or unlink inside it survives a crash. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r')
  try {
    await handle.sync()
  } catch (error) {
    // Some filesystems (and all of Windows) refuse fsync on a directory; the rename is still atomic.
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR' && code !== 'ENOTSUP') throw error
  } finally {
    await handle.close()
  }
}

/** Creates the directory (and parents) with mode 0700 if it is missing. */
export async function ensureDirectory(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: DIRECTORY_MODE })
}

async function placeNoClobber(tempPath: string, finalPath: string): Promise<void> {
  try {
    await fs.link(tempPath, finalPath)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new UsageError(`${finalPath} already exists; it was left as it is.`, { code: 'FILE_EXISTS' })
    // Filesystems without hard links (some FUSE and SMB mounts): fall back to a checked rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw error
    if (await exists(finalPath)) throw new UsageError(`${finalPath} already exists; it was left as it is.`, { code: 'FILE_EXISTS' })
    await fs.rename(tempPath, finalPath)
    return
  }
  await fs.unlink(tempPath)
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/** Starts an atomic write of `finalPath`. The directory must exist. */
export async function createAtomicFile(finalPath: string, options: { noClobber?: boolean } = {}): Promise<AtomicFile> {
  const tempPath = temporaryPathFor(finalPath)
  const handle = await fs.open(tempPath, 'wx', FILE_MODE)
  let state: 'open' | 'committed' | 'aborted' = 'open'
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await handle.close()
  }
  return {
    finalPath,
    tempPath,
    handle,
    async commit() {
      if (state !== 'open') throw new InternalError(`commit() called on the write of ${finalPath}, which was already ${state}.`)
      await handle.sync()
      await close()
      if (options.noClobber) await placeNoClobber(tempPath, finalPath)
      else await fs.rename(tempPath, finalPath)
      state = 'committed'
      await fsyncDirectory(path.dirname(finalPath))
    },
    async abort() {
      if (state !== 'open') return
      state = 'aborted'
      await close().catch(() => undefined)
      await fs.rm(tempPath, { force: true })
    },
  }
}

/** Writes `data` to `finalPath` atomically (temp file, fsync, rename, fsync of the directory). */
export async function writeFileAtomic(finalPath: string, data: string | Buffer): Promise<void> {
  const file = await createAtomicFile(finalPath)
  try {
    await file.handle.writeFile(data)
    await file.commit()
  } catch (error) {
    await file.abort()
    throw error
  }
}
