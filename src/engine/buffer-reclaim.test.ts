import { describe, expect, it } from 'vitest'
import { BufferReclaimer, RECLAIM_STEP_BYTES } from './buffer-reclaim.js'

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
