/**
 * A FIFO of buffers that hands out exact-size slices, for the chunking streams.
 *
 * Incoming writes rarely line up with chunk boundaries; the queue keeps them as they came and
 * copies only when a slice spans more than one of them, so memory stays at about one chunk plus
 * one write.
 */
export class ByteQueue {
  #buffers: Buffer[] = []
  #length = 0

  get length(): number {
    return this.#length
  }

  push(buffer: Buffer): void {
    if (buffer.length === 0) return
    this.#buffers.push(buffer)
    this.#length += buffer.length
  }

  /** Removes and returns the first `n` bytes (`n` ≤ length). */
  take(n: number): Buffer {
    if (n > this.#length) throw new RangeError(`ByteQueue.take(${n}) with only ${this.#length} bytes queued`)
    this.#length -= n
    const first = this.#buffers[0]
    if (first !== undefined && first.length >= n) {
      // Common case: the slice lies inside one buffer, so no copy.
      if (first.length === n) this.#buffers.shift()
      else this.#buffers[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    let used = 0
    // Many small writes can queue hundreds of buffers: consume them by index and drop them with
    // one splice, rather than shift() per buffer (which is O(queue length) each time).
    while (filled < n) {
      const head = this.#buffers[used] as Buffer
      const part = Math.min(head.length, n - filled)
      head.copy(out, filled, 0, part)
      filled += part
      if (part === head.length) used += 1
      else this.#buffers[used] = head.subarray(part)
    }
    this.#buffers.splice(0, used)
    return out
  }

  /** Removes and returns everything queued. */
  takeAll(): Buffer {
    return this.take(this.#length)
  }
}
