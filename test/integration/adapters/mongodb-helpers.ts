/**
 * What the MongoDB integration test files share: the server (mongodb-server.ts) and a driver
 * client on it, fresh databases dropped afterwards, temporary directories, and exact comparisons
 * of a database's state.
 */
import { randomBytes } from 'node:crypto'
import { EJSON } from 'bson'
import { MongoClient, type Db, type Document } from 'mongodb'
import { expect } from 'vitest'
import type { ConnectionConfig } from '../../../src/adapters/adapter.js'
import { INTERNAL_PREFIX, JOURNAL_COLLECTION } from '../../../src/adapters/mongodb/mongodb-journal.js'
import { EXACT_BSON_OPTIONS } from '../../../src/adapters/mongodb/mongodb-values.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { makeTempDir } from '../../helpers/databases.js'
import { startMongodbServer, type MongodbTestServer } from '../../helpers/mongodb-server.js'

/**
 * The collection methods the tests use, without the driver's generic document types (which
 * cannot describe documents whose `_id` may be of any BSON type, as these tests store them).
 */
export interface UntypedCollection {
  insertOne(document: object): Promise<unknown>
  insertMany(documents: readonly object[]): Promise<unknown>
  findOne(filter?: object, options?: object): Promise<Document | null>
  find(filter?: object, options?: object): { toArray(): Promise<Document[]> }
  updateOne(filter: object, update: object): Promise<unknown>
  replaceOne(filter: object, replacement: object): Promise<unknown>
  deleteOne(filter: object): Promise<unknown>
  deleteMany(filter: object): Promise<unknown>
  createIndexes(specs: readonly object[]): Promise<unknown>
  listIndexes(): { toArray(): Promise<Document[]> }
}

export function coll(db: Db, name: string): UntypedCollection {
  return db.collection(name) as unknown as UntypedCollection
}

export interface MongoTestDatabase {
  readonly name: string
  readonly url: string
  readonly config: ConnectionConfig
  /** The database through the plain driver, reading BSON exactly. */
  readonly db: Db
}

/** One test file's server, client, databases and temporary directories. `start()` in beforeAll, `stop()` in afterAll. */
export class MongoTestRig {
  server!: MongodbTestServer
  client!: MongoClient
  readonly #created: string[] = []
  readonly #temps: (() => void)[] = []

  async start(): Promise<void> {
    this.server = await startMongodbServer()
    this.client = new MongoClient(this.server.url, { serverSelectionTimeoutMS: 10_000 })
    await this.client.connect()
  }

  async stop(): Promise<void> {
    if (this.client) {
      for (const name of this.#created.splice(0)) await this.client.db(name).dropDatabase()
      await this.client.close()
    }
    for (const cleanup of this.#temps.splice(0)) cleanup()
    await this.server?.stop()
  }

  /** The server's URL pointed at another database (credentials stay valid: authSource is pinned). */
  urlFor(database: string): string {
    const url = new URL(this.server.url)
    const original = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'admin'
    if (url.username && !url.searchParams.has('authSource')) url.searchParams.set('authSource', original)
    url.pathname = `/${database}`
    return url.toString()
  }

  /** A new, empty database (dropped by stop()). */
  freshDatabase(): MongoTestDatabase {
    const name = `mbtest_${process.pid}_${randomBytes(4).toString('hex')}`
    this.#created.push(name)
    const url = this.urlFor(name)
    return { name, url, config: parseDatabaseUrl(url), db: this.client.db(name, EXACT_BSON_OPTIONS) }
  }

  tempDir(): string {
    const { dir, cleanup } = makeTempDir('mergeback-mongo-')
    this.#temps.push(cleanup)
    return dir
  }

  /**
   * Documents in a collection, as a number. Not through the tests' exact `Db` handles: the driver
   * decodes the count with their promoteValues: false too, into an Int32 object.
   */
  async count(db: Db, name: string, filter: object = {}): Promise<number> {
    return this.client.db(db.databaseName).collection(name).countDocuments(filter)
  }

  /** Nothing of mergeback's own is left: no shadow collections, an empty journal. */
  async expectNoLeftovers(db: Db): Promise<void> {
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name)
    expect(names.filter((name) => name.startsWith(INTERNAL_PREFIX) && name !== JOURNAL_COLLECTION)).toEqual([])
    if (names.includes(JOURNAL_COLLECTION)) expect(await this.count(db, JOURNAL_COLLECTION)).toBe(0)
  }
}

/** Every collection's type, options, indexes and documents (as BSON bytes), to compare two states exactly. */
export async function dbState(db: Db): Promise<Record<string, unknown>> {
  const state: Record<string, unknown> = {}
  const listed = (await db.listCollections().toArray()).sort((a, b) => a.name.localeCompare(b.name))
  for (const listing of listed) {
    // system.views holds view definitions keyed by "<database>.<view>": compared through the views themselves.
    if (listing.name === JOURNAL_COLLECTION || listing.name.startsWith('system.')) continue
    const entry: Record<string, unknown> = { type: listing.type, options: EJSON.serialize((listing as Document).options ?? {}, { relaxed: false }) }
    if (listing.type !== 'view') {
      const indexes = await coll(db, listing.name).listIndexes().toArray()
      entry.indexes = indexes.map((spec) => EJSON.serialize(spec, { relaxed: false })).sort((a, b) => String(a.name).localeCompare(String(b.name)))
      const docs = await coll(db, listing.name).find({}, { sort: { _id: 1 }, raw: true }).toArray()
      entry.docs = docs.map((bytes) => Buffer.from(bytes as unknown as Uint8Array).toString('hex'))
    }
    state[listing.name] = entry
  }
  return state
}
