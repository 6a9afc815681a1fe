import { describe, expect, it } from 'vitest'
import { ChunkPool, releaseChunk } from '../engine/buffer-reclaim.js'
import { TextOutput } from './json-line-text.js'

// The restore's converter output: TextOutputs written into a ChunkPool's chunks, released by view.
describe('TextOutput in pooled chunks', () => {
  it('hands a buffer out again only once it is given back, through any view of it', () => {
    const buffers = new ChunkPool(4096, 4)
    const a = buffers.take(4096)
    const b = buffers.take(4096)
    expect(a.length).toBe(4096)
    expect(a.buffer).not.toBe(b.buffer)
    // Not given back: a third take makes a new one.
    const c = buffers.take(4096)
    expect([a.buffer, b.buffer]).not.toContain(c.buffer)
    // A TextOutput's finished text is a view of the buffer it was given.
    const out = new TextOutput(a)
    out.appendString('x\ty\n')
    const text = out.finish()
    expect(text.toString()).toBe('x\ty\n')
    releaseChunk(text)
    expect(buffers.take(4096)).toBe(a)
    expect(buffers.take(4096).buffer).not.toBe(a.buffer)
  })

  it('ignores what it did not hand out, and a buffer given back twice', () => {
    const buffers = new ChunkPool(4096, 4)
    const a = buffers.take(4096)
    releaseChunk(Buffer.alloc(4096))
    releaseChunk(Buffer.from('a pooled slice'))
    releaseChunk(a.subarray(10, 20))
    releaseChunk(a)
    // Given back twice, it would be handed out twice (two writers in one buffer).
    const first = buffers.take(4096)
    const second = buffers.take(4096)
    expect(first).toBe(a)
    expect(second.buffer).not.toBe(a.buffer)
    // An output that outgrew its buffer hands on a buffer of its own: not the pool's.
    const grown = new TextOutput(buffers.take(4096))
    grown.appendString('y'.repeat(5000))
    releaseChunk(grown.finish())
    expect([first.buffer, second.buffer]).not.toContain(buffers.take(4096).buffer)
  })

  it('keeps at most `keep` free buffers', () => {
    const buffers = new ChunkPool(1024, 2)
    const taken = [buffers.take(1024), buffers.take(1024), buffers.take(1024)]
    for (const buffer of taken) releaseChunk(buffer)
    const again = [buffers.take(1024), buffers.take(1024), buffers.take(1024)]
    expect(again.filter((b) => taken.includes(b))).toHaveLength(2)
  })
})
