import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { TableSchema } from '../adapters/adapter.js'
import { randomBytes } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { gzipSync } from 'node:zlib'
import { DigestIndexWriter, gunzipWhole, keyCutter, keyText, loadDigestIndex, shortDigest } from './digest-index.js'
import { DIGEST_INDEX_WORKER_SOURCE } from './digest-index-worker.js'

function table(columns: string[], key: string[]): TableSchema {
  return {
    name: 't',
    primaryKey: key,
    columns: columns.map((name) => ({ name, type: 'text', kind: 'text', nullable: true })),
    uniqueConstraints: [],
    indexes: [],
    foreignKeys: [],
  } as unknown as TableSchema
}

describe('keyCutter', () => {
  it('cuts exactly the key text JSON.stringify of the parsed key values gives, or declines', () => {
    const cases: [string[], string[], Record<string, unknown>][] = [
      [['id', 'name'], ['id'], { id: 1, name: 'x' }],
      [['id', 'name'], ['id'], { id: 'a "quoted" \\ back\nslash é 👋', name: 'x' }],
      [['a', 'b', 'c'], ['c', 'a'], { a: '1', b: 'x,}y', c: -2.5e-7 }],
      [['a', 'b'], ['b'], { a: null, b: true }],
      [['a', 'b'], ['b'], { a: 'only a' }],
    ]
    for (const [columns, key, row] of cases) {
      const line = Buffer.from(JSON.stringify(row))
      const cut = keyCutter(table(columns, key))(line)
      if (key.every((k) => k in row)) expect(cut).toBe(keyText(row, key))
      else expect(cut).toBeUndefined()
    }
    // A nested value before the key, another key order, whitespace: parse instead.
    expect(keyCutter(table(['j', 'id'], ['id']))(Buffer.from('{"j":[1,2],"id":3}'))).toBeUndefined()
    expect(keyCutter(table(['id', 'n'], ['n']))(Buffer.from('{"n":1,"id":3}'))).toBeUndefined()
    expect(keyCutter(table(['id'], ['id']))(Buffer.from('{ "id":3}'))).toBeUndefined()
  })
})

describe('digest index', () => {
  it('writes and loads entries, finds keys and tells changed rows', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbdx-'))
    try {
      const backupPath = path.join(dir, 'b.json')
      const writer = new DigestIndexWriter(backupPath)
      const schema = table(['id', 'v'], ['id'])
      await writer.beginTable(schema)
      const rows = Array.from({ length: 1000 }, (_, i) => ({ id: i, v: `v${i}` }))
      await writer.addRows(rows, ['id'])
      await writer.endTable()
      await writer.beginTable({ ...schema, name: 'nokey', primaryKey: [] })
      await writer.endTable()
      await writer.commit(backupPath)
      const index = (await loadDigestIndex(backupPath))!
      const t = index.tables.get('t')!
      expect(t.count).toBe(1000)
      expect(index.tables.get('nokey')!.count).toBe(0)
      const at = t.find(shortDigest('[500]'))
      expect(t.keyText(at)).toBe('[500]')
      expect(t.sameRow(at, shortDigest(JSON.stringify({ id: 500, v: 'v500' })))).toBe(true)
      expect(t.sameRow(at, shortDigest(JSON.stringify({ id: 500, v: 'changed' })))).toBe(false)
      expect(t.find(shortDigest('[1000]'))).toBe(-1)
      fs.writeFileSync(`${backupPath}.digests`, 'not gzip')
      await expect(loadDigestIndex(backupPath)).rejects.toThrow(/damaged/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('copies entries of a loaded index into a new one as they are (runs, single entries, more than a message), beside entries added one by one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbdx-copy-'))
    try {
      const first = path.join(dir, 'a.json')
      const writer = new DigestIndexWriter(first)
      const schema = table(['id', 'v'], ['id'])
      await writer.beginTable(schema)
      // About 2.5 MB of entries: runs larger than one message (1 MiB) to the index thread.
      const rows = Array.from({ length: 40_000 }, (_, i) => ({ id: `k${i}-${'x'.repeat(i % 40)}`, v: `v${i}` }))
      await writer.addRows(rows, ['id'])
      await writer.endTable()
      await writer.commit(first)
      const parent = (await loadDigestIndex(first))!.tables.get('t')!
      const key = (i: number) => JSON.stringify([rows[i]!.id])
      expect(parent.keyTextEquals(7, Buffer.from(`..${key(7)}..`), 2, 2 + Buffer.byteLength(key(7)))).toBe(true)
      expect(parent.keyTextEquals(7, Buffer.from(key(8)), 0, Buffer.byteLength(key(8)))).toBe(false)
      expect(parent.keyDigestEquals(7, Buffer.concat([Buffer.alloc(3), shortDigest(key(7))]), 3)).toBe(true)

      const second = path.join(dir, 'b.json')
      const copy = new DigestIndexWriter(second)
      await copy.beginTable(schema)
      await copy.addEntries(parent.entryBytes(0, 30_000))
      await copy.add(shortDigest('["new"]'), shortDigest('{"id":"new"}'), '["new"]')
      await copy.addEntries(parent.entryBytes(30_000, 30_001))
      await copy.addEntries(parent.entryBytes(30_001, 40_000))
      await copy.endTable()
      await copy.commit(second)
      const copied = (await loadDigestIndex(second))!.tables.get('t')!
      expect(copied.count).toBe(40_001)
      for (const i of [0, 1, 29_999, 30_000, 30_001, 39_999]) {
        const at = copied.find(shortDigest(key(i)))
        expect(at).toBe(i < 30_000 ? i : i + 1)
        expect(copied.keyText(at)).toBe(key(i))
        expect(copied.sameRow(at, shortDigest(JSON.stringify(rows[i])))).toBe(true)
      }
      expect(copied.keyText(copied.find(shortDigest('["new"]')))).toBe('["new"]')
      expect(Buffer.concat([copied.entryBytes(0, 30_000), copied.entryBytes(30_001, 40_001)]).equals(parent.entryBytes(0, 40_000))).toBe(true)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('hands the buffers of copied entries back, as those of lines, to be filled again (round eleven: peak RSS)', async () => {
    // A new buffer per message is freed only when the index thread's small heap is collected:
    // an increment at scale 20 copies ~100 MB of its parent's entries through these messages.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbdx-back-'))
    const fd = fs.openSync(path.join(dir, 'x.digests'), 'w')
    const worker = new Worker(DIGEST_INDEX_WORKER_SOURCE, { eval: true, workerData: { fd, level: 1 } })
    try {
      const sent = new Uint8Array(new ArrayBuffer(1 << 20), 0, 1000).fill(0x52)
      const ack = new Promise<{ type: string; bytes: number; data?: Uint8Array }>((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      worker.postMessage({ type: 'bytes', data: sent }, [sent.buffer])
      const answer = await ack
      expect(answer.type).toBe('ack')
      expect(answer.bytes).toBe(1000)
      expect(answer.data?.byteLength).toBe(1000)
      expect(answer.data?.buffer.byteLength).toBe(1 << 20)
    } finally {
      await worker.terminate()
      fs.closeSync(fd)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('writes, from record lines on its own thread, exactly the entries the reference functions define', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbdx-'))
    try {
      const backupPath = path.join(dir, 'b.json')
      const writer = new DigestIndexWriter(backupPath)
      // The key cut out of the bytes (one column, two in another order, after a string with
      // escapes), and lines the cutter declines (a nested value before the key): parsed instead.
      const cases: { schema: TableSchema; rows: Record<string, unknown>[] }[] = [
        { schema: { ...table(['id', 'v'], ['id']), name: 'one' }, rows: Array.from({ length: 2000 }, (_, i) => ({ id: i, v: `v${i} "é" 👋\\ ,}` })) },
        { schema: { ...table(['a', 's', 'b'], ['b', 'a']), name: 'two' }, rows: Array.from({ length: 300 }, (_, i) => ({ a: `a\"${i}`, s: 'x,"y"', b: -i / 7 })) },
        { schema: { ...table(['j', 'id'], ['id']), name: 'nested' }, rows: Array.from({ length: 50 }, (_, i) => ({ j: [i, { k: 'v' }], id: `k${i}` })) },
        { schema: { ...table(['id'], []), name: 'nokey' }, rows: [{ id: 1 }] },
        // Keys past the thread's 1 KiB key scratch (it grows twice), with key lengths seen before
        // it grew coming again after: the thread keeps one view of the scratch per length.
        { schema: { ...table(['id', 'v'], ['id']), name: 'long' }, rows: [5, 9, 1500, 5, 9, 3000, 1500, 5].map((n, i) => ({ id: `${'abcdefgh'[i]}${'x'.repeat(n - 1)}`, v: i })) },
      ]
      for (const { schema, rows } of cases) {
        await writer.beginTable(schema)
        // In chunks of whole lines, as a source hands them out, and one entry added by hand.
        const text = rows.map((row) => `${JSON.stringify(row)}\n`).join('')
        const lines = Buffer.from(text)
        const cut = lines.indexOf(0x0a, Math.floor(lines.length / 2)) + 1
        await writer.addLines(lines.subarray(0, cut), schema)
        await writer.addLines(lines.subarray(cut), schema)
        if (schema.primaryKey.length > 0) await writer.add(shortDigest('["added"]'), shortDigest('{}'), '["added"]')
        await writer.endTable()
      }
      await writer.commit(backupPath)
      expect(fs.readdirSync(dir).sort()).toEqual(['b.json.digests'])
      const index = (await loadDigestIndex(backupPath))!
      for (const { schema, rows } of cases) {
        const loaded = index.tables.get(schema.name)!
        if (schema.primaryKey.length === 0) {
          expect(loaded.count).toBe(0)
          continue
        }
        expect(loaded.count).toBe(rows.length + 1)
        rows.forEach((row, i) => {
          const text = keyText(row, schema.primaryKey)
          expect(loaded.keyText(i)).toBe(text)
          expect(loaded.keyDigest(i)).toEqual(shortDigest(text))
          expect(loaded.rowDigest(i)).toEqual(shortDigest(JSON.stringify(row)))
        })
        expect(loaded.keyText(rows.length)).toBe('["added"]')
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('compares lines with a parent on its thread: changed and new lines back per chunk, seen entries, and the same entries as addLines', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbdx-'))
    try {
      const schema = table(['id', 'v'], ['id'])
      const write = async (file: string, rows: Record<string, unknown>[], parent?: Awaited<ReturnType<typeof loadDigestIndex>>) => {
        const writer = new DigestIndexWriter(file)
        await writer.beginTable(schema)
        const lines = Buffer.from(rows.map((row) => `${JSON.stringify(row)}\n`).join(''))
        const changed: string[] = []
        let count = 0
        let seen: Uint8Array | undefined
        if (parent === undefined) await writer.addLines(lines, schema)
        else {
          writer.compareWith(parent.tables.get('t')!)
          // Chunks cut at line ends, one of them empty.
          const cuts = [0, lines.indexOf(0x0a, 100) + 1, lines.indexOf(0x0a, 100) + 1, lines.indexOf(0x0a, lines.length - 200) + 1, lines.length]
          const results = []
          for (let i = 1; i < cuts.length; i++) results.push((await writer.compareLines(lines.subarray(cuts[i - 1], cuts[i]), schema)).result)
          for (const result of results) {
            const r = await result
            count += r.count
            if (r.changed !== undefined) changed.push(...r.changed.toString('utf8').split('\n').slice(0, -1))
          }
          seen = await writer.compareEnd()
        }
        await writer.endTable()
        await writer.commit(file)
        return { changed, count, seen, index: (await loadDigestIndex(file))! }
      }
      const rows = Array.from({ length: 400 }, (_, i) => ({ id: i * 2, v: `v${i}` }))
      const parent = (await write(path.join(dir, 'a.json'), rows)).index
      // A changed row, two gone, a new key between two others, one at the end, and two rows swapped (the order breaks).
      const now = rows.filter((r) => r.id !== 20 && r.id !== 22).map((r) => (r.id === 100 ? { ...r, v: 'changed' } : r))
      now.splice(30, 0, { id: 61, v: 'new' })
      now.push({ id: 5000, v: 'last' })
      ;[now[200], now[201]] = [now[201]!, now[200]!]
      const compared = await write(path.join(dir, 'b.json'), now, parent)
      const plain = await write(path.join(dir, 'c.json'), now)
      expect(compared.count).toBe(now.length)
      expect(compared.changed).toEqual([{ id: 61, v: 'new' }, { id: 100, v: 'changed' }, { id: 5000, v: 'last' }].map((r) => JSON.stringify(r)))
      const t = parent.tables.get('t')!
      expect(Array.from({ length: t.count }, (_, i) => i).filter((i) => compared.seen![i] === 0).map((i) => t.keyText(i))).toEqual(['[20]', '[22]'])
      const mine = compared.index.tables.get('t')!.arrays()
      const theirs = plain.index.tables.get('t')!.arrays()
      expect(mine.digests.equals(theirs.digests)).toBe(true)
      expect(mine.keyTexts.equals(theirs.keyTexts)).toBe(true)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('fails the next call on a key too long for the index, and abort leaves no file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbdx-'))
    try {
      const backupPath = path.join(dir, 'b.json')
      const writer = new DigestIndexWriter(backupPath)
      const schema = table(['id'], ['id'])
      await writer.beginTable(schema)
      await writer.addLines(Buffer.from(`${JSON.stringify({ id: 'x'.repeat(70_000) })}\n`), schema)
      await writer.endTable()
      await expect(writer.commit(backupPath)).rejects.toThrow(/too long for the digest index/)
      await writer.abort()
      expect(fs.readdirSync(dir)).toEqual([])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  /** The digests the index thread computes for `inputs` (its test mode), run from `source`. */
  async function threadDigests(source: string, inputs: readonly Buffer[]): Promise<Buffer> {
    const worker = new Worker(source, { eval: true, workerData: { test: inputs } })
    try {
      const answer = await new Promise<{ digests: Uint8Array }>((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      return Buffer.from(answer.digests)
    } finally {
      await worker.terminate()
    }
  }

  // Every length around SHA-256's block edges, lines of several blocks, one larger than a
  // message's usual line, and inputs whose digests hold bytes of every value (the thread reads
  // the digest back from a latin1 string: a byte above 0x7f must come back as itself).
  const digestInputs = [
    ...Array.from({ length: 300 }, (_, n) => randomBytes(n)),
    randomBytes(70_000),
    Buffer.from('["ü€😀"]'),
    Buffer.alloc(64, 0xff),
  ]

  it("hashes on its thread exactly as shortDigest does, at every length around SHA-256's block edges", async () => {
    const digests = await threadDigests(DIGEST_INDEX_WORKER_SOURCE, digestInputs)
    expect(digests.length).toBe(digestInputs.length * 16)
    digestInputs.forEach((input, i) => expect(digests.subarray(i * 16, (i + 1) * 16)).toEqual(shortDigest(input)))
    // Random digests of 300 inputs hold bytes above 0x7f: the latin1 round trip is exercised.
    expect(digests.some((byte) => byte >= 0x80)).toBe(true)
  })

  it('hashes the same where node has no crypto.hash (createHash, as node before 20.12)', async () => {
    const withoutHash = `'use strict'\nrequire('node:crypto').hash = undefined\n${DIGEST_INDEX_WORKER_SOURCE}`
    const digests = await threadDigests(withoutHash, digestInputs)
    digestInputs.forEach((input, i) => expect(digests.subarray(i * 16, (i + 1) * 16)).toEqual(shortDigest(input)))
  })

  it('fails its first call, not its constructor, when the file cannot be made; abort is then a no-op', async () => {
    const writer = new DigestIndexWriter(path.join(os.tmpdir(), `mbdx-missing-${process.pid}`, 'b.json'))
    await expect(writer.beginTable(table(['id'], ['id']))).rejects.toThrow(/ENOENT/)
    await expect(writer.commit(path.join(os.tmpdir(), 'b.json'))).rejects.toThrow(/ENOENT/)
    await writer.abort()
  })
})

describe('gunzipWhole (round eight: sidecars read into one buffer)', () => {
  it('gives the bytes whatever the level, the size hint of the trailer, or the number of members', async () => {
    const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(200_000, 7)])
    for (const level of [0, 1, 9]) expect((await gunzipWhole(gzipSync(data, { level }))).equals(data)).toBe(true)
    // Two members: the trailer names the last one's size only, a hint too small for the whole.
    const two = Buffer.concat([gzipSync(data, { level: 0 }), gzipSync(Buffer.from('tail'), { level: 0 })])
    expect((await gunzipWhole(two)).equals(Buffer.concat([data, Buffer.from('tail')]))).toBe(true)
    expect((await gunzipWhole(gzipSync(Buffer.alloc(0)))).length).toBe(0)
  })

  it('rejects what is not whole gzip data', async () => {
    const packed = gzipSync(randomBytes(100_000), { level: 0 })
    await expect(gunzipWhole(Buffer.from('not gzip'))).rejects.toThrow()
    await expect(gunzipWhole(packed.subarray(0, packed.length - 10))).rejects.toThrow()
    const flipped = Buffer.from(packed)
    flipped[5000] = flipped[5000]! ^ 1
    await expect(gunzipWhole(flipped)).rejects.toThrow()
  })
})
