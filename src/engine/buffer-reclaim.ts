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
