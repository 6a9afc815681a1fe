import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { TableSchema } from '../adapters/adapter.js'
import { InternalError } from '../errors.js'
import { DigestIndexWriter, keyText, loadDigestIndex, shortDigest } from './digest-index.js'
import { alignDigestStamps, DIGEST_STAMPS_ENTRY_BYTES, locateDigestStamps, loadRowStamps, RowStampsWriter, stripStamps } from './row-stamps.js'
import { createHash } from 'node:crypto'

function table(name: string, columns: string[], key: string[]): TableSchema {
  return {
    name,
    primaryKey: key,
    columns: columns.map((c) => ({ name: c, type: 'text', kind: 'text', nullable: true })),
    uniqueConstraints: [],
    indexes: [],
    foreignKeys: [],
  } as unknown as TableSchema
}

describe('row stamps taken with the record lines (one pass)', () => {
  it('stripStamps leaves exactly the record lines, in place at the end of the chunk, and refuses a line without a stamp', () => {
    const lines = ['{"id":1,"v":"a\\u0002b"}', '{"id":22}', '{"id":"x","v":"\\n"}']
    const chunk = Buffer.from(lines.map((line, i) => `${line}\x02${[0, 4294967295, 123][i]}\n`).join(''))
    const stripped = stripStamps(chunk)
    expect(stripped.toString()).toBe(lines.map((line) => `${line}\n`).join(''))
    expect(stripped.buffer).toBe(chunk.buffer)
    expect(stripped.byteOffset + stripped.length).toBe(chunk.byteOffset + chunk.length)
    expect(() => stripStamps(Buffer.from('\n{"id":1}\x027\n'))).toThrow(InternalError)
    expect(() => stripStamps(Buffer.from('{"id":1}\x027'))).toThrow(InternalError)
    expect(() => stripStamps(Buffer.from('{"id":1}\x027\n{"id":2}\n'))).toThrow(InternalError)
  })

  it("the index thread writes each row's stamps entry (its key digest, as in the index, and xmin) and the same index entries as without stamps", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbst-'))
    try {
      const backupPath = path.join(dir, 'b.json')
      const index = new DigestIndexWriter(backupPath)
      const stamps = new RowStampsWriter(backupPath)
      // Short lines (more entries than the first guess of room), keys cut from the bytes and
      // keys parsed (a nested value before the key), composite keys, xmins at both ends of 32 bits.
      const wide = (i: number): number => [0, 4294967295, 2147483648][i % 3]! + (i % 3 === 1 ? 0 : i)
      const cases: { schema: TableSchema; rows: Record<string, unknown>[]; xmin: (i: number) => number }[] = [
        { schema: table('short', ['i'], ['i']), rows: Array.from({ length: 20_000 }, (_, i) => ({ i })), xmin: (i) => i % 10 },
        { schema: table('two', ['a', 's', 'b'], ['b', 'a']), rows: Array.from({ length: 300 }, (_, i) => ({ a: `a"${i}`, s: 'x,"y"\u0002', b: -i / 7 })), xmin: wide },
        { schema: table('nested', ['j', 'id'], ['id']), rows: Array.from({ length: 50 }, (_, i) => ({ j: [i, { k: 'v' }], id: `k${i}` })), xmin: wide },
      ]
      for (const { schema, rows, xmin } of cases) {
        stamps.beginTable(schema.name, { scope: `1:2:${schema.name}`, xid: '99' })
        await index.beginTable(schema, { stamps: (entries) => stamps.addEntries(entries) })
        const text = rows.map((row, i) => `${JSON.stringify(row)}\x02${xmin(i)}\n`).join('')
        const lines = Buffer.from(text)
        const cut = lines.indexOf(0x0a, Math.floor(lines.length / 2)) + 1
        await index.addLines(lines.subarray(0, cut), schema)
        await index.addLines(lines.subarray(cut), schema)
        await index.endTable()
        await stamps.endTable()
      }
      await index.commit(backupPath)
      await stamps.commit(backupPath)
      const loadedIndex = (await loadDigestIndex(backupPath))!
      const loadedStamps = (await loadRowStamps(backupPath))!
      for (const { schema, rows, xmin } of cases) {
        const digests = loadedIndex.tables.get(schema.name)!
        const table = loadedStamps.get(schema.name)!
        expect(table.scope).toBe(`1:2:${schema.name}`)
        expect(digests.count).toBe(rows.length)
        expect(table.count).toBe(rows.length)
        expect(table.entries.length).toBe(rows.length * 21)
        // Compared whole (an expect per row is slow).
        const expectedDigests = Buffer.concat(rows.map((row) => Buffer.concat([shortDigest(keyText(row, schema.primaryKey)), shortDigest(JSON.stringify(row))])))
        const expectedStamps = Buffer.concat(rows.map((row, i) => {
          const xid = Buffer.alloc(4)
          xid.writeUInt32BE(xmin(i))
          return Buffer.concat([Buffer.from('S'), shortDigest(keyText(row, schema.primaryKey)), xid])
        }))
        expect(Buffer.concat(rows.map((_, i) => Buffer.concat([digests.keyDigest(i), digests.rowDigest(i)]))).equals(expectedDigests)).toBe(true)
        expect(table.entries.equals(expectedStamps)).toBe(true)
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("digest stamps (MariaDB): the index thread turns '<line>\\x02<32 hex digits>' into D entries; they load as kind 'digest', align by key, and beside xmin tables", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbst-'))
    try {
      const backupPath = path.join(dir, 'b.json')
      const index = new DigestIndexWriter(backupPath)
      const stamps = new RowStampsWriter(backupPath)
      const hex = (i: number): string => createHash('sha256').update(String(i)).digest('hex').slice(0, 32)
      const digestTable = table('rows', ['id', 'v'], ['id'])
      const rows = Array.from({ length: 5000 }, (_, i) => ({ id: `k${i}`, v: `v${i}\u0002` }))
      stamps.beginTable('rows', { scope: 'mariadb-row-sha2-v1:x', xid: '0', kind: 'digest' })
      await index.beginTable(digestTable, { stamps: (entries) => stamps.addEntries(entries), digestStamps: true })
      // Upper-case hex digits are read too.
      await index.addLines(Buffer.from(rows.map((row, i) => `${JSON.stringify(row)}\x02${i % 2 ? hex(i).toUpperCase() : hex(i)}\n`).join('')), digestTable)
      await index.endTable()
      await stamps.endTable()
      // An xmin table after it, in the same file, and a digest table written row by row.
      stamps.beginTable('xmins', { scope: '1:2:3', xid: '9' })
      await stamps.add(shortDigest('[1]'), 7)
      await stamps.endTable()
      stamps.beginTable('byhand', { scope: 's', xid: '0', kind: 'digest' })
      await stamps.addDigest(shortDigest('[1]'), Buffer.from(hex(1), 'hex'))
      await stamps.endTable()
      await index.commit(backupPath)
      await stamps.commit(backupPath)
      const loaded = (await loadRowStamps(backupPath))!
      const digestStamps = loaded.get('rows')!
      expect(digestStamps.kind).toBe('digest')
      const D = Buffer.from('D')
      expect(digestStamps.count).toBe(rows.length)
      expect(digestStamps.entries.equals(Buffer.concat(rows.map((row, i) => Buffer.concat([D, shortDigest(keyText(row, ['id'])), Buffer.from(hex(i), 'hex')]))))).toBe(true)
      expect(loaded.get('xmins')!.kind).toBeUndefined()
      expect(loaded.get('xmins')!.entries.length).toBe(21)
      expect(loaded.get('byhand')!.entries.equals(Buffer.concat([D, shortDigest('[1]'), Buffer.from(hex(1), 'hex')]))).toBe(true)
      const aligned = alignDigestStamps(digestStamps, (await loadDigestIndex(backupPath))!.tables.get('rows')!)
      expect(aligned.known.every((k) => k === 1)).toBe(true)
      expect(aligned.stamps.subarray(16 * 4321, 16 * 4322).toString('hex')).toBe(hex(4321))
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('locateDigestStamps: where each index entry\'s digest stamp is, in place or not, and none for a missing or unknown (all-zero) stamp', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbst-'))
    try {
      const backupPath = path.join(dir, 'b.json')
      const index = new DigestIndexWriter(backupPath)
      const stamps = new RowStampsWriter(backupPath)
      const keys = ['[1]', '[2]', '[3]', '[4]', '[5]']
      const stampOf = (k: string): Buffer => shortDigest(`row ${k}`)
      await index.beginTable(table('t', ['id'], ['id']))
      for (const k of keys) await index.add(shortDigest(k), shortDigest(`line ${k}`), k)
      await index.endTable()
      // Stamps: [1] and [2] in place; [4] before [3] (out of place); [5] missing; [3]'s unknown.
      stamps.beginTable('t', { scope: 's', xid: '0', kind: 'digest' })
      await stamps.addDigest(shortDigest('[1]'), stampOf('[1]'))
      await stamps.addDigest(shortDigest('[2]'), stampOf('[2]'))
      await stamps.addDigest(shortDigest('[4]'), stampOf('[4]'))
      await stamps.addDigest(shortDigest('[3]'), Buffer.alloc(16))
      await stamps.endTable()
      await index.commit(backupPath)
      await stamps.commit(backupPath)
      const loaded = (await loadRowStamps(backupPath))!.get('t')!
      const at = locateDigestStamps(loaded, (await loadDigestIndex(backupPath))!.tables.get('t')!)
      const inPlace = (i: number): number => i * DIGEST_STAMPS_ENTRY_BYTES + 17
      expect([...at]).toEqual([inPlace(0), inPlace(1), -1, inPlace(2), -1])
      expect(loaded.entries.subarray(at[3]!, at[3]! + 16).equals(stampOf('[4]'))).toBe(true)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a line whose digest stamp is not 32 hex digits fails the index, and a stamps file of an unknown kind is ignored whole', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbst-'))
    try {
      const backupPath = path.join(dir, 'b.json')
      const schema = table('t', ['id'], ['id'])
      for (const bad of ['abc', 'zz'.repeat(16)]) {
        const index = new DigestIndexWriter(backupPath)
        await index.beginTable(schema, { stamps: () => {}, digestStamps: true })
        const failed = (async () => {
          await index.addLines(Buffer.from(`{"id":1}\x02${bad}\n`), schema)
          await index.endTable()
          await index.commit(backupPath)
        })()
        await expect(failed).rejects.toThrow(/hex/)
        await index.abort()
      }
      const stamps = new RowStampsWriter(backupPath)
      stamps.beginTable('t', { scope: 's', xid: '0', kind: 'future' as never })
      await stamps.endTable()
      await stamps.commit(backupPath)
      expect(await loadRowStamps(backupPath)).toBeDefined()
      const { gzipSync, gunzipSync } = await import('node:zlib')
      const file = `${backupPath}.stamps`
      fs.writeFileSync(file, gzipSync(Buffer.from(gunzipSync(fs.readFileSync(file)).toString('latin1').replace('"s"', '"s","kind":"future"'), 'latin1')))
      expect(await loadRowStamps(backupPath)).toBeUndefined()
      // A header that is JSON but not an object (a crafted file) is no stamps either, not a crash.
      for (const header of ['null', '7', '{"table":1}']) {
        const head = Buffer.alloc(5)
        head[0] = 0x54
        head.writeUInt32BE(header.length, 1)
        fs.writeFileSync(file, gzipSync(Buffer.concat([Buffer.from('MBST1\n'), head, Buffer.from(header), Buffer.from('E')])))
        expect(await loadRowStamps(backupPath)).toBeUndefined()
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
