/**
 * Issue #18, encrypted chains: an encrypted backup gets a digest index encrypted with its
 * passphrase (never a plain one, nor row stamps, which would let anyone test guesses of row
 * contents), so it can be a chain's parent. On PostgreSQL, MariaDB and SQLite: an encrypted full
 * backup, two encrypted increments, restore / verify / inspect of the chain with the passphrase,
 * and a missing or wrong passphrase refused with a clear error before anything is written.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { inspect, verify } from '../../../src/engine/inspect.js'
import { hasContainerMagic } from '../../../src/crypto/container.js'
import { digestIndexPathFor, loadDigestIndex } from '../../../src/storage/digest-index.js'
import { rowStampsPathFor } from '../../../src/storage/row-stamps.js'
import { chainWorkspace, engines, filesIn, stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const passphrase = 'correct horse battery staple'

describe.each(engines)('encrypted incremental backups on $name', (engine) => {
  it('chains encrypted increments on an encrypted full backup, with an encrypted digest index, and refuses a missing or wrong passphrase', async () => {
    const { source, dir, work } = await chainWorkspace(engine, 'mbincr-enc-')
    const items = Array.from({ length: 200 }, (_, i) => `(${i + 1}, 'secret ${i + 1}')`).join(', ')
    await engine.exec(source.url, `CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR(50)); INSERT INTO item VALUES ${items};`)

    const full = await backup({ db: source.url, out: dir, name: 'vault', passphrase, now: new Date('2026-12-01T00:00:00Z') })
    expect(full.file).toMatch(/\.enc$/)
    // The index is an encrypted container: neither key texts nor unkeyed digests in clear, and no row stamps.
    const sidecar = fs.readFileSync(digestIndexPathFor(full.file))
    expect(hasContainerMagic(sidecar)).toBe(true)
    expect(sidecar.includes('[17]')).toBe(false)
    expect(fs.existsSync(rowStampsPathFor(full.file))).toBe(false)
    await expect(loadDigestIndex(full.file)).rejects.toMatchObject({ code: 'NO_PASSPHRASE' })
    await expect(loadDigestIndex(full.file, { passphrase: 'wrong' })).rejects.toMatchObject({ reason: 'wrong-passphrase' })
    expect((await loadDigestIndex(full.file, { passphrase }))?.tables.get('item')?.count).toBe(200)

    await engine.exec(source.url, `UPDATE item SET name = 'changed' WHERE id = 3; DELETE FROM item WHERE id = 4; INSERT INTO item VALUES (500, 'new');`)
    // Without the passphrase, or with another one: refused, nothing written.
    const before = filesIn(dir)
    await expect(backup({ db: source.url, out: dir, name: 'vault', incremental: true })).rejects.toMatchObject({
      code: 'BAD_PARENT',
      message: expect.stringMatching(/is encrypted.*same passphrase/),
    })
    await expect(backup({ db: source.url, out: dir, name: 'vault', incremental: true, passphrase: 'not it' })).rejects.toMatchObject({
      code: 'BAD_PARENT',
      message: expect.stringMatching(/does not unlock its digest index/),
    })
    expect(filesIn(dir)).toEqual(before)

    const first = await backup({ db: source.url, out: dir, name: 'vault', incremental: true, passphrase, now: new Date('2026-12-02T00:00:00Z') })
    expect(first.file).toMatch(/\.enc$/)
    expect(first.metadata.recordCounts).toEqual({ item: 2 })
    expect(first.metadata.incremental!.deleted.item!.map((k) => String(k[0]))).toEqual(['4'])
    expect(first.compared).toEqual({ item: 'digests' })
    expect(hasContainerMagic(fs.readFileSync(digestIndexPathFor(first.file)))).toBe(true)

    await engine.exec(source.url, `UPDATE item SET name = 'again' WHERE id = 500; DELETE FROM item WHERE id = 5;`)
    const second = await backup({ db: source.url, out: dir, name: 'vault', incremental: true, passphrase, now: new Date('2026-12-03T00:00:00Z') })
    expect(second.metadata.incremental).toMatchObject({ depth: 2, base: { file: path.basename(full.file), sha256: full.sha256 } })
    expect(second.metadata.recordCounts).toEqual({ item: 1 })

    const expected = await stateOf(source.url, work)
    expect(expected.item).toHaveLength(199)

    // restore LAST without the passphrase, or with a wrong one: refused, the target untouched.
    const target = await engine.create()
    cleanups.push(target.drop)
    await expect(restore({ file: second.file, db: target.url })).rejects.toMatchObject({ code: 'NO_PASSPHRASE' })
    await expect(restore({ file: second.file, db: target.url, passphrase: 'not it' })).rejects.toMatchObject({ reason: 'wrong-passphrase' })
    const untouched = await stateOf(target.url, work).catch((error: { code?: string }) => {
      if (engine.name === 'sqlite' && error.code === 'NOT_FOUND') return {}
      throw error
    })
    expect(untouched).toEqual({})

    const restored = await restore({ file: second.file, db: target.url, passphrase })
    expect(restored.totals.inserted).toBe(199)
    expect(await stateOf(target.url, work)).toEqual(expected)

    const verified = await verify(second.file, { passphrase })
    expect(verified.ok).toBe(true)
    expect(verified.checks.filter((c) => c.check.startsWith('link ')).map((c) => c.ok)).toEqual([true, true, true])
    const wrong = await verify(second.file, { passphrase: 'not it' })
    expect(wrong.ok).toBe(false)
    expect(wrong.checks.filter((c) => c.check.startsWith('link ')).every((c) => !c.ok && /Wrong passphrase/.test(c.detail ?? ''))).toBe(true)
    const shown = await inspect(second.file, { passphrase })
    expect((shown.metadata.chain as { file: string }[]).map((l) => l.file)).toEqual([full.file, first.file, second.file].map((f) => path.basename(f)))
    expect(shown.tables.map((t) => [t.name, t.records])).toEqual([['item', 199]])
  }, 120_000)
})
