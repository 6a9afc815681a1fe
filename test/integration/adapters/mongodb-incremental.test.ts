/**
 * Issue #18 on MongoDB (FerretDB here, like the other MongoDB tests): incremental backups, whose
 * documents are digested in the client (their canonical record line, docs/storage.md), restored
 * as a chain; and a three-way merge against a base backup.
 */
import path from 'node:path'
import { Int32, ObjectId, type Document } from 'mongodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { inspect, verify } from '../../../src/engine/inspect.js'
import { mongodbSkipReason } from '../../helpers/mongodb-server.js'
import { coll, dbState, MongoTestRig } from './mongodb-helpers.js'

const SKIPPED = mongodbSkipReason()
const rig = new MongoTestRig()

const oid = (n: number) => new ObjectId(n.toString(16).padStart(24, '0'))
const person = (n: number): Document => ({ _id: oid(n), name: `Person ${n}`, level: new Int32(n % 5), tags: ['a', `t${n}`], address: { city: n % 2 ? 'Berlin' : 'Paris' } })

describe.skipIf(SKIPPED !== undefined)(SKIPPED ? `MongoDB incremental backups and three-way merge — ${SKIPPED}` : 'MongoDB incremental backups and three-way merge', () => {
  beforeAll(() => rig.start())
  afterAll(() => rig.stop())

  it('chains increments (inserts, updates, deletes, a new and a dropped collection) and restores, verifies and inspects the final state', async () => {
    const source = rig.freshDatabase()
    const dir = path.join(rig.tempDir(), 'backups')
    await coll(source.db, 'people').insertMany(Array.from({ length: 60 }, (_, i) => person(i + 1)))
    await coll(source.db, 'notes').insertMany([{ _id: 'n1', text: 'one' }, { _id: 'n2', text: 'two' }])
    const full = await backup({ db: source.url, out: dir, name: 'crm', now: new Date('2026-12-01T00:00:00Z') })

    await coll(source.db, 'people').updateOne({ _id: oid(3) }, { $set: { name: 'Renamed', 'address.city': 'Rome' } })
    await coll(source.db, 'people').deleteMany({ _id: { $in: [oid(4), oid(5)] } })
    await coll(source.db, 'people').insertOne(person(100))
    const first = await backup({ db: source.url, out: dir, name: 'crm', incremental: true, now: new Date('2026-12-02T00:00:00Z') })
    expect(first.metadata.format).toBe('mergeback-incremental')
    expect(first.metadata.recordCounts).toEqual({ notes: 0, people: 2 })
    expect(first.metadata.incremental).toMatchObject({ depth: 1, parent: { file: path.basename(full.file), sha256: full.sha256 } })
    expect(first.metadata.incremental!.deleted.people).toHaveLength(2)
    expect(first.compared).toEqual({ notes: 'digests', people: 'digests' })

    await source.db.collection('notes').drop()
    await coll(source.db, 'extra').insertOne({ _id: 1, v: 'x' })
    await coll(source.db, 'people').updateOne({ _id: oid(100) }, { $set: { level: new Int32(4) } })
    await coll(source.db, 'people').insertOne(person(4))
    const second = await backup({ db: source.url, out: dir, name: 'crm', incremental: true, now: new Date('2026-12-03T00:00:00Z') })
    expect(second.metadata.incremental).toMatchObject({ depth: 2, replaced: ['extra'] })
    expect(second.metadata.recordCounts).toEqual({ extra: 1, people: 2 })

    const target = rig.freshDatabase()
    const restored = await restore({ file: second.file, db: target.url })
    expect(restored.totals.inserted).toBe(61)
    // Documents compared as BSON bytes; indexes and options too.
    expect(await dbState(target.db)).toEqual(await dbState(source.db))

    const verified = await verify(second.file)
    expect(verified.ok).toBe(true)
    expect(verified.checks.filter((c) => c.check.startsWith('link ')).map((c) => c.ok)).toEqual([true, true, true])
    const shown = await inspect(second.file)
    expect(shown.tables.map((t) => [t.name, t.records])).toEqual(expect.arrayContaining([['people', 60], ['extra', 1]]))
    const report = await analyze(second.file, source.url)
    expect(report.tables.people).toMatchObject({ new: 0, updated: 0, conflicts: 0 })
  }, 120_000)

  it('merges three ways against a base backup: each side\'s change kept, a deletion in the backup reported and applied only when asked', async () => {
    const prod = rig.freshDatabase()
    const dir = rig.tempDir()
    await coll(prod.db, 'people').insertMany(Array.from({ length: 6 }, (_, i) => person(i + 1)))
    const base = (await backup({ db: prod.url, out: path.join(dir, 'monday.json') })).file
    // Development is cloned from Monday's backup and changes person 1; production changes person 2 and deletes person 3.
    const dev = rig.freshDatabase()
    await restore({ file: base, db: dev.url })
    await coll(dev.db, 'people').updateOne({ _id: oid(1) }, { $set: { name: 'Dev edit' } })
    await coll(dev.db, 'people').deleteOne({ _id: oid(4) })
    await coll(dev.db, 'people').updateOne({ _id: oid(5) }, { $set: { name: 'Dev five' } })
    await coll(prod.db, 'people').updateOne({ _id: oid(5) }, { $set: { name: 'Prod five' } })
    await coll(prod.db, 'people').updateOne({ _id: oid(2) }, { $set: { name: 'Prod edit' } })
    await coll(prod.db, 'people').deleteOne({ _id: oid(3) })
    const friday = (await backup({ db: prod.url, out: path.join(dir, 'friday.json') })).file

    const preview = await analyze(friday, dev.url, { base })
    // Person 5 changed on both sides differently: a true conflict (the backup wins by default); person 4, deleted here and unchanged there, stays deleted.
    expect(preview.tables.people).toMatchObject({ conflicts: 1, deletedInBackup: 1 })
    const dry = await merge(friday, dev.url, { base, dryRun: true })
    expect(dry.tables.people).toMatchObject({ conflicts: 1 })
    await merge(friday, dev.url, { base })
    const names = async () => Object.fromEntries((await coll(dev.db, 'people').find({}, { sort: { _id: 1 } }).toArray()).map((d) => [String((d._id as ObjectId).toHexString().slice(-2)), String(d.name)]))
    expect(await names()).toEqual({ '01': 'Dev edit', '02': 'Prod edit', '03': 'Person 3', '05': 'Prod five', '06': 'Person 6' })
    await merge(friday, dev.url, { base, applyDeletions: true })
    expect(Object.keys(await names())).toEqual(['01', '02', '05', '06'])
    await rig.expectNoLeftovers(dev.db)
  }, 120_000)
})
