import { describe, expect, it } from 'vitest'
import { BufferReclaimer, ChunkPool, RECLAIM_STEP_BYTES, poisonReleasedChunks, releaseChunk, releasedChunks } from './buffer-reclaim.js'

describe('BufferReclaimer', () => {
  it('collects the young generation once the Buffers made since the last collection reach the step, not before', () => {
    const calls: unknown[] = []
    const kept: Buffer[] = []
    const reclaimer = new BufferReclaimer({ collect: (options) => void calls.push(options), stepBytes: 8 << 20 })
    reclaimer.afterChunk()
    expect(calls).toEqual([])
    // Held here, so that no collection of V8's own lowers the external memory meanwhile.
    kept.push(Buffer.alloc(2 << 20))
    reclaimer.afterChunk()
    expect(calls).toEqual([])
    kept.push(Buffer.alloc(7 << 20))
    reclaimer.afterChunk()
    expect(calls).toEqual([{ type: 'minor' }])
    // Counted again from after that collection.
    reclaimer.afterChunk()
    expect(calls).toHaveLength(1)
    kept.push(Buffer.alloc(9 << 20))
    reclaimer.afterChunk()
    expect(calls).toHaveLength(2)
    expect(kept).toHaveLength(3)
  })

  it('by default collects after 4 MB of new Buffers: a few MB of dead ones start a mark-compact on a backup\'s small heap', () => {
    expect(RECLAIM_STEP_BYTES).toBe(4 << 20)
    const calls: unknown[] = []
    const kept: Buffer[] = []
    const reclaimer = new BufferReclaimer({ collect: (options) => void calls.push(options) })
    kept.push(Buffer.alloc(3 << 20))
    reclaimer.afterChunk()
    expect(calls).toEqual([])
    kept.push(Buffer.alloc(1 << 20))
    reclaimer.afterChunk()
    expect(calls).toEqual([{ type: 'minor' }])
    expect(kept).toHaveLength(2)
  })

  it('does nothing where gc is not exposed (a library user\'s process)', () => {
    const exposed = (globalThis as { gc?: unknown }).gc
    delete (globalThis as { gc?: unknown }).gc
    try {
      const reclaimer = new BufferReclaimer({ stepBytes: 1 })
      const kept = Buffer.alloc(4 << 20)
      expect(() => reclaimer.afterChunk()).not.toThrow()
      expect(kept.length).toBe(4 << 20)
    } finally {
      if (exposed !== undefined) (globalThis as { gc?: unknown }).gc = exposed
    }
  })
})

describe('ChunkPool', () => {
  it('hands a released chunk out again, keeps at most its count, and ignores what it did not make', () => {
    const pool = new ChunkPool(1024, 2)
    const a = pool.take(1000)
    const b = pool.take(1024)
    const c = pool.take(10)
    expect(a.length).toBe(1024)
    expect(new Set([a.buffer, b.buffer, c.buffer]).size).toBe(3)
    // Bigger than the pool's size: a chunk of its own, never pooled.
    const big = pool.take(4096)
    expect(big.length).toBe(4096)
    releaseChunk(big)
    releaseChunk(Buffer.alloc(1024))
    expect(pool.free).toBe(0)
    // Any view of a chunk releases the chunk; twice is once.
    releaseChunk(a.subarray(10, 20))
    releaseChunk(a)
    expect(pool.free).toBe(1)
    releaseChunk(b)
    releaseChunk(c)
    expect(pool.free).toBe(2)
    // The last released first; c found the pool full.
    expect(pool.take(1024).buffer).toBe(b.buffer)
    expect(pool.take(1024).buffer).toBe(a.buffer)
    const fresh = pool.take(1024)
    expect([a.buffer, b.buffer, c.buffer]).not.toContain(fresh.buffer)
  })

  it('overwrites a released chunk when poisoning is on (the safety tests\' check that nothing reads it later)', () => {
    const pool = new ChunkPool(16)
    const chunk = pool.take(16).fill(1)
    const before = releasedChunks()
    poisonReleasedChunks(true)
    try {
      releaseChunk(chunk)
    } finally {
      poisonReleasedChunks(false)
    }
    expect(releasedChunks()).toBe(before + 1)
    expect([...chunk]).toEqual(new Array(16).fill(0xee))
  })
})
