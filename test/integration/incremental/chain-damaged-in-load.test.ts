/**
 * A restore (and, where the rollback undoes everything, a merge) of a chain reads its full backup
 * once with checks: the chain scan reads it for its structure only, without hashing it, and the
 * loading pass verifies its checksums and its SHA-256 against the catalog before the commit
 * (engine/chain.ts scanChain `deferFull`, `checkFileDigest`). So damage the scan cannot see must
 * be found by the load, reported naming the link, and rolled back whole.
 *
 * The full backup is damaged as the write phase begins (onProgress), after the scan: whatever the
 * engine's scan checks, only the loading pass can find it. Cases: a record's value changed (still
 * JSON: its table's checksum), a byte of the metadata no checksum covers (only the file's SHA-256),
 * the file cut short, the file removed. Each on PostgreSQL (staged, two sessions, and one session),
 * MariaDB (new tables: staging tables dropped by the rollback) and SQLite; into an empty target and
 * into one that holds rows already, both unchanged afterwards.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { merge } from '../../../src/engine/merge.js'
import type { ProgressListener } from '../../../src/engine/progress.js'
import { chainWorkspace, engines, itemTagChain, stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Replaces `from` (once, after the first quarter of the file) by `to`, of the same length. */
function replaced(bytes: Buffer, from: string, to: string, after = 0): Buffer {
  expect(to.length).toBe(from.length)
  const at = bytes.indexOf(from, after)
  expect(at, from).toBeGreaterThanOrEqual(after)
  return Buffer.concat([bytes.subarray(0, at), Buffer.from(to), bytes.subarray(at + from.length)])
}

describe.each(engines)('a chain whose full backup is damaged after the scan, on $name', (engine) => {
  it('is refused by the loading pass, naming the link, and nothing is written', async () => {
    const { source, work, full, last } = await itemTagChain(engine, 'mbincr-loaddmg-')
    const expected = await stateOf(source.url, work)

    // Whole, the chain restores and merges to the source's state.
    const good = await engine.create()
    cleanups.push(good.drop)
    await restore({ file: last, db: good.url })
    expect(await stateOf(good.url, work)).toEqual(expected)

    // A target that holds rows already: a failed restore must leave them as they are.
    const busy = await engine.create()
    cleanups.push(busy.drop)
    await engine.exec(busy.url, `CREATE TABLE other (id INTEGER PRIMARY KEY, v VARCHAR(10)); INSERT INTO other VALUES (1, 'kept');`)
    const busyBefore = await stateOf(busy.url, work)

    const original = fs.readFileSync(full)
    const fullName = escape(path.basename(full))
    const named = new RegExp(`^Link ${fullName} \\(depth 0\\) of the chain of ${escape(path.basename(last))} is damaged: `)
    const damages: { what: string; damage: () => void; message: RegExp }[] = [
      // Still JSON, another value: only the table's checksum tells.
      { what: 'a changed value', damage: () => fs.writeFileSync(full, replaced(original, '"item 1500"', '"item 1X00"', original.length / 4)), message: named },
      // A byte no table checksum covers (the metadata's time): only the file's SHA-256 tells,
      // and the scan no longer computes it on these engines' restores.
      {
        what: 'a byte only the SHA-256 covers',
        damage: () => fs.writeFileSync(full, replaced(original, '"2026-12-01T00:00:00.000Z"', '"2026-12-01T00:00:01.000Z"', original.length / 2)),
        message: new RegExp(`${named.source}.*SHA-256`),
      },
      // Cut short: the size the catalog records is checked as the loading pass opens it.
      { what: 'the file cut short', damage: () => fs.writeFileSync(full, original.subarray(0, original.length >> 1)), message: named },
      // Gone: the loading pass cannot open it.
      { what: 'the file removed', damage: () => fs.rmSync(full), message: new RegExp(fullName) },
    ]
    for (const { what, damage, message } of damages) {
      const damaging: ProgressListener = (event) => {
        if (event.type === 'phase' && event.phase === 'write') damage()
      }
      for (const jobs of [2, 1]) {
        fs.writeFileSync(full, original)
        const fresh = await engine.create()
        cleanups.push(fresh.drop)
        const failure = await restore({ file: last, db: fresh.url, jobs, onProgress: damaging }).then(
          () => undefined,
          (error: Error) => error,
        )
        expect(failure, `${what}, jobs ${jobs}`).toBeInstanceOf(Error)
        expect(failure!.message, `${what}, jobs ${jobs}`).toMatch(message)
        const untouched = await stateOf(fresh.url, work).catch((error: { code?: string }) => {
          if (engine.name === 'sqlite' && error.code === 'NOT_FOUND') return {}
          throw error
        })
        expect(untouched, `${what}, jobs ${jobs}`).toEqual({})
      }
      fs.writeFileSync(full, original)
      await expect(restore({ file: last, db: busy.url, onProgress: damaging }), what).rejects.toThrow(message)
      expect(await stateOf(busy.url, work), what).toEqual(busyBefore)
    }
    fs.writeFileSync(full, original)
    const again = await engine.create()
    cleanups.push(again.drop)
    await restore({ file: last, db: again.url })
    expect(await stateOf(again.url, work)).toEqual(expected)
  }, 240_000)

  // MariaDB's merge cannot roll back everything it does, so it verifies every link before its pass.
  it.skipIf(engine.name === 'mariadb')('is refused by a merge whose pass verifies it, and the target is unchanged', async () => {
    const { source, dir, work } = await chainWorkspace(engine, 'mbincr-mergedmg-')
    const schema = `CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2));`
    const items = Array.from({ length: 3000 }, (_, i) => `(${i + 1}, 'item ${i + 1}', ${(i * 1.25).toFixed(2)})`).join(', ')
    await engine.exec(source.url, `${schema} INSERT INTO item VALUES ${items};`)
    const full = await backup({ db: source.url, out: dir, name: 'n', now: new Date('2026-12-01T00:00:00Z') })
    await engine.exec(source.url, `UPDATE item SET name = 'renamed' WHERE id IN (5, 2500); DELETE FROM item WHERE id = 7; INSERT INTO item VALUES (9001, 'late', 1.00);`)
    const last = await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-02T00:00:00Z') })

    const target = await engine.create()
    cleanups.push(target.drop)
    await engine.exec(target.url, `${schema} INSERT INTO item VALUES (1, 'mine', 2.00), (5000, 'only here', 3.00);`)
    const before = await stateOf(target.url, work)
    const original = fs.readFileSync(full.file)
    const damages: [string, Buffer][] = [
      ['a changed value', replaced(original, '"item 1500"', '"item 1X00"', original.length / 4)],
      ['a byte only the SHA-256 covers', replaced(original, '"2026-12-01T00:00:00.000Z"', '"2026-12-01T00:00:01.000Z"', original.length / 2)],
    ]
    for (const [what, bytes] of damages) {
      fs.writeFileSync(full.file, original)
      const damaging: ProgressListener = (event) => {
        if (event.type === 'phase' && event.phase === 'write') fs.writeFileSync(full.file, bytes)
      }
      await expect(merge(last.file, target.url, { onProgress: damaging }), what).rejects.toThrow(
        new RegExp(`^Link ${escape(path.basename(full.file))} \\(depth 0\\) of the chain of ${escape(path.basename(last.file))} is damaged: `),
      )
      expect(await stateOf(target.url, work), what).toEqual(before)
    }
    fs.writeFileSync(full.file, original)
    await merge(last.file, target.url)
    const after = await stateOf(target.url, work)
    expect(after.item!.length).toBeGreaterThan(before.item!.length)
  }, 240_000)
})
