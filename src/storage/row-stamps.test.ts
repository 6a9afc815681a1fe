import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { TableSchema } from '../adapters/adapter.js'
import { InternalError } from '../errors.js'
import { DigestIndexWriter, keyText, loadDigestIndex, shortDigest } from './digest-index.js'
import { loadRowStamps, RowStampsWriter, stripStamps } from './row-stamps.js'

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
  it('stripStamps leaves exactly the record lines, in place, and refuses a line without a stamp', () => {
    const lines = ['{"id":1,"v":"a\\u0002b"}', '{"id":22}', '{"id":"x","v":"\\n"}']
    const chunk = Buffer.from(lines.map((line, i) => `${line}\x02${[0, 4294967295, 123][i]}\n`).join(''))
    const stripped = stripStamps(chunk)
    expect(stripped.toString()).toBe(lines.map((line) => `${line}\n`).join(''))
    expect(stripped.buffer).toBe(chunk.buffer)
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
})
