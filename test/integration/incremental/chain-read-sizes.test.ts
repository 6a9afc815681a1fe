/**
 * Issue #17, round eight: a chain restore reads its increments in 64 KiB reads and 100-row
 * batches, the full backup in 1000-row batches, and hands on merged batches of 1000 rows
 * (engine/chain.ts), to bound the memory of links read side by side. Here every increment is
 * several reads and several batches long, the full backup several batches: the final state must
 * still come out whole, once and in key order, and restore the source exactly; a byte damaged
 * past an increment's first read must still be refused.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Row } from '../../../src/adapters/adapter.js'
import { backup } from '../../../src/engine/backup.js'
import { readTables, scanBackup } from '../../../src/engine/backup-input.js'
import { restore } from '../../../src/engine/restore.js'
import { openBackupStream } from '../../../src/storage/backup-file.js'
import { chainWorkspace, engines, incrementsAfter, stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const BODY = 'x'.repeat(300)
const ONE = 'one-'.padEnd(300, 'a')
const TWO = 'two-'.padEnd(300, 'b')
const THREE = 'three-'.padEnd(300, 'c')

function inserts(from: number, to: number, body: string): string {
  const statements: string[] = []
  for (let start = from; start <= to; start += 500) {
    const values = Array.from({ length: Math.min(500, to - start + 1) }, (_, i) => `(${start + i}, '${body}')`).join(', ')
    statements.push(`INSERT INTO doc VALUES ${values};`)
  }
  return statements.join('\n')
}

/** The table's keys as the chain hands its final rows out (default batch sizes), in that order. */
async function keysAsRead(file: string): Promise<number[]> {
  const scan = await scanBackup(file, {})
  const keys: number[] = []
  for await (const table of readTables(scan, scan.tables.map((t) => t.schema), { records: 'parsed' })) {
    for await (const rows of table.batches) for (const row of rows) keys.push(Number((row as Row).id))
  }
  return keys
}

describe.each(engines)('chain restore with small reads and batches on $name', (engine) => {
  it('reads every link whole when increments span many reads and batches, and refuses one damaged past its first read', async () => {
    const { source, dir, work } = await chainWorkspace(engine, 'mbreads-')
    await engine.exec(source.url, `CREATE TABLE doc (id INTEGER PRIMARY KEY, body VARCHAR(400));\n${inserts(1, 3000, BODY)}`)
    await backup({ db: source.url, out: dir, name: 'nightly' })
    const steps = [
      // ~500 updated, 300 inserted after the full backup's keys, 60 deleted: ~250 KB.
      `UPDATE doc SET body = '${ONE}' WHERE id % 3 = 0 AND id <= 1500;\n${inserts(3001, 3300, ONE)}\nDELETE FROM doc WHERE id % 50 = 1;`,
      // ~670 updated, a few deleted; some keys changed in step 1 changed again.
      `UPDATE doc SET body = '${TWO}' WHERE id % 3 = 1 AND id > 1000; DELETE FROM doc WHERE id % 7 = 0 AND id < 300;`,
      // Keys of step 1 changed a second time, a deleted key inserted again.
      `UPDATE doc SET body = '${THREE}' WHERE id % 3 = 0 AND id <= 1500; INSERT INTO doc VALUES (51, '${THREE}');`,
    ]
    const links = await incrementsAfter(engine, source.url, dir, 'nightly', steps)
    const first = links[0]!
    const last = links.at(-1)!
    // Each increment is more than one 64 KiB read and more than one 100-row batch.
    for (const file of links) expect(fs.statSync(file).size, path.basename(file)).toBeGreaterThan(128 * 1024)
    const expected = await stateOf(source.url, work)

    // A link read in small reads gives the same bytes as read whole.
    const chunks: Buffer[] = []
    for await (const chunk of await openBackupStream(first, { readBytes: 4096 })) chunks.push(chunk as Buffer)
    expect(Buffer.concat(chunks).equals(fs.readFileSync(first))).toBe(true)

    const keys = await keysAsRead(last)
    expect(keys.length).toBe(expected.doc!.length)
    expect(keys.every((k, i) => i === 0 || keys[i - 1]! < k)).toBe(true)

    const target = await engine.create()
    cleanups.push(target.drop)
    const report = await restore({ file: last, db: target.url })
    expect(report.totals).toEqual({ inserted: expected.doc!.length, skipped: 0 })
    expect(await stateOf(target.url, work)).toEqual(expected)

    // A byte damaged well past the first link's first 64 KiB read: refused, naming the link.
    const bytes = fs.readFileSync(first)
    const damaged = Buffer.from(bytes)
    const at = damaged.indexOf(ONE, 100 * 1024)
    expect(at).toBeGreaterThan(64 * 1024)
    damaged[at + 10] = 'Z'.charCodeAt(0)
    fs.writeFileSync(first, damaged)
    const fresh = await engine.create()
    cleanups.push(fresh.drop)
    await expect(restore({ file: last, db: fresh.url })).rejects.toThrow(new RegExp(`Link ${path.basename(first).replace(/\./g, '\\.')} .*damaged`))
    fs.writeFileSync(first, bytes)
  }, 180_000)
})
