/**
 * gzip in parallel blocks: the JSON is cut into blocks of about BLOCK_BYTES, each compressed as a
 * gzip member of its own on libuv's thread pool (`zlib.gzip`), several at once, and the members are
 * written in order. A file of concatenated members is one gzip file to every reader (RFC 1952
 * §2.2; `gzip -d`, `zcat`, Node's gunzip and ours all read on to the end), so nothing that reads
 * backups changes.
 *
 * Why: one zlib stream deflates block after block, so a `--gzip` backup used one pool thread at a
 * time and handed the main thread a small callback per 16 KiB. Independent members deflate on
 * several cores; at level 1 a 1 MiB block loses nothing measurable to the 32 KiB window reset
 * (docs/performance.md §Round four: backup).
 */
import { Transform, type TransformCallback } from 'node:stream'
import { availableParallelism } from 'node:os'
import { promisify } from 'node:util'
import zlib from 'node:zlib'

const gzip = promisify(zlib.gzip)

/**
 * Uncompressed bytes at which a member is started. A member is what was written since the last
 * one (so the writer's 1 MiB chunks are compressed where they lie, not copied into blocks), and a
 * write of two blocks or more is cut into members of BLOCK_BYTES.
 */
export const BLOCK_BYTES = 1 << 20

/**
 * zlib's output buffer per member: a quarter of a block holds a typical block's member whole (JSON
 * deflates 5–8× at level 1), so the thread pool is asked once per member instead of once per
 * 16 KiB (zlib's default) and the member is that buffer, not a concatenation of 16 KiB pieces.
 */
const OUTPUT_CHUNK_BYTES = BLOCK_BYTES / 4

/** Members compressing at once: one per core, at least 2, at most the thread pool's default 4. */
const PARALLEL = Math.min(4, Math.max(2, availableParallelism()))

export class ParallelGzip extends Transform {
  readonly #level: number
  #pending: Buffer[] = []
  #pendingBytes = 0
  /** Members being compressed, in file order. */
  readonly #running: Promise<Buffer>[] = []
  #members = 0
  /** Members compressed, counted in file order, and the members in order before the last one. */
  #compressed = 0
  #inOrder: Promise<unknown> = Promise.resolve()
  /** whenRead's callers, each waiting for this many members to be compressed. */
  #waiting: { readonly members: number; readonly then: () => void }[] = []

  constructor(level: number) {
    super()
    this.#level = level
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending.push(data)
    this.#pendingBytes += data.length
    this.#drain(false).then(() => callback(), callback)
  }

  override _flush(callback: TransformCallback): void {
    this.#drain(true).then(() => callback(), callback)
  }

  /** Starts a member once a block's worth is pending (and for the rest, at the end), pushing finished members while PARALLEL are running. */
  async #drain(end: boolean): Promise<void> {
    while (this.#pendingBytes >= BLOCK_BYTES || (end && (this.#pendingBytes > 0 || this.#members === 0))) {
      this.#start(this.#takeMember())
      while (this.#running.length >= PARALLEL) this.push(await this.#running.shift()!)
    }
    if (end) while (this.#running.length > 0) this.push(await this.#running.shift()!)
  }

  /** The next member's bytes: everything pending, copied into one Buffer only if it came in several writes, or a block of a write of two blocks or more. */
  #takeMember(): Buffer {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes)
    const size = all.length >= 2 * BLOCK_BYTES ? BLOCK_BYTES : all.length
    this.#pending = size < all.length ? [all.subarray(size)] : []
    this.#pendingBytes = all.length - size
    return all.subarray(0, size)
  }

  /**
   * Calls `then` once the bytes of the writes called back so far are no longer read: in members
   * whose compression is over (a write's callback comes when its member has only started, or
   * while its bytes wait for the next one). For a writer that reuses its
   * Buffers (docs/performance.md §Round fourteen: COPY chunks reused).
   */
  whenRead(then: () => void): void {
    const members = this.#members + (this.#pendingBytes > 0 ? 1 : 0)
    if (this.#compressed >= members) then()
    else this.#waiting.push({ members, then })
  }

  #start(block: Buffer): void {
    const member = gzip(block, { level: this.#level, chunkSize: OUTPUT_CHUNK_BYTES })
    // Observed at once: a failure is thrown when its turn comes, not as an unhandled rejection.
    member.catch(() => undefined)
    this.#running.push(member)
    this.#members++
    // A failed member no longer reads its bytes either.
    this.#inOrder = this.#inOrder
      .then(() => member)
      .catch(() => undefined)
      .then(() => this.#memberRead())
  }

  #memberRead(): void {
    this.#compressed++
    while (this.#waiting.length > 0 && this.#waiting[0]!.members <= this.#compressed) this.#waiting.shift()!.then()
  }
}
