/**
 * One async iterable read by several consumers at once, each item going to exactly one of them
 * (whichever asks first). The staged PostgreSQL restore shares a table's COPY text this way
 * between its loading sessions, so that the server ingests one large table on two cores
 * (issue #17, docs/performance.md "Round four").
 *
 * All or nothing for the consumers: once the source throws, or a consumer stops before the end
 * (its COPY failed), or `fail()` is called, every later read throws — the source's error, or
 * the `stopped` error — so that no consumer takes the stop for the end of the data and commits
 * a part. A consumer that receives `stopped` knows that the real failure is someone else's.
 *
 * @module
 */
import { InternalError } from '../errors.js'

export class SharedSource<T> {
  readonly #iterator: AsyncIterator<T>
  /** Reads run one after the other, in the order they were asked for. */
  #reading: Promise<unknown> = Promise.resolve()
  #state: 'open' | 'done' | 'failed' = 'open'
  #failure: unknown
  readonly #settled: Promise<void>
  #settle!: () => void
  /** Thrown to the other consumers once one of them stopped early. */
  readonly stopped = new InternalError('Another loading session of this table stopped.')

  constructor(source: AsyncIterable<T>) {
    this.#iterator = source[Symbol.asyncIterator]()
    this.#settled = new Promise((resolve) => (this.#settle = resolve))
  }

  /** Whether the source has ended or failed: a consumer that has not started yet has nothing left to do. */
  get exhausted(): boolean {
    return this.#state !== 'open'
  }

  /** Resolves once the source has ended or failed. */
  get settled(): Promise<void> {
    return this.#settled
  }

  /** The error the source failed with (its own, or the one `fail()` was given), if it failed. */
  get failure(): { readonly error: unknown } | undefined {
    return this.#state === 'failed' ? { error: this.#failure } : undefined
  }

  /** A consumer's view: its early stop (`return()`) fails the source for every other consumer. */
  reader(): AsyncIterable<T> {
    const iterator: AsyncIterator<T> = {
      next: () => this.#next(),
      return: async () => {
        this.fail(this.stopped)
        return { done: true, value: undefined }
      },
    }
    return { [Symbol.asyncIterator]: () => iterator }
  }

  /** Stops the source (unless it has ended): later reads throw `error`; the source is closed. */
  fail(error: unknown): void {
    if (this.#state !== 'open') return
    this.#state = 'failed'
    this.#failure = error
    this.#settle()
    const close = this.#reading.then(() => this.#iterator.return?.())
    this.#reading = close.catch(() => {})
  }

  #next(): Promise<IteratorResult<T>> {
    const read = this.#reading.then(() => this.#pull())
    this.#reading = read.catch(() => {})
    return read
  }

  async #pull(): Promise<IteratorResult<T>> {
    if (this.#state === 'failed') throw this.#failure
    if (this.#state === 'done') return { done: true, value: undefined }
    let result: IteratorResult<T>
    try {
      result = await this.#iterator.next()
    } catch (error) {
      // The source threw: it is finished, nothing to close.
      if (this.#state === 'open') {
        this.#state = 'failed'
        this.#failure = error
        this.#settle()
      }
      throw error
    }
    // fail() may have been called while this read was waiting: its item is dropped.
    if (this.failure !== undefined) throw this.failure.error
    if (result.done === true) {
      this.#state = 'done'
      this.#settle()
    }
    return result
  }
}
