/**
 * The undo journal against an in-memory database: a real implementation of JournalOps (documents
 * kept as BSON, compared by the server's `_id` equality, collections renamed and dropped, a lock
 * with compare-and-set), not call recordings.
 *
 * The crash tests run a restore-like scenario (create a collection, create an index, empty a
 * collection, insert, update the same document twice, a partly refused insert), kill it before
 * every single database operation in turn, and check that the next run finds the database exactly
 * as it was before (or, once the commit marker was written, exactly as committed); then they also
 * kill that recovery at every step and check that a third run still gets it right.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BSON, EJSON, Int32, ObjectId } from 'bson'
import { BusyError, UsageError } from '../../errors.js'
import {
  INTERNAL_PREFIX,
  JOURNAL_COLLECTION,
  UndoJournal,
  describeRecovery,
  isLockAlive,
  type JournalEntry,
  type JournalOps,
  type JournalOwner,
  type RunLock,
} from './mongodb-journal.js'
import { EXACT_BSON_OPTIONS, mongoEqualityKey, type BsonDocument } from './mongodb-values.js'

// ---------------------------------------------------------------------------------------------
// An in-memory database and JournalOps over it
// ---------------------------------------------------------------------------------------------

interface MemoryCollection {
  docs: Map<string, BsonDocument>
  indexes: Set<string>
}

function copy<T extends BsonDocument>(document: T): T {
  return BSON.deserialize(BSON.serialize(document), EXACT_BSON_OPTIONS) as T
}

class MemoryDatabase {
  readonly collections = new Map<string, MemoryCollection>()

  create(name: string): MemoryCollection {
    if (this.collections.has(name)) throw Object.assign(new Error(`collection ${name} already exists`), { code: 48 })
    const collection = { docs: new Map<string, BsonDocument>(), indexes: new Set(['_id_']) }
    this.collections.set(name, collection)
    return collection
  }

  /** The collection, created implicitly on first write as MongoDB does. */
  implicit(name: string): MemoryCollection {
    return this.collections.get(name) ?? this.create(name)
  }

  insert(name: string, documents: readonly BsonDocument[]): { inserted: unknown[]; duplicates: unknown[] } {
    const collection = this.implicit(name)
    const inserted: unknown[] = []
    const duplicates: unknown[] = []
    for (const document of documents) {
      const key = mongoEqualityKey(document._id)
      if (collection.docs.has(key)) duplicates.push(document._id)
      else {
        collection.docs.set(key, copy(document))
        inserted.push(document._id)
      }
    }
    return { inserted, duplicates }
  }

  replace(name: string, document: BsonDocument, upsert: boolean): void {
    const collection = upsert ? this.implicit(name) : this.collections.get(name)
    const key = mongoEqualityKey(document._id)
    if (!collection || (!upsert && !collection.docs.has(key))) return
    collection.docs.set(key, copy(document))
  }

  /** Every user collection: documents in canonical EJSON by `_id`, and index names. */
  snapshot(): Record<string, { docs: Record<string, unknown>; indexes: string[] }> {
    const out: Record<string, { docs: Record<string, unknown>; indexes: string[] }> = {}
    for (const [name, collection] of [...this.collections].sort(([a], [b]) => a.localeCompare(b))) {
      if (name.startsWith(INTERNAL_PREFIX)) continue
      const docs: Record<string, unknown> = {}
      for (const [key, document] of [...collection.docs].sort(([a], [b]) => a.localeCompare(b))) docs[key] = EJSON.serialize(document, { relaxed: false })
      out[name] = { docs, indexes: [...collection.indexes].sort() }
    }
    return out
  }

  /** What mergeback left behind for itself: shadow collections and journal documents. */
  leftovers(): { shadows: string[]; journalDocuments: number } {
    const shadows = [...this.collections.keys()].filter((name) => name.startsWith(INTERNAL_PREFIX) && name !== JOURNAL_COLLECTION)
    return { shadows, journalDocuments: this.collections.get(JOURNAL_COLLECTION)?.docs.size ?? 0 }
  }
}

/** Thrown at every database call once the simulated process has died. */
class SimulatedCrash extends Error {}

/** Counts database calls; after `remaining` of them, every call throws (the process is dead). */
class Budget {
  remaining: number
  crashed = false
  readonly completed: string[] = []
  constructor(remaining = Infinity) {
    this.remaining = remaining
  }
  spend(operation: string): void {
    if (this.remaining <= 0) {
      this.crashed = true
      throw new SimulatedCrash(`crashed before ${operation}`)
    }
    this.remaining--
  }
}

class MemoryJournalOps implements JournalOps {
  readonly calls: string[] = []
  constructor(
    readonly db: MemoryDatabase,
    readonly budget: Budget = new Budget(),
  ) {}

  #enter(operation: string): void {
    this.budget.spend(operation)
    this.calls.push(operation)
  }

  #done<T>(operation: string, value: T): T {
    this.budget.completed.push(operation)
    return value
  }

  get #journal(): MemoryCollection {
    return this.db.implicit(JOURNAL_COLLECTION)
  }

  async readLock(): Promise<RunLock | null> {
    this.#enter('readLock')
    const lock = this.db.collections.get(JOURNAL_COLLECTION)?.docs.get(mongoEqualityKey('lock'))
    return this.#done('readLock', lock ? (lock.lock as RunLock) : null)
  }

  async takeLock(lock: RunLock, expectedRun: string | null): Promise<boolean> {
    this.#enter('takeLock')
    const key = mongoEqualityKey('lock')
    const current = this.#journal.docs.get(key)
    const held = current ? (current.lock as RunLock).run : null
    if (held !== expectedRun) return this.#done('takeLock', false)
    this.#journal.docs.set(key, { _id: 'lock', lock: { ...lock } })
    return this.#done('takeLock', true)
  }

  async touchLock(run: string, at: Date): Promise<void> {
    this.#enter('touchLock')
    const current = this.#journal.docs.get(mongoEqualityKey('lock'))
    if (current && (current.lock as RunLock).run === run) current.lock = { ...(current.lock as RunLock), heartbeatAt: at }
    this.#done('touchLock', undefined)
  }

  async releaseLock(run: string): Promise<void> {
    this.#enter('releaseLock')
    const key = mongoEqualityKey('lock')
    const current = this.db.collections.get(JOURNAL_COLLECTION)?.docs.get(key)
    if (current && (current.lock as RunLock).run === run) this.#journal.docs.delete(key)
    this.#done('releaseLock', undefined)
  }

  async appendEntry(entry: JournalEntry): Promise<void> {
    this.#enter(`appendEntry:${entry.op}`)
    this.db.insert(JOURNAL_COLLECTION, [{ _id: `${entry.run}:${String(entry.seq).padStart(10, '0')}`, ...entry }])
    this.#done(`appendEntry:${entry.op}`, undefined)
  }

  async setEntryIds(run: string, seq: number, ids: readonly unknown[]): Promise<void> {
    this.#enter('setEntryIds')
    const entry = this.#journal.docs.get(mongoEqualityKey(`${run}:${String(seq).padStart(10, '0')}`))
    if (entry) this.#journal.docs.set(mongoEqualityKey(entry._id), copy({ ...entry, ids: [...ids] }))
    this.#done('setEntryIds', undefined)
  }

  async newestEntry(run: string): Promise<JournalEntry | null> {
    this.#enter('newestEntry')
    const entries = [...(this.db.collections.get(JOURNAL_COLLECTION)?.docs.values() ?? [])].filter(
      (document) => document.run === run && document.seq !== undefined,
    )
    entries.sort((a, b) => Number(b.seq) - Number(a.seq))
    if (entries.length === 0) return this.#done('newestEntry', null)
    const { _id, ...entry } = copy(entries[0])
    return this.#done('newestEntry', { ...entry, seq: Number(entry.seq) } as unknown as JournalEntry)
  }

  async replacedCollections(run: string): Promise<string[]> {
    this.#enter('replacedCollections')
    const names = new Set<string>()
    for (const document of this.db.collections.get(JOURNAL_COLLECTION)?.docs.values() ?? []) {
      if (document.run === run && (document.op === 'createCollection' || document.op === 'empty')) names.add(String(document.collection))
    }
    return this.#done('replacedCollections', [...names])
  }

  async deleteEntry(run: string, seq: number): Promise<void> {
    this.#enter('deleteEntry')
    this.#journal.docs.delete(mongoEqualityKey(`${run}:${String(seq).padStart(10, '0')}`))
    this.#done('deleteEntry', undefined)
  }

  async journalRuns(): Promise<string[]> {
    this.#enter('journalRuns')
    const runs = new Set<string>()
    for (const document of this.db.collections.get(JOURNAL_COLLECTION)?.docs.values() ?? []) {
      if (typeof document.run === 'string') runs.add(document.run)
    }
    return this.#done('journalRuns', [...runs])
  }

  async markCommitted(run: string): Promise<void> {
    this.#enter('markCommitted')
    this.db.insert(JOURNAL_COLLECTION, [{ _id: `${run}:commit`, run }])
    this.#done('markCommitted', undefined)
  }

  async isCommitted(run: string): Promise<boolean> {
    this.#enter('isCommitted')
    return this.#done('isCommitted', this.db.collections.get(JOURNAL_COLLECTION)?.docs.has(mongoEqualityKey(`${run}:commit`)) ?? false)
  }

  async forgetRun(run: string): Promise<void> {
    this.#enter('forgetRun')
    for (const [key, document] of this.#journal.docs) if (document.run === run) this.#journal.docs.delete(key)
    this.#done('forgetRun', undefined)
  }

  readonly endedSessions: unknown[] = []
  async endSession(sessionId: unknown): Promise<void> {
    this.#enter('endSession')
    this.endedSessions.push(sessionId)
    this.#done('endSession', undefined)
  }

  async collectionNames(prefix: string): Promise<string[]> {
    this.#enter('collectionNames')
    return this.#done('collectionNames', [...this.db.collections.keys()].filter((name) => name.startsWith(prefix)))
  }

  async collectionExists(name: string): Promise<boolean> {
    this.#enter('collectionExists')
    return this.#done('collectionExists', this.db.collections.has(name))
  }

  async dropCollection(name: string): Promise<void> {
    this.#enter('dropCollection')
    this.db.collections.delete(name)
    this.#done('dropCollection', undefined)
  }

  async renameCollection(from: string, to: string): Promise<void> {
    this.#enter('renameCollection')
    const source = this.db.collections.get(from)
    if (!source) throw Object.assign(new Error(`source namespace ${from} does not exist`), { code: 26 })
    if (this.db.collections.has(to)) throw Object.assign(new Error(`target namespace ${to} exists`), { code: 48 })
    this.db.collections.delete(from)
    this.db.collections.set(to, source)
    this.#done('renameCollection', undefined)
  }

  async dropIndex(collection: string, index: string): Promise<void> {
    this.#enter('dropIndex')
    this.db.collections.get(collection)?.indexes.delete(index)
    this.#done('dropIndex', undefined)
  }

  async deleteByIds(collection: string, ids: readonly unknown[]): Promise<void> {
    this.#enter('deleteByIds')
    const target = this.db.collections.get(collection)
    for (const id of ids) target?.docs.delete(mongoEqualityKey(id))
    this.#done('deleteByIds', undefined)
  }

  async savePreImages(shadow: string, documents: readonly BsonDocument[]): Promise<void> {
    this.#enter('savePreImages')
    this.db.insert(shadow, documents)
    this.#done('savePreImages', undefined)
  }

  async restorePreImages(shadow: string, collection: string, ids: readonly unknown[]): Promise<void> {
    this.#enter('restorePreImages')
    const images = this.db.collections.get(shadow)
    for (const id of ids) {
      const image = images?.docs.get(mongoEqualityKey(id))
      if (image) this.db.replace(collection, image, true)
    }
    this.#done('restorePreImages', undefined)
  }
}

/**
 * The data side of a write session, as mongodb-destination.ts does it on a standalone server:
 * every change goes to the journal first, through the same budget (a crash can hit either).
 */
class MemoryWriter {
  constructor(
    readonly db: MemoryDatabase,
    readonly journal: UndoJournal,
    readonly budget: Budget,
  ) {}

  async createCollection(name: string): Promise<void> {
    await this.journal.creatingCollection(name)
    this.budget.spend('create')
    this.db.create(name)
  }

  async createIndex(collection: string, index: string): Promise<void> {
    await this.journal.creatingIndex(collection, index)
    this.budget.spend('createIndex')
    this.db.collections.get(collection)!.indexes.add(index)
  }

  async empty(collection: string): Promise<void> {
    const shadow = await this.journal.emptying(collection)
    this.budget.spend('rename')
    const original = this.db.collections.get(collection)!
    this.db.collections.delete(collection)
    this.db.collections.set(shadow, original)
    this.budget.spend('recreate')
    this.db.create(collection).indexes = new Set(original.indexes)
  }

  /** Inserts the documents whose `_id` does not exist yet; returns how many went in. */
  async insert(collection: string, documents: BsonDocument[], concurrentlyInserted: BsonDocument[] = []): Promise<number> {
    const target = this.db.collections.get(collection)
    const fresh = documents.filter((document) => !target?.docs.has(mongoEqualityKey(document._id)))
    const seq = await this.journal.inserting(collection, fresh.map((document) => document._id))
    // Another client inserts some of the same _ids between our check and our insert.
    this.db.insert(collection, concurrentlyInserted)
    this.budget.spend('insertMany')
    const { inserted, duplicates } = this.db.insert(collection, fresh)
    if (duplicates.length > 0) await this.journal.insertedOnly(seq, inserted)
    return inserted.length
  }

  async update(collection: string, id: unknown, fields: BsonDocument): Promise<void> {
    const current = this.db.collections.get(collection)!.docs.get(mongoEqualityKey(id))!
    await this.journal.updating(collection, [current])
    this.budget.spend('replaceOne')
    this.db.replace(collection, { ...copy(current), ...fields }, false)
  }
}

const ID = (n: number) => new ObjectId(n.toString(16).padStart(24, '0'))

function seed(): MemoryDatabase {
  const db = new MemoryDatabase()
  const people = db.create('people')
  for (const n of [1, 2]) people.docs.set(mongoEqualityKey(ID(n)), { _id: ID(n), name: `person ${n}`, visits: new Int32(n) })
  const orders = db.create('orders')
  orders.indexes.add('customer_1')
  for (const n of [10, 11]) orders.docs.set(mongoEqualityKey(ID(n)), { _id: ID(n), total: new Int32(n * 10) })
  return db
}

/** A restore-with-drop-and-merge-like run touching every kind of change. */
async function scenario(writer: MemoryWriter): Promise<void> {
  await writer.createCollection('invoices')
  await writer.createIndex('people', 'email_1')
  await writer.empty('orders')
  // The backup's orders carry the same _ids as the ones just emptied away.
  await writer.insert('orders', [{ _id: ID(10), total: new Int32(999) }, { _id: ID(12), total: new Int32(5) }])
  await writer.insert('invoices', [{ _id: ID(20), amount: new Int32(1) }])
  // ID(3) is inserted by another client between our existence check and our insert.
  await writer.insert('people', [{ _id: ID(1), name: 'exists' }, { _id: ID(3), name: 'ours' }, { _id: ID(4), name: 'ours too' }], [{ _id: ID(3), name: 'theirs' }])
  await writer.update('people', ID(1), { name: 'renamed once', visits: new Int32(100) })
  await writer.update('people', ID(1), { name: 'renamed twice' })
  await writer.update('people', ID(4), { name: 'changed after insert' })
}

let clock = 1_000_000
function owner(pid: number, overrides: Partial<JournalOwner> = {}): JournalOwner {
  return {
    host: 'host-a',
    pid,
    now: () => new Date(clock),
    // Only the pid of the process under test (and pid 1) are alive; crashed "processes" are not.
    isProcessAlive: (other) => other === pid || other === 1,
    staleAfterMs: 60_000,
    heartbeatMs: 3_600_000,
    ...overrides,
  }
}

const DEAD_PID = 4001
const RECOVERING_PID = 4002
const THIRD_PID = 4003

afterEach(() => {
  vi.useRealTimers()
})

// ---------------------------------------------------------------------------------------------

describe('UndoJournal: rollback and commit', () => {
  it('rollback undoes every kind of change and leaves nothing behind', async () => {
    const db = seed()
    const before = db.snapshot()
    const ops = new MemoryJournalOps(db)
    const { journal, recovered } = await UndoJournal.begin(ops, owner(process.pid))
    expect(recovered).toEqual([])
    await scenario(new MemoryWriter(db, journal, ops.budget))
    // Another client's document stays: we never recorded it as ours.
    expect(db.snapshot().people.docs[mongoEqualityKey(ID(3))]).toMatchObject({ name: 'theirs' })
    expect(db.snapshot()).not.toEqual(before)
    expect(journal.changes).toBe(9)

    ops.calls.length = 0
    const undone = await journal.rollback()
    expect(undone).toBe(9)
    // Only people's inserts are deleted one by one: invoices (created) and orders (emptied) are dropped whole.
    expect(ops.calls.filter((call) => call === 'deleteByIds')).toHaveLength(1)
    const after = db.snapshot()
    expect(after.people.docs[mongoEqualityKey(ID(3))]).toMatchObject({ name: 'theirs' })
    delete after.people.docs[mongoEqualityKey(ID(3))]
    expect(after).toEqual(before)
    expect(db.leftovers()).toEqual({ shadows: [], journalDocuments: 0 })
    expect(await journal.rollback()).toBe(0)
  })

  it('commit keeps every change and removes the journal, the shadows and the lock', async () => {
    const db = seed()
    const ops = new MemoryJournalOps(db)
    const { journal } = await UndoJournal.begin(ops, owner(process.pid))
    await scenario(new MemoryWriter(db, journal, ops.budget))
    const changed = db.snapshot()
    await journal.commit()
    expect(db.snapshot()).toEqual(changed)
    expect(db.leftovers()).toEqual({ shadows: [], journalDocuments: 0 })
    await expect(journal.rollback()).rejects.toThrow(UsageError)
    await expect(journal.creatingCollection('x')).rejects.toThrow(/closed/)
  })

  it('commit treats a failed data commit as committed when the marker made it (unknown commit result)', async () => {
    const db = seed()
    const ops = new MemoryJournalOps(db)
    const { journal } = await UndoJournal.begin(ops, owner(process.pid))
    await new MemoryWriter(db, journal, ops.budget).createCollection('invoices')
    await journal.commit(async () => {
      throw new Error('connection reset during commitTransaction')
    })
    expect(db.snapshot().invoices).toBeDefined()
    expect(db.leftovers()).toEqual({ shadows: [], journalDocuments: 0 })
  })

  it('commit rethrows when the transaction did not commit (marker gone), and rollback still works', async () => {
    const db = seed()
    const before = db.snapshot()
    const ops = new MemoryJournalOps(db)
    const { journal } = await UndoJournal.begin(ops, owner(process.pid))
    await new MemoryWriter(db, journal, ops.budget).createCollection('invoices')
    const aborted = new Error('transaction aborted')
    await expect(
      journal.commit(async () => {
        // The marker was written inside the transaction; the abort takes it away.
        db.collections.get(JOURNAL_COLLECTION)!.docs.delete(mongoEqualityKey(`${journal.run}:commit`))
        throw aborted
      }),
    ).rejects.toBe(aborted)
    await journal.rollback()
    expect(db.snapshot()).toEqual(before)
  })

  it('a rollback that fails half-way continues where it stopped when called again', async () => {
    const db = seed()
    const before = db.snapshot()
    const budget = new Budget()
    const ops = new MemoryJournalOps(db, budget)
    const { journal } = await UndoJournal.begin(ops, owner(process.pid))
    await scenario(new MemoryWriter(db, journal, budget))
    budget.remaining = 7
    await expect(journal.rollback()).rejects.toThrow(SimulatedCrash)
    budget.remaining = Infinity
    await journal.rollback()
    const after = db.snapshot()
    delete after.people.docs[mongoEqualityKey(ID(3))]
    expect(after).toEqual(before)
  })

  it('keeps the first pre-image of a document updated twice', async () => {
    const db = seed()
    const ops = new MemoryJournalOps(db)
    const { journal } = await UndoJournal.begin(ops, owner(process.pid))
    const writer = new MemoryWriter(db, journal, ops.budget)
    await writer.update('people', ID(2), { name: 'first' })
    await writer.update('people', ID(2), { name: 'second' })
    await journal.rollback()
    expect(db.snapshot().people.docs[mongoEqualityKey(ID(2))]).toMatchObject({ name: 'person 2' })
  })

  it('refreshes the heartbeat of an open run', async () => {
    vi.useFakeTimers()
    const db = seed()
    const ops = new MemoryJournalOps(db)
    const { journal } = await UndoJournal.begin(ops, owner(process.pid, { heartbeatMs: 1000, now: () => new Date(Date.now()) }))
    const started = (await ops.readLock())!.heartbeatAt.getTime()
    await vi.advanceTimersByTimeAsync(3500)
    expect(ops.calls.filter((call) => call === 'touchLock')).toHaveLength(3)
    expect((await ops.readLock())!.heartbeatAt.getTime()).toBeGreaterThan(started)
    await journal.rollback()
    await vi.advanceTimersByTimeAsync(3000)
    expect(ops.calls.filter((call) => call === 'touchLock')).toHaveLength(3)
  })
})

describe('UndoJournal: the lock', () => {
  async function holdLock(db: MemoryDatabase, lock: Partial<RunLock>): Promise<RunLock> {
    const full: RunLock = { run: new ObjectId().toHexString(), host: 'host-a', pid: 1, startedAt: new Date(clock), heartbeatAt: new Date(clock), ...lock }
    await new MemoryJournalOps(db).takeLock(full, null)
    return full
  }

  it('refuses to start while a live process on this host holds the lock, changing nothing', async () => {
    const db = seed()
    const lock = await holdLock(db, { pid: 1 })
    const before = db.snapshot()
    const error = await UndoJournal.begin(new MemoryJournalOps(db), owner(process.pid)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BusyError)
    expect((error as BusyError).code).toBe('BUSY')
    expect((error as BusyError).message).toMatch(/Another mergeback run is writing to this database \(pid 1 on host-a/)
    expect(db.snapshot()).toEqual(before)
    expect(await new MemoryJournalOps(db).readLock()).toEqual(lock)
  })

  it('refuses a lock from another host with a fresh heartbeat, takes over a stale one', async () => {
    const db = seed()
    await holdLock(db, { host: 'host-b', pid: 77, heartbeatAt: new Date(clock - 1000) })
    await expect(UndoJournal.begin(new MemoryJournalOps(db), owner(process.pid))).rejects.toThrow(/pid 77 on host-b/)
    clock += 120_000
    const { journal, recovered } = await UndoJournal.begin(new MemoryJournalOps(db), owner(process.pid))
    expect(recovered).toEqual([])
    expect((await new MemoryJournalOps(db).readLock())!.run).toBe(journal.run)
    await journal.rollback()
    expect(await new MemoryJournalOps(db).readLock()).toBeNull()
  })

  it('treats a lock with our own pid but a run this process does not know as dead', async () => {
    const lock = await holdLock(new MemoryDatabase(), { pid: process.pid })
    expect(isLockAlive(lock, owner(process.pid))).toBe(false)
    const db = seed()
    const { journal } = await UndoJournal.begin(new MemoryJournalOps(db), owner(process.pid))
    expect(isLockAlive((await new MemoryJournalOps(db).readLock())!, owner(process.pid))).toBe(true)
    await expect(UndoJournal.begin(new MemoryJournalOps(db), owner(process.pid))).rejects.toThrow(BusyError)
    await journal.commit()
  })

  it('ends the transaction session a dead run left open', async () => {
    const db = seed()
    await holdLock(db, { pid: DEAD_PID, sessionId: { id: 'lsid-1' } })
    const ops = new MemoryJournalOps(db)
    const { journal } = await UndoJournal.begin(ops, owner(RECOVERING_PID))
    expect(ops.endedSessions).toEqual([{ id: 'lsid-1' }])
    await journal.rollback()
  })

  it('only one of two processes taking over the same dead lock wins', async () => {
    const db = seed()
    const dead = await holdLock(db, { pid: DEAD_PID })
    const first: RunLock = { run: 'a'.repeat(24), host: 'host-a', pid: 1, startedAt: new Date(), heartbeatAt: new Date() }
    const second: RunLock = { ...first, run: 'b'.repeat(24) }
    const ops = new MemoryJournalOps(db)
    expect(await ops.takeLock(first, dead.run)).toBe(true)
    expect(await ops.takeLock(second, dead.run)).toBe(false)
  })
})

describe('UndoJournal.recover (read sessions)', () => {
  it('writes nothing when there is no journal', async () => {
    const db = seed()
    const ops = new MemoryJournalOps(db)
    expect(await UndoJournal.recover(ops, owner(process.pid))).toEqual({ recovered: [] })
    expect(ops.calls).toEqual(['readLock', 'journalRuns'])
    expect(db.collections.has(JOURNAL_COLLECTION)).toBe(false)
  })

  it('reports a live run instead of waiting for it', async () => {
    const db = seed()
    const ops = new MemoryJournalOps(db)
    const { journal } = await UndoJournal.begin(ops, owner(1))
    const result = await UndoJournal.recover(new MemoryJournalOps(db), owner(process.pid))
    expect(result.busy?.run).toBe(journal.run)
    expect(result.recovered).toEqual([])
    await journal.rollback()
  })

  it('rolls back a dead run and releases the lock again', async () => {
    const db = seed()
    const before = db.snapshot()
    const budget = new Budget(9)
    const { journal } = await UndoJournal.begin(new MemoryJournalOps(db, budget), owner(DEAD_PID))
    await expect(scenario(new MemoryWriter(db, journal, budget))).rejects.toThrow(SimulatedCrash)
    journal.abandon()
    const result = await UndoJournal.recover(new MemoryJournalOps(db), owner(RECOVERING_PID))
    expect(result.recovered).toHaveLength(1)
    expect(result.recovered[0]).toMatchObject({ run: journal.run, outcome: 'rolled-back' })
    expect(describeRecovery(result.recovered[0])).toMatch(/^An interrupted mergeback run \(pid 4001 on host-a, started .*\) was found in the undo journal and rolled back \(\d+ changes? undone\)\.$/)
    expect(db.snapshot()).toEqual(before)
    expect(db.leftovers()).toEqual({ shadows: [], journalDocuments: 0 })
  })
})

describe('UndoJournal: a crash at every point is undone by the next run', () => {
  /** Runs the scenario (and, with `commit`, the commit) in a process that dies after `budget` calls. */
  async function crashAt(db: MemoryDatabase, budget: number, commit: boolean): Promise<{ crashed: boolean; committed: boolean }> {
    const spend = new Budget(budget)
    try {
      const { journal } = await UndoJournal.begin(new MemoryJournalOps(db, spend), owner(DEAD_PID))
      try {
        await scenario(new MemoryWriter(db, journal, spend))
        // A crash during the clean-up after the marker does not fail commit(): the data is committed.
        if (commit) await journal.commit()
      } finally {
        journal.abandon()
      }
    } catch (error) {
      if (!(error instanceof SimulatedCrash)) throw error
    }
    return { crashed: spend.crashed, committed: spend.completed.includes('markCommitted') }
  }

  async function recoverWithoutCrash(db: MemoryDatabase, pid: number): Promise<void> {
    const { journal } = await UndoJournal.begin(new MemoryJournalOps(db), owner(pid))
    await journal.rollback()
  }

  /** `before` minus the document another client inserted (it is theirs, and stays). */
  function expectState(db: MemoryDatabase, expected: ReturnType<MemoryDatabase['snapshot']>): void {
    const state = db.snapshot()
    const theirs = state.people?.docs[mongoEqualityKey(ID(3))] as { name?: string } | undefined
    if (theirs?.name === 'theirs' && !expected.people.docs[mongoEqualityKey(ID(3))]) delete state.people.docs[mongoEqualityKey(ID(3))]
    expect(state).toEqual(expected)
    expect(db.leftovers()).toEqual({ shadows: [], journalDocuments: 0 })
  }

  it('rolls back: every crash point during the run', async () => {
    const before = seed().snapshot()
    let points = 0
    for (let budget = 0; ; budget++) {
      const db = seed()
      const { crashed } = await crashAt(db, budget, false)
      if (!crashed) break
      points++
      await recoverWithoutCrash(db, RECOVERING_PID)
      expectState(db, before)
    }
    expect(points).toBeGreaterThan(20)
  })

  it('commits or rolls back, depending on the marker: every crash point including the commit', async () => {
    const before = seed().snapshot()
    const committedDb = seed()
    await crashAt(committedDb, Infinity, true)
    const committed = committedDb.snapshot()
    const sawBoth = { before: false, after: false }
    for (let budget = 0; ; budget++) {
      const db = seed()
      const outcome = await crashAt(db, budget, true)
      if (!outcome.crashed) break
      await recoverWithoutCrash(db, RECOVERING_PID)
      if (outcome.committed) {
        sawBoth.after = true
        expectState(db, committed)
      } else {
        sawBoth.before = true
        expectState(db, before)
      }
    }
    expect(sawBoth).toEqual({ before: true, after: true })
  })

  it('a recovery that itself crashes at any point is finished by the run after it', async () => {
    const before = seed().snapshot()
    // Crash the run at a few points: after the lock, after the empty, mid-inserts, mid-updates.
    for (const runBudget of [3, 8, 15, 22]) {
      for (let recoveryBudget = 0; ; recoveryBudget++) {
        const db = seed()
        const { crashed } = await crashAt(db, runBudget, false)
        expect(crashed).toBe(true)
        const spend = new Budget(recoveryBudget)
        let recoveryCrashed = false
        try {
          const { journal } = await UndoJournal.begin(new MemoryJournalOps(db, spend), owner(RECOVERING_PID))
          await journal.rollback()
        } catch (error) {
          if (!(error instanceof SimulatedCrash)) throw error
          recoveryCrashed = true
        }
        await recoverWithoutCrash(db, THIRD_PID)
        expectState(db, before)
        if (!recoveryCrashed) break
      }
    }
  })
})
