/**
 * Frees the backup's dead Buffers sooner than V8 would on its own (issue #17, peak RSS).
 *
 * A backup passes every byte through several short-lived Buffers on this thread (the socket's
 * reads, the driver's copies, a chunk of record lines, the writer's output) but allocates few
 * JavaScript objects per byte, so V8's young generation fills slowly and its collections, which
 * free dead Buffers' memory, are rare: up to ~50 MB of dead Buffers waited in malloc's heap, and
 * that heap does not shrink again (docs/performance.md §Round seven: backup peak RSS).
 *
 * `afterChunk()` is called once per chunk written: when V8's external memory (the Buffers) has
 * grown by RECLAIM_STEP_BYTES since the last collection, it collects the young generation, which
 * is cheap when little in it is live (a scale-20 PostgreSQL backup does it ~340 times: fewer of V8's
 * own mark-compacts, and less CPU). It needs `gc` exposed (`--expose-gc`, set by
 * bin/mergeback.js); without it, as in a library user's process, it does nothing.
 */
import { getHeapStatistics } from 'node:v8'

/**
 * External memory growth that triggers a collection of the young generation. V8 counts the
 * external memory made since its last mark-compact against the old generation's limit, and on a
 * backup's small heap (about 14 MB live, a limit near 26 MB) a few MB of dead Buffers waiting for
 * a scavenge were enough to start one: with 16 MB here a scale-5 PostgreSQL backup did ~38
 * mark-compacts, with 4 MB ~19, for less CPU (docs/performance.md §Round thirteen: PostgreSQL
 * backup CPU). Below 4 MB it collected after every chunk and gained nothing more.
 */
export const RECLAIM_STEP_BYTES = 4 << 20

type CollectGarbage = (options: { type: 'minor' | 'major' }) => void

export class BufferReclaimer {
  readonly #collect: CollectGarbage | undefined
  readonly #stepBytes: number
  /** External memory just after the last collection (or the lowest seen since). */
  #base: number

  constructor(options: { readonly collect?: CollectGarbage; readonly stepBytes?: number } = {}) {
    this.#collect = options.collect ?? (globalThis as { gc?: CollectGarbage }).gc
    this.#stepBytes = options.stepBytes ?? RECLAIM_STEP_BYTES
    this.#base = this.#collect === undefined ? 0 : getHeapStatistics().external_memory
  }

  /** Collects the young generation if the Buffers made since the last collection add up to the step. */
  afterChunk(): void {
    if (this.#collect === undefined) return
    const external = getHeapStatistics().external_memory
    // V8's own collections free Buffers too: start counting again from the lowest point.
    if (external < this.#base) this.#base = external
    if (external - this.#base < this.#stepBytes) return
    this.#collect({ type: 'minor' })
    this.#base = getHeapStatistics().external_memory
  }
}

/** Released chunks a ChunkPool keeps for reuse (docs/performance.md §Round fourteen: COPY chunks reused). */
export const CHUNK_POOL_KEEP = 4

/** The pool each pooled chunk's memory came from, found by the memory (any view of it will do). */
const owners = new WeakMap<ArrayBufferLike, { readonly pool: ChunkPool; readonly chunk: Buffer }>()

/** Tests: a released chunk is overwritten at once, so a reader still holding it reads garbage. */
let poisonReleased = false
/** Chunks released into a pool so far (tests: proof that the pool was used). */
let releasedCount = 0

/**
 * Chunks of one size handed out again once released, so that a backup does not make a new
 * 1 MiB Buffer per chunk (each one external memory that counts towards V8's next mark-compact).
 * A chunk is released (releaseChunk) only by the one that knows its bytes are no longer read:
 * the backup, once the file's stream has taken them (written to the file, or copied by gzip or
 * encryption). A chunk never released is just left to the garbage collector, as before.
 */
export class ChunkPool {
  readonly #bytes: number
  readonly #keep: number
  readonly #free: Buffer[] = []

  constructor(bytes: number, keep = CHUNK_POOL_KEEP) {
    this.#bytes = bytes
    this.#keep = keep
  }

  /** A chunk of at least `bytes` (its contents are whatever they were): a released one when one fits, else a new one. */
  take(bytes: number): Buffer {
    if (bytes > this.#bytes) return Buffer.allocUnsafeSlow(bytes)
    const free = this.#free.pop()
    if (free !== undefined) return free
    const chunk = Buffer.allocUnsafeSlow(this.#bytes)
    owners.set(chunk.buffer, { pool: this, chunk })
    return chunk
  }

  /** Chunks waiting to be taken again. */
  get free(): number {
    return this.#free.length
  }

  #release(chunk: Buffer): void {
    if (this.#free.length >= this.#keep || this.#free.includes(chunk)) return
    if (poisonReleased) chunk.fill(0xee)
    this.#free.push(chunk)
    releasedCount++
  }

  /** Gives `view`'s chunk back to its pool, if it is a pooled chunk; its bytes must no longer be needed. */
  static release(view: Uint8Array): void {
    const owner = owners.get(view.buffer)
    if (owner !== undefined) owner.pool.#release(owner.chunk)
  }
}

/** See ChunkPool.release. */
export const releaseChunk = (view: Uint8Array): void => ChunkPool.release(view)

/** Tests: overwrite every chunk as it is released (a reader that still held it then reads 0xee bytes). */
export function poisonReleasedChunks(on: boolean): void {
  poisonReleased = on
}

/** Tests: how many chunks were released into a pool so far. */
export function releasedChunks(): number {
  return releasedCount
}
