/**
 * Reading `COPY … TO STDOUT` off the connection's socket straight into chunks of whole lines
 * (docs/performance.md §Round twelve: PostgreSQL backup, COPY read into whole-line chunks).
 *
 * pg-copy-streams' copy-to copied each socket read into a new zero-filled Buffer, and the
 * backup then copied those into 1 MiB chunks of whole lines: every byte of a backup passed
 * through three Buffers on this thread before the writer saw it, and the garbage collector was
 * about a third of a backup's CPU. Here the protocol's messages are parsed as they come and the
 * payload of each CopyData (one row, in practice) is copied once, from the socket's read into
 * the chunk it is handed out in.
 *
 * The connection is borrowed the way pg-copy-streams borrows it: while the COPY runs, the
 * socket's `data` goes to CopyOutParser instead of the driver's own parser. At CopyDone, or at
 * the first message that is not part of the copy (an ErrorResponse: a failed or cancelled
 * statement), the socket is handed back with the bytes not yet parsed, and the driver reads the
 * rest of the statement (CommandComplete or the error, then ReadyForQuery) as for any other.
 * NoticeResponse, ParameterStatus and NotificationResponse may come between CopyData messages;
 * they are skipped, as pg-copy-streams skipped them.
 *
 * @module
 */
import { ChunkPool } from '../../engine/buffer-reclaim.js'
import { InternalError } from '../../errors.js'

/** Message types of the COPY OUT sub-protocol (PostgreSQL protocol §55.7). */
const COPY_DATA = 0x64 // 'd'
const COPY_DONE = 0x63 // 'c'
/** Messages that may come during a COPY, passed over: CopyOutResponse, NoticeResponse, ParameterStatus, NotificationResponse. */
const PASSED_OVER = new Set([0x48, 0x4e, 0x53, 0x41]) // 'H' 'N' 'S' 'A'
/** A message's header: its type byte and its length (which counts itself, not the type). */
const HEADER_BYTES = 5

/**
 * Room a chunk has past `chunkBytes`, so that the row that takes it past them usually fits
 * without the chunk being grown.
 */
export const CHUNK_SLACK_BYTES = 64 * 1024

/** Chunks CopyOut keeps before it stops reading the socket. */
const MAX_READY = 1

/**
 * A read shorter than this (the server's 8 KiB packets, read as they come) pauses the socket for
 * READ_PAUSE_MS, so that the next read takes what arrived meanwhile (up to the 64 KiB of a read)
 * instead of one packet at a time: most of a backup's reads were one packet each, and every read
 * costs a wakeup, a read call and a trip through the stream's JavaScript.
 */
const SMALL_READ_BYTES = 32 * 1024
const READ_PAUSE_MS = 1

/**
 * Parses the server's side of a COPY OUT from the bytes of the socket, in whatever pieces they
 * come (a message split between reads, a header split, many messages in one read), and hands
 * CopyData payloads on as chunks of whole lines, each at least `chunkBytes` long but the last.
 */
export class CopyOutParser {
  readonly #chunkBytes: number
  readonly #onChunk: (chunk: Buffer) => void
  /** Where chunks come from: released ones again when their consumer releases them (ChunkPool). */
  readonly #pool: ChunkPool | undefined
  /** The chunk being filled, `#filled` bytes of it so far; its lines end at `#lineEnd`. */
  #chunk: Buffer
  #filled = 0
  #lineEnd = 0
  /** The header being read when a read ended inside it, `#headerBytes` of it so far. */
  readonly #header = Buffer.alloc(HEADER_BYTES)
  #headerBytes = 0
  /** The type of the message being read and how many of its bytes are still to come. */
  #type = 0
  #left = 0
  #copyDone = false

  constructor(chunkBytes: number, onChunk: (chunk: Buffer) => void, pool?: ChunkPool) {
    this.#chunkBytes = chunkBytes
    this.#onChunk = onChunk
    this.#pool = pool
    this.#chunk = this.#newChunk(chunkBytes + CHUNK_SLACK_BYTES)
  }

  #newChunk(bytes: number): Buffer {
    return this.#pool?.take(bytes) ?? Buffer.allocUnsafeSlow(bytes)
  }

  /** True once CopyDone was read: every line has been handed on. */
  get copyDone(): boolean {
    return this.#copyDone
  }

  /**
   * Parses one read. Undefined while the COPY goes on; once it is over, the bytes of `data` that
   * are not the copy's (from an ErrorResponse's first byte, or after CopyDone; maybe none), which
   * belong to the driver. At CopyDone the last chunk (shorter, or ending inside a line when the
   * output did) has been handed on.
   */
  write(data: Buffer): Buffer | undefined {
    let at = 0
    while (at < data.length) {
      if (this.#left > 0) {
        const end = Math.min(data.length, at + this.#left)
        if (this.#type === COPY_DATA) this.#append(data, at, end)
        this.#left -= end - at
        at = end
        continue
      }
      if (this.#headerBytes === 0 && !this.#ownsMessage(data[at]!)) return data.subarray(at)
      if (this.#headerBytes === 0 && data.length - at >= HEADER_BYTES) {
        this.#type = data[at]!
        this.#left = data.readUInt32BE(at + 1) - 4
        at += HEADER_BYTES
      } else {
        const taken = Math.min(HEADER_BYTES - this.#headerBytes, data.length - at)
        data.copy(this.#header, this.#headerBytes, at, at + taken)
        this.#headerBytes += taken
        at += taken
        if (this.#headerBytes < HEADER_BYTES) continue
        this.#headerBytes = 0
        this.#type = this.#header[0]!
        this.#left = this.#header.readUInt32BE(1) - 4
      }
      if (this.#left < 0) throw new InternalError(`PostgreSQL sent a message of type ${this.#type} with a length below its own header's during a COPY.`)
      if (this.#type === COPY_DONE) {
        this.#copyDone = true
        if (this.#filled > 0) this.#onChunk(this.#chunk.subarray(0, this.#filled))
        return data.subarray(at)
      }
    }
    return undefined
  }

  /** Whether a message starting with `type` is read here rather than by the driver. */
  #ownsMessage(type: number): boolean {
    return type === COPY_DATA || type === COPY_DONE || PASSED_OVER.has(type)
  }

  /** Copies `data[start, end)` (CopyData payload) into the chunk, handing it on once its lines reach chunkBytes. */
  #append(data: Buffer, start: number, end: number): void {
    const length = end - start
    if (this.#filled + length > this.#chunk.length) this.#grow(this.#filled + length)
    data.copy(this.#chunk, this.#filled, start, end)
    // A row's CopyData ends with its newline: look further only for a row split over reads.
    const newline = data[end - 1] === 0x0a ? end - 1 : data.subarray(start, end).lastIndexOf(0x0a) + start
    this.#filled += length
    if (newline >= start) this.#lineEnd = this.#filled - (end - newline - 1)
    if (this.#lineEnd >= this.#chunkBytes) this.#handOn()
  }

  /** Hands on the chunk's whole lines and starts the next chunk with the part line after them. */
  #handOn(): void {
    const full = this.#chunk
    const rest = this.#filled - this.#lineEnd
    this.#chunk = this.#newChunk(Math.max(rest, this.#chunkBytes) + CHUNK_SLACK_BYTES)
    full.copy(this.#chunk, 0, this.#lineEnd, this.#filled)
    this.#onChunk(full.subarray(0, this.#lineEnd))
    this.#filled = rest
    this.#lineEnd = 0
  }

  /** Makes the chunk hold at least `bytes` (a line longer than the slack). */
  #grow(bytes: number): void {
    const grown = Buffer.allocUnsafeSlow(Math.max(bytes, 2 * this.#chunk.length))
    this.#chunk.copy(grown, 0, 0, this.#filled)
    this.#chunk = grown
  }
}

/** What CopyOut uses of pg's Connection: its socket and how a simple query is sent. */
interface PgConnection {
  readonly stream: NodeJS.ReadableStream
  query(text: string): void
}

/**
 * `COPY … TO STDOUT` as a pg submittable (`client.query(new CopyOut(sql, chunkBytes))`) whose
 * output is taken with next(): chunks of whole lines as CopyOutParser cuts them. The socket is
 * read only while fewer than MAX_READY chunks wait to be taken, so a consumer that stops pulling
 * stops the server through TCP, as a paused stream did.
 */
export class CopyOut {
  readonly text: string
  readonly #parser: CopyOutParser
  readonly #ready: Buffer[] = []
  #stream: PgConnection['stream'] | undefined
  /** The driver's own `data` listener, put back when the COPY is over. */
  #driverData: ((data: Buffer) => void) | undefined
  #paused = false
  #ended = false
  #error: unknown
  #wake: (() => void) | undefined
  readonly #onData = (data: Buffer): void => this.#read(data)

  constructor(text: string, chunkBytes: number, pool?: ChunkPool) {
    this.text = text
    this.#parser = new CopyOutParser(chunkBytes, (chunk) => this.#ready.push(chunk), pool)
  }

  /** True once nothing more will come: the lines are all read, or the statement failed. */
  get done(): boolean {
    return this.#ended || this.#error !== undefined
  }

  /** The next chunk of lines, or null at the end. Throws the statement's error. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error
      const chunk = this.#ready.shift()
      if (chunk !== undefined) {
        if (this.#paused && this.#ready.length < MAX_READY) {
          this.#paused = false
          this.#stream!.resume()
        }
        return chunk
      }
      if (this.#ended) return null
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
  }

  /** Called by pg when the connection is ours: take its socket's reads, then send the COPY. */
  submit(connection: PgConnection): void {
    const stream = connection.stream
    const listeners = stream.listeners('data')
    if (listeners.length !== 1) throw new InternalError(`Expected one reader on the PostgreSQL socket, found ${listeners.length}.`)
    this.#stream = stream
    this.#driverData = listeners[0] as (data: Buffer) => void
    stream.removeListener('data', this.#driverData)
    stream.on('data', this.#onData)
    connection.query(this.text)
  }

  /** pg: the statement failed (the server's ErrorResponse, or the connection was lost). */
  handleError(error: unknown): void {
    this.#error = error
    this.#giveBack(Buffer.alloc(0))
    this.#wakeUp()
  }

  /** pg: CommandComplete, after CopyDone. The row count is not needed. */
  handleCommandComplete(): void {}

  /** pg: the statement is over. */
  handleReadyForQuery(): void {
    this.#ended = true
    this.#wakeUp()
  }

  #read(data: Buffer): void {
    const rest = this.#parser.write(data)
    if (rest !== undefined) {
      this.#ended = this.#parser.copyDone
      this.#giveBack(rest)
    } else if (this.#ready.length >= MAX_READY && !this.#paused) {
      this.#paused = true
      this.#stream!.pause()
    } else if (data.length < SMALL_READ_BYTES && !this.#paused) {
      this.#paused = true
      this.#stream!.pause()
      setTimeout(this.#afterPause, READ_PAUSE_MS)
    }
    this.#wakeUp()
  }

  /** The end of a pause after a short read: reading goes on unless a chunk waits (or it already did). */
  readonly #afterPause = (): void => {
    if (this.#paused && this.#driverData !== undefined && this.#ready.length < MAX_READY) {
      this.#paused = false
      this.#stream!.resume()
    }
  }

  /** Hands the socket back to the driver, with the bytes it has not parsed yet. */
  #giveBack(rest: Buffer): void {
    const stream = this.#stream
    if (stream === undefined || this.#driverData === undefined) return
    stream.removeListener('data', this.#onData)
    stream.on('data', this.#driverData)
    const driverData = this.#driverData
    this.#driverData = undefined
    if (rest.length > 0) driverData(rest)
    if (this.#paused) {
      this.#paused = false
      stream.resume()
    }
  }

  #wakeUp(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}
