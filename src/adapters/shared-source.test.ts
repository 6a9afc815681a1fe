import { describe, expect, it } from 'vitest'
import { SharedSource } from './shared-source.js'

async function* numbers(n: number, failAt?: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    if (i === failAt) throw new Error(`bad item ${i}`)
    yield i
  }
}

async function drain(iterable: AsyncIterable<number>, stopAfter = Infinity): Promise<number[]> {
  const got: number[] = []
  for await (const item of iterable) {
    got.push(item)
    if (got.length >= stopAfter) break
  }
  return got
}

describe('SharedSource', () => {
  it('gives each item to exactly one of the consumers, and ends them all', async () => {
    const source = new SharedSource(numbers(100))
    const [a, b, c] = await Promise.all([drain(source.reader()), drain(source.reader()), drain(source.reader())])
    expect([...a!, ...b!, ...c!].sort((x, y) => x - y)).toEqual([...Array(100).keys()])
    expect(a!.length).toBeGreaterThan(0)
    expect(b!.length).toBeGreaterThan(0)
    expect(source.exhausted).toBe(true)
    expect(source.failure).toBeUndefined()
    await source.settled
  })

  it("throws the source's error to every consumer, none of which sees an end", async () => {
    const source = new SharedSource(numbers(100, 40))
    const results = await Promise.allSettled([drain(source.reader()), drain(source.reader())])
    for (const result of results) expect(result.status === 'rejected' && (result.reason as Error).message).toBe('bad item 40')
    expect((source.failure?.error as Error).message).toBe('bad item 40')
  })

  it('a consumer that stops early stops the others with `stopped`, and closes the source', async () => {
    let closed = false
    const source = new SharedSource(
      (async function* () {
        try {
          yield* numbers(1000)
        } finally {
          closed = true
        }
      })(),
    )
    const results = await Promise.allSettled([drain(source.reader(), 5), drain(source.reader())])
    expect(results[0]).toMatchObject({ status: 'fulfilled' })
    expect(results[1]).toMatchObject({ status: 'rejected', reason: source.stopped })
    await source.settled
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(closed).toBe(true)
  })

  it('fail() before any read settles the source; a consumer joining late reads nothing', async () => {
    const source = new SharedSource(numbers(3))
    const error = new Error('elsewhere')
    source.fail(error)
    await source.settled
    await expect(drain(source.reader())).rejects.toBe(error)
    const ended = new SharedSource(numbers(3))
    expect(await drain(ended.reader())).toEqual([0, 1, 2])
    expect(await drain(ended.reader())).toEqual([])
    ended.fail(error)
    expect(ended.failure).toBeUndefined()
  })
})
