/**
 * kill -9 of the CLI in the middle of a restore and of a merge into a MongoDB server without
 * transactions (FerretDB here), issue #15. The undo journal must make the next run leave the
 * database exactly as it was before the crashed run, then do its own work.
 *
 * The crash points are exact: mongodb-crash-hook.mjs, preloaded into the CLI, makes it SIGKILL
 * itself right after the n-th journal entry of a kind, the rename of --drop, a data insert, a
 * merge update, or the commit marker. One more run is killed from outside at whatever point it
 * has reached. Then:
 * - the lock names the dead process (a stale lock);
 * - a read session (what a backup or `stats` opens) completes the rollback, and the database is
 *   byte for byte what it was before the crashed run (or, killed after the commit marker, what the
 *   finished run leaves);
 * - the next CLI run of the same command reports the recovery and succeeds, leaving what a run
 *   that never crashed leaves.
 * And: a live writer (a CLI run stopped with SIGSTOP, holding the lock) makes a second run fail
 * as busy (exit 1) and finishes fine when continued; a lock left by a dead run on another host is
 * taken over once its heartbeat is old, and refused while it is fresh.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Int32, ObjectId, type Document } from 'mongodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMongodbAdapter } from '../../../src/adapters/mongodb/mongodb-adapter.js'
import { JOURNAL_COLLECTION } from '../../../src/adapters/mongodb/mongodb-journal.js'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { REPO_ROOT, runCli, type CliResult } from '../../helpers/cli.js'
import { mongodbSkipReason } from '../../helpers/mongodb-server.js'
import { coll, dbState, MongoTestRig, type MongoTestDatabase } from './mongodb-helpers.js'

const SKIPPED = mongodbSkipReason()
const HOOK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'mongodb-crash-hook.mjs')
const BIN = path.join(REPO_ROOT, 'bin/mergeback.js')
const rig = new MongoTestRig()
const adapter = createMongodbAdapter({ writeMode: 'journal' })

const oid = (n: number) => new ObjectId(n.toString(16).padStart(24, '0'))
const ORDERS = 1500 // two insert chunks of ≤ 1000
const at = (iso: string) => new Date(iso)

const PEOPLE: Document[] = Array.from({ length: 8 }, (_, i) => ({
  _id: oid(i + 1),
  name: `person ${i + 1}`,
  email: `p${i + 1}@example.com`,
  visits: new Int32(i),
  updatedAt: at('2025-01-01T00:00:00Z'),
}))

/** A crashed CLI run: how it ended and the pid the lock should name. */
interface Crashed {
  readonly pid: number
  readonly signal: NodeJS.Signals | null
  readonly code: number | null
  /** stdout and stderr. */
  readonly output: string
}

/** Runs the CLI with the crash hook; resolves when it has died (or exited, which the caller rejects). */
function runToCrash(args: readonly string[], crashAt: string): Promise<Crashed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', HOOK, BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, MERGEBACK_TEST_CRASH_AT: crashAt, MERGEBACK_DIR: rig.tempDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code, signal) => resolve({ pid: child.pid!, code, signal, output }))
  })
}

let source: MongoTestDatabase
let file: string

/** A target for restore crashes: people edited, 500 of the orders, an extra collection, no `notes`. */
async function restoreTarget(): Promise<MongoTestDatabase> {
  const target = rig.freshDatabase()
  await restore({ file, db: target.url, tables: ['people', 'orders'] })
  await coll(target.db, 'orders').deleteMany({ _id: { $gt: new Int32(500) } })
  await coll(target.db, 'people').updateOne({ _id: oid(1) }, { $set: { name: 'edited in the target' } })
  await coll(target.db, 'people').insertOne({ _id: oid(99), name: 'only in the target', email: 'only@example.com' })
  await coll(target.db, 'extra').insertOne({ _id: 'kept', note: 'not in the backup' })
  return target
}

/** A target for merge crashes: some documents older than the backup's, some deleted, some newer. */
async function mergeTarget(): Promise<MongoTestDatabase> {
  const target = rig.freshDatabase()
  await restore({ file, db: target.url, tables: ['people', 'orders'] })
  const people = coll(target.db, 'people')
  for (const n of [1, 2, 3]) await people.updateOne({ _id: oid(n) }, { $set: { name: `older ${n}`, updatedAt: at('2020-01-01T00:00:00Z') } })
  await people.updateOne({ _id: oid(4) }, { $set: { name: 'newer', updatedAt: at('2030-01-01T00:00:00Z') } })
  await people.deleteOne({ _id: oid(5) })
  await coll(target.db, 'orders').deleteMany({ _id: { $gt: new Int32(1200) } })
  return target
}

const RESTORE = (target: MongoTestDatabase) => ['restore', file, '--db', target.url, '--drop', '--yes', '--tables', 'people,orders,notes', '--json']
const MERGE = (target: MongoTestDatabase) => ['merge', file, '--db', target.url, '--exclude', 'notes', '--yes', '--json']

/** What a run that never crashed leaves, on a twin of the target. */
const cleanResult = new Map<string, Record<string, unknown>>()
async function cleanStateOf(kind: 'restore' | 'merge'): Promise<Record<string, unknown>> {
  if (!cleanResult.has(kind)) {
    const twin = kind === 'restore' ? await restoreTarget() : await mergeTarget()
    const result = await runCli(kind === 'restore' ? RESTORE(twin) : MERGE(twin))
    expect(result.code, result.stderr).toBe(0)
    cleanResult.set(kind, await dbState(twin.db))
  }
  return cleanResult.get(kind)!
}

/** The read session a backup or `stats` opens: it completes an abandoned journal first and says so. */
async function recoverByReading(target: MongoTestDatabase): Promise<readonly string[]> {
  const reader = await adapter.openSource(target.config)
  try {
    return (await reader.describe()).warnings
  } finally {
    await reader.close()
  }
}

async function expectStaleLock(target: MongoTestDatabase, crashed: Crashed): Promise<void> {
  expect(crashed.signal, `the run should have been killed, it exited ${crashed.code}: ${crashed.output}`).toBe('SIGKILL')
  const lock = await coll(target.db, JOURNAL_COLLECTION).findOne({ _id: 'lock' })
  expect(Number(lock?.pid)).toBe(crashed.pid)
}

function expectRecoveryReported(result: CliResult): void {
  expect(result.code, result.stderr).toBe(0)
  expect(result.stdout + result.stderr).toMatch(/interrupted mergeback run \(pid \d+ .*rolled back \(\d+ changes? undone\)/)
}

describe.skipIf(SKIPPED !== undefined)(SKIPPED ? `MongoDB crash recovery through the CLI — ${SKIPPED}` : 'MongoDB crash recovery through the CLI (kill -9)', () => {
  beforeAll(async () => {
    await rig.start()
    source = rig.freshDatabase()
    await coll(source.db, 'people').insertMany(PEOPLE)
    await coll(source.db, 'people').createIndexes([{ key: { email: 1 }, name: 'email_unique', unique: true }])
    for (let start = 1; start <= ORDERS; start += 1000) {
      const docs = Array.from({ length: Math.min(1000, ORDERS - start + 1) }, (_, i) => ({ _id: new Int32(start + i), customer: oid(1 + ((start + i) % 8)), total: new Int32(start + i) }))
      await coll(source.db, 'orders').insertMany(docs)
    }
    await coll(source.db, 'notes').insertOne({ _id: 'n1', text: 'a collection the targets lack' })
    file = (await backup({ db: source.url, out: path.join(rig.tempDir(), 'crm.json') })).file
  })

  afterAll(() => rig.stop())

  describe('restore --drop, killed', () => {
    // Each point is recovered one of two ways: by a read session (then the database must be exactly
    // as before), or by the next restore itself (then it must be what a run that never crashed leaves).
    it.each([
      ['after the first emptying is journaled, before its rename', 'entry-empty:1', 'a reader'],
      ['after a collection was renamed away, before it is recreated', 'rename:1', 'the next run'],
      ['after the new collection is journaled, before it is created', 'entry-createCollection:1', 'a reader'],
      ['after the second chunk of documents went in', 'insertMany:2', 'the next run'],
      ['right before the third chunk is inserted', 'entry-insert:3', 'a reader'],
    ] as const)('%s (%s), recovered by %s', async (_point, crashAt, by) => {
      const target = await restoreTarget()
      const before = await dbState(target.db)
      const crashed = await runToCrash(RESTORE(target), crashAt)
      await expectStaleLock(target, crashed)
      if (by === 'a reader') {
        expect((await recoverByReading(target)).join('\n')).toMatch(new RegExp(`interrupted mergeback run \\(pid ${crashed.pid} `))
        expect(await dbState(target.db)).toEqual(before)
      } else {
        expectRecoveryReported(await runCli(RESTORE(target)))
        expect(await dbState(target.db)).toEqual(await cleanStateOf('restore'))
      }
      await rig.expectNoLeftovers(target.db)
    })

    it('after the commit marker: the restore stands, the next run only cleans up', async () => {
      const target = await restoreTarget()
      const crashed = await runToCrash(RESTORE(target), 'commit:1')
      await expectStaleLock(target, crashed)
      expect((await recoverByReading(target)).join('\n')).toContain('A committed mergeback run')
      expect(await dbState(target.db)).toEqual(await cleanStateOf('restore'))
      await rig.expectNoLeftovers(target.db)
    })

    it('killed from outside at whatever point it reached: the database is as before', async () => {
      const target = await restoreTarget()
      const before = await dbState(target.db)
      const child = spawn(process.execPath, [BIN, ...RESTORE(target)], { cwd: REPO_ROOT, env: { ...process.env, MERGEBACK_DIR: rig.tempDir() }, stdio: 'ignore' })
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
      // Wait until it has started changing things (its first journal entry, in prepare: the whole
      // restore is still ahead, so it cannot finish first), then kill it wherever it is.
      const journal = rig.client.db(target.name).collection(JOURNAL_COLLECTION)
      for (let i = 0; i < 1200 && child.exitCode === null; i++) {
        if ((await journal.countDocuments({ op: { $exists: true } })) > 0) break
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      child.kill('SIGKILL')
      expect(await exited).toBe('SIGKILL')
      expect(await coll(target.db, JOURNAL_COLLECTION).findOne({ _id: 'lock' })).not.toBeNull()
      await recoverByReading(target)
      expect(await dbState(target.db)).toEqual(before)
      await rig.expectNoLeftovers(target.db)
    })
  })

  describe('merge, killed', () => {
    it.each([
      ['after the pre-images are saved, before the updates', 'entry-update:1', 'a reader'],
      ['after the updates were written', 'bulkWrite:1', 'a reader'],
      ['after the new documents went in', 'insertMany:1', 'the next run'],
    ] as const)('%s (%s), recovered by %s', async (_point, crashAt, by) => {
      const target = await mergeTarget()
      const before = await dbState(target.db)
      const crashed = await runToCrash(MERGE(target), crashAt)
      await expectStaleLock(target, crashed)
      if (by === 'a reader') {
        await recoverByReading(target)
        expect(await dbState(target.db)).toEqual(before)
      } else {
        const next = await runCli(MERGE(target))
        expectRecoveryReported(next)
        expect(next.json().tables.people).toMatchObject({ new: 1, updated: 3, kept: 1 })
        expect(await dbState(target.db)).toEqual(await cleanStateOf('merge'))
      }
      await rig.expectNoLeftovers(target.db)
    })
  })

  describe('the lock', () => {
    it('a live writer makes a second run fail as busy; continued, the first one finishes', async () => {
      const target = await restoreTarget()
      const child = spawn(process.execPath, ['--import', HOOK, BIN, ...RESTORE(target)], {
        cwd: REPO_ROOT,
        env: { ...process.env, MERGEBACK_TEST_CRASH_AT: 'insertMany:1:stop', MERGEBACK_DIR: rig.tempDir() },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      // SIGSTOP: the process is alive and holds the lock, in the middle of its writes.
      await new Promise<void>((resolve) => child.stderr.on('data', (chunk: Buffer) => chunk.toString().includes('stopping') && resolve()))
      try {
        const second = await runCli(RESTORE(target))
        expect(second.code).toBe(1)
        const failure = JSON.parse(second.stdout) as { code: string; error: string }
        expect(failure.code).toBe('BUSY')
        expect(failure.error).toContain(`Another mergeback run is writing to this database (pid ${child.pid} `)
      } finally {
        child.kill('SIGCONT')
      }
      expect(await exited).toBe(0)
      expect(await dbState(target.db)).toEqual(await cleanStateOf('restore'))
    })

    it("another host's lock: refused while its heartbeat is fresh, taken over and rolled back once it is stale", async () => {
      const target = await restoreTarget()
      const before = await dbState(target.db)
      const run = new ObjectId().toHexString()
      const journal = coll(target.db, JOURNAL_COLLECTION)
      const lock = (heartbeatAt: Date) => ({ _id: 'lock', owner: run, host: 'another-host', pid: 4242, startedAt: at('2026-01-01T00:00:00Z'), heartbeatAt, sessionId: null })
      // A run on another host that inserted one document and then went silent.
      await journal.insertOne(lock(new Date()))
      await journal.insertOne({ _id: `${run}:0000000001`, op: 'insert', collection: 'extra', ids: [oid(500)], run, seq: 1 })
      await coll(target.db, 'extra').insertOne({ _id: oid(500), note: 'written by the run on another host' })

      const busy = await runCli(RESTORE(target))
      expect(busy.code).toBe(1)
      expect(busy.json().error).toContain('(pid 4242 on another-host')
      expect(await coll(target.db, 'extra').findOne({ _id: oid(500) })).not.toBeNull()

      await journal.replaceOne({ _id: 'lock' }, lock(new Date(Date.now() - 10 * 60_000)))
      expectRecoveryReported(await runCli(RESTORE(target)))
      expect(await coll(target.db, 'extra').findOne({ _id: oid(500) })).toBeNull()
      expect((await dbState(target.db)).extra).toEqual(before.extra)
      expect(await dbState(target.db)).toEqual(await cleanStateOf('restore'))
    })
  })
})
