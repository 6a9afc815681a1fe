/**
 * The thread that builds a digest index (digest-index.ts) while a backup is written, so that the
 * backup's own thread only copies each chunk of record lines into a message (issue #17: on the
 * main thread the index doubled a plain PostgreSQL backup).
 *
 * It is plain JavaScript run with `new Worker(source, { eval: true })`: the same text works under
 * the compiled dist/, tsx and vitest, none of which load a TypeScript file in a worker alike.
 * digest-index.test.ts checks every entry it writes against the reference functions (keyCutter,
 * keyText, shortDigest) of digest-index.ts, which define the format.
 *
 * Messages, handled strictly in order (each waits for the previous one's writes):
 *   { type: 'bytes', data }                    raw index bytes (entries, 'E'), written as they are
 *   { type: 'table', head, columns, key }      a table header ('T' …) and the columns / key to cut
 *   { type: 'lines', data }                    record lines, each followed by '\n'; one entry each;
 *                                              answered with { type: 'ack', bytes, data }: the
 *                                              buffer goes back, to be filled again
 *   { type: 'end' }                            gzip's end and fsync; answered with { type: 'done' }
 * The file descriptor is the caller's: it opens and closes it.
 * A failure is answered with { type: 'error', message, tooLong? } and every later message is ignored.
 */
export const DIGEST_INDEX_WORKER_SOURCE = String.raw`
'use strict'
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const zlib = require('node:zlib')
const crypto = require('node:crypto')
const { once } = require('node:events')

const DIGEST_BYTES = 16
const OUT_BYTES = 1 << 20
const sha256 = typeof crypto.hash === 'function'
  ? (bytes) => crypto.hash('sha256', bytes, 'buffer')
  : (bytes) => crypto.createHash('sha256').update(bytes).digest()

const fd = workerData.fd
const file = fs.createWriteStream('', { fd, autoClose: false })
const gzip = zlib.createGzip({ level: 1 })
gzip.pipe(file)
let failure
const failed = new Promise((_, reject) => {
  gzip.on('error', reject)
  file.on('error', reject)
})
failed.catch((error) => { failure ??= error })

let out = Buffer.allocUnsafe(OUT_BYTES)
let used = 0
async function flush() {
  if (failure !== undefined) throw failure
  if (used === 0) return
  const data = out.subarray(0, used)
  out = Buffer.allocUnsafe(OUT_BYTES)
  used = 0
  if (!gzip.write(data)) await Promise.race([once(gzip, 'drain'), failed])
}
async function put(bytes) {
  if (used + bytes.length > out.length) {
    await flush()
    if (bytes.length > out.length) out = Buffer.allocUnsafe(bytes.length)
  }
  out.set(bytes, used)
  used += bytes.length
}

let table
function tableOf(message) {
  const key = message.key
  const positions = key.map((name) => message.columns.indexOf(name))
  const last = positions.length === 0 || positions.some((p) => p < 0) ? -1 : Math.max(...positions)
  const names = message.columns.slice(0, last + 1).map((name) => Buffer.from(JSON.stringify(name) + ':'))
  return { key, positions, last, names, begins: new Int32Array(last + 1), ends: new Int32Array(last + 1), scratch: Buffer.allocUnsafe(1024) }
}

// The key text of a canonical line, cut out of its bytes into t.scratch (as keyCutter in
// digest-index.ts does with strings). Its length, or -1 when the line must be parsed instead.
function cutKey(t, line) {
  if (t.last < 0 || line[0] !== 0x7b) return -1
  let at = 1
  for (let i = 0; i <= t.last; i++) {
    const name = t.names[i]
    if (at + name.length > line.length || line.compare(name, 0, name.length, at, at + name.length) !== 0) return -1
    at += name.length
    const begin = at
    const first = line[at]
    if (first === 0x22) {
      at++
      for (;;) {
        const c = line[at]
        if (c === undefined) return -1
        if (c === 0x5c) at += 2
        else if (c === 0x22) break
        else at++
      }
      at++
    } else if (first === 0x7b || first === 0x5b || first === undefined) {
      return -1
    } else {
      while (at < line.length && line[at] !== 0x2c && line[at] !== 0x7d) at++
    }
    if (line[at] !== 0x2c && line[at] !== 0x7d) return -1
    t.begins[i] = begin
    t.ends[i] = at
    at++
  }
  let length = 2 + t.positions.length - 1
  for (const p of t.positions) length += t.ends[p] - t.begins[p]
  if (length > t.scratch.length) t.scratch = Buffer.allocUnsafe(Math.max(length, 2 * t.scratch.length))
  const scratch = t.scratch
  let k = 0
  scratch[k++] = 0x5b
  for (let j = 0; j < t.positions.length; j++) {
    if (j > 0) scratch[k++] = 0x2c
    const p = t.positions[j]
    k += line.copy(scratch, k, t.begins[p], t.ends[p])
  }
  scratch[k++] = 0x5d
  return k
}

async function entry(keyBytes, line) {
  if (keyBytes.length > 0xffff) {
    const error = new Error('a key of ' + keyBytes.length + ' bytes is too long for the digest index (at most 65535)')
    error.tooLong = true
    throw error
  }
  const size = 3 + 2 * DIGEST_BYTES + keyBytes.length
  if (used + size > out.length) {
    await flush()
    if (size > out.length) out = Buffer.allocUnsafe(size)
  }
  out[used] = 0x52
  sha256(keyBytes).copy(out, used + 1, 0, DIGEST_BYTES)
  sha256(line).copy(out, used + 1 + DIGEST_BYTES, 0, DIGEST_BYTES)
  out.writeUInt16BE(keyBytes.length, used + 1 + 2 * DIGEST_BYTES)
  keyBytes.copy(out, used + 3 + 2 * DIGEST_BYTES)
  used += size
}

async function lines(data) {
  const t = table
  if (t === undefined || t.key.length === 0) return
  for (let start = 0; start < data.length; ) {
    let end = data.indexOf(0x0a, start)
    if (end === -1) end = data.length
    const line = data.subarray(start, end)
    const cut = cutKey(t, line)
    let keyBytes
    if (cut >= 0) keyBytes = t.scratch.subarray(0, cut)
    else {
      const row = JSON.parse(line.toString('utf8'))
      keyBytes = Buffer.from(JSON.stringify(t.key.map((column) => row[column] ?? null)))
    }
    await entry(keyBytes, line)
    start = end + 1
  }
}

async function finish() {
  await flush()
  gzip.end()
  await Promise.race([once(file, 'finish'), failed])
  fs.fsyncSync(fd)
}

let queue = Promise.resolve()
parentPort.on('message', (message) => {
  queue = queue.then(async () => {
    if (failure !== undefined) return
    try {
      if (message.type === 'bytes') await put(Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength))
      else if (message.type === 'table') {
        await put(Buffer.from(message.head.buffer, message.head.byteOffset, message.head.byteLength))
        table = tableOf(message)
      } else if (message.type === 'lines') {
        await lines(Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength))
        parentPort.postMessage({ type: 'ack', bytes: message.data.byteLength, data: message.data }, [message.data.buffer])
      } else if (message.type === 'end') {
        await finish()
        parentPort.postMessage({ type: 'done' })
      }
    } catch (error) {
      failure = error
      parentPort.postMessage({ type: 'error', message: String(error && error.message ? error.message : error), tooLong: error && error.tooLong === true })
    }
  })
})
`
