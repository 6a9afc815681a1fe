import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ByteQueue } from './byte-queue.js'

describe('ByteQueue', () => {
  it('hands out exact slices across any split of the input', () => {
    const data = randomBytes(5000)
    for (const writeSize of [1, 7, 64, 1000, 5000]) {
      for (const takeSize of [1, 13, 64, 4096]) {
        const queue = new ByteQueue()
        for (let i = 0; i < data.length; i += writeSize) queue.push(data.subarray(i, i + writeSize))
        const out: Buffer[] = []
        while (queue.length >= takeSize) out.push(queue.take(takeSize))
        out.push(queue.takeAll())
        expect(queue.length).toBe(0)
        expect(Buffer.concat(out).equals(data), `writes of ${writeSize}, takes of ${takeSize}`).toBe(true)
      }
    }
  })

  it('ignores empty pushes and refuses to take more than it holds', () => {
    const queue = new ByteQueue()
    queue.push(Buffer.alloc(0))
    queue.push(Buffer.from('abc'))
    expect(queue.length).toBe(3)
    expect(() => queue.take(4)).toThrow(RangeError)
    expect(queue.take(3).toString()).toBe('abc')
  })
})
