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
 *   { type: 'bytes', data }                    raw index bytes (entries, 'E'), written as they are;
 *                                              answered with { type: 'ack', bytes, data } (back-pressure;
 *                                              the buffer goes back, to be filled again)
 *   { type: 'table', head, columns, key,       a table header ('T' …) and the columns / key to cut;
 *     stamped, digestStamps }                  stamped: its lines end in '\x02<xmin>' (row stamps),
 *                                              or, with digestStamps, '\x02<32 hex digits>' (MariaDB)
 *   { type: 'lines', data }                    record lines, each followed by '\n'; one entry each;
 *                                              answered with { type: 'ack', bytes, data, stamps? }:
 *                                              the buffer goes back, to be filled again, and for a
 *                                              stamped table the row-stamps entries of its lines
 *                                              ('S' keyDigest[16] uint32be(xmin) each, row-stamps.ts;
 *                                              'D' keyDigest[16] rowStamp[16] with digestStamps)
 *   { type: 'parent', digests, keyStarts,      an increment's table (after its 'table'): the parent's entries
 *     keyTexts }                               (TableDigests' arrays); from now on each 'lines' message is
 *                                              also compared with them, and its ack carries { count, changed }:
 *                                              the rows in it, and the [start, end) of each line that is new
 *                                              or differs from the parent (end includes its '\n')
 *   { type: 'blocks' }                         ends the block digests of a table begun with blockRows
 *                                              (storage/row-blocks.ts); answered with { type: 'blocks',
 *                                              blocks }: uint16be(rows) digest[16] per block of at most
 *                                              blockRows consecutive lines, SHA-256 of their bytes ('\n' included)
 *   { type: 'seen' }                           ends the comparison; answered with { type: 'seen', seen }:
 *                                              one byte per parent entry, 1 where a line matched its key
 *   { type: 'end' }                            gzip's end and fsync; answered with { type: 'done' }
 * The file descriptor is the caller's: it opens and closes it. Without one (an encrypted index),
 * the gzip output is sent back instead, as { type: 'out', data } messages before 'done'.
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
// The first 16 bytes of SHA-256 of 'bytes', written into 'out' at 'at'. The digest comes back as
// a latin1 string (one character per byte) rather than a Buffer: a Buffer per call is an
// ArrayBuffer with memory outside the heap for this thread's scavenges to sweep, a string is
// not, and it costs about half as much a call, for keys as for lines (docs/performance.md,
// Round eight). Tested against crypto for every length around the block edges (digest-index.test.ts).
const sha256Latin1 = typeof crypto.hash === 'function'
  ? (bytes) => crypto.hash('sha256', bytes, 'latin1')
  : (bytes) => crypto.createHash('sha256').update(bytes).digest('latin1')
// The 16 characters are stored one by one: Buffer's write (argument checks, the encoding's lookup,
// a call into C++) cost about as much again as the call that hashes a key (docs/performance.md,
// Round fifteen: PostgreSQL backup CPU).
function sha16(bytes, out, at) {
  const digest = sha256Latin1(bytes)
  for (let k = 0; k < DIGEST_BYTES; k++) out[at + k] = digest.charCodeAt(k)
}
if (workerData.test) {
  // digest-index.test.ts: the digests of these inputs, as this thread computes them.
  const inputs = workerData.test.map((data) => Buffer.from(data))
  const out = Buffer.alloc(inputs.length * DIGEST_BYTES)
  inputs.forEach((input, i) => sha16(input, out, i * DIGEST_BYTES))
  parentPort.postMessage({ type: 'test', digests: out })
} else {
  run()
}

function run() {
const fd = workerData.fd
// Without a file descriptor (an encrypted index) the gzip output goes back to the caller, which
// encrypts it: { type: 'out', data }, each before the 'done' that ends them.
const file = fd === undefined ? undefined : fs.createWriteStream('', { fd, autoClose: false })
// workerData.level: SIDECAR_GZIP_LEVEL (digest-index.ts). zlib's own 16 KiB output pieces: pieces of
// 1 MiB took a scale-20 PostgreSQL backup's peak RSS from 143 to 198 MB, of 128 KiB to 153 MB
// (docs/performance.md, round eight, the lead's merge).
const gzip = zlib.createGzip({ level: workerData.level ?? 1 })
if (file !== undefined) gzip.pipe(file)
else gzip.on('data', (data) => parentPort.postMessage({ type: 'out', data: Uint8Array.from(data) }))
let failure
const failed = new Promise((_, reject) => {
  gzip.on('error', reject)
  file?.on('error', reject)
})
failed.catch((error) => { failure ??= error })

// Output buffers gzip has finished with, filled again: a new 1 MiB buffer per flush is freed only
// when this thread's heap is collected, which its small heap rarely needs, so they piled up to
// ~25 MB of peak RSS (docs/performance.md, Round six: peak RSS).
const spareOut = []
let out = Buffer.allocUnsafe(OUT_BYTES)
let used = 0
async function flush() {
  if (failure !== undefined) throw failure
  if (used === 0) return
  const data = out.subarray(0, used)
  const full = out
  out = spareOut.pop() ?? Buffer.allocUnsafe(OUT_BYTES)
  used = 0
  // The buffer is filled again once gzip has taken its bytes (the write's callback).
  const ok = gzip.write(data, () => { if (full.length === OUT_BYTES && spareOut.length < 2) spareOut.push(full) })
  if (!ok) await Promise.race([once(gzip, 'drain'), failed])
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
  return { key, positions, last, names, begins: new Int32Array(last + 1), ends: new Int32Array(last + 1), scratch: Buffer.allocUnsafe(1024), views: { scratch: undefined, byLength: [] }, stamped: message.stamped === true, digestStamps: message.digestStamps === true, blocks: message.blockRows > 0 ? blocksOf(message.blockRows) : undefined }
}

// Block digests (storage/row-blocks.ts): each run of 'rows' consecutive lines is hashed whole
// where it lies in one message; the lines of a run cut by the end of a message are kept (copied:
// the message goes back) until its last line comes.
const BLOCK_ENTRY = 2 + DIGEST_BYTES
function blocksOf(rows) {
  return { rows, held: [], lines: 0, out: Buffer.allocUnsafe(1024 * BLOCK_ENTRY), used: 0 }
}
function blockDone(b, bytes) {
  if (b.used + BLOCK_ENTRY > b.out.length) {
    const grown = Buffer.allocUnsafe(2 * b.out.length)
    b.out.copy(grown, 0, 0, b.used)
    b.out = grown
  }
  b.out.writeUInt16BE(b.lines, b.used)
  const whole = b.held.length === 0 ? bytes : Buffer.concat([...b.held, bytes])
  sha256(whole).copy(b.out, b.used + 2, 0, DIGEST_BYTES)
  b.used += BLOCK_ENTRY
  b.held = []
  b.lines = 0
}
function blocksEnd(b) {
  if (b.lines > 0) blockDone(b, Buffer.alloc(0))
  const blocks = new Uint8Array(b.used)
  blocks.set(b.out.subarray(0, b.used))
  return blocks
}

// The key text of a canonical line, cut out of its bytes into t.scratch (as keyCutter in
// digest-index.ts does with strings). Its length, or -1 when the line must be parsed instead.
function cutKey(t, line) {
  if (t.last < 0 || line[0] !== 0x7b) return -1
  let at = 1
  for (let i = 0; i <= t.last; i++) {
    const name = t.names[i]
    if (at + name.length > line.length) return -1
    for (let k = 0; k < name.length; k++) if (line[at + k] !== name[k]) return -1
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
    for (let i = t.begins[p], end = t.ends[p]; i < end; i++) scratch[k++] = line[i]
  }
  scratch[k++] = 0x5d
  return k
}

// A view of t.scratch's first 'length' bytes (the key text cutKey left there), one kept per
// length: a new view per line was one more object a row for this thread's scavenges.
function keyView(t, length) {
  if (t.views.scratch !== t.scratch) t.views = { scratch: t.scratch, byLength: [] }
  return t.views.byLength[length] ??= t.scratch.subarray(0, length)
}

// The size of a line's entry; throws when its key is too long for the index.
function entrySize(keyBytes) {
  if (keyBytes.length > 0xffff) {
    const error = new Error('a key of ' + keyBytes.length + ' bytes is too long for the digest index (at most 65535)')
    error.tooLong = true
    throw error
  }
  return 3 + 2 * DIGEST_BYTES + keyBytes.length
}

// Makes room for 'size' bytes in 'out' (only awaited when it is full: no promise per line).
async function room(size) {
  await flush()
  if (size > out.length) out = Buffer.allocUnsafe(size)
}

// Writes the entry of one line where there is room; returns where in 'out' its key digest is.
// 'keyFrom'/'keyAt': where the key digest is already (the parent's entry of the same key text),
// instead of hashing the key.
function writeEntry(size, keyBytes, line, keyFrom, keyAt) {
  out[used] = 0x52
  if (keyFrom !== undefined) keyFrom.copy(out, used + 1, keyAt, keyAt + DIGEST_BYTES)
  else sha16(keyBytes, out, used + 1)
  sha16(line, out, used + 1 + DIGEST_BYTES)
  // Byte by byte: keys are short, and Buffer's methods cost more a call than these loops.
  const length = keyBytes.length
  const at = used + 1 + 2 * DIGEST_BYTES
  out[at] = length >>> 8
  out[at + 1] = length & 0xff
  for (let k = 0; k < length; k++) out[at + 2 + k] = keyBytes[k]
  used += size
  return used - size + 1
}

const STAMP_ENTRY = 1 + DIGEST_BYTES + 4
const DIGEST_STAMP_ENTRY = 1 + 2 * DIGEST_BYTES
function hexValue(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  return -1
}

// An increment's comparison with the parent (message 'parent'). The lines come in key order, as
// the parent's entries were written, so the entry after the last one matched is tried first: its
// key text is compared byte for byte with the line's (equal text, equal key digest: no hash).
// When the order breaks (a new key, a row gone, another order), the key digest is looked up as
// TableDigests.find does, in a table built here, and the walk goes on after the entry found.
// An entry whose key digest an earlier entry has too (a key twice) is never taken by position:
// find() gives the first, and so must this, to compare exactly as the main thread did.
function compareOf(message) {
  const digests = Buffer.from(message.digests.buffer, message.digests.byteOffset, message.digests.byteLength)
  const keyTexts = Buffer.from(message.keyTexts.buffer, message.keyTexts.byteOffset, message.keyTexts.byteLength)
  const keyStarts = message.keyStarts
  const count = digests.length / (2 * DIGEST_BYTES)
  let size = 16
  while (size < count * 2) size *= 2
  const slots = new Int32Array(size).fill(-1)
  const mask = size - 1
  const repeated = new Uint8Array(count)
  for (let i = 0; i < count; i++) {
    const at = i * 2 * DIGEST_BYTES
    let slot = digests.readUInt32BE(at) & mask
    for (;;) {
      const other = slots[slot]
      if (other === -1) {
        slots[slot] = i
        break
      }
      if (digests.compare(digests, at, at + DIGEST_BYTES, other * 2 * DIGEST_BYTES, other * 2 * DIGEST_BYTES + DIGEST_BYTES) === 0) {
        repeated[i] = 1
        break
      }
      slot = (slot + 1) & mask
    }
  }
  return { digests, keyTexts, keyStarts, count, slots, mask, repeated, seen: new Uint8Array(count), next: 0, probe: Buffer.allocUnsafe(DIGEST_BYTES) }
}

function findKey(c, keyDigest) {
  let slot = keyDigest.readUInt32BE(0) & c.mask
  for (;;) {
    const entry = c.slots[slot]
    if (entry === -1) return -1
    const at = entry * 2 * DIGEST_BYTES
    if (c.digests.compare(keyDigest, 0, DIGEST_BYTES, at, at + DIGEST_BYTES) === 0) return entry
    slot = (slot + 1) & c.mask
  }
}

// Writes the line's entry (room made) with its key digest; returns the parent's entry of its key
// (-1: none), and leaves where the entry's key digest is in 'written'.
let written = 0
function compareEntry(c, size, keyBytes, line) {
  const p = c.next
  let at = -1
  if (p < c.count && c.repeated[p] === 0) {
    const from = c.keyStarts[p]
    const to = c.keyStarts[p + 1]
    if (to - from === keyBytes.length && c.keyTexts.compare(keyBytes, 0, keyBytes.length, from, to) === 0) at = p
  }
  if (at >= 0) written = writeEntry(size, keyBytes, line, c.digests, at * 2 * DIGEST_BYTES)
  else {
    written = writeEntry(size, keyBytes, line)
    out.copy(c.probe, 0, written, written + DIGEST_BYTES)
    at = findKey(c, c.probe)
  }
  if (at >= 0) {
    c.seen[at] = 1
    c.next = at + 1
  }
  return at
}

// The lines' entries; for a stamped table, also their row-stamps entries (returned).
async function lines(data) {
  const t = table
  if (t === undefined || t.key.length === 0) return undefined
  // Room for 3 000 rows (a 1.25 MiB message of lines of 400 bytes), grown when there are more:
  // room for the shortest lines possible would be as large as the lines, for every message.
  const width = t.digestStamps ? DIGEST_STAMP_ENTRY : STAMP_ENTRY
  let stamps = t.stamped ? new Uint8Array(new ArrayBuffer(3000 * width)) : undefined
  let stamped = 0
  let rows = 0
  // [start, end) of each changed line of an increment's table, grown when full.
  let changed = new Uint32Array(64)
  let changes = 0
  const b = t.blocks
  let blockFrom = 0
  for (let start = 0; start < data.length; ) {
    let end = data.indexOf(0x0a, start)
    if (end === -1) end = data.length
    if (b !== undefined) {
      if (b.lines === 0 || start === 0) blockFrom = start
      b.lines++
      if (b.lines === b.rows) blockDone(b, data.subarray(blockFrom, Math.min(end + 1, data.length)))
    }
    let lineEnd = end
    let stamp = 0
    if (stamps !== undefined) {
      lineEnd = end - 1
      while (lineEnd > start && data[lineEnd] !== 0x02) lineEnd--
      if (data[lineEnd] !== 0x02) throw new Error('a record line read with its row stamp has none')
      if (t.digestStamps) {
        if (end - lineEnd - 1 !== 2 * DIGEST_BYTES) throw new Error('a row digest read with a record line is not ' + 2 * DIGEST_BYTES + ' hex digits')
      } else for (let i = lineEnd + 1; i < end; i++) stamp = stamp * 10 + (data[i] - 0x30)
    }
    const line = data.subarray(start, lineEnd)
    const cut = cutKey(t, line)
    let keyBytes
    if (cut >= 0) keyBytes = keyView(t, cut)
    else {
      const row = JSON.parse(line.toString('utf8'))
      keyBytes = Buffer.from(JSON.stringify(t.key.map((column) => row[column] ?? null)))
    }
    const size = entrySize(keyBytes)
    if (used + size > out.length) await room(size)
    let at
    if (t.compare !== undefined) {
      const c = t.compare
      const parentAt = compareEntry(c, size, keyBytes, line)
      at = written
      const row = at + DIGEST_BYTES
      const parentRow = parentAt * 2 * DIGEST_BYTES + DIGEST_BYTES
      if (parentAt < 0 || out.compare(c.digests, parentRow, parentRow + DIGEST_BYTES, row, row + DIGEST_BYTES) !== 0) {
        if (changes + 2 > changed.length) {
          const grown = new Uint32Array(2 * changed.length)
          grown.set(changed)
          changed = grown
        }
        changed[changes++] = start
        changed[changes++] = Math.min(end + 1, data.length)
      }
      rows++
    } else at = writeEntry(size, keyBytes, line)
    if (stamps !== undefined) {
      if (stamped + width > stamps.length) {
        const grown = new Uint8Array(new ArrayBuffer(2 * stamps.length))
        grown.set(stamps)
        stamps = grown
      }
      for (let k = 0; k < DIGEST_BYTES; k++) stamps[stamped + 1 + k] = out[at + k]
      if (t.digestStamps) {
        stamps[stamped] = 0x44
        for (let k = 0; k < DIGEST_BYTES; k++) {
          const hi = hexValue(data[lineEnd + 1 + 2 * k])
          const lo = hexValue(data[lineEnd + 2 + 2 * k])
          if (hi < 0 || lo < 0) throw new Error('a row digest read with a record line is not hex')
          stamps[stamped + 1 + DIGEST_BYTES + k] = (hi << 4) | lo
        }
      } else {
        stamps[stamped] = 0x53
        stamps[stamped + 17] = stamp >>> 24
        stamps[stamped + 18] = (stamp >>> 16) & 0xff
        stamps[stamped + 19] = (stamp >>> 8) & 0xff
        stamps[stamped + 20] = stamp & 0xff
      }
      stamped += width
    }
    start = end + 1
  }
  if (b !== undefined && b.lines > 0) b.held.push(Buffer.from(data.subarray(blockFrom)))
  if (t.compare !== undefined) return { compared: true, count: rows, changed: changed.slice(0, changes) }
  return stamps === undefined ? undefined : stamps.subarray(0, stamped)
}

async function finish() {
  await flush()
  gzip.end()
  if (file === undefined) {
    await Promise.race([once(gzip, 'end'), failed])
    return
  }
  await Promise.race([once(file, 'finish'), failed])
  fs.fsyncSync(fd)
}

let queue = Promise.resolve()
parentPort.on('message', (message) => {
  queue = queue.then(async () => {
    if (failure !== undefined) return
    try {
      if (message.type === 'bytes') {
        await put(Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength))
        // Handed back (put copied it), to be filled again: see the lines' ack below.
        parentPort.postMessage({ type: 'ack', bytes: message.data.byteLength, data: message.data }, [message.data.buffer])
      }
      else if (message.type === 'table') {
        await put(Buffer.from(message.head.buffer, message.head.byteOffset, message.head.byteLength))
        table = tableOf(message)
      } else if (message.type === 'lines') {
        const stamps = await lines(Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength))
        if (stamps !== undefined && stamps.compared === true) {
          parentPort.postMessage({ type: 'ack', bytes: message.data.byteLength, data: message.data, count: stamps.count, changed: stamps.changed }, [message.data.buffer, stamps.changed.buffer])
        } else if (stamps === undefined) parentPort.postMessage({ type: 'ack', bytes: message.data.byteLength, data: message.data }, [message.data.buffer])
        else parentPort.postMessage({ type: 'ack', bytes: message.data.byteLength, data: message.data, stamps }, [message.data.buffer, stamps.buffer])
      } else if (message.type === 'parent') {
        table.compare = compareOf(message)
      } else if (message.type === 'blocks') {
        const blocks = table !== undefined && table.blocks !== undefined ? blocksEnd(table.blocks) : new Uint8Array(0)
        if (table !== undefined) table.blocks = undefined
        parentPort.postMessage({ type: 'blocks', blocks }, [blocks.buffer])
      } else if (message.type === 'seen') {
        const seen = table !== undefined && table.compare !== undefined ? table.compare.seen : new Uint8Array(0)
        if (table !== undefined) table.compare = undefined
        parentPort.postMessage({ type: 'seen', seen }, [seen.buffer])
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
}
`
