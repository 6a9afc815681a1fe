import { PassThrough } from 'node:stream'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InternalError } from '../../errors.js'
import { CopyOut, CopyOutParser } from './postgres-copy-out.js'

/** One protocol message: its type, its length (counting itself), its body. */
function message(type: string, body: Buffer | string = ''): Buffer {
  const content = Buffer.from(body)
  const header = Buffer.alloc(5)
  header.write(type, 0, 'latin1')
  header.writeUInt32BE(content.length + 4, 1)
  return Buffer.concat([header, content])
}

const copyOutResponse = message('H', Buffer.from([0, 0, 1, 0, 0]))
const notice = message('N', 'SNOTICE\0Mhello\0\0')
const parameterStatus = message('S', 'TimeZone\0UTC\0')
const copyDone = message('c')
const commandComplete = message('C', 'COPY 4\0')
const readyForQuery = message('Z', 'T')
const errorResponse = message('E', 'SERROR\0C57014\0Mcanceling statement due to user request\0\0')

const LINES = ['{"id":1,"t":"a\\tb"}\n', '{"id":2,"t":"é ☃ 𝄞"}\n', '\n', `{"id":4,"t":"${'x'.repeat(40)}"}\n`]

/** A COPY OUT as the server sends it, with the messages that may come between rows, and what follows it. */
const SESSION = Buffer.concat([
  copyOutResponse,
  notice,
  message('d', LINES[0]),
  message('d', LINES[1]),
  parameterStatus,
  message('d', LINES[2]),
  message('d', LINES[3]),
  copyDone,
  commandComplete,
  readyForQuery,
])
const AFTER_COPY = Buffer.concat([commandComplete, readyForQuery])

/** Feeds `pieces` to a parser; the chunks it handed on and what it gave back to the driver. */
function parse(pieces: readonly Buffer[], chunkBytes: number): { chunks: Buffer[]; rest: Buffer | undefined; copyDone: boolean } {
  const chunks: Buffer[] = []
  const parser = new CopyOutParser(chunkBytes, (chunk) => chunks.push(Buffer.from(chunk)))
  let rest: Buffer | undefined
  for (const piece of pieces) {
    const back = parser.write(piece)
    if (back === undefined) continue
    // The driver gets the rest of this read and every later read.
    rest = Buffer.concat([back, ...pieces.slice(pieces.indexOf(piece) + 1)])
    break
  }
  return { chunks, rest, copyDone: parser.copyDone }
}

/** `data` cut at `points` (sorted offsets). */
function cut(data: Buffer, points: readonly number[]): Buffer[] {
  const bounds = [0, ...points, data.length]
  return bounds.slice(1).map((end, i) => data.subarray(bounds[i], end))
}

/** Every chunk but the last ends a line and holds at least chunkBytes. */
function expectWholeLineChunks(chunks: readonly Buffer[], chunkBytes: number): void {
  for (const chunk of chunks.slice(0, -1)) {
    expect(chunk[chunk.length - 1]).toBe(0x0a)
    expect(chunk.length).toBeGreaterThanOrEqual(chunkBytes)
  }
}

describe('CopyOutParser', () => {
  it('gives the rows and hands back what follows CopyDone, whatever two reads the bytes come in', () => {
    for (const chunkBytes of [1, 30, 1 << 20]) {
      for (let at = 0; at <= SESSION.length; at++) {
        const { chunks, rest, copyDone } = parse(cut(SESSION, [at]), chunkBytes)
        expect(Buffer.concat(chunks).toString(), `cut at ${at}`).toBe(LINES.join(''))
        expectWholeLineChunks(chunks, chunkBytes)
        expect(rest).toEqual(AFTER_COPY)
        expect(copyDone).toBe(true)
      }
    }
  })

  it('gives the same rows when the bytes come one at a time, or in any pieces (property)', () => {
    const one = parse(cut(SESSION, Array.from({ length: SESSION.length - 1 }, (_, i) => i + 1)), 30)
    expect(Buffer.concat(one.chunks).toString()).toBe(LINES.join(''))
    expect(one.rest).toEqual(AFTER_COPY)
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: SESSION.length - 1 })), fc.integer({ min: 1, max: 100 }), (points, chunkBytes) => {
        const { chunks, rest } = parse(cut(SESSION, [...points].sort((a, b) => a - b)), chunkBytes)
        expect(Buffer.concat(chunks).toString()).toBe(LINES.join(''))
        expectWholeLineChunks(chunks, chunkBytes)
        expect(rest).toEqual(AFTER_COPY)
      }),
    )
  })

  it('cuts chunks at line ends when a row spans CopyData messages, reads, and the chunk size', () => {
    const long = `${'y'.repeat(200_000)}\n`
    const rows = ['a\n', long, 'b\n', 'c\n']
    // The long row comes in three CopyData messages, the last two rows in one.
    const data = Buffer.concat([
      message('d', rows[0]),
      message('d', long.slice(0, 70_000)),
      message('d', long.slice(70_000, 150_000)),
      message('d', long.slice(150_000)),
      message('d', rows[2] + rows[3]),
      copyDone,
    ])
    for (const points of [[], [3], [70_010], [100_000, 140_004, 150_011], [data.length - 3]]) {
      const { chunks, rest } = parse(cut(data, points), 4)
      expect(chunks.map((c) => c.toString()).join('|')).toBe([rows[0] + long, rows[2] + rows[3]].join('|'))
      expect(rest).toEqual(Buffer.alloc(0))
    }
  })

  it('hands the ErrorResponse and all after it to the driver, and no part of a chunk', () => {
    const data = Buffer.concat([copyOutResponse, message('d', LINES[0]), message('d', LINES[1]), errorResponse, readyForQuery])
    const fromError = data.length - errorResponse.length - readyForQuery.length
    for (let at = 0; at <= data.length; at++) {
      const { chunks, rest, copyDone } = parse(cut(data, [at]), 1 << 20)
      expect(chunks, `cut at ${at}`).toEqual([])
      expect(rest).toEqual(data.subarray(fromError))
      expect(copyDone).toBe(false)
    }
    // The chunks already full were handed on before the error.
    const { chunks, rest } = parse([data], 1)
    expect(chunks.map((c) => c.toString())).toEqual([LINES[0], LINES[1]])
    expect(rest).toEqual(data.subarray(fromError))
  })

  it('hands on a last line without its newline at CopyDone (the caller reports it)', () => {
    const { chunks } = parse([Buffer.concat([message('d', 'a\n'), message('d', 'b'), copyDone])], 1 << 20)
    expect(chunks.map((c) => c.toString())).toEqual(['a\nb'])
  })

  it('refuses a message whose length is shorter than its own length field', () => {
    const bad = Buffer.from([0x64, 0, 0, 0, 3])
    expect(() => parse([bad], 10)).toThrow(InternalError)
  })
})

/** A pg Connection as CopyOut sees it: a socket with the driver's one `data` listener. */
function fakeConnection(): { stream: PassThrough; sent: string[]; driver: Buffer[]; query(text: string): void } {
  const stream = new PassThrough()
  const driver: Buffer[] = []
  stream.on('data', (data: Buffer) => driver.push(data))
  const sent: string[] = []
  return { stream, sent, driver, query: (text) => sent.push(text) }
}

describe('CopyOut', () => {
  it('reads the COPY off the socket, stops reading while a chunk waits, and gives the socket back after CopyDone', async () => {
    const connection = fakeConnection()
    const copy = new CopyOut('COPY t TO STDOUT', 4)
    copy.submit(connection)
    expect(connection.sent).toEqual(['COPY t TO STDOUT'])
    connection.stream.write(Buffer.concat([copyOutResponse, message('d', 'one\n'), message('d', 'two!\n')]))
    await new Promise((resolve) => setImmediate(resolve))
    expect(connection.stream.isPaused()).toBe(true)
    expect((await copy.next())?.toString()).toBe('one\n')
    expect(connection.stream.isPaused()).toBe(true)
    connection.stream.write(Buffer.concat([message('d', 'three\n'), copyDone, commandComplete]))
    connection.stream.write(readyForQuery)
    expect((await copy.next())?.toString()).toBe('two!\n')
    expect(connection.stream.isPaused()).toBe(false)
    expect((await copy.next())?.toString()).toBe('three\n')
    expect(await copy.next()).toBeNull()
    expect(copy.done).toBe(true)
    await new Promise((resolve) => setImmediate(resolve))
    expect(Buffer.concat(connection.driver)).toEqual(AFTER_COPY)
  })

  it('pauses the socket for a moment after a short read, so the next read takes what came meanwhile; not after a long one', async () => {
    const connection = fakeConnection()
    const copy = new CopyOut('COPY t TO STDOUT', 1 << 20)
    copy.submit(connection)
    connection.stream.write(Buffer.concat([copyOutResponse, message('d', 'one\n')]))
    await new Promise((resolve) => setImmediate(resolve))
    expect(connection.stream.isPaused()).toBe(true)
    // Bytes that come during the pause wait in the socket, and are read after it.
    const long = `${'x'.repeat(40 * 1024)}\n`
    connection.stream.write(message('d', long))
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(connection.stream.isPaused()).toBe(false)
    connection.stream.write(message('d', long))
    await new Promise((resolve) => setImmediate(resolve))
    expect(connection.stream.isPaused()).toBe(false)
    connection.stream.write(Buffer.concat([copyDone, commandComplete, readyForQuery]))
    expect((await copy.next())?.toString()).toBe(`one\n${long}${long}`)
    expect(await copy.next()).toBeNull()
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(Buffer.concat(connection.driver)).toEqual(AFTER_COPY)
    expect(connection.stream.isPaused()).toBe(false)
  })

  it('throws the error pg reports after the ErrorResponse it was handed, and gives the socket back', async () => {
    const connection = fakeConnection()
    const copy = new CopyOut('COPY t TO STDOUT', 1 << 20)
    copy.submit(connection)
    connection.stream.write(Buffer.concat([copyOutResponse, message('d', 'one\n'), errorResponse, readyForQuery]))
    await new Promise((resolve) => setImmediate(resolve))
    expect(Buffer.concat(connection.driver)).toEqual(Buffer.concat([errorResponse, readyForQuery]))
    const failure = new Error('canceling statement due to user request')
    copy.handleError(failure)
    copy.handleReadyForQuery()
    await expect(copy.next()).rejects.toBe(failure)
    expect(copy.done).toBe(true)
  })
})
