/**
 * A chain restore verifies the full backup (its largest link) while loading it, not in a scan of
 * its own first (engine/chain.ts scanChain `deferFull`). A full backup damaged in its middle must
 * still fail the restore with the message the up-front scan gives (naming the link), and change
 * nothing: neither an empty target nor one that holds rows already. On every engine, for a record
 * changed but still JSON (caught by its table's checksum, at the end of the pass) and for one that
 * is no longer JSON (which the database may reject first).
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { verify } from '../../../src/engine/inspect.js'
import { chainWorkspace, engines, stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

describe.each(engines)('a chain whose full backup is damaged in its middle, on $name', (engine) => {
  it('is refused by restore, naming the full backup as the scan would, and nothing is written', async () => {
    const { source, dir, work } = await chainWorkspace(engine, 'mbincr-fulldmg-')
    const items = Array.from({ length: 3000 }, (_, i) => `(${i + 1}, 'item ${i + 1}', ${(i * 1.25).toFixed(2)})`).join(', ')
    await engine.exec(
      source.url,
      `CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2));
       CREATE TABLE tag (a INTEGER NOT NULL, b VARCHAR(20) NOT NULL, PRIMARY KEY (a, b));
       INSERT INTO item VALUES ${items};
       INSERT INTO tag VALUES (1, 'x'), (2, 'y');`,
    )
    const full = await backup({ db: source.url, out: dir, name: 'n', now: new Date('2026-12-01T00:00:00Z') })
    await engine.exec(source.url, `UPDATE item SET name = 'renamed' WHERE id IN (5, 2500); DELETE FROM item WHERE id = 7; INSERT INTO tag VALUES (3, 'z');`)
    await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-02T00:00:00Z') })
    await engine.exec(source.url, `DELETE FROM item WHERE id = 2000; INSERT INTO item VALUES (9001, 'late', 1.00);`)
    const last = await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-03T00:00:00Z') })

    // The whole chain restores (the full backup verified as it is loaded).
    const good = await engine.create()
    cleanups.push(good.drop)
    await restore({ file: last.file, db: good.url })
    const expected = await stateOf(source.url, work)
    expect(await stateOf(good.url, work)).toEqual(expected)

    // A target that holds rows already, which a failed restore must leave as they are.
    const busy = await engine.create()
    cleanups.push(busy.drop)
    await engine.exec(busy.url, `CREATE TABLE other (id INTEGER PRIMARY KEY, v VARCHAR(10)); INSERT INTO other VALUES (1, 'kept');`)
    const busyBefore = await stateOf(busy.url, work)

    const original = fs.readFileSync(full.file)
    const middle = original.indexOf('"item 1500"')
    expect(middle).toBeGreaterThan(original.length / 4)
    const damages: [string, Buffer][] = [
      // Still JSON, another value: only the table's checksum tells.
      ['a changed value', Buffer.concat([original.subarray(0, middle), Buffer.from('"item 1X00"'), original.subarray(middle + '"item 1500"'.length)])],
      // No longer JSON (the same length: the file's size is checked against the catalog first).
      ['a broken record', Buffer.concat([original.subarray(0, middle), Buffer.from('"item 1500x'), original.subarray(middle + '"item 1500"'.length)])],
    ]
    for (const [what, bytes] of damages) {
      fs.writeFileSync(full.file, bytes)
      // The message the chain scan gives when it verifies every link first (verify does).
      const report = await verify(last.file)
      expect(report.ok, what).toBe(false)
      const fresh = await engine.create()
      cleanups.push(fresh.drop)
      const failure = await restore({ file: last.file, db: fresh.url }).then(
        () => undefined,
        (error: Error) => error,
      )
      expect(failure, what).toBeInstanceOf(Error)
      expect(failure!.message, what).toMatch(new RegExp(`^Link ${path.basename(full.file).replace(/\./g, '\\.')} \\(depth 0\\) of the chain of ${path.basename(last.file).replace(/\./g, '\\.')} is damaged: `))
      const scanned = await restore({ file: last.file, db: fresh.url, jobs: 1 }).then(
        () => undefined,
        (error: Error) => error,
      )
      // One session or two (PostgreSQL's staged load): the same message.
      expect(scanned?.message, what).toBe(failure!.message)
      const untouched = await stateOf(fresh.url, work).catch((error: { code?: string }) => {
        if (engine.name === 'sqlite' && error.code === 'NOT_FOUND') return {}
        throw error
      })
      expect(untouched, what).toEqual({})
      await expect(restore({ file: last.file, db: busy.url }), what).rejects.toThrow(failure!.message)
      expect(await stateOf(busy.url, work), what).toEqual(busyBefore)
    }
    fs.writeFileSync(full.file, original)
    expect((await verify(last.file)).ok).toBe(true)
  }, 180_000)
})
