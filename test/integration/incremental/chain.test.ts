/**
 * Issue #18 part 2: incremental backups restorable as a chain, on PostgreSQL, MariaDB and SQLite.
 *
 * One scenario per engine: a full backup, then three increments with inserts, updates, deletes,
 * a composite key, a table without a key, a column added, a table created and one dropped. The
 * chain's final state, restored into an empty database, must equal the source database row for
 * row (compared through a full backup of each), analyze of the chain against the source must find
 * nothing to do, and the bad inputs (missing link, damaged link, foreign parent) must be refused
 * before anything is written.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { inspect, verify } from '../../../src/engine/inspect.js'
import { readBackup } from '../../../src/format/reader.js'
import { openBackupStream } from '../../../src/storage/backup-file.js'
import { prune } from '../../../src/storage/retention.js'
import { loadDigestIndex } from '../../../src/storage/digest-index.js'
import { chainWorkspace, engines, filesIn, stateOf } from './chain-engines.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

describe.each(engines)('incremental backups on $name', (engine) => {
  it('restores, analyzes and verifies a chain of a full backup and three increments as the final state', async () => {
    const { source, dir, work } = await chainWorkspace(engine, 'mbincr-')
    const items = Array.from({ length: 300 }, (_, i) => `(${i + 1}, 'item ${i + 1}', ${(i * 1.25).toFixed(2)}, '2024-01-01')`).join(', ')
    await engine.exec(
      source.url,
      `CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2), updated_at VARCHAR(30));
       CREATE TABLE tag (a INTEGER NOT NULL, b VARCHAR(20) NOT NULL, note VARCHAR(50), PRIMARY KEY (a, b));
       CREATE TABLE log (msg VARCHAR(50));
       INSERT INTO item VALUES ${items};
       INSERT INTO tag VALUES (1, 'x', 'one'), (1, 'y', 'two'), (2, 'x', 'three');
       INSERT INTO log VALUES ('started');`,
    )
    const full = await backup({ db: source.url, out: dir, name: 'nightly', now: new Date('2026-12-01T00:00:00Z') })
    expect(fs.existsSync(`${full.file}.digests`)).toBe(true)

    await engine.exec(
      source.url,
      `UPDATE item SET name = 'renamed', updated_at = '2024-02-01' WHERE id IN (5, 6);
       DELETE FROM item WHERE id IN (7, 8, 9);
       INSERT INTO item VALUES (1001, 'new one', 9.99, '2024-02-01');
       UPDATE tag SET note = 'changed' WHERE a = 1 AND b = 'y';
       INSERT INTO log VALUES ('second');`,
    )
    const first = await backup({ db: source.url, out: dir, name: 'nightly', incremental: true, now: new Date('2026-12-02T00:00:00Z') })
    expect(first.metadata.format).toBe('mergeback-incremental')
    expect(first.metadata.recordCounts).toEqual({ item: 3, tag: 1, log: 2 })
    expect(first.metadata.incremental).toMatchObject({ depth: 1, replaced: ['log'], parent: { file: path.basename(full.file), sha256: full.sha256 } })
    expect(Object.keys(first.metadata.incremental!.deleted)).toEqual(['item'])
    expect(first.metadata.incremental!.deleted.item!.map((k) => String(k[0])).sort()).toEqual(['7', '8', '9'])
    expect(first.sizeBytes).toBeLessThan(full.sizeBytes / 3)

    // A column added, a table created, one dropped; a row deleted and inserted again with the same key.
    await engine.exec(
      source.url,
      `ALTER TABLE tag ADD COLUMN extra VARCHAR(10);
       CREATE TABLE extra (id INTEGER PRIMARY KEY, v VARCHAR(10));
       INSERT INTO extra VALUES (1, 'a'), (2, 'b');
       DROP TABLE log;
       DELETE FROM item WHERE id = 10;
       INSERT INTO item VALUES (7, 'back again', 1.00, '2024-03-01');
       UPDATE item SET price = 100.50 WHERE id = 1001;`,
    )
    const second = await backup({ db: source.url, out: dir, since: path.basename(first.file), name: 'nightly', now: new Date('2026-12-03T00:00:00Z') })
    expect(second.metadata.incremental).toMatchObject({ depth: 2, parent: { file: path.basename(first.file) } })
    expect([...second.metadata.incremental!.replaced].sort()).toEqual(['extra', 'tag'])
    expect(second.metadata.tables).not.toContain('log')

    await engine.exec(source.url, `DELETE FROM item WHERE id = 5; UPDATE extra SET v = 'bb' WHERE id = 2; DELETE FROM tag WHERE a = 2;`)
    const third = await backup({ db: source.url, out: dir, name: 'nightly', incremental: true, now: new Date('2026-12-04T00:00:00Z') })
    expect(third.metadata.incremental).toMatchObject({ depth: 3, base: { file: path.basename(full.file), sha256: full.sha256 } })
    expect(third.metadata.recordCounts).toEqual({ item: 0, tag: 0, extra: 1 })

    const expected = await stateOf(source.url, work)

    // restore LAST: the chain's final state, into an empty database.
    const target = await engine.create()
    cleanups.push(target.drop)
    const restored = await restore({ file: third.file, db: target.url })
    expect(restored.totals.inserted).toBe(expected.item!.length + expected.tag!.length + expected.extra!.length)
    expect(await stateOf(target.url, work)).toEqual(expected)
    // On PostgreSQL a chain into an empty database is loaded staged, on two sessions, as one file is.
    if (engine.name === 'postgres') expect(restored.sessions).toBe(2)

    // analyze / merge LAST against the source: the same state, nothing to do.
    const report = await analyze(third.file, source.url)
    for (const name of ['item', 'tag', 'extra']) expect(report.tables[name]).toMatchObject({ new: 0, updated: 0, conflicts: 0 })
    // merge LAST into a database one increment behind brings it to the final state.
    const behind = await engine.create()
    cleanups.push(behind.drop)
    await restore({ file: second.file, db: behind.url })
    await engine.exec(behind.url, `UPDATE extra SET v = 'b' WHERE id = 2;`)
    const merged = await merge(third.file, behind.url)
    // Without timestamps the differing row is a conflict, resolved for the backup by default; the
    // row deleted in the last increment is only in the database (a two-way merge keeps it).
    expect(merged.tables.extra).toMatchObject({ conflicts: 1, resolved: { backup: 1 } })
    expect(merged.tables.item).toMatchObject({ currentOnly: 1, new: 0 })
    const afterMerge = await stateOf(behind.url, work)
    expect(afterMerge.extra).toEqual(expected.extra)

    // verify checks every link; inspect shows the chain.
    const verified = await verify(third.file)
    expect(verified.ok).toBe(true)
    expect(verified.checks.filter((c) => c.check.startsWith('link ')).map((c) => c.ok)).toEqual([true, true, true, true])
    const shown = await inspect(third.file)
    expect((shown.metadata.chain as { file: string }[]).map((l) => l.file)).toEqual([full.file, first.file, second.file, third.file].map((f) => path.basename(f)))
    expect(shown.tables.map((t) => [t.name, t.records])).toEqual(
      expect.arrayContaining([
        ['item', expected.item!.length],
        ['tag', expected.tag!.length],
        ['extra', expected.extra!.length],
      ]),
    )

    // An increment alone is not a whole state: a reader not resolving chains refuses it.
    await expect(async () => {
      for await (const _ of readBackup(await openBackupStream(third.file))) void _
    }).rejects.toThrow(/incremental backup/)

    // prune keeps every link a kept increment needs.
    const plan = await prune(dir, { keepLast: 1 }, { dryRun: true })
    expect(plan.remove).toEqual([])
    expect(plan.keep.find((k) => k.file === path.basename(full.file))?.reasons).toContain(`needed by ${path.basename(third.file)}`)

    // A damaged link: refused, naming it, nothing written.
    const fresh = await engine.create()
    cleanups.push(fresh.drop)
    const firstBytes = fs.readFileSync(first.file)
    const damaged = Buffer.from(firstBytes)
    damaged[damaged.indexOf('renamed')] = 'R'.charCodeAt(0)
    fs.writeFileSync(first.file, damaged)
    await expect(restore({ file: third.file, db: fresh.url })).rejects.toThrow(new RegExp(`Link ${path.basename(first.file).replace(/\./g, '\\.')} .*damaged`))
    expect((await verify(third.file)).ok).toBe(false)
    fs.writeFileSync(first.file, firstBytes)

    // A missing link: refused, naming it, before anything is read.
    fs.renameSync(second.file, `${second.file}.away`)
    await expect(restore({ file: third.file, db: fresh.url })).rejects.toMatchObject({
      reason: 'broken-chain',
      message: expect.stringContaining(`link ${path.basename(second.file)} (the parent of ${path.basename(third.file)}) is missing`),
    })
    await expect(backup({ db: source.url, out: dir, name: 'nightly', incremental: true })).rejects.toThrow(/is missing/)
    fs.renameSync(`${second.file}.away`, second.file)
    // Nothing was written (SQLite: the database file was not even created).
    const untouched = await stateOf(fresh.url, work).catch((error: { code?: string }) => {
      if (engine.name === 'sqlite' && error.code === 'NOT_FOUND') return {}
      throw error
    })
    expect(untouched).toEqual({})

    // A parent from another database: refused before anything is written.
    const before = filesIn(dir)
    await expect(backup({ db: target.url, out: dir, name: 'nightly', incremental: true })).rejects.toMatchObject({ code: 'BAD_PARENT' })
    await expect(backup({ db: source.url, out: dir, name: 'nobody', incremental: true })).rejects.toThrow(/no earlier backup named "nobody"/)
    expect(filesIn(dir)).toEqual(before)

    // The index is compact: key digest, row digest and key text per keyed row.
    const index = await loadDigestIndex(third.file)
    expect(index?.tables.get('item')?.count).toBe(expected.item!.length)
  }, 120_000)
})
