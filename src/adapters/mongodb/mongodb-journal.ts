/**
 * The undo journal: all-or-nothing writes on a MongoDB server without transactions.
 *
 * A standalone server has no multi-document transactions, and on any server collections, views
 * and indexes are created outside them. The journal makes every change of one write session
 * (a "run") undoable, durably, *before* the change is made:
 *
 *   change                         recorded first (w: majority, j: true)          undone by
 *   create collection / view       its name                                        dropping it
 *   create index                   collection and index name                       dropping the index
 *   empty a collection (--drop)    rename it to a shadow, then recreate it empty   dropping the new one, renaming the shadow back
 *   insert documents               their _ids (only those that did not exist)       deleting those _ids
 *   update documents               their pre-images, copied into a shadow          replacing them with the pre-images
 *                                  collection, then their _ids
 *
 * Everything lives in the target database: the journal collection `__mergeback_journal` (a lock
 * document, one document per change, a commit marker) and shadow collections named
 * `__mergeback_undo_<run>_<seq>` (a pre-image keeps its own `_id`, so it is stored exactly and
 * a 16 MB document still fits).
 *
 * commit():  1. write the commit marker (inside the transaction when there is one, so the data
 *               and the marker commit together);  2. commit the transaction;  3. drop the shadows,
 *               delete the entries and the marker, release the lock. A crash after 1 is finished
 *               by the next run (marker present → only the clean-up is done).
 * rollback(): take the newest entry, undo it, delete it; repeat; then drop the shadows and
 *               release the lock. Each undo step is idempotent and the entry is deleted only after
 *               its step, so a crash in the middle of a rollback is finished by the next run
 *               without undoing anything twice in a harmful order.
 * open:      before anything else, a run that holds the lock but is dead (same host: its process
 *               is gone; another host: no heartbeat for `staleAfterMs`) is taken over atomically
 *               (compare-and-set on the lock) and rolled back, or cleaned up when it had committed.
 *               Shadow collections no remaining entry refers to are dropped. A live run makes
 *               the new session fail: two writers at once are refused.
 *
 * What it does not give (docs/mongodb.md): isolation. Other clients see the changes as they are
 * made and until they are undone; a document another client changes between our write and our
 * undo gets our pre-image back.
 *
 * The journal talks to the database only through JournalOps, which mongodb-destination.ts
 * implements over the driver (MongoJournalOps, below) and the unit tests implement in memory.
 */
import os from 'node:os'
import { ObjectId, type ClientSession, type Db, type Document, type Filter } from 'mongodb'
import { BusyError, UsageError } from '../../errors.js'
import { errorCode } from './mongodb-connection.js'
import type { BsonDocument } from './mongodb-values.js'

/** The journal collection, in the target database. */
export const JOURNAL_COLLECTION = '__mergeback_journal'
/** Every collection mergeback keeps for itself starts with this; describe() and stats() leave them out. */
export const INTERNAL_PREFIX = '__mergeback_'
const SHADOW_PREFIX = `${INTERNAL_PREFIX}undo_`

/** One recorded change, as stored (BSON values kept exactly). */
export type JournalChange =
  | { readonly op: 'createCollection'; readonly collection: string }
  | { readonly op: 'createView'; readonly collection: string }
  | { readonly op: 'createIndex'; readonly collection: string; readonly index: string }
  | { readonly op: 'empty'; readonly collection: string; readonly shadow: string }
  | { readonly op: 'insert'; readonly collection: string; readonly ids: readonly unknown[] }
  | { readonly op: 'update'; readonly collection: string; readonly shadow: string; readonly ids: readonly unknown[] }

/** A change as stored: with its run and its sequence number in that run (undo goes newest first). */
export type JournalEntry = JournalChange & { readonly run: string; readonly seq: number }

/** The lock document: which run may write to the database, and how to tell whether it is alive. */
export interface RunLock {
  readonly run: string
  readonly host: string
  readonly pid: number
  readonly startedAt: Date
  readonly heartbeatAt: Date
  /** The driver session of a transaction (lsid), so that a recovery can end it. */
  readonly sessionId?: unknown
}

/** The collection operations the journal needs. Every method is durable when it resolves. */
export interface JournalOps {
  /** The lock document, or null. */
  readLock(): Promise<RunLock | null>
  /**
   * Compare-and-set: with `expectedRun` null, creates the lock when there is none; otherwise
   * replaces it only while it still names `expectedRun`. Resolves false when another process won.
   */
  takeLock(lock: RunLock, expectedRun: string | null): Promise<boolean>
  /** Refreshes the heartbeat of the lock if `run` still holds it. */
  touchLock(run: string, at: Date): Promise<void>
  /** Deletes the lock if `run` holds it. */
  releaseLock(run: string): Promise<void>
  appendEntry(entry: JournalEntry): Promise<void>
  /** Replaces the `ids` of an insert entry. */
  setEntryIds(run: string, seq: number, ids: readonly unknown[]): Promise<void>
  /** The entry of `run` with the highest seq, or null. */
  newestEntry(run: string): Promise<JournalEntry | null>
  /** Collections that `run` created or emptied (a createCollection or empty entry names them). */
  replacedCollections(run: string): Promise<string[]>
  deleteEntry(run: string, seq: number): Promise<void>
  /** Runs that have entries or a commit marker. */
  journalRuns(): Promise<string[]>
  /** Writes the commit marker (inside the transaction when the session has one). */
  markCommitted(run: string): Promise<void>
  isCommitted(run: string): Promise<boolean>
  /** Deletes every entry and the commit marker of `run`. */
  forgetRun(run: string): Promise<void>
  /** Ends a transaction left open by a dead run. Best effort. */
  endSession(sessionId: unknown): Promise<void>
  collectionNames(prefix: string): Promise<string[]>
  collectionExists(name: string): Promise<boolean>
  /** Drops a collection or view; no error when it does not exist. */
  dropCollection(name: string): Promise<void>
  renameCollection(from: string, to: string): Promise<void>
  /** Drops an index; no error when it or its collection does not exist. */
  dropIndex(collection: string, index: string): Promise<void>
  deleteByIds(collection: string, ids: readonly unknown[]): Promise<void>
  /** Inserts pre-images into a shadow collection; an `_id` already there keeps its first image. */
  savePreImages(shadow: string, documents: readonly BsonDocument[]): Promise<void>
  /** Replaces (or re-inserts) the documents with these `_id`s by their images in `shadow`. */
  restorePreImages(shadow: string, collection: string, ids: readonly unknown[]): Promise<void>
}

/** Who is running, and how to decide whether another run is still alive. */
export interface JournalOwner {
  readonly host: string
  readonly pid: number
  now(): Date
  /** Whether a process with this pid is running on this host. */
  isProcessAlive(pid: number): boolean
  /** A lock held from another host is abandoned after this long without a heartbeat. */
  readonly staleAfterMs: number
  /** How often an open run refreshes its heartbeat. */
  readonly heartbeatMs: number
}

/** Runs open in this process: a lock naming our own pid is alive only if its run is one of these. */
const runsInThisProcess = new Set<string>()

/** The real owner: this host and process, the system clock, a 10 s heartbeat, abandoned after 2 min. */
export function processOwner(): JournalOwner {
  return {
    host: os.hostname(),
    pid: process.pid,
    now: () => new Date(),
    isProcessAlive(pid) {
      try {
        process.kill(pid, 0)
        return true
      } catch (error) {
        // EPERM: the process exists but belongs to another user.
        return (error as NodeJS.ErrnoException).code === 'EPERM'
      }
    },
    staleAfterMs: 120_000,
    heartbeatMs: 10_000,
  }
}

/** What a recovery did, for the user to read. */
export interface RecoveredRun {
  readonly run: string
  readonly outcome: 'rolled-back' | 'cleaned-up'
  /** Changes undone (rolled-back) or 0. */
  readonly changes: number
  readonly lock: RunLock | null
}

/** What UndoJournal.recover() found and did. */
export interface RecoveryResult {
  readonly recovered: readonly RecoveredRun[]
  /** Set when a live run holds the lock (nothing was recovered). */
  readonly busy?: RunLock
}

/** A human sentence about a recovered run. */
export function describeRecovery(recovered: RecoveredRun): string {
  const who = recovered.lock ? ` (pid ${recovered.lock.pid} on ${recovered.lock.host}, started ${recovered.lock.startedAt.toISOString()})` : ''
  return recovered.outcome === 'rolled-back'
    ? `An interrupted mergeback run${who} was found in the undo journal and rolled back (${recovered.changes} change${recovered.changes === 1 ? '' : 's'} undone).`
    : `A committed mergeback run${who} had not finished cleaning up its undo journal; the clean-up was completed.`
}

/** A sentence for a run that holds the lock and is alive. */
export function describeBusy(lock: RunLock): string {
  return `Another mergeback run is writing to this database (pid ${lock.pid} on ${lock.host}, started ${lock.startedAt.toISOString()}).`
}

/**
 * One write session's journal. Created by UndoJournal.begin(), which first recovers abandoned
 * runs and takes the lock; ended by commit() or rollback(), which release it.
 */
export class UndoJournal {
  readonly run: string
  readonly #ops: JournalOps
  readonly #owner: JournalOwner
  #seq = 0
  #changes = 0
  #state: 'open' | 'committed' | 'rolled-back' = 'open'
  #heartbeat: NodeJS.Timeout | undefined
  readonly #preImageShadows = new Map<string, string>()

  private constructor(ops: JournalOps, owner: JournalOwner, run: string) {
    this.#ops = ops
    this.#owner = owner
    this.run = run
  }

  /**
   * Recovers abandoned runs, then takes the lock for a new run and starts its heartbeat.
   * Throws BusyError when a live run holds the lock; errors of the
   * database propagate (the caller maps them).
   */
  static async begin(
    ops: JournalOps,
    owner: JournalOwner,
    options: { sessionId?: unknown } = {},
  ): Promise<{ journal: UndoJournal; recovered: readonly RecoveredRun[] }> {
    const run = new ObjectId().toHexString()
    const now = owner.now()
    const lock: RunLock = { run, host: owner.host, pid: owner.pid, startedAt: now, heartbeatAt: now, sessionId: options.sessionId }
    const { recovered, busy } = await takeOver(ops, owner, lock)
    if (busy) throw busyError(busy)
    runsInThisProcess.add(run)
    const journal = new UndoJournal(ops, owner, run)
    journal.#startHeartbeat()
    return { journal, recovered }
  }

  /**
   * For read sessions: recovers abandoned runs (taking the lock only for the time of the
   * recovery) and reports a live one instead of waiting for it. Nothing is written when the
   * journal is empty.
   */
  static async recover(ops: JournalOps, owner: JournalOwner): Promise<RecoveryResult> {
    const current = await ops.readLock()
    if (!current && (await ops.journalRuns()).length === 0) return { recovered: [] }
    const now = owner.now()
    const lock: RunLock = { run: new ObjectId().toHexString(), host: owner.host, pid: owner.pid, startedAt: now, heartbeatAt: now }
    runsInThisProcess.add(lock.run)
    try {
      const result = await takeOver(ops, owner, lock)
      if (!result.busy) await ops.releaseLock(lock.run)
      return result
    } finally {
      runsInThisProcess.delete(lock.run)
    }
  }

  /** Changes recorded so far. */
  get changes(): number {
    return this.#changes
  }

  /** Records a collection about to be created. */
  async creatingCollection(collection: string): Promise<void> {
    await this.#append({ op: 'createCollection', collection })
  }

  /** Records a view about to be created. */
  async creatingView(collection: string): Promise<void> {
    await this.#append({ op: 'createView', collection })
  }

  /** Records an index about to be created on an existing collection. */
  async creatingIndex(collection: string, index: string): Promise<void> {
    await this.#append({ op: 'createIndex', collection, index })
  }

  /** Records that `collection` is about to be renamed away to the returned shadow name (and recreated empty). */
  async emptying(collection: string): Promise<string> {
    const shadow = this.#shadowName(this.#seq + 1)
    await this.#append({ op: 'empty', collection, shadow })
    return shadow
  }

  /**
   * Records documents about to be inserted (only `_id`s that did not exist: undoing deletes them).
   * Returns the entry's seq for insertedOnly().
   */
  async inserting(collection: string, ids: readonly unknown[]): Promise<number> {
    return this.#append({ op: 'insert', collection, ids })
  }

  /** After an insert some of whose documents were refused: narrows the entry to those that went in. */
  async insertedOnly(seq: number, ids: readonly unknown[]): Promise<void> {
    this.#assertOpen()
    await this.#ops.setEntryIds(this.run, seq, ids)
  }

  /** Saves the pre-images of documents about to be replaced or changed. */
  async updating(collection: string, preImages: readonly BsonDocument[]): Promise<void> {
    if (preImages.length === 0) return
    let shadow = this.#preImageShadows.get(collection)
    if (!shadow) {
      shadow = this.#shadowName(this.#seq + 1)
      this.#preImageShadows.set(collection, shadow)
    }
    this.#assertOpen()
    // The images go first: an entry always finds its images, and images without an entry are
    // only dropped by the clean-up.
    await this.#ops.savePreImages(shadow, preImages)
    await this.#append({ op: 'update', collection, shadow, ids: preImages.map((document) => document._id) })
  }

  /**
   * Makes the run's changes permanent: writes the commit marker, calls `commitData` (the
   * transaction's commit, when there is one), then cleans up. When `commitData` throws, the marker
   * decides: committed after all (an unknown commit result that did commit) → cleaned up;
   * otherwise the error propagates and the caller rolls back. A failing clean-up after the commit
   * is left to the next run (the marker tells it to only clean up).
   */
  async commit(commitData: () => Promise<void> = async () => undefined): Promise<void> {
    this.#assertOpen()
    await this.#ops.markCommitted(this.run)
    try {
      await commitData()
    } catch (error) {
      if (!(await this.#ops.isCommitted(this.run).catch(() => false))) throw error
    }
    this.#state = 'committed'
    this.#stopHeartbeat()
    try {
      await cleanUpCommitted(this.#ops, this.run)
    } catch {
      // The data is committed; the marker makes the next run finish this clean-up.
    } finally {
      runsInThisProcess.delete(this.run)
    }
  }

  /**
   * Undoes every recorded change, newest first, then cleans up. Safe to call again after it
   * failed (it continues where it stopped) and a no-op after it succeeded. A failure leaves the
   * rest of the journal for the next run, which finishes the rollback before doing anything else.
   */
  async rollback(): Promise<number> {
    if (this.#state === 'rolled-back') return 0
    if (this.#state === 'committed') throw new UsageError('The run was committed; it cannot be rolled back.')
    const undone = await rollBackRun(this.#ops, this.run)
    this.#state = 'rolled-back'
    this.#stopHeartbeat()
    runsInThisProcess.delete(this.run)
    return undone
  }

  /** Stops the heartbeat without touching the database (the process is going away). */
  abandon(): void {
    this.#stopHeartbeat()
    runsInThisProcess.delete(this.run)
  }

  async #append(change: JournalChange): Promise<number> {
    this.#assertOpen()
    const seq = ++this.#seq
    await this.#ops.appendEntry({ ...change, run: this.run, seq })
    this.#changes++
    return seq
  }

  #shadowName(seq: number): string {
    return `${SHADOW_PREFIX}${this.run}_${seq}`
  }

  #assertOpen(): void {
    if (this.#state !== 'open') throw new UsageError(`The undo journal of run ${this.run} is closed (${this.#state}).`)
  }

  #startHeartbeat(): void {
    this.#heartbeat = setInterval(() => {
      // A missed heartbeat only matters after staleAfterMs; the next one retries.
      this.#ops.touchLock(this.run, this.#owner.now()).catch(() => undefined)
    }, this.#owner.heartbeatMs)
    this.#heartbeat.unref()
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
  }
}

/** Whether the run holding `lock` is still alive, as far as `owner` can tell. */
export function isLockAlive(lock: RunLock, owner: JournalOwner): boolean {
  if (lock.host === owner.host) {
    return lock.pid === owner.pid ? runsInThisProcess.has(lock.run) : owner.isProcessAlive(lock.pid)
  }
  return owner.now().getTime() - lock.heartbeatAt.getTime() < owner.staleAfterMs
}

/**
 * Takes the lock for `lock.run`, taking it over from a dead holder, then recovers every other run
 * in the journal (newest first). Reports a live holder instead.
 */
async function takeOver(ops: JournalOps, owner: JournalOwner, lock: RunLock): Promise<RecoveryResult> {
  let previous: RunLock | null = null
  for (let attempt = 0; ; attempt++) {
    const current = await ops.readLock()
    if (current && isLockAlive(current, owner)) return { recovered: [], busy: current }
    if (await ops.takeLock(lock, current ? current.run : null)) {
      previous = current
      break
    }
    // Another process changed the lock between our read and our write: look again.
    if (attempt >= 5) {
      const winner = await ops.readLock()
      if (winner) return { recovered: [], busy: winner }
      throw new BusyError('Could not take the undo journal\'s lock: it keeps changing. Is another mergeback run starting?')
    }
  }
  if (previous?.sessionId !== undefined) await ops.endSession(previous.sessionId).catch(() => undefined)
  const recovered: RecoveredRun[] = []
  const runs = (await ops.journalRuns()).filter((run) => run !== lock.run).sort().reverse()
  for (const run of runs) {
    const runLock = previous?.run === run ? previous : null
    if (await ops.isCommitted(run)) {
      await cleanUpCommitted(ops, run)
      recovered.push({ run, outcome: 'cleaned-up', changes: 0, lock: runLock })
    } else {
      const changes = await rollBackRun(ops, run)
      recovered.push({ run, outcome: 'rolled-back', changes, lock: runLock })
    }
  }
  // Shadows of runs that have no entries left: a recovery that died after undoing its last entry
  // but before its clean-up. We hold the lock, so no other live run owns them.
  for (const shadow of await ops.collectionNames(SHADOW_PREFIX)) {
    if (!shadow.startsWith(`${SHADOW_PREFIX}${lock.run}_`)) await ops.dropCollection(shadow)
  }
  return { recovered }
}

async function rollBackRun(ops: JournalOps, run: string): Promise<number> {
  // A collection the run created or emptied is dropped by the undo of an older entry (documents are
  // written after prepare): its inserts and updates need no undo of their own. That spares one
  // deleteMany per inserted chunk — on a server without an _id index for $in (FerretDB), a scan each.
  const replaced = new Set(await ops.replacedCollections(run))
  let undone = 0
  for (let entry = await ops.newestEntry(run); entry; entry = await ops.newestEntry(run)) {
    const droppedLater = (entry.op === 'insert' || entry.op === 'update') && replaced.has(entry.collection)
    if (!droppedLater) await undo(ops, entry)
    await ops.deleteEntry(run, entry.seq)
    undone++
  }
  for (const shadow of await ops.collectionNames(`${SHADOW_PREFIX}${run}_`)) await ops.dropCollection(shadow)
  await ops.forgetRun(run)
  await ops.releaseLock(run)
  return undone
}

async function cleanUpCommitted(ops: JournalOps, run: string): Promise<void> {
  for (const shadow of await ops.collectionNames(`${SHADOW_PREFIX}${run}_`)) await ops.dropCollection(shadow)
  await ops.forgetRun(run)
  await ops.releaseLock(run)
}

/** Undoes one change. Idempotent: running it again after it completed changes nothing. */
async function undo(ops: JournalOps, entry: JournalEntry): Promise<void> {
  switch (entry.op) {
    case 'createCollection':
    case 'createView':
      await ops.dropCollection(entry.collection)
      return
    case 'createIndex':
      await ops.dropIndex(entry.collection, entry.index)
      return
    case 'empty':
      // No shadow: the rename never happened, or it was already undone.
      if (await ops.collectionExists(entry.shadow)) {
        await ops.dropCollection(entry.collection)
        await ops.renameCollection(entry.shadow, entry.collection)
      }
      return
    case 'insert':
      if (entry.ids.length > 0) await ops.deleteByIds(entry.collection, entry.ids)
      return
    case 'update':
      if (entry.ids.length > 0) await ops.restorePreImages(entry.shadow, entry.collection, entry.ids)
      return
  }
}

function busyError(lock: RunLock): BusyError {
  return new BusyError(`${describeBusy(lock)} Wait for it to finish, then try again.`, {
    details: { run: lock.run, pid: lock.pid, host: lock.host, startedAt: lock.startedAt.toISOString() },
  })
}

// ---------------------------------------------------------------------------------------------
// The driver implementation
// ---------------------------------------------------------------------------------------------

/** Journal writes wait until a majority has them on disk: they must survive a crash. */
const DURABLE = { writeConcern: { w: 'majority' as const, journal: true } }
const LOCK_ID = 'lock'

interface JournalDocument {
  _id: string
  [field: string]: unknown
}

/**
 * JournalOps over the driver, for the target database. `db` is the database with the driver's
 * defaults (write results and counts are numbers); `documents` reads BSON exactly, for the `_id`s
 * of entries and for pre-images (MongoConnection says why there are two). `session()` returns the
 * open transaction's session, if any: only the commit marker is written inside it.
 */
export class MongoJournalOps implements JournalOps {
  readonly #db: Db
  readonly #documents: Db
  readonly #session: () => ClientSession | undefined

  constructor(databases: { readonly db: Db; readonly documents: Db }, session: () => ClientSession | undefined = () => undefined) {
    this.#db = databases.db
    this.#documents = databases.documents
    this.#session = session
  }

  get #journal() {
    return this.#db.collection<JournalDocument>(JOURNAL_COLLECTION)
  }

  async readLock(): Promise<RunLock | null> {
    const lock = await this.#journal.findOne({ _id: LOCK_ID })
    if (!lock) return null
    return {
      run: String(lock.owner),
      host: String(lock.host),
      pid: Number(lock.pid),
      startedAt: lock.startedAt as Date,
      heartbeatAt: lock.heartbeatAt as Date,
      sessionId: lock.sessionId ?? undefined,
    }
  }

  async takeLock(lock: RunLock, expectedRun: string | null): Promise<boolean> {
    const fields = {
      owner: lock.run,
      host: lock.host,
      pid: lock.pid,
      startedAt: lock.startedAt,
      heartbeatAt: lock.heartbeatAt,
      sessionId: lock.sessionId ?? null,
    }
    if (expectedRun === null) {
      try {
        await this.#journal.insertOne({ _id: LOCK_ID, ...fields }, DURABLE)
        return true
      } catch (error) {
        if (errorCode(error) === 11000) return false
        throw error
      }
    }
    const result = await this.#journal.updateOne({ _id: LOCK_ID, owner: expectedRun }, { $set: fields }, DURABLE)
    return result.matchedCount === 1
  }

  async touchLock(run: string, at: Date): Promise<void> {
    await this.#journal.updateOne({ _id: LOCK_ID, owner: run }, { $set: { heartbeatAt: at } })
  }

  async releaseLock(run: string): Promise<void> {
    await this.#journal.deleteOne({ _id: LOCK_ID, owner: run }, DURABLE)
  }

  async appendEntry(entry: JournalEntry): Promise<void> {
    await this.#journal.insertOne({ _id: entryId(entry.run, entry.seq), ...entry }, DURABLE)
  }

  async setEntryIds(run: string, seq: number, ids: readonly unknown[]): Promise<void> {
    await this.#journal.updateOne({ _id: entryId(run, seq) }, { $set: { ids: [...ids] } }, DURABLE)
  }

  async newestEntry(run: string): Promise<JournalEntry | null> {
    // Entry _ids are "<run>:<seq, 10 digits>", so the _id index orders a run's entries by seq.
    // The ids stay exact BSON values (read through `documents`).
    const found = await this.#documents.collection<JournalDocument>(JOURNAL_COLLECTION).findOne({ _id: { $gt: `${run}:`, $lt: `${run}:~` }, seq: { $exists: true } }, { sort: { _id: -1 } })
    if (!found) return null
    const { _id, seq, ...change } = found
    return { ...change, run, seq: Number(seq) } as unknown as JournalEntry
  }

  async replacedCollections(run: string): Promise<string[]> {
    const names = await this.#journal.distinct('collection', { run, op: { $in: ['createCollection', 'empty'] } })
    return names.map(String)
  }

  async deleteEntry(run: string, seq: number): Promise<void> {
    await this.#journal.deleteOne({ _id: entryId(run, seq) }, DURABLE)
  }

  async journalRuns(): Promise<string[]> {
    const runs = await this.#journal.distinct('run', { _id: { $ne: LOCK_ID } })
    return runs.map(String)
  }

  async markCommitted(run: string): Promise<void> {
    const session = this.#session()
    const marker = { _id: `${run}:commit`, run, committedAt: new Date() }
    if (session?.inTransaction()) await this.#journal.insertOne(marker, { session })
    else await this.#journal.insertOne(marker, DURABLE)
  }

  async isCommitted(run: string): Promise<boolean> {
    return (await this.#journal.countDocuments({ _id: `${run}:commit` }, { readConcern: { level: 'majority' } })) > 0
  }

  async forgetRun(run: string): Promise<void> {
    await this.#journal.deleteMany({ run }, DURABLE)
  }

  async endSession(sessionId: unknown): Promise<void> {
    await this.#db.admin().command({ killSessions: [sessionId] })
  }

  async collectionNames(prefix: string): Promise<string[]> {
    const collections = await this.#db.listCollections({}, { nameOnly: true }).toArray()
    return collections.map((collection) => collection.name).filter((name) => name.startsWith(prefix))
  }

  async collectionExists(name: string): Promise<boolean> {
    return (await this.#db.listCollections({ name }, { nameOnly: true }).toArray()).length > 0
  }

  async dropCollection(name: string): Promise<void> {
    try {
      await this.#db.command({ drop: name, writeConcern: DURABLE.writeConcern })
    } catch (error) {
      if (errorCode(error) !== 26) throw error // NamespaceNotFound
    }
  }

  async renameCollection(from: string, to: string): Promise<void> {
    await this.#db.renameCollection(from, to, { dropTarget: false, ...DURABLE })
  }

  async dropIndex(collection: string, index: string): Promise<void> {
    try {
      await this.#db.command({ dropIndexes: collection, index, writeConcern: DURABLE.writeConcern })
    } catch (error) {
      const code = errorCode(error)
      if (code !== 26 && code !== 27) throw error // NamespaceNotFound, IndexNotFound
    }
  }

  async deleteByIds(collection: string, ids: readonly unknown[]): Promise<void> {
    await this.#db.collection(collection).deleteMany(byIds(ids), DURABLE)
  }

  async savePreImages(shadow: string, documents: readonly BsonDocument[]): Promise<void> {
    try {
      await this.#db.collection(shadow).insertMany([...documents], { ordered: false, ...DURABLE })
    } catch (error) {
      const writeErrors = (error as { writeErrors?: unknown }).writeErrors
      const list = writeErrors === undefined ? [] : [writeErrors].flat()
      // Duplicate _id: that document's first pre-image is already saved, and it is the one to keep.
      if (list.length === 0 || list.some((writeError) => errorCode(writeError) !== 11000)) throw error
    }
  }

  async restorePreImages(shadow: string, collection: string, ids: readonly unknown[]): Promise<void> {
    const images = await this.#documents.collection(shadow).find(byIds(ids)).toArray()
    if (images.length === 0) return
    await this.#db.collection(collection).bulkWrite(
      images.map((image) => ({ replaceOne: { filter: { _id: image._id }, replacement: image, upsert: true } })),
      { ordered: false, ...DURABLE },
    )
  }
}

function byIds(ids: readonly unknown[]): Filter<Document> {
  return { _id: { $in: [...ids] } } as Filter<Document>
}

function entryId(run: string, seq: number): string {
  return `${run}:${String(seq).padStart(10, '0')}`
}
