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
import { restore } from '../../../src/engine/restore.js'
import { verify } from '../../../src/engine/inspect.js'
import { engines, itemTagChain, stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

describe.each(engines)('a chain whose full backup is damaged in its middle, on $name', (engine) => {
  it('is refused by restore, naming the full backup as the scan would, and nothing is written', async () => {
    const chain = await itemTagChain(engine, 'mbincr-fulldmg-')
    const { source, work } = chain
    const full = { file: chain.full }
    const last = { file: chain.last }

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
