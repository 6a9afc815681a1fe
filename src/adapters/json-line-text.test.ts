import { describe, expect, it } from 'vitest'
import { OutputBuffers, TextOutput } from './json-line-text.js'

describe('OutputBuffers', () => {
  it('hands a buffer out again only once it is given back, through any view of it', () => {
    const buffers = new OutputBuffers(4096, 4)
    const a = buffers.take()
    const b = buffers.take()
    expect(a.length).toBe(4096)
    expect(a.buffer).not.toBe(b.buffer)
    // Not given back: a third take makes a new one.
    const c = buffers.take()
    expect([a.buffer, b.buffer]).not.toContain(c.buffer)
    // A TextOutput's finished text is a view of the buffer it was given.
    const out = new TextOutput(a)
    out.appendString('x\ty\n')
    const text = out.finish()
    expect(text.toString()).toBe('x\ty\n')
    buffers.giveBack(text)
    expect(buffers.take()).toBe(a)
    expect(buffers.take().buffer).not.toBe(a.buffer)
  })

  it('ignores what it did not hand out, and a buffer given back twice', () => {
    const buffers = new OutputBuffers(4096, 4)
    const a = buffers.take()
    buffers.giveBack(Buffer.alloc(4096))
    buffers.giveBack(Buffer.from('a pooled slice'))
    buffers.giveBack(a.subarray(10, 20))
    buffers.giveBack(a)
    // Given back twice, it would be handed out twice (two writers in one buffer).
    const first = buffers.take()
    const second = buffers.take()
    expect(first).toBe(a)
    expect(second.buffer).not.toBe(a.buffer)
    // An output that outgrew its buffer hands on a buffer of its own: not the pool's.
    const grown = new TextOutput(buffers.take())
    grown.appendString('y'.repeat(5000))
    buffers.giveBack(grown.finish())
    expect([first.buffer, second.buffer]).not.toContain(buffers.take().buffer)
  })

  it('keeps at most `keep` free buffers', () => {
    const buffers = new OutputBuffers(1024, 2)
    const taken = [buffers.take(), buffers.take(), buffers.take()]
    for (const buffer of taken) buffers.giveBack(buffer)
    const again = [buffers.take(), buffers.take(), buffers.take()]
    expect(again.filter((b) => taken.includes(b))).toHaveLength(2)
  })
})
