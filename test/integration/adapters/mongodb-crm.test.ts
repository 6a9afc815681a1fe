/**
 * The CRM seed's flow (shared/seeds/002), end to end through the CLI, on a real server (FerretDB
 * here): a CRM database with users, departments and roles — ObjectId, Date, Long, Int32, Double,
 * Binary, UUID, nested documents and arrays — backed up with the seed's metadata, restored into a
 * target database (dry run, selected collections, drop), then analyzed and merged after edits on
 * both sides.
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { EJSON } from 'bson'
import { Binary, Double, Int32, Long, ObjectId, UUID, type Document } from 'mongodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, type CliResult } from '../../helpers/cli.js'
import { mongodbSkipReason } from '../../helpers/mongodb-server.js'
import { coll, dbState, MongoTestRig, type MongoTestDatabase } from './mongodb-helpers.js'

const SKIPPED = mongodbSkipReason()
const rig = new MongoTestRig()

const oid = (n: number) => new ObjectId(n.toString(16).padStart(24, '0'))
const at = (iso: string) => new Date(iso)

const DEPARTMENTS: Document[] = [
  { _id: oid(0x100), name: 'Sales', code: 'SAL', budget: new Double(125000.5), headcount: new Int32(12), address: { city: 'Berlin', zip: '10115' }, createdAt: at('2023-01-01T00:00:00Z'), updatedAt: at('2025-01-01T00:00:00Z') },
  { _id: oid(0x101), name: 'Support', code: 'SUP', budget: new Double(80000), headcount: new Int32(7), address: { city: 'Paris', zip: '75001' }, createdAt: at('2023-02-01T00:00:00Z'), updatedAt: at('2025-01-01T00:00:00Z') },
]

const ROLES: Document[] = [
  { _id: oid(0x200), name: 'admin', permissions: ['users:read', 'users:write', 'settings:write'], level: new Int32(10), createdAt: at('2023-01-01T00:00:00Z'), updatedAt: at('2025-01-01T00:00:00Z') },
  { _id: oid(0x201), name: 'agent', permissions: ['users:read'], level: new Int32(1), createdAt: at('2023-01-01T00:00:00Z'), updatedAt: at('2025-01-01T00:00:00Z') },
]

function user(n: number): Document {
  return {
    _id: oid(0x300 + n),
    name: `User ${n}`,
    email: `user${n}@crm.example`,
    department: DEPARTMENTS[n % 2]._id,
    roles: n === 1 ? [ROLES[0]._id, ROLES[1]._id] : [ROLES[1]._id],
    employeeNo: new Int32(1000 + n),
    loginCount: Long.fromString(`${9007199254740993n + BigInt(n)}`), // beyond 2^53: exact only as Int64
    salary: new Double(50000 + n / 4),
    avatar: new Binary(Buffer.from([0x89, 0x50, 0x4e, 0x47, n])),
    externalId: new UUID(`0000000${n % 10}-0000-4000-8000-00000000000${n % 10}`),
    profile: { phone: `+49 30 ${n}`, address: { city: n % 2 ? 'Berlin' : 'Paris', lines: ['Street 1', `Floor ${n}`] }, newsletter: n % 3 === 0 },
    history: [{ at: at('2024-06-01T10:00:00Z'), action: 'created' }, { at: at('2024-07-01T10:00:00Z'), action: 'promoted', by: oid(0x301) }],
    createdAt: at('2024-01-01T00:00:00Z'),
    updatedAt: at('2025-03-01T00:00:00Z'),
  }
}
const USERS: Document[] = Array.from({ length: 30 }, (_, i) => user(i + 1))

let crm: MongoTestDatabase
let dir: string

async function cli(args: readonly string[]): Promise<CliResult> {
  const result = await runCli([...args, '--json'])
  return result
}

function expectOk(result: CliResult): Record<string, any> {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
  return result.json()
}

/** The target database's user collections (mergeback's journal aside). */
async function collectionsOf(target: MongoTestDatabase): Promise<string[]> {
  const listed = await target.db.listCollections({}, { nameOnly: true }).toArray()
  return listed.map((c) => c.name).filter((name) => !name.startsWith('__mergeback_') && !name.startsWith('system.')).sort()
}

describe.skipIf(SKIPPED !== undefined)(SKIPPED ? `The CRM seed's flow on MongoDB — ${SKIPPED}` : "The CRM seed's flow on MongoDB (CLI)", () => {
  let file: string

  beforeAll(async () => {
    await rig.start()
    crm = rig.freshDatabase()
    await coll(crm.db, 'departments').insertMany(DEPARTMENTS)
    await coll(crm.db, 'roles').insertMany(ROLES)
    await coll(crm.db, 'users').insertMany(USERS)
    await coll(crm.db, 'users').createIndexes([
      { key: { email: 1 }, name: 'email_unique', unique: true },
      { key: { department: 1, name: 1 }, name: 'department_name' },
    ])
    dir = rig.tempDir()
  })

  afterAll(() => rig.stop())

  it('backs up with the seed metadata: every type exact, gzip when asked', async () => {
    const made = expectOk(await cli(['backup', '--db', crm.url, '--out', dir, '--name', 'daily-backup', '--description', 'Daily CRM backup']))
    file = made.file as string
    expect(path.basename(file)).toMatch(/^daily-backup-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.json$/)
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { metadata: Record<string, unknown>; collections: Record<string, unknown[]> }
    expect(parsed.metadata).toMatchObject({
      database: crm.name,
      backupName: 'daily-backup',
      description: 'Daily CRM backup',
      collections: ['departments', 'roles', 'users'],
      compression: 'none',
    })
    expect(typeof parsed.metadata.version).toBe('string')
    expect(Date.parse(String(parsed.metadata.timestamp))).toBeGreaterThan(Date.now() - 600_000)
    expect(parsed.collections.users).toEqual(USERS.map((doc) => EJSON.serialize(doc, { relaxed: false })))
    expect(parsed.collections.departments).toEqual(DEPARTMENTS.map((doc) => EJSON.serialize(doc, { relaxed: false })))
    const first = parsed.collections.users[0] as Record<string, any>
    expect(first.loginCount).toEqual({ $numberLong: '9007199254740994' })
    expect(first.externalId).toEqual({ $binary: { base64: expect.any(String), subType: '04' } })
    expect(first.employeeNo).toEqual({ $numberInt: '1001' })
    expect(first.salary).toEqual({ $numberDouble: '50000.25' })

    const gz = expectOk(await cli(['backup', '--db', crm.url, '--out', dir, '--name', 'compressed', '--gzip']))
    const unzipped = JSON.parse(gunzipSync(fs.readFileSync(gz.file as string)).toString('utf8')) as { metadata: Record<string, unknown>; collections: Record<string, unknown[]> }
    expect(unzipped.metadata.compression).toBe('gzip')
    expect(unzipped.collections).toEqual(parsed.collections)
  })

  it('restores into a target database: dry run, selected collections, everything, then --drop', async () => {
    const target = rig.freshDatabase()
    const dry = expectOk(await cli(['restore', file, '--db', target.url, '--dry-run']))
    expect(dry.dryRun).toBe(true)
    expect(dry.tables.users).toMatchObject({ inserted: USERS.length, skipped: 0 })
    expect(await collectionsOf(target)).toEqual([])

    const some = expectOk(await cli(['restore', file, '--db', target.url, '--tables', 'users,roles']))
    expect(Object.keys(some.tables).sort()).toEqual(['roles', 'users'])
    expect(await collectionsOf(target)).toEqual(['roles', 'users'])

    const all = expectOk(await cli(['restore', file, '--db', target.url]))
    expect(all.tables).toMatchObject({
      departments: { inserted: DEPARTMENTS.length, skipped: 0 },
      roles: { inserted: 0, skipped: ROLES.length },
      users: { inserted: 0, skipped: USERS.length },
    })
    expect(await dbState(target.db)).toEqual(await dbState(crm.db))

    // Edits in the target; --drop on users puts users back as in the backup and leaves roles alone.
    await coll(target.db, 'users').deleteOne({ _id: oid(0x301) })
    await coll(target.db, 'users').insertOne({ _id: oid(0x3ff), name: 'Only in the target', email: 'only@crm.example' })
    await coll(target.db, 'roles').updateOne({ _id: oid(0x201) }, { $set: { level: new Int32(2) } })
    const refused = await cli(['restore', file, '--db', target.url, '--drop', '--tables', 'users'])
    expect(refused.code).toBe(2) // --drop asks first; without a terminal and --yes it changes nothing
    expect(await coll(target.db, 'users').findOne({ _id: oid(0x3ff) })).not.toBeNull()
    const dropped = expectOk(await cli(['restore', file, '--db', target.url, '--drop', '--yes', '--tables', 'users']))
    expect(dropped.tables.users).toMatchObject({ inserted: USERS.length, skipped: 0, emptied: true })
    const after = (await dbState(target.db)) as Record<string, unknown>
    const original = (await dbState(crm.db)) as Record<string, unknown>
    expect(after.users).toEqual(original.users)
    expect(after.departments).toEqual(original.departments)
    expect(after.roles).not.toEqual(original.roles)
    await rig.expectNoLeftovers(target.db)
  })

  it('analyzes and merges after edits on both sides: newer kept, older updated, deleted re-added', async () => {
    const target = rig.freshDatabase()
    expectOk(await cli(['restore', file, '--db', target.url]))
    const users = coll(target.db, 'users')
    // User 1: changed in the target before the backup was taken (older) → the backup's version wins.
    await users.updateOne({ _id: oid(0x301) }, { $set: { name: 'Stale name', updatedAt: at('2024-12-01T00:00:00Z') } })
    // User 2: changed in the target after the backup (newer) → kept.
    await users.updateOne({ _id: oid(0x302) }, { $set: { name: 'Renamed since', updatedAt: at('2030-01-01T00:00:00Z') } })
    // User 3: deleted in the target → new. User 40: only in the target → left alone.
    await users.deleteOne({ _id: oid(0x303) })
    await users.insertOne({ _id: oid(0x340), name: 'Hired since', email: 'new@crm.example', updatedAt: at('2030-01-01T00:00:00Z') })
    // A department changed without a newer timestamp → the backup's version wins under backup_wins.
    await coll(target.db, 'departments').updateOne({ _id: oid(0x100) }, { $set: { budget: new Double(1) } })
    const before = await dbState(target.db)

    const analysis = expectOk(await cli(['analyze', file, '--db', target.url]))
    expect(analysis.tables.users).toMatchObject({ new: 1, updated: 1, kept: 1, unchanged: USERS.length - 3, currentOnly: 1 })
    // Naming the field a collection's schema cannot declare changes nothing: the documents have it.
    const named = expectOk(await cli(['analyze', file, '--db', target.url, '--timestamp-field', 'updatedAt']))
    expect(named.tables.users).toEqual(analysis.tables.users)
    expect(await dbState(target.db)).toEqual(before)

    const merged = expectOk(await cli(['merge', file, '--db', target.url, '--yes']))
    expect(merged.tables.users).toMatchObject({ new: 1, updated: 1, kept: 1, currentOnly: 1 })
    expect(merged.tables.departments).toMatchObject({ unchanged: 1 })
    expect(await users.findOne({ _id: oid(0x301) })).toEqual(USERS[0])
    expect(await users.findOne({ _id: oid(0x302) })).toMatchObject({ name: 'Renamed since' })
    expect(await users.findOne({ _id: oid(0x303) })).toEqual(USERS[2])
    expect(await users.findOne({ _id: oid(0x340) })).toMatchObject({ name: 'Hired since' })
    expect(await rig.count(target.db, 'users')).toBe(USERS.length + 1)
    const again = expectOk(await cli(['merge', file, '--db', target.url, '--yes']))
    expect(again.tables.users).toMatchObject({ new: 0, updated: 0 })
    await rig.expectNoLeftovers(target.db)
  })

  it('reports the database statistics the seed shows', async () => {
    const report = expectOk(await cli(['stats', '--db', crm.url]))
    expect(report).toMatchObject({ engine: 'mongodb', database: crm.name, collections: 3, documents: USERS.length + DEPARTMENTS.length + ROLES.length })
    expect(report.tables.map((t: { name: string }) => t.name)).toEqual(['departments', 'roles', 'users'])
  })
})
