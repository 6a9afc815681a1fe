import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { gunzipSync, gzipSync } from 'node:zlib'
import type { TableSchema } from '../adapters/adapter.js'
import { DIGEST_BYTES, DigestIndexReader, DigestIndexWriter, loadDigestIndex } from './digest-index.js'
import { loadRowStamps, RowStampsReader } from './row-stamps.js'

function table(name: string): TableSchema {
  return {
    name,
    primaryKey: ['id'],
    columns: ['id', 'v'].map((column) => ({ name: column, type: 'text', kind: 'text', nullable: true })),
    uniqueConstraints: [],
    indexes: [],
    foreignKeys: [],
  } as unknown as TableSchema
}

/** Reads of 4 KiB: every table's section spans many pieces. */
const PIECE = 4096

/** Every entry of the whole decompressed index, per table, parsed independently of the readers. */
function parseWhole(file: string): Map<string, Buffer> {
  const data = gunzipSync(fs.readFileSync(file))
  const tables = new Map<string, Buffer>()
  let at = 6
  while (at < data.length) {
    const length = data.readUInt32BE(at + 1)
    const name = (JSON.parse(data.toString('utf8', at + 5, at + 5 + length)) as { table: string }).table
    at += 5 + length
    const start = at
    while (data[at] === 0x52) at += 3 + 2 * DIGEST_BYTES + data.readUInt16BE(at + 1 + 2 * DIGEST_BYTES)
    tables.set(name, data.subarray(start, at))
    at++
  }
  return tables
}

/** Four tables of 3 000–6 000 rows (each section several times a read piece), and an empty one. */
async function writeIndex(dir: string): Promise<string> {
  const backupPath = path.join(dir, 'b.json')
  const writer = new DigestIndexWriter(backupPath)
  for (const [name, rows] of [['a', 3000], ['empty', 0], ['b', 6000], ['c', 4000], ['d', 5000]] as const) {
    await writer.beginTable(table(name))
    await writer.addRows(Array.from({ length: rows }, (_, i) => ({ id: `${name}-${i}-${'k'.repeat(i % 40)}`, v: i })), ['id'])
    await writer.endTable()
  }
  await writer.commit(backupPath)
  return backupPath
}

describe('DigestIndexReader', () => {
  it('reads a parent index larger than its read pieces table by table, in order, out of order and by names it lacks, with the same entries as the whole file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbdx-sections-'))
    try {
      const backupPath = await writeIndex(dir)
      const whole = parseWhole(`${backupPath}.digests`)
      expect(whole.get('b')!.length).toBeGreaterThan(20 * PIECE)
      // Buffer#equals: a deep toEqual of buffers this size takes seconds.
      const same = (t: { count: number; entryBytes(from: number, to: number): Buffer } | undefined, name: string): boolean => t !== undefined && t.entryBytes(0, t.count).equals(whole.get(name)!)

      // The walk's order, a table the index lacks, then tables passed already (the file is read again).
      const reader = (await DigestIndexReader.open(backupPath, { pieceBytes: PIECE }))!
      try {
        for (const name of ['a', 'empty', 'b', 'c', 'd']) expect(same(await reader.table(name), name), name).toBe(true)
        expect(await reader.table('missing')).toBeUndefined()
        expect(same(await reader.table('c'), 'c')).toBe(true)
        expect(same(await reader.table('b'), 'b')).toBe(true)
        expect(same(await reader.table('d'), 'd')).toBe(true)
        await reader.finish()
      } finally {
        reader.close()
      }
      // With the parent's table names, a table it lacks is not looked for; the others read as before.
      const named = (await DigestIndexReader.open(backupPath, { tables: ['a', 'empty', 'b', 'c', 'd'], pieceBytes: PIECE }))!
      try {
        expect(await named.table('new')).toBeUndefined()
        const c = (await named.table('c'))!
        expect(same(c, 'c')).toBe(true)
        expect(c.keyText(c.find(c.keyDigest(3999)))).toBe(`["c-3999-${'k'.repeat(3999 % 40)}"]`)
      } finally {
        named.close()
      }
      const loaded = (await loadDigestIndex(backupPath))!
      expect([...loaded.tables.keys()]).toEqual(['a', 'empty', 'b', 'c', 'd'])
      expect(await DigestIndexReader.open(path.join(dir, 'none.json'))).toBeUndefined()
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a damaged index: a byte flipped past the first pieces (at the gzip check, before anything is committed), a file cut short, an entry of another kind', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbdx-damaged-'))
    try {
      const backupPath = await writeIndex(dir)
      const file = `${backupPath}.digests`
      const kept = fs.readFileSync(file)
      const walk = async (): Promise<void> => {
        const reader = (await DigestIndexReader.open(backupPath, { pieceBytes: PIECE }))!
        try {
          for (const name of ['a', 'b', 'c', 'd']) await reader.table(name)
          await reader.finish()
        } finally {
          reader.close()
        }
      }
      // A key text's byte in table d (level 0: the stored bytes are the entries).
      const flipped = Buffer.from(kept)
      const at = flipped.indexOf('d-4000-')
      flipped[at + 2] ^= 0x01
      fs.writeFileSync(file, flipped)
      await expect(walk()).rejects.toThrow(/digest index .* is damaged/)
      fs.writeFileSync(file, kept.subarray(0, kept.length - 3 * PIECE))
      await expect(walk()).rejects.toThrow(/digest index .* is damaged/)
      // Whole gzip, but an entry tag that is no entry's.
      const plain = gunzipSync(kept)
      plain[plain.indexOf('c-10-') - 2 - 3 - 2 * DIGEST_BYTES] = 0x51
      fs.writeFileSync(file, gzipSync(plain, { level: 0 }))
      await expect(walk()).rejects.toThrow(/digest index .* is damaged/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('RowStampsReader', () => {
  function stampsFile(tables: [string, number][]): Buffer {
    const parts: Buffer[] = [Buffer.from('MBST1\n')]
    for (const [name, rows] of tables) {
      const header = Buffer.from(JSON.stringify({ table: name, scope: `scope-${name}`, xid: '9' }))
      const head = Buffer.alloc(5)
      head[0] = 0x54
      head.writeUInt32BE(header.length, 1)
      parts.push(head, header)
      for (let i = 0; i < rows; i++) {
        const entry = Buffer.alloc(1 + DIGEST_BYTES + 4, i % 251)
        entry[0] = 0x53
        entry.writeUInt32BE(i, 1 + DIGEST_BYTES)
        parts.push(entry)
      }
      parts.push(Buffer.from('E'))
    }
    return gzipSync(Buffer.concat(parts), { level: 0 })
  }

  it('reads stamps table by table in any order; a file that is not whole gzip gives none at all', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbst-sections-'))
    try {
      const backupPath = path.join(dir, 'b.json')
      const file = `${backupPath}.stamps`
      const packed = stampsFile([['x', 8000], ['y', 12000], ['z', 100]])
      fs.writeFileSync(file, packed)
      const reader = (await RowStampsReader.open(backupPath, { pieceBytes: PIECE }))!
      try {
        expect((await reader.table('y'))!.count).toBe(12000)
        expect((await reader.table('x'))!.entries.readUInt32BE(1 + 7999 * 21 + DIGEST_BYTES)).toBe(7999)
        expect(await reader.table('w')).toBeUndefined()
        expect((await reader.table('z'))!.scope).toBe('scope-z')
      } finally {
        reader.close()
      }
      expect([...(await loadRowStamps(backupPath))!.keys()]).toEqual(['x', 'y', 'z'])
      // A byte flipped in the last table: the first tables are refused too (gzip's check runs first).
      const flipped = Buffer.from(packed)
      flipped[flipped.length - 100] ^= 0x01
      fs.writeFileSync(file, flipped)
      expect(await RowStampsReader.open(backupPath, { pieceBytes: PIECE })).toBeUndefined()
      fs.writeFileSync(file, packed.subarray(0, packed.length - 50))
      expect(await RowStampsReader.open(backupPath, { pieceBytes: PIECE })).toBeUndefined()
      expect(await loadRowStamps(backupPath)).toBeUndefined()
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
