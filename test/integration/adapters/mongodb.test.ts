/**
 * The MongoDB adapter against a real server (issues #5, #15): a FerretDB 1.x the file starts on
 * loopback (test/helpers/mongodb-server.ts), or the server MERGEBACK_TEST_MONGODB_URL names
 * (e.g. `mongodb://127.0.0.1:27017/admin`, or with credentials
 * `mongodb://user:pass@host:27017/admin?authSource=admin`). With neither, the whole file is
 * skipped and says so in its name (and fails instead under MERGEBACK_TEST_DISALLOW_SKIP=1).
 *
 * Every test makes its own databases (`mbtest_<pid>_<random>`) and drops them.
 *
 * Why not describeAdapterSuite (adapter-suite.ts): its portable tables and expected rows are
 * SQL-shaped (`{ id: 1, code: "a" }` keyed by `id`), while a MongoDB row is a canonical Extended
 * JSON document keyed by `_id`, and a MongoDB destination's capabilities depend on the server
 * (a transaction on a replica set, the undo journal on a standalone). The same contract is
 * checked here in MongoDB's terms, with the suite's helpers.
 *
 * What runs on which server: everything on a standalone server (write mode `journal`); on a
 * replica set or sharded cluster also write mode `transaction`, snapshot reads (≥ 5.0),
 * time-series collections (≥ 5.0). On FerretDB the fixtures leave out what it lacks
 * (FERRETDB_GAPS), and the few tests about nothing else are skipped by name (SKIPPED_ON_FERRETDB).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  UUID,
  type Db,
  type Document,
} from 'mongodb'
import { EJSON } from 'bson'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Adapter, ConnectionConfig, DatabaseSchema, Row, TableSchema } from '../../../src/adapters/adapter.js'
import { createMongodbAdapter } from '../../../src/adapters/mongodb/mongodb-adapter.js'
import type { MongodbDestination, WriteMode } from '../../../src/adapters/mongodb/mongodb-destination.js'
import { indexFromSpec, sameIndex } from '../../../src/adapters/mongodb/mongodb-indexes.js'
import type { MongodbStats } from '../../../src/adapters/mongodb/mongodb-introspector.js'
import { INTERNAL_PREFIX, JOURNAL_COLLECTION } from '../../../src/adapters/mongodb/mongodb-journal.js'
import { encodeDocument } from '../../../src/adapters/mongodb/mongodb-values.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { backup } from '../../../src/engine/backup.js'
import { stats } from '../../../src/engine/inspect.js'
import { merge } from '../../../src/engine/merge.js'
import { restore } from '../../../src/engine/restore.js'
import { BusyError, ConnectionError, DatabaseError, FormatError, UsageError } from '../../../src/errors.js'
import { mongodbSkipReason, skipIfServerLacks, type Gap } from '../../helpers/mongodb-server.js'
import { coll, dbState, MongoTestRig, type MongoTestDatabase } from './mongodb-helpers.js'
import { batchesOf, readAll, restoreThroughAdapter, snapshot } from './adapter-suite.js'

const SKIPPED = mongodbSkipReason()
if (SKIPPED) console.warn(`MongoDB integration tests ${SKIPPED}.`)

// ---------------------------------------------------------------------------------------------
// Test databases
// ---------------------------------------------------------------------------------------------

interface ServerFacts {
  readonly transactions: boolean
  readonly major: number
  readonly minor: number
  /** What the server lacks of what these tests use (only FerretDB lacks anything). */
  lacks(gap: Gap): boolean
}

const rig = new MongoTestRig()
let server: ServerFacts
const freshDatabase = async (): Promise<MongoTestDatabase> => rig.freshDatabase()
const tempDir = () => rig.tempDir()
const count = (db: Db, name: string, filter: object = {}) => rig.count(db, name, filter)
const expectNoLeftovers = (db: Db) => rig.expectNoLeftovers(db)

const adapters: Record<WriteMode, Adapter> = {
  auto: createMongodbAdapter({ writeMode: 'auto' }),
  journal: createMongodbAdapter({ writeMode: 'journal' }),
  transaction: createMongodbAdapter({ writeMode: 'transaction' }),
}

/** A collection's schema as a file without schema information gives it (seed layout). */
function collectionTable(name: string): TableSchema {
  return { name, columns: [{ name: '_id', type: 'objectId', kind: 'document', nullable: false }], primaryKey: ['_id'], uniqueConstraints: [], indexes: [], foreignKeys: [] }
}

function tableOf(schema: DatabaseSchema, name: string): TableSchema {
  const table = schema.tables.find((t) => t.name === name)
  if (!table) throw new Error(`no ${name} in ${schema.tables.map((t) => t.name).join(', ')}`)
  return table
}

async function expectRejects<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `expected a ${type.name}`).toBeInstanceOf(type)
  return error as T
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const oid = (n: number) => new ObjectId(n.toString(16).padStart(24, '0'))

/** One document with every BSON type, at its extremes. */
const TYPES_DOC: Document = {
  _id: oid(1),
  int32min: new Int32(-2147483648),
  int32max: new Int32(2147483647),
  longmax: Long.fromString('9223372036854775807'),
  longmin: Long.fromString('-9223372036854775808'),
  longsmall: Long.fromNumber(1),
  double1: new Double(1),
  negzero: new Double(-0),
  nan: new Double(NaN),
  inf: new Double(Infinity),
  ninf: new Double(-Infinity),
  tiny: new Double(5e-324),
  decmax: Decimal128.fromString('9.999999999999999999999999999999999E+6144'),
  decmin: Decimal128.fromString('1E-6176'),
  dectrailing: Decimal128.fromString('1.50'),
  decnan: Decimal128.fromString('NaN'),
  decinf: Decimal128.fromString('-Infinity'),
  before1970: new Date(-1),
  ancient: new Date(-8.64e15),
  farFuture: new Date(8.64e15),
  binary: new Binary(Buffer.from([0, 1, 2, 255])),
  emptyBinary: new Binary(Buffer.alloc(0)),
  functionBinary: new Binary(Buffer.from('f'), 1),
  oldBinary: new Binary(Buffer.from([9, 8, 7]), 2),
  oldUuid: new Binary(Buffer.alloc(16, 7), 3),
  uuid: new UUID('01234567-89ab-cdef-0123-456789abcdef'),
  md5: new Binary(Buffer.alloc(16, 1), 5),
  userDefined: new Binary(Buffer.from('x'), 0x80),
  // A top-level Timestamp(0, 0) would be replaced by the server's clock; nested ones are kept.
  timestamp: new Timestamp({ t: 0xffffffff, i: 0xffffffff }),
  nestedTimestamp: { zero: new Timestamp({ t: 0, i: 0 }) },
  regex: new BSONRegExp('^a.b$', 'imsux'),
  min: new MinKey(),
  max: new MaxKey(),
  code: new Code('function () { return 1 }'),
  scopedCode: new Code('function () { return x }', { x: new Int32(1) }),
  symbol: new BSONSymbol('sym'),
  ref: new DBRef('people', oid(2), 'crm'),
  text: 'héllo 🌍 "quoted" \\ \n',
  emptyText: '',
  yes: true,
  no: false,
  nothing: null,
  'dotted.name': 'a field, not a path',
  nested: { deep: { deeper: [new Int32(1), [new Double(2), { x: null }], 'three'] }, emptyArray: [], emptyObject: {} },
}

const PEOPLE: Document[] = [
  { _id: oid(10), name: 'Ann', email: 'ann@example.com', status: 'active', bio: 'likes maps', createdAt: new Date('2024-01-01T00:00:00Z'), updatedAt: new Date('2025-01-01T00:00:00Z'), visits: new Int32(3) },
  { _id: oid(11), name: 'Bob', email: 'bob@example.com', status: 'inactive', phone: '+1 555', createdAt: new Date('2024-02-01T00:00:00Z'), updatedAt: new Date('2025-02-01T00:00:00Z'), visits: new Int32(0) },
  { _id: oid(12), name: 'Zoë', email: 'zoe@example.com', status: 'active', createdAt: new Date('2024-03-01T00:00:00Z'), updatedAt: new Date('2025-03-01T00:00:00Z'), score: new Double(1.5) },
  { _id: oid(13), name: 'Dan', email: 'dan@example.com', status: 'active', createdAt: new Date('2024-04-01T00:00:00Z'), updatedAt: new Date('2025-04-01T00:00:00Z'), tags: ['a', 'b'] },
]

const PEOPLE_INDEXES: Document[] = [
  { key: { email: 1 }, name: 'email_unique', unique: true },
  { key: { phone: 1 }, name: 'phone_sparse', sparse: true },
  // No document has expiresAt, so the TTL monitor deletes nothing during the tests.
  { key: { expiresAt: 1 }, name: 'expires_ttl', expireAfterSeconds: 3600 },
  { key: { status: 1, createdAt: -1 }, name: 'active_recent', partialFilterExpression: { status: 'active' } },
  { key: { name: 1 }, name: 'name_ci', collation: { locale: 'en', strength: 2 } },
  { key: { bio: 'text', name: 'text' }, name: 'people_text', weights: { bio: 5, name: 10 }, default_language: 'english', language_override: 'lang' },
  { key: { legacy: 1 }, name: 'legacy_hidden', hidden: true },
]

const PLACES: Document[] = [
  { _id: 'berlin', tenant: 't1', location: { type: 'Point', coordinates: [13.4, 52.5] }, attributes: { size: 'big' } },
  { _id: 'paris', tenant: 't2', location: { type: 'Point', coordinates: [2.35, 48.85] }, attributes: { river: 'Seine' } },
]

const PLACES_INDEXES: Document[] = [
  { key: { location: '2dsphere' }, name: 'location_geo', '2dsphereIndexVersion': 3 },
  { key: { tenant: 'hashed' }, name: 'tenant_hashed' },
  { key: { 'attributes.$**': 1 }, name: 'attributes_wildcard' },
]

const BIG_PAYLOAD = 'x'.repeat(400)

/** Fields of TYPES_DOC that a server may lack (FERRETDB_GAPS): left out there. */
const TYPES_FIELD_GAPS: Readonly<Record<string, Gap>> = {
  negzero: 'specialDoubles',
  nan: 'specialDoubles',
  inf: 'specialDoubles',
  ninf: 'specialDoubles',
  decmax: 'decimal128',
  decmin: 'decimal128',
  dectrailing: 'decimal128',
  decnan: 'decimal128',
  decinf: 'decimal128',
  min: 'legacyTypes',
  max: 'legacyTypes',
  code: 'legacyTypes',
  scopedCode: 'legacyTypes',
  symbol: 'legacyTypes',
  ref: 'dollarNames',
  'dotted.name': 'dottedNames',
}

/** TYPES_DOC's `nested` without an array directly inside an array (for a server without nested arrays). */
const NESTED_WITHOUT_NESTED_ARRAYS = { deep: { deeper: [new Int32(1), { inner: [new Double(2), { x: null }] }, 'three'] }, emptyArray: [], emptyObject: {} }

/** Indexes of PEOPLE_INDEXES and PLACES_INDEXES that a server may lack, by name. */
const INDEX_GAPS: Readonly<Record<string, Gap>> = {
  phone_sparse: 'indexOptions',
  expires_ttl: 'indexOptions',
  active_recent: 'indexOptions',
  name_ci: 'collation',
  people_text: 'indexOptions',
  legacy_hidden: 'indexOptions',
  location_geo: 'indexOptions',
  tenant_hashed: 'indexOptions',
}

/** The fixtures as this server can hold them (set in beforeAll). */
interface Fixtures {
  readonly types: Document
  readonly peopleIndexes: Document[]
  readonly placesIndexes: Document[]
  /** The source's views (activePeople, activeNames), where the server has views. */
  readonly views: readonly string[]
  /** Whether `audited` has its validator. */
  readonly validator: boolean
  /** Every collection and view of the source, sorted by name. */
  readonly collections: readonly string[]
  /** Documents in `big`: fewer where every `$in` and sorted read scans the collection, to keep the suite within minutes. */
  readonly bigCount: number
}

let fx: Fixtures

function fixturesFor(facts: ServerFacts): Fixtures {
  const types: Document = {}
  for (const [field, value] of Object.entries(TYPES_DOC)) {
    const gap = TYPES_FIELD_GAPS[field]
    if (gap && facts.lacks(gap)) continue
    types[field] = field === 'nested' && facts.lacks('nestedArrays') ? NESTED_WITHOUT_NESTED_ARRAYS : value
  }
  const supported = (spec: Document) => !INDEX_GAPS[spec.name as string] || !facts.lacks(INDEX_GAPS[spec.name as string])
  const views = facts.lacks('views') ? [] : ['activeNames', 'activePeople']
  return {
    types,
    peopleIndexes: PEOPLE_INDEXES.filter(supported),
    placesIndexes: PLACES_INDEXES.filter(supported),
    views,
    validator: !facts.lacks('validators'),
    collections: [...views, 'audited', 'big', 'events', 'people', 'places', 'types'].sort(),
    bigCount: facts.lacks('indexedQueries') ? 6_000 : 20_000,
  }
}

/** The source database every read test uses, and the restores start from. */
async function seedSource(db: Db): Promise<void> {
  await coll(db, 'people').insertMany(PEOPLE)
  await coll(db, 'people').createIndexes(fx.peopleIndexes)
  await coll(db, 'places').insertMany(PLACES)
  await coll(db, 'places').createIndexes(fx.placesIndexes)
  await coll(db, 'types').insertOne(fx.types)
  await db.createCollection('events', { capped: true, size: 1 << 20, max: 1000 })
  await coll(db, 'events').insertMany([{ _id: new Int32(1), what: 'started' }, { _id: new Int32(2), what: 'stopped' }])
  if (fx.validator) {
    await db.createCollection('audited', {
      validator: { $jsonSchema: { bsonType: 'object', required: ['email'], properties: { email: { bsonType: 'string', pattern: '^.+@.+$' } } } },
      validationLevel: 'strict',
      validationAction: 'error',
    })
  }
  await coll(db, 'audited').insertOne({ _id: oid(20), email: 'ok@example.com' })
  if (fx.views.length > 0) {
    await db.createCollection('activePeople', { viewOn: 'people', pipeline: [{ $match: { status: 'active' } }, { $project: { email: 0 } }] })
    await db.createCollection('activeNames', { viewOn: 'activePeople', pipeline: [{ $project: { name: 1 } }] })
  }
  for (let start = 1; start <= fx.bigCount; start += 1000) {
    const docs = Array.from({ length: Math.min(1000, fx.bigCount - start + 1) }, (_, i) => ({ _id: new Int32(start + i), payload: `${start + i}:${BIG_PAYLOAD}` }))
    await coll(db, 'big').insertMany(docs)
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes: a session that dies
// ---------------------------------------------------------------------------------------------

const WRITER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'mongodb-crash-writer.ts')
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

interface Child {
  readonly pid: number
  kill(): Promise<void>
}

/** Starts the crash writer and resolves once it printed "ready" (its changes are made, uncommitted). */
async function startWriter(url: string, mode: WriteMode, plan: unknown): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, url, mode, JSON.stringify(plan)], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`the crash writer exited (${code}) before it was ready: ${stderr}`)))
  })
  return {
    pid: child.pid!,
    async kill() {
      child.kill('SIGKILL')
      // Wait for the exit so that the process is reaped: a zombie would still look alive.
      await exited
    },
  }
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(SKIPPED !== undefined)(SKIPPED ? `MongoDB adapter (integration) — ${SKIPPED}` : 'MongoDB adapter (integration)', () => {
  let source: MongoTestDatabase

  beforeAll(async () => {
    await rig.start()
    const { client } = rig
    const hello = await client.db('admin').command({ hello: 1 })
    const build = await client.db('admin').command({ buildInfo: 1 })
    const [major, minor] = String(build.version).split('.').map(Number)
    server = { transactions: Boolean(hello.setName) || hello.msg === 'isdbgrid', major, minor, lacks: (gap) => rig.server.lacks(gap) }
    fx = fixturesFor(server)
    source = await freshDatabase()
    await seedSource(source.db)
  })

  afterAll(() => rig.stop())

  beforeEach((ctx) => skipIfServerLacks(rig.server, ctx))

  describe('reading', () => {
    it('describes collections and views sorted by name, leaving out system and internal collections', async () => {
      const src = await adapters.auto.openSource(source.config)
      try {
        const schema = await src.describe()
        expect(schema.engine).toBe('mongodb')
        expect(schema.database).toBe(source.name)
        expect(schema.tables.map((t) => t.name)).toEqual(fx.collections)
        const names = (await source.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name)
        if (fx.views.length > 0) expect(names).toContain('system.views')

        const people = tableOf(schema, 'people')
        expect(people.columns).toEqual([{ name: '_id', type: 'objectId', kind: 'document', nullable: false }])
        expect(people.primaryKey).toEqual(['_id'])
        expect(tableOf(schema, 'big').columns[0].type).toBe('int')
        expect(tableOf(schema, 'places').columns[0].type).toBe('string')
        expect(tableOf(schema, 'events').options).toMatchObject({ type: 'collection', capped: true })
        if (fx.validator) expect(tableOf(schema, 'audited').options).toMatchObject({ type: 'collection', validationLevel: 'strict', validationAction: 'error' })
        if (fx.views.length > 0) {
          expect(tableOf(schema, 'activePeople').options).toEqual({
            type: 'view',
            view: {
              viewOn: 'people',
              pipeline: [{ $match: { status: 'active' } }, { $project: { email: { $numberInt: '0' } } }],
            },
          })
          expect(tableOf(schema, 'activePeople').indexes).toEqual([])
        }

        // Every index with every option, exactly as listIndexes reports it (the _id index left out).
        const listed = (await coll(source.db, 'people').listIndexes().toArray()).filter((spec) => spec.name !== '_id_')
        expect(people.indexes.map((index) => index.name).sort()).toEqual(fx.peopleIndexes.map((spec) => spec.name).sort())
        for (const spec of listed) expect(people.indexes.find((index) => index.name === spec.name)).toEqual(indexFromSpec(spec))
        expect(people.indexes.find((index) => index.name === 'email_unique')?.unique).toBe(true)
        if (!server.lacks('indexOptions')) {
          expect(people.indexes.find((index) => index.name === 'people_text')?.options).toMatchObject({
            weights: { bio: { $numberInt: '5' }, name: { $numberInt: '10' } },
            default_language: 'english',
            language_override: 'lang',
          })
        }

        const only = await src.describe({ tables: ['types', 'people'] })
        expect(only.tables.map((t) => t.name)).toEqual(['people', 'types'])
        const error = await expectRejects(src.describe({ tables: ['people', 'no_such_collection', 'system.views'] }), UsageError)
        expect(error.message).toContain('no_such_collection')
        expect(error.message).toContain('system.views')
      } finally {
        await src.close()
      }
    })

    it('reads every BSON type as canonical Extended JSON, exactly', async () => {
      const src = await adapters.auto.openSource(source.config)
      try {
        const schema = await src.describe({ tables: ['types'] })
        const rows = await readAll(src, tableOf(schema, 'types'))
        const stored = await coll(source.db, 'types').findOne({ _id: oid(1) })
        expect(rows).toEqual([EJSON.serialize(stored!, { relaxed: false })])
        expect(rows).toEqual([EJSON.serialize(fx.types, { relaxed: false })])
        const row = rows[0]
        expect(row.int32max).toEqual({ $numberInt: '2147483647' })
        expect(row.longmax).toEqual({ $numberLong: '9223372036854775807' })
        expect(row.double1).toEqual({ $numberDouble: '1.0' })
        if (!server.lacks('specialDoubles')) expect(row.negzero).toEqual({ $numberDouble: '-0.0' })
        if (!server.lacks('decimal128')) {
          expect(row.decmax).toEqual({ $numberDecimal: '9.999999999999999999999999999999999E+6144' })
          expect(row.dectrailing).toEqual({ $numberDecimal: '1.50' })
        }
        expect(row.before1970).toEqual({ $date: { $numberLong: '-1' } })
        expect(row.farFuture).toEqual({ $date: { $numberLong: '8640000000000000' } })
        expect(row.uuid).toEqual({ $binary: { base64: 'ASNFZ4mrze8BI0VniavN7w==', subType: '04' } })
        expect(row.emptyBinary).toEqual({ $binary: { base64: '', subType: '00' } })
        expect(row.regex).toEqual({ $regularExpression: { pattern: '^a.b$', options: 'imsux' } })
        expect(row.nestedTimestamp).toEqual({ zero: { $timestamp: { t: 0, i: 0 } } })
        expect(Object.keys(row)).toEqual(Object.keys(fx.types))
      } finally {
        await src.close()
      }
    })

    it('streams a large collection in _id order, in batches no larger than asked', async () => {
      const src = await adapters.auto.openSource(source.config)
      try {
        const big = tableOf(await src.describe({ tables: ['big'] }), 'big')
        let expected = 1
        let batches = 0
        for await (const batch of src.readTable(big, { batchSize: 700 })) {
          batches++
          expect(batch.length).toBeGreaterThan(0)
          expect(batch.length).toBeLessThanOrEqual(700)
          for (const row of batch) expect(row._id).toEqual({ $numberInt: String(expected++) })
        }
        expect(expected - 1).toBe(fx.bigCount)
        expect(batches).toBe(Math.ceil(fx.bigCount / 700))
      } finally {
        await src.close()
      }
    })

    it('pulls: a paused consumer does not make the source buffer the collection', async () => {
      const src = await adapters.auto.openSource(source.config)
      try {
        const big = tableOf(await src.describe({ tables: ['big'] }), 'big')
        const iterator = src.readTable(big, { batchSize: 500 })[Symbol.asyncIterator]()
        const first = await iterator.next()
        expect(first.value).toHaveLength(500)
        ;(globalThis as { gc?: () => void }).gc?.()
        const before = process.memoryUsage()
        await new Promise((resolve) => setTimeout(resolve, 1000))
        const after = process.memoryUsage()
        expect(after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)).toBeLessThan(20 * 1024 * 1024)
        let count = first.value!.length
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) count += next.value.length
        expect(count).toBe(fx.bigCount)
      } finally {
        await src.close()
      }
    })

    it('closes the server cursor when the consumer leaves early, and stays usable', async () => {
      const openCursors = async () => {
        const status = await rig.client.db('admin').command({ serverStatus: 1 })
        return Number(status.metrics.cursor.open.total)
      }
      const src = await adapters.auto.openSource(source.config)
      try {
        const schema = await src.describe()
        const baseline = await openCursors()
        let seen = 0
        for await (const batch of src.readTable(tableOf(schema, 'big'), { batchSize: 100 })) {
          seen += batch.length
          if (seen >= 300) break
        }
        expect(seen).toBe(300)
        expect(await openCursors()).toBe(baseline)
        await expect(
          (async () => {
            for await (const batch of src.readTable(tableOf(schema, 'big'), { batchSize: 100 })) if (batch.length > 0) throw new Error('consumer failed')
          })(),
        ).rejects.toThrow('consumer failed')
        expect(await openCursors()).toBe(baseline)
        expect(await readAll(src, tableOf(schema, 'people'))).toHaveLength(PEOPLE.length)
        expect(await readAll(src, tableOf(schema, 'activePeople'))).toEqual([])
      } finally {
        await src.close()
      }
    })

    it('reports database and collection statistics', async () => {
      const report = (await stats(source.url)) as MongodbStats
      expect(report.engine).toBe('mongodb')
      expect(report.database).toBe(source.name)
      expect(report.version).toMatch(/^\d+\.\d+/)
      expect(report.sizeBytes).toBeGreaterThan(0)
      expect(report.dataSizeBytes).toBeGreaterThan(fx.bigCount * BIG_PAYLOAD.length)
      expect(report.views).toBe(fx.views.length)
      expect(report.collections).toBe(6)
      expect(report.tables.map((t) => t.name)).toEqual(['audited', 'big', 'events', 'people', 'places', 'types'])
      expect(report.tables.find((t) => t.name === 'big')).toMatchObject({ rows: fx.bigCount, indexes: 1, type: 'collection' })
      expect(report.tables.find((t) => t.name === 'people')).toMatchObject({ rows: PEOPLE.length, indexes: fx.peopleIndexes.length + 1 })
      expect(report.documents).toBe(fx.bigCount + PEOPLE.length + PLACES.length + 1 + 2 + 1)
    })

    it('reads one snapshot on a replica set ≥ 5.0', async (ctx) => {
      if (!server.transactions || server.major < 5) ctx.skip('needs a replica set or sharded cluster ≥ 5.0')
      const db = await freshDatabase()
      await coll(db.db, 'a').insertOne({ _id: 1, v: 'before' })
      const src = await adapters.auto.openSource(db.config)
      try {
        expect(src.capabilities.consistentSnapshot).toBe(true)
        const schema = await src.describe()
        expect(await readAll(src, tableOf(schema, 'a'))).toHaveLength(1)
        await coll(db.db, 'a').insertOne({ _id: 2, v: 'after the snapshot' })
        expect(await readAll(src, tableOf(schema, 'a'))).toHaveLength(1)
      } finally {
        await src.close()
      }
    })

    it('reads on a standalone server without promising a snapshot', async (ctx) => {
      if (server.transactions) ctx.skip('the server is a replica set')
      const src = await adapters.auto.openSource(source.config)
      try {
        expect(src.capabilities.consistentSnapshot).toBe(false)
      } finally {
        await src.close()
      }
    })
  })

  describe('connection failures', () => {
    it('refused credentials are a ConnectionError without the password, not retryable', async () => {
      const url = new URL(rig.server.url)
      url.username = 'mergeback_no_such_user'
      url.password = 'Wr0ng-Pa55'
      url.searchParams.set('authSource', 'admin')
      const config = parseDatabaseUrl(url.toString(), { connectTimeoutMs: 5000 })
      for (const open of [() => adapters.auto.openSource(config), () => adapters.auto.openDestination(config)]) {
        const error = await expectRejects(open(), ConnectionError)
        expect(error.message).toContain('refused the credentials')
        expect(error.message).not.toContain('Wr0ng-Pa55')
        expect(error.message).toContain('mergeback_no_such_user:***@')
        expect(error.retryable).toBe(false)
      }
    })
  })

  for (const mode of ['journal', 'transaction'] as const) {
    describe(`writing with write mode "${mode}"`, () => {
      const adapter = adapters[mode]
      const needs = (ctx: { skip: (note?: string) => void }) => {
        if (mode === 'transaction' && !server.transactions) ctx.skip('transactions need a replica set or a sharded cluster')
      }

      it('says how it is all or nothing', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        const destination = (await adapter.openDestination(target.config)) as MongodbDestination
        try {
          expect(destination.atomicity).toBe(mode === 'transaction' ? 'transaction' : 'undo-journal')
          expect(destination.capabilities).toEqual({
            consistentSnapshot: false,
            transactionalWrite: mode === 'transaction',
            transactionalDdl: false,
            bulkLoad: 'insert-many',
          })
        } finally {
          await destination.close()
        }
        await expectNoLeftovers(target.db)
      })

      it('restores everything into an empty database: documents byte for byte, options, indexes, views', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        const results = await restoreThroughAdapter(adapter, source.config, target.config)
        expect(results.people).toEqual({ inserted: PEOPLE.length, skipped: 0 })
        expect(results.big).toEqual({ inserted: fx.bigCount, skipped: 0 })
        if (fx.views.length > 0) expect(results.activePeople).toEqual({ inserted: 0, skipped: 0 })
        expect(await dbState(target.db)).toEqual(await dbState(source.db))
        // The views work: they answer like the originals.
        if (fx.views.length > 0) {
          const active = await coll(target.db, 'activeNames').find({}, { sort: { _id: 1 } }).toArray()
          expect(active).toEqual(await coll(source.db, 'activeNames').find({}, { sort: { _id: 1 } }).toArray())
        }
        for (const spec of fx.peopleIndexes) {
          const restored = (await coll(target.db, 'people').listIndexes().toArray()).find((index) => index.name === spec.name)
          expect(restored && sameIndex(restored, spec), String(spec.name)).toBe(true)
        }
        await expectNoLeftovers(target.db)
      })

      it('restores only the selected collections', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        const selected = ['people', ...fx.views.filter((name) => name === 'activePeople')]
        await restoreThroughAdapter(adapter, source.config, target.config, { tables: selected })
        const names = (await target.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => !n.startsWith('system.') && n !== JOURNAL_COLLECTION)
        expect(names.sort()).toEqual(selected.sort())
      })

      it('skips _ids that exist (counting them), and a second restore changes nothing', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await coll(target.db, 'people').insertOne({ ...PEOPLE[0], name: 'Ann (kept as it is)' })
        const first = await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['people', 'types'] })
        expect(first.people).toEqual({ inserted: PEOPLE.length - 1, skipped: 1 })
        expect(await coll(target.db, 'people').findOne({ _id: oid(10) })).toMatchObject({ name: 'Ann (kept as it is)' })
        const state = await dbState(target.db)
        const second = await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['people', 'types'] })
        expect(second).toEqual({ people: { inserted: 0, skipped: PEOPLE.length }, types: { inserted: 0, skipped: 1 } })
        expect(await dbState(target.db)).toEqual(state)
      })

      it('skips a repeated _id within the backup and matches _ids by value across number types', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await coll(target.db, 'nums').insertOne({ _id: new Double(1), v: 'existing double 1.0' })
        const destination = await adapter.openDestination(target.config)
        try {
          const schema = await destination.describe()
          await destination.prepare(schema, { mode: 'restore', drop: false })
          const rows: Row[] = [
            { _id: { $numberInt: '1' }, v: 'int 1: the same _id as 1.0' },
            { _id: { $numberLong: '2' }, v: 'long 2' },
            { _id: { $numberInt: '2' }, v: 'int 2: repeated' },
            { _id: 3, v: 'relaxed 3' },
          ]
          expect(await destination.writeRows(tableOf(schema, 'nums'), batchesOf(rows))).toEqual({ inserted: 2, skipped: 2 })
          await destination.commit()
        } finally {
          await destination.close()
        }
        const docs = await coll(target.db, 'nums').find({}, { sort: { _id: 1 } }).toArray()
        expect(docs.map((d) => EJSON.serialize(d, { relaxed: false }))).toEqual([
          { _id: { $numberDouble: '1.0' }, v: 'existing double 1.0' },
          { _id: { $numberLong: '2' }, v: 'long 2' },
          { _id: { $numberInt: '3' }, v: 'relaxed 3' },
        ])
      })

      it('skips an _id repeated in a later chunk of a collection the restore created or emptied', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await coll(target.db, 'emptied').insertOne({ _id: 'old', v: 'emptied by --drop' })
        const destination = await adapter.openDestination(target.config)
        try {
          const tables = [collectionTable('created'), collectionTable('emptied')]
          await destination.prepare({ engine: 'mongodb', database: 'x', tables, warnings: [] }, { mode: 'restore', drop: true })
          // 1200 documents: the insert chunks hold 1000, so the repeats fall into the second chunk.
          const rows: Row[] = Array.from({ length: 1200 }, (_, i) => ({ _id: { $numberInt: String(i % 1100) }, v: `copy ${i}` }))
          for (const table of tables) expect(await destination.writeRows(table, batchesOf(rows))).toEqual({ inserted: 1100, skipped: 100 })
          await destination.commit()
        } finally {
          await destination.close()
        }
        for (const name of ['created', 'emptied']) {
          expect(await count(target.db, name)).toBe(1100)
          expect(await coll(target.db, name).findOne({ _id: new Int32(5) })).toEqual({ _id: new Int32(5), v: 'copy 5' })
        }
        await expectNoLeftovers(target.db)
      })

      it('drop empties only the selected collections, keeping their options and indexes (capped included)', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await restoreThroughAdapter(adapter, source.config, target.config)
        await coll(target.db, 'people').insertOne({ _id: oid(99), name: 'only in the target', email: 'x@example.com' })
        await coll(target.db, 'events').insertOne({ _id: new Int32(3), what: 'only in the target' })
        await coll(target.db, 'places').insertOne({ _id: 'rome', tenant: 't3' })
        const before = (await dbState(target.db)) as Record<string, { docs: string[] }>
        const results = await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['people', 'events'], drop: true })
        expect(results.people).toEqual({ inserted: PEOPLE.length, skipped: 0 })
        expect(results.events).toEqual({ inserted: 2, skipped: 0 })
        const after = (await dbState(target.db)) as Record<string, { docs: string[] }>
        const original = (await dbState(source.db)) as Record<string, unknown>
        expect(after.people).toEqual(original.people)
        expect(after.events).toEqual(original.events)
        expect(after.places).toEqual(before.places)
        expect(after.places.docs).toHaveLength(PLACES.length + 1)
        await expectNoLeftovers(target.db)
      })

      it('a dry run (rollback after everything) leaves the database exactly as it was', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['people', 'events'] })
        await coll(target.db, 'people').updateOne({ _id: oid(11) }, { $set: { name: 'Robert' } })
        const before = await dbState(target.db)
        const src = await adapter.openSource(source.config)
        const destination = await adapter.openDestination(target.config)
        try {
          const schema = await src.describe()
          const prepared = await destination.prepare(schema, { mode: 'restore', drop: true })
          expect([...prepared.created].sort()).toEqual(fx.collections.filter((name) => name !== 'events' && name !== 'people'))
          expect([...prepared.emptied].sort()).toEqual(['events', 'people'])
          for (const table of schema.tables) await destination.writeRows(table, src.readTable(table))
          expect(await destination.countRows('big')).toBe(fx.bigCount)
          await destination.updateRows('people', ['_id'], [{ _id: { $oid: oid(10).toHexString() }, name: 'changed in the dry run' }])
          await destination.finish()
          await destination.rollback()
          await destination.rollback()
        } finally {
          await destination.close()
          await src.close()
        }
        expect(await dbState(target.db)).toEqual(before)
        await expectNoLeftovers(target.db)
      })

      it('a refused document is a DatabaseError naming the collection and _id; rollback restores everything', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['audited'] })
        const before = await dbState(target.db)
        const destination = await adapter.openDestination(target.config)
        let failure: unknown
        try {
          const schema = await destination.describe()
          await destination.prepare(
            { ...schema, tables: [...schema.tables, { ...tableOf(schema, 'audited'), name: 'fresh', options: { type: 'collection' } }] },
            { mode: 'restore', drop: false },
          )
          await destination.writeRows({ ...tableOf(schema, 'audited'), name: 'fresh' }, batchesOf([{ _id: 1, anything: true }]))
          failure = await destination
            .writeRows(tableOf(schema, 'audited'), batchesOf([{ _id: { $oid: oid(21).toHexString() }, email: 'good@example.com' }, { _id: { $oid: oid(22).toHexString() }, email: 'not an address' }]))
            .then(
              () => undefined,
              (error: unknown) => error,
            )
          expect(failure).toBeInstanceOf(DatabaseError)
          expect((failure as DatabaseError).table).toBe('audited')
          expect((failure as DatabaseError).engineCode).toBe('121')
          expect((failure as DatabaseError).message).toContain(oid(22).toHexString())
        } finally {
          await destination.rollback(failure)
          await destination.close()
        }
        expect(await dbState(target.db)).toEqual(before)
        await expectNoLeftovers(target.db)
      })

      it('a duplicate on another unique index is a DatabaseError, not a skip', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['people'] })
        const before = await dbState(target.db)
        const destination = await adapter.openDestination(target.config)
        try {
          const schema = await destination.describe()
          await destination.prepare(schema, { mode: 'restore', drop: false })
          const error = await expectRejects(
            destination.writeRows(tableOf(schema, 'people'), batchesOf([{ _id: { $oid: oid(50).toHexString() }, email: 'ann@example.com' }])),
            DatabaseError,
          )
          expect(error.engineCode).toBe('11000')
          // FerretDB's duplicate key message names the collection only.
          if (rig.server.kind === 'mongodb') expect(error.message).toContain('email_unique')
          await destination.rollback(error)
        } finally {
          await destination.close()
        }
        expect(await dbState(target.db)).toEqual(before)
      })

      it('reads by _id and updates set-wise for the merge, keeping field order and writing dotted names as names', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['people', 'events'] })
        const before = await dbState(target.db)
        const destination = await adapter.openDestination(target.config)
        try {
          const schema = await destination.describe()
          const prepared = await destination.prepare({ ...schema, tables: [tableOf(schema, 'people'), tableOf(schema, 'events')] }, { mode: 'merge', drop: false })
          expect(prepared).toMatchObject({ created: [], emptied: [] })
          const ann = { $oid: oid(10).toHexString() }
          const found = await destination.readByKeys('people', ['_id'], [{ _id: ann }, { _id: { $oid: oid(404).toHexString() } }])
          expect(found).toEqual([encodeDocument((await coll(target.db, 'people').findOne({ _id: oid(10) }))!)])
          expect(await destination.readByKeys('people', ['_id'], [])).toEqual([])
          const many = await destination.readByKeys('people', ['_id'], Array.from({ length: 3000 }, (_, i) => ({ _id: { $oid: oid(i).toHexString() } })))
          expect(many).toHaveLength(PEOPLE.length)
          // Int32 1 finds the capped collection's _id 1 (numbers match by value).
          expect(await destination.readByKeys('events', ['_id'], [{ _id: { $numberDouble: '1.0' } }])).toHaveLength(1)

          // Field names starting with "$" are storable from MongoDB 5.0 on (FerretDB 1.x stores neither them nor dotted names).
          const dollar: Row = server.major >= 5 && !server.lacks('dollarNames') ? { $weird: 'dollar' } : {}
          const dotted: Row = server.lacks('dottedNames') ? {} : { 'a.b': 'dotted' }
          const updated = await destination.updateRows('people', ['_id'], [
            { _id: ann, name: 'Ann B.', ...dotted, ...dollar, visits: { $numberLong: '4' } },
            { _id: { $oid: oid(404).toHexString() }, name: 'nobody' },
          ])
          expect(updated).toBe(1)
          const [row] = await destination.readByKeys('people', ['_id'], [{ _id: ann }])
          expect(Object.keys(row)).toEqual([...Object.keys(PEOPLE[0]), ...Object.keys(dotted), ...Object.keys(dollar)])
          expect(row).toMatchObject({ name: 'Ann B.', ...dotted, ...dollar, visits: { $numberLong: '4' } })
          // A capped collection refuses updates that change a document's size: same length.
          expect(await destination.updateRows('events', ['_id'], [{ _id: 1, what: 'STARTED' }])).toBe(1)
          expect(await destination.countRows('people')).toBe(PEOPLE.length)
          await expectRejects(destination.readByKeys('people', ['email'], [{ email: 'x' }]), UsageError)
          await destination.rollback()
        } finally {
          await destination.close()
        }
        expect(await dbState(target.db)).toEqual(before)
      })

      it('merge-mode prepare refuses a collection the database lacks; restore refuses documents into a view', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        // Without views (FerretDB), people is a plain collection and only the merge and engine checks run.
        if (fx.views.length > 0) await target.db.createCollection('people', { viewOn: 'elsewhere', pipeline: [] })
        else await target.db.createCollection('people')
        const src = await adapter.openSource(source.config)
        const destination = await adapter.openDestination(target.config)
        try {
          const schema = await src.describe({ tables: ['types', 'people'] })
          const missing = await expectRejects(destination.prepare({ ...schema, tables: [tableOf(schema, 'types')] }, { mode: 'merge', drop: false }), UsageError)
          expect(missing.message).toContain('types')
          if (fx.views.length > 0) {
            const intoView = await expectRejects(destination.prepare(schema, { mode: 'restore', drop: false }), UsageError)
            expect(intoView.message).toContain('people is a view')
          }
          const sql = await expectRejects(destination.prepare({ ...schema, engine: 'postgres' }, { mode: 'restore', drop: false }), UsageError)
          expect(sql.message).toContain('postgres backup')
        } finally {
          await destination.close()
          await src.close()
        }
        expect((await target.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => !n.startsWith('system.') && n !== JOURNAL_COLLECTION)).toEqual(['people'])
      })

      it('rejects a malformed document with a FormatError naming the collection and record', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        const destination = await adapter.openDestination(target.config)
        try {
          const schema: DatabaseSchema = { engine: 'mongodb', database: 'x', tables: [collectionTable('bad')], warnings: [] }
          await destination.prepare(schema, { mode: 'restore', drop: false })
          const error = await expectRejects(destination.writeRows(schema.tables[0], batchesOf([{ _id: 1 }, { _id: { $oid: 'nope' } }])), FormatError)
          expect(error.table).toBe('bad')
          expect(error.recordIndex).toBe(1)
          const noId = await expectRejects(destination.writeRows(schema.tables[0], batchesOf([{ name: 'no id' }])), FormatError)
          expect(noId.message).toContain('has no _id')
          await destination.rollback()
        } finally {
          await destination.close()
        }
        await expectNoLeftovers(target.db)
      })

      it('a crashed session is rolled back by the next one, before anything else', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['people', 'events', ...fx.views.filter((name) => name === 'activePeople')] })
        const before = await dbState(target.db)
        const schema = await snapshot(adapter, source.config)
        const plan = {
          schema: { ...schema.schema, tables: ['people', 'events', 'types', 'places'].map((name) => tableOf(schema.schema, name)) },
          drop: true,
          writes: [
            { table: 'people', rows: schema.rows.people },
            { table: 'events', rows: schema.rows.events },
            { table: 'types', rows: schema.rows.types },
            { table: 'places', rows: schema.rows.places },
          ],
          updates: [{ table: 'people', rows: [{ _id: { $oid: oid(12).toHexString() }, name: 'changed by the crashed run' }] }],
        }
        const child = await startWriter(target.url, mode, plan)
        const lock = await coll(target.db, JOURNAL_COLLECTION).findOne({ _id: 'lock' })
        expect(Number(lock?.pid)).toBe(child.pid)
        if (mode === 'journal') {
          // Without a transaction, other clients see the changes while they are made.
          expect(await coll(target.db, 'people').findOne({ _id: oid(12) })).toMatchObject({ name: 'changed by the crashed run' })
        } else {
          expect(await coll(target.db, 'people').findOne({ _id: oid(12) })).toMatchObject({ name: 'Zoë' })
        }
        await child.kill()

        // The next session — here a backup's read session — completes the rollback first.
        const src = await adapter.openSource(target.config)
        try {
          const described = await src.describe()
          expect(described.warnings.join('\n')).toMatch(/interrupted mergeback run \(pid \d+ .*rolled back \(\d+ changes? undone\)/)
        } finally {
          await src.close()
        }
        expect(await dbState(target.db)).toEqual(before)
        await expectNoLeftovers(target.db)
      })

      it('the next write session also completes a crashed session, and reports it', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['people'] })
        const before = await dbState(target.db)
        const described = await snapshot(adapter, source.config)
        const child = await startWriter(target.url, mode, {
          schema: { ...described.schema, tables: [tableOf(described.schema, 'people'), tableOf(described.schema, 'types')] },
          drop: true,
          writes: [{ table: 'people', rows: described.rows.people }, { table: 'types', rows: described.rows.types }],
          updates: [],
        })
        await child.kill()
        const destination = await adapter.openDestination(target.config)
        try {
          expect(await dbState(target.db)).toEqual(before)
          const prepared = await destination.prepare({ ...described.schema, tables: [] }, { mode: 'restore', drop: false })
          expect(prepared.warnings.join('\n')).toMatch(/rolled back/)
          await destination.commit()
        } finally {
          await destination.close()
        }
        expect(await dbState(target.db)).toEqual(before)
        await expectNoLeftovers(target.db)
      })

      it('refuses a second writer while one is alive; a reader gets a warning', async (ctx) => {
        needs(ctx)
        const target = await freshDatabase()
        await coll(target.db, 'people').insertOne({ _id: 1 })
        const described = await snapshot(adapter, source.config)
        const child = await startWriter(target.url, mode, { schema: described.schema, drop: false, writes: [], updates: [], openOnly: true })
        try {
          const busy = await expectRejects(adapter.openDestination(target.config), BusyError)
          expect(busy.code).toBe('BUSY')
          expect(busy.message).toContain(`pid ${child.pid}`)
          const src = await adapter.openSource(target.config)
          try {
            expect((await src.describe()).warnings.join('\n')).toContain('Another mergeback run is writing to this database')
          } finally {
            await src.close()
          }
        } finally {
          await child.kill()
        }
        const destination = await adapter.openDestination(target.config)
        await destination.close()
        await expectNoLeftovers(target.db)
      })
    })
  }

  describe('transactions', () => {
    it('keeps documents invisible to other clients until commit (capped collections go through the journal)', async (ctx) => {
      if (!server.transactions) ctx.skip('transactions need a replica set or a sharded cluster')
      const target = await freshDatabase()
      await restoreThroughAdapter(adapters.transaction, source.config, target.config, { tables: ['people', 'events'] })
      const destination = await adapters.transaction.openDestination(target.config)
      try {
        const schema = await destination.describe()
        await destination.prepare(schema, { mode: 'restore', drop: false })
        await destination.writeRows(tableOf(schema, 'people'), batchesOf([{ _id: { $oid: oid(30).toHexString() }, email: 'new@example.com' }]))
        await destination.writeRows(tableOf(schema, 'events'), batchesOf([{ _id: 9, what: 'capped: journaled, visible at once' }]))
        expect(await destination.countRows('people')).toBe(PEOPLE.length + 1)
        expect(await count(target.db, 'people')).toBe(PEOPLE.length)
        expect(await count(target.db, 'events', { _id: 9 })).toBe(1)
        await destination.commit()
      } finally {
        await destination.close()
      }
      expect(await count(target.db, 'people')).toBe(PEOPLE.length + 1)
      await expectNoLeftovers(target.db)
    })

    it('write mode "transaction" is refused on a standalone server', async (ctx) => {
      if (server.transactions) ctx.skip('the server has transactions')
      const target = await freshDatabase()
      const error = await expectRejects(adapters.transaction.openDestination(target.config), UsageError)
      expect(error.code).toBe('NO_TRANSACTIONS')
    })
  })

  describe('time-series collections', () => {
    it('are backed up and restored with their options; --drop on one is refused before any change', async (ctx) => {
      if (server.major < 5) ctx.skip('time-series collections need MongoDB ≥ 5.0')
      const from = await freshDatabase()
      await from.db.createCollection('metrics', { timeseries: { timeField: 'ts', metaField: 'meta', granularity: 'minutes' }, expireAfterSeconds: 86400 * 3650 })
      await coll(from.db, 'metrics').insertMany([
        { _id: oid(1), ts: new Date(), meta: { host: 'a' }, value: new Double(1.5) },
        { _id: oid(2), ts: new Date(), meta: { host: 'b' }, value: new Double(2.5) },
      ])
      const target = await freshDatabase()
      const results = await restoreThroughAdapter(adapters.auto, from.config, target.config)
      expect(results.metrics).toEqual({ inserted: 2, skipped: 0 })
      const listing = (await target.db.listCollections({ name: 'metrics' }).toArray())[0] as Document
      expect(listing.type).toBe('timeseries')
      expect(listing.options.timeseries).toMatchObject({ timeField: 'ts', metaField: 'meta', granularity: 'minutes' })
      const before = await dbState(target.db)
      const error = await expectRejects(restoreThroughAdapter(adapters.auto, from.config, target.config, { drop: true }), UsageError)
      expect(error.message).toContain('time-series collection metrics')
      expect(await dbState(target.db)).toEqual(before)
    })
  })

  describe('backup files, restore options and merge (through the engine)', () => {
    it('writes the seed layout and restores it into another database (target database, selection, drop, dry run)', async () => {
      const dir = tempDir()
      const made = await backup({ db: source.url, out: dir, name: 'crm-backup', description: 'nightly' })
      const text = fs.readFileSync(made.file, 'utf8')
      expect(text.startsWith('{"metadata":')).toBe(true)
      const parsed = JSON.parse(text) as { metadata: Record<string, unknown>; collections: Record<string, unknown[]> }
      expect(parsed.metadata).toMatchObject({ database: source.name, backupName: 'crm-backup', description: 'nightly', compression: 'none' })
      expect(parsed.metadata.collections).toEqual(fx.collections)
      expect(Object.keys(parsed.collections)).toEqual(expect.arrayContaining([...fx.collections]))
      expect(parsed.collections.types).toEqual([EJSON.serialize(fx.types, { relaxed: false })])

      const target = await freshDatabase()
      const dry = await restore({ file: made.file, db: target.url, dryRun: true })
      expect(dry.dryRun).toBe(true)
      expect((await target.db.listCollections().toArray()).filter((c) => !c.name.startsWith(INTERNAL_PREFIX) && !c.name.startsWith('system.'))).toEqual([])

      const partial = await restore({ file: made.file, db: target.url, tables: ['people', 'types'] })
      expect(partial.tables.people).toMatchObject({ inserted: PEOPLE.length, skipped: 0, created: true })
      const full = await restore({ file: made.file, db: target.url })
      expect(full.tables.people).toMatchObject({ inserted: 0, skipped: PEOPLE.length })
      expect(await dbState(target.db)).toEqual(await dbState(source.db))

      await coll(target.db, 'people').deleteOne({ _id: oid(10) })
      await coll(target.db, 'people').insertOne({ _id: oid(77), email: 'extra@example.com' })
      const dropped = await restore({ file: made.file, db: target.url, tables: ['people'], drop: true })
      expect(dropped.tables.people).toMatchObject({ inserted: PEOPLE.length, skipped: 0, emptied: true })
      expect(await dbState(target.db)).toEqual(await dbState(source.db))
      await expectNoLeftovers(target.db)
    })

    it('merges by _id: new, unchanged (field order aside), updated, kept, current-only', async () => {
      const dir = tempDir()
      const from = await freshDatabase()
      await coll(from.db, 'people').insertMany(PEOPLE)
      const made = await backup({ db: from.url, out: path.join(dir, 'people.json') })
      const target = await freshDatabase()
      await restore({ file: made.file, db: target.url })
      const people = coll(target.db, 'people')
      // Ann: deleted → new. Bob: same fields in another order → unchanged.
      await people.deleteOne({ _id: oid(10) })
      const bob = (await people.findOne({ _id: oid(11) }))!
      await people.replaceOne({ _id: oid(11) }, Object.fromEntries(Object.entries(bob).reverse()))
      // Zoë: changed earlier than the backup's version → updated. Dan: changed later → kept.
      await people.updateOne({ _id: oid(12) }, { $set: { name: 'Zoe (older)', updatedAt: new Date('2020-01-01T00:00:00Z') } })
      await people.updateOne({ _id: oid(13) }, { $set: { name: 'Dan (newer)', updatedAt: new Date('2030-01-01T00:00:00Z') } })
      await people.insertOne({ _id: oid(14), name: 'Eve', email: 'eve@example.com' })

      const analysis = await merge(made.file, target.url, { dryRun: true })
      expect(analysis.tables.people).toMatchObject({ new: 1, unchanged: 1, updated: 1, kept: 1, currentOnly: 1 })
      const report = await merge(made.file, target.url)
      expect(report.tables.people).toMatchObject({ new: 1, unchanged: 1, updated: 1, kept: 1, currentOnly: 1 })
      expect(await people.findOne({ _id: oid(10) })).toEqual(PEOPLE[0])
      expect(await people.findOne({ _id: oid(12) })).toMatchObject({ name: 'Zoë' })
      expect(await people.findOne({ _id: oid(13) })).toMatchObject({ name: 'Dan (newer)' })
      expect(await count(target.db, 'people')).toBe(PEOPLE.length + 1)
      const again = await merge(made.file, target.url)
      expect(again.tables.people).toMatchObject({ new: 0, updated: 0 })
      await expectNoLeftovers(target.db)
    })

    it('a value the server cannot store fails the restore, naming the collection, and changes nothing', async () => {
      const dir = tempDir()
      const file = path.join(dir, 'decimal.json')
      const decimal = { _id: 1, price: { $numberDecimal: '1.50' } }
      fs.writeFileSync(file, JSON.stringify({ metadata: { database: 'shop', collections: ['a', 'b'] }, collections: { a: [{ _id: 1, v: 'fine' }], b: [decimal] } }))
      const target = await freshDatabase()
      await coll(target.db, 'a').insertOne({ _id: 0, v: 'there before' })
      const before = await dbState(target.db)
      if (!server.lacks('decimal128')) {
        expect((await restore({ file, db: target.url })).tables.b).toMatchObject({ inserted: 1 })
        return
      }
      // FerretDB closes the connection on a Decimal128: the bulk insert fails without per-document
      // errors, which once counted as "all inserted" (exit 0, nothing stored).
      const error = await expectRejects(restore({ file, db: target.url }), ConnectionError)
      expect(error.message).toContain('while inserting documents b')
      expect(error.message).toContain('Decimal128')
      expect(await dbState(target.db)).toEqual(before)
      await expectNoLeftovers(target.db)
    })

    it('restores a file in the seed layout written by another tool (relaxed Extended JSON and plain JSON)', async () => {
      const dir = tempDir()
      const file = path.join(dir, 'crm-backup_2025-10-09.json')
      fs.writeFileSync(
        file,
        JSON.stringify({
          metadata: {
            database: 'crm_database',
            timestamp: '2025-10-09T08:00:00.000Z',
            backupName: 'daily-backup',
            description: 'Daily CRM backup',
            version: '1.0',
            collections: ['users', 'roles'],
            compression: 'none',
          },
          collections: {
            users: [
              { _id: { $oid: oid(1).toHexString() }, name: 'Ann', age: 30, score: 1.5, big: 3000000000, joined: { $date: '2024-05-01T10:00:00Z' }, roles: ['admin'] },
              { _id: { $oid: oid(2).toHexString() }, name: 'Bob', age: 41, joined: { $date: { $numberLong: '-86400000' } } },
            ],
            roles: [{ _id: 'admin', rights: { users: ['read', 'write'] } }],
          },
        }),
      )
      const target = await freshDatabase()
      const report = await restore({ file, db: target.url })
      expect(report.tables.users).toMatchObject({ inserted: 2, skipped: 0 })
      const ann = await coll(target.db, 'users').findOne({ _id: oid(1) })
      expect(EJSON.serialize(ann!, { relaxed: false })).toEqual({
        _id: { $oid: oid(1).toHexString() },
        name: 'Ann',
        age: { $numberInt: '30' },
        score: { $numberDouble: '1.5' },
        big: { $numberDouble: '3000000000.0' },
        joined: { $date: { $numberLong: String(Date.parse('2024-05-01T10:00:00Z')) } },
        roles: ['admin'],
      })
      expect(await coll(target.db, 'roles').findOne({ _id: 'admin' })).toEqual({ _id: 'admin', rights: { users: ['read', 'write'] } })
    })
  })
})
