import { describe, expect, it } from 'vitest'
import { BSON, BSONRegExp, Double, Int32, Long } from 'bson'
import type { TableSchema } from '../adapter.js'
import { UsageError } from '../../errors.js'
import {
  createOptions,
  indexFromSpec,
  indexToSpec,
  orderViews,
  planIndexes,
  sameIndex,
  sameView,
  tableOptionsFromListing,
  tableType,
  viewDefinition,
} from './mongodb-indexes.js'
import { EXACT_BSON_OPTIONS, type BsonDocument } from './mongodb-values.js'

/** A listIndexes / listCollections entry as the driver hands it over. */
function listed(document: BsonDocument): BsonDocument {
  return BSON.deserialize(BSON.serialize(document), EXACT_BSON_OPTIONS)
}

function bytes(document: BsonDocument): string {
  return Buffer.from(BSON.serialize(document)).toString('hex')
}

function table(name: string, options?: Record<string, unknown>): TableSchema {
  return { name, columns: [], primaryKey: ['_id'], uniqueConstraints: [], indexes: [], foreignKeys: [], options }
}

const SPECS: Record<string, BsonDocument> = {
  compoundUnique: { v: 2, key: { email: 1, createdAt: -1 }, name: 'email_1_createdAt_-1', unique: true },
  sparse: { v: 2, key: { phone: 1 }, name: 'phone_1', sparse: true },
  ttl: { v: 2, key: { expiresAt: 1 }, name: 'expiresAt_1', expireAfterSeconds: 3600 },
  partial: {
    v: 2,
    key: { status: 1 },
    name: 'active_status',
    partialFilterExpression: { status: { $eq: 'active' }, createdAt: { $gt: new Date('2024-01-01T00:00:00Z') } },
  },
  collation: {
    v: 2,
    key: { name: 1 },
    name: 'name_ci',
    collation: { locale: 'fr', caseLevel: false, caseFirst: 'off', strength: 2, numericOrdering: false, alternate: 'non-ignorable', maxVariable: 'punct', normalization: false, backwards: false, version: '57.1' },
  },
  text: {
    v: 2,
    key: { _fts: 'text', _ftsx: 1 },
    name: 'search',
    weights: { title: 10, body: 1 },
    default_language: 'german',
    language_override: 'lang',
    textIndexVersion: 3,
  },
  geo: { v: 2, key: { location: '2dsphere' }, name: 'location_2dsphere', '2dsphereIndexVersion': 3 },
  hashed: { v: 2, key: { tenant: 'hashed' }, name: 'tenant_hashed' },
  wildcard: { v: 2, key: { '$**': 1 }, name: 'wild', wildcardProjection: { secret: 0 } },
  hidden: { v: 2, key: { legacy: 1 }, name: 'legacy_1', hidden: true },
  old: { v: 1, key: { a: new Double(1) }, name: 'a_1', ns: 'crm.people', background: true },
}

describe('indexFromSpec / indexToSpec', () => {
  it.each(Object.entries(SPECS))('keeps every option of the %s index and gives createIndexes the listed spec back', (_, spec) => {
    const fromServer = listed(spec)
    const index = indexFromSpec(fromServer)
    expect(index.name).toBe(spec.name)
    const { v, ns, background, ...definition } = fromServer
    expect(bytes(indexToSpec(JSON.parse(JSON.stringify(index))))).toBe(bytes({ ...definition }))
  })

  it('describes columns, uniqueness and options in portable form', () => {
    const unique = indexFromSpec(listed(SPECS.compoundUnique))
    expect(unique).toEqual({
      name: 'email_1_createdAt_-1',
      columns: ['email', 'createdAt'],
      unique: true,
      options: { key: { email: { $numberInt: '1' }, createdAt: { $numberInt: '-1' } } },
    })
    const ttl = indexFromSpec(listed(SPECS.ttl))
    expect(ttl.unique).toBe(false)
    expect(ttl.options?.expireAfterSeconds).toEqual({ $numberInt: '3600' })
    const partial = indexFromSpec(listed(SPECS.partial))
    expect(partial.options?.partialFilterExpression).toEqual({
      status: { $eq: 'active' },
      createdAt: { $gt: { $date: { $numberLong: String(Date.parse('2024-01-01T00:00:00Z')) } } },
    })
    expect(indexFromSpec(listed(SPECS.text)).columns).toEqual(['title', 'body'])
    expect(indexFromSpec(listed(SPECS.wildcard)).columns).toEqual(['$**'])
    expect(indexFromSpec(listed(SPECS.old)).options).toEqual({ key: { a: { $numberDouble: '1.0' } } })
  })

  it('treats unique: 1 (old servers) as unique', () => {
    expect(indexFromSpec(listed({ v: 1, key: { a: 1 }, name: 'a_1', unique: 1 })).unique).toBe(true)
    expect(indexFromSpec(listed({ v: 1, key: { a: 1 }, name: 'a_1', unique: false })).unique).toBe(false)
  })

  it('makes an ascending index from a schema without options (a backup of another engine)', () => {
    const spec = indexToSpec({ name: 'by_email', columns: ['email', 'tenant'], unique: true })
    expect(spec).toEqual({ key: { email: 1, tenant: 1 }, name: 'by_email', unique: true })
  })

  it('refuses an index without a name or columns', () => {
    expect(() => indexToSpec({ name: '', columns: ['a'], unique: false })).toThrow(UsageError)
    expect(() => indexToSpec({ name: 'x', columns: [], unique: false })).toThrow(/no columns/)
    expect(() => indexFromSpec({ key: { a: 1 } })).toThrow(UsageError)
  })
})

describe('sameIndex', () => {
  const base = listed(SPECS.compoundUnique)
  it('compares key values by number and options in any order', () => {
    expect(sameIndex(base, { key: { email: new Double(1), createdAt: Long.fromNumber(-1) }, unique: true, name: 'other-name' })).toBe(true)
    expect(sameIndex(listed(SPECS.ttl), { name: 'x', expireAfterSeconds: 3600, key: { expiresAt: 1 } })).toBe(true)
    expect(sameIndex({ key: { a: 1 }, sparse: false }, { key: { a: 1 } })).toBe(true)
  })

  it('sees a different key order, direction or option', () => {
    expect(sameIndex(base, { key: { createdAt: -1, email: 1 }, unique: true })).toBe(false)
    expect(sameIndex(base, { key: { email: 1, createdAt: 1 }, unique: true })).toBe(false)
    expect(sameIndex(base, { key: { email: 1, createdAt: -1 } })).toBe(false)
    expect(sameIndex(listed(SPECS.ttl), { key: { expiresAt: 1 }, expireAfterSeconds: 60 })).toBe(false)
  })
})

describe('planIndexes', () => {
  const wanted = [SPECS.compoundUnique, SPECS.ttl, SPECS.sparse].map((spec) => indexFromSpec(listed(spec)))
  it('creates the missing indexes, leaves identical ones, warns about different ones, never the _id index', () => {
    const existing = [
      listed({ v: 2, key: { _id: 1 }, name: '_id_' }),
      listed(SPECS.compoundUnique),
      listed({ v: 2, key: { expiresAt: 1 }, name: 'expiresAt_1', expireAfterSeconds: 60 }),
    ]
    const plan = planIndexes('people', [{ name: '_id_', columns: ['_id'], unique: false, options: { key: { _id: 1 } } }, ...wanted], existing)
    expect(plan.create.map((spec) => spec.name)).toEqual(['phone_1'])
    expect(plan.warnings).toEqual(['Index expiresAt_1 on people differs from the backup\'s definition; it was left as it is.'])
  })

  it('creates everything on a new collection', () => {
    expect(planIndexes('people', wanted, []).create.map((spec) => spec.name)).toEqual(['email_1_createdAt_-1', 'expiresAt_1', 'phone_1'])
  })
})

describe('collection and view options', () => {
  it('keeps collection options (validator with a regex, capped size) exactly', () => {
    const listing = listed({
      name: 'events',
      type: 'collection',
      options: {
        capped: true,
        size: 1048576,
        max: Long.fromNumber(1000),
        validator: { $jsonSchema: { bsonType: 'object', required: ['email'], properties: { email: { pattern: '^.+@.+$' } } }, code: new BSONRegExp('^[A-Z]', 'i') },
        validationLevel: 'moderate',
        validationAction: 'warn',
        collation: { locale: 'en', strength: 2 },
      },
    })
    const options = tableOptionsFromListing(listing as never)
    expect(options.type).toBe('collection')
    expect(options.size).toEqual({ $numberInt: '1048576' })
    expect(options.max).toEqual({ $numberLong: '1000' })
    const created = createOptions(table('events', JSON.parse(JSON.stringify(options))))
    expect(bytes(created)).toBe(bytes(listing.options as BsonDocument))
  })

  it('keeps a view as its definition', () => {
    const listing = listed({
      name: 'activeUsers',
      type: 'view',
      options: { viewOn: 'users', pipeline: [{ $match: { active: true, since: { $gte: new Date(0) } } }, { $project: { password: 0 } }], collation: { locale: 'en' } },
    })
    const options = tableOptionsFromListing(listing as never)
    expect(options).toEqual({
      type: 'view',
      view: {
        viewOn: 'users',
        pipeline: [{ $match: { active: true, since: { $gte: { $date: { $numberLong: '0' } } } } }, { $project: { password: { $numberInt: '0' } } }],
      },
      collation: { locale: 'en' },
    })
    const view = table('activeUsers', JSON.parse(JSON.stringify(options)))
    expect(tableType(view)).toBe('view')
    const definition = viewDefinition(view)
    expect(bytes(definition)).toBe(bytes(listing.options as BsonDocument))
    expect(sameView(definition, { viewOn: 'users', pipeline: (listing.options as BsonDocument).pipeline, collation: { locale: 'en' } })).toBe(true)
    expect(sameView(definition, { viewOn: 'users', pipeline: [] , collation: { locale: 'en' } })).toBe(false)
  })

  it('refuses a view without a definition', () => {
    expect(() => viewDefinition(table('v', { type: 'view' }))).toThrow(UsageError)
    expect(() => viewDefinition(table('v', { type: 'view', view: { viewOn: 'x' } }))).toThrow(/no definition/)
  })

  it('drops time-series bucketing that only repeats the granularity\'s defaults, and the clustered index version', () => {
    const options = tableOptionsFromListing(
      listed({
        name: 'metrics',
        type: 'timeseries',
        options: { timeseries: { timeField: 'ts', metaField: 'meta', granularity: 'minutes', bucketMaxSpanSeconds: 86400 }, expireAfterSeconds: 600 },
      }) as never,
    )
    expect(options.type).toBe('timeseries')
    expect(createOptions(table('metrics', options))).toEqual({
      timeseries: { timeField: 'ts', metaField: 'meta', granularity: 'minutes' },
      expireAfterSeconds: new Int32(600),
    })
    const custom = createOptions(table('m', { timeseries: { timeField: 'ts', bucketMaxSpanSeconds: { $numberInt: '100' }, bucketRoundingSeconds: { $numberInt: '100' } } }))
    expect(custom.timeseries).toEqual({ timeField: 'ts', bucketMaxSpanSeconds: new Int32(100), bucketRoundingSeconds: new Int32(100) })
    const clustered = createOptions(table('c', { clusteredIndex: { v: { $numberInt: '2' }, key: { _id: { $numberInt: '1' } }, unique: true, name: 'by_id' } }))
    expect(clustered).toEqual({ clusteredIndex: { key: { _id: new Int32(1) }, unique: true, name: 'by_id' } })
  })

  it('takes a table without options for a plain collection', () => {
    expect(tableType(table('t'))).toBe('collection')
    expect(createOptions(table('t'))).toEqual({})
  })
})

describe('orderViews', () => {
  const view = (name: string, viewOn: string) => table(name, { type: 'view', view: { viewOn, pipeline: [] } })
  it('puts a view after the view it is defined on', () => {
    const ordered = orderViews([view('c', 'b'), view('b', 'a'), view('a', 'users'), view('d', 'users')])
    expect(ordered.map((v) => v.name)).toEqual(['a', 'b', 'c', 'd'])
  })

  it('refuses a cycle', () => {
    expect(() => orderViews([view('a', 'b'), view('b', 'a')])).toThrow(/cycle/)
  })
})
