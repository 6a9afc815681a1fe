/**
 * The three-way merge (issue #18 part 1) on the worked example of docs/merge.md — the seed's
 * "Environment Sync": a development database cloned from Monday's production backup, Friday's
 * production backup merged into it with Monday's as the base — through the library (SQLite and
 * PostgreSQL), the CLI and the API: the decision table's classes, three values per conflict, the
 * manual strategy, --apply-deletions (children before parents), plans and stale plans, dry run,
 * and each bad input refused before anything is written.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { analyze, merge } from '../../../src/engine/merge.js'
import { MergeRefusedError, UsageError } from '../../../src/errors.js'
import type { MergeReport } from '../../../src/merge/report.js'
import { runCli } from '../../helpers/cli.js'
import { createToken, startTestServer, type TestServer } from '../server/server-helpers.js'
import { createTestDb, makeBackup, readTable, scratch, snapshot, type EngineName, type TestDb } from './harness.js'

const SETUP = `
  CREATE TABLE "Team" (id integer PRIMARY KEY, name text);
  CREATE TABLE "User" (id text PRIMARY KEY, name text, email text, role text, "teamId" integer REFERENCES "Team"(id), "updatedAt" text);`
/** Monday's production: the base, and what development was cloned from. */
const MONDAY = `
  INSERT INTO "Team" VALUES (1, 'Core'), (2, 'Ops');
  INSERT INTO "User" VALUES
    ('u1', 'Ann', 'ann@example.com', 'user',  1, '2024-01-15T09:00:00Z'),
    ('u2', 'Bob', 'bob@example.com', 'user',  1, '2024-01-15T09:00:00Z'),
    ('u3', 'Cid', 'cid@example.com', 'user',  1, '2024-01-15T09:00:00Z'),
    ('u4', 'Dee', 'dee@example.com', 'user',  1, '2024-01-15T09:00:00Z'),
    ('u5', 'Eve', 'eve@example.com', 'user',  1, '2024-01-15T09:00:00Z'),
    ('u6', 'Fay', 'fay@example.com', 'user',  1, '2024-01-15T09:00:00Z'),
    ('u7', 'Gus', 'gus@example.com', 'user',  2, '2024-01-15T09:00:00Z'),
    ('u9', 'Ivy', 'ivy@example.com', 'user',  1, '2024-01-15T09:00:00Z');`
/** What production did by Friday (the backup). */
const PRODUCTION = `
  UPDATE "User" SET email = 'ann@corp.example', "updatedAt" = '2024-01-19T10:00:00Z' WHERE id = 'u1';
  DELETE FROM "User" WHERE id = 'u2';
  UPDATE "User" SET name = 'Cyd', "updatedAt" = '2024-01-19T11:00:00Z' WHERE id = 'u3';
  UPDATE "User" SET role = 'admin', "updatedAt" = '2024-01-19T12:00:00Z' WHERE id = 'u4';
  DELETE FROM "User" WHERE id = 'u7';
  DELETE FROM "Team" WHERE id = 2;
  UPDATE "User" SET role = 'owner' WHERE id = 'u9';
  INSERT INTO "User" VALUES ('u8', 'Hal', 'hal@example.com', 'user', 1, '2024-01-19T13:00:00Z');`
/** What development did meanwhile (the database merged into). */
const DEVELOPMENT = `
  UPDATE "User" SET name = 'Cid (test)', "updatedAt" = '2024-01-17T08:00:00Z' WHERE id = 'u3';
  DELETE FROM "User" WHERE id = 'u4';
  UPDATE "User" SET email = 'eve@dev.local', "updatedAt" = '2024-01-16T08:00:00Z' WHERE id = 'u5';
  DELETE FROM "User" WHERE id = 'u6';
  UPDATE "User" SET role = 'tester', "updatedAt" = '2024-01-16T09:00:00Z' WHERE id = 'u7';
  UPDATE "User" SET role = 'owner' WHERE id = 'u9';
  INSERT INTO "User" VALUES ('d1', 'Dev Tester', 'test@dev.local', 'admin', 1, '2024-01-16T10:00:00Z');`
const TABLES = { Team: ['id'], User: ['id'] }

/** Counts of a three-way report, every field given. */
function counts3(partial: Partial<Record<'new' | 'unchanged' | 'updated' | 'kept' | 'conflicts' | 'unresolved' | 'currentOnly' | 'deletedInBackup' | 'deletedHere' | 'deleted', number>> & { resolved?: { backup?: number; current?: number; merged?: number } }) {
  return {
    new: partial.new ?? 0,
    unchanged: partial.unchanged ?? 0,
    updated: partial.updated ?? 0,
    kept: partial.kept ?? 0,
    conflicts: partial.conflicts ?? 0,
    resolved: { backup: partial.resolved?.backup ?? 0, current: partial.resolved?.current ?? 0, merged: partial.resolved?.merged ?? 0 },
    unresolved: partial.unresolved ?? 0,
    currentOnly: partial.currentOnly ?? 0,
    deletedInBackup: partial.deletedInBackup ?? 0,
    deletedHere: partial.deletedHere ?? 0,
    deleted: partial.deleted ?? 0,
  }
}

/** Sets up the example: returns the base and backup files; the database is left in development's state. */
async function example(db: TestDb, dir: string): Promise<{ base: string; backup: string }> {
  await db.exec(SETUP + MONDAY)
  const base = await makeBackup(db, path.join(dir, 'prod-monday.json'))
  await db.exec(PRODUCTION)
  // Backups name their time to the millisecond: make sure Friday's is later.
  await new Promise((resolve) => setTimeout(resolve, 5))
  const backup = await makeBackup(db, path.join(dir, 'prod-friday.json'))
  await db.exec(`DELETE FROM "User"; DELETE FROM "Team";` + MONDAY + DEVELOPMENT)
  return { base, backup }
}

const names = (rows: readonly Record<string, unknown>[]) => rows.map((r) => `${r.id}:${r.name}:${r.email}:${r.role}`)

describe.each<EngineName>(['sqlite', 'postgres'])('three-way merge, the worked example (%s)', (engine) => {
  let db: TestDb
  let tmp: ReturnType<typeof scratch>
  let files: { base: string; backup: string }
  beforeEach(async () => {
    db = await createTestDb(engine)
    tmp = scratch()
    files = await example(db, tmp.dir)
  })
  afterEach(async () => {
    await db?.drop()
    tmp?.cleanup()
  })

  it('analyze --base classifies every record by which side changed it, and lists conflicts with three values', async () => {
    const before = await snapshot(db, TABLES)
    const report = await analyze(files.backup, db.url, { base: files.base })
    expect(report.tables.User).toEqual(
      counts3({ new: 1, updated: 1, kept: 1, unchanged: 1, conflicts: 3, resolved: { backup: 2, current: 1 }, currentOnly: 1, deletedInBackup: 1, deletedHere: 1 }),
    )
    expect(report.tables.Team).toEqual(counts3({ unchanged: 1, deletedInBackup: 1 }))
    expect(report.conflicts).toEqual([
      { table: 'User', key: 'u3', kind: 'modify/modify', resolution: 'backup', fields: [
        { name: 'name', base: 'Cid', backup: 'Cyd', current: 'Cid (test)' },
        { name: 'updatedAt', base: '2024-01-15T09:00:00Z', backup: '2024-01-19T11:00:00Z', current: '2024-01-17T08:00:00Z' },
      ] },
      { table: 'User', key: 'u4', kind: 'modify/delete', resolution: 'backup', fields: [
        { name: 'role', base: 'user', backup: 'admin', current: null },
        { name: 'updatedAt', base: '2024-01-15T09:00:00Z', backup: '2024-01-19T12:00:00Z', current: null },
      ] },
      { table: 'User', key: 'u7', kind: 'delete/modify', resolution: 'current', fields: [
        { name: 'role', base: 'user', backup: null, current: 'tester' },
        { name: 'updatedAt', base: '2024-01-15T09:00:00Z', backup: null, current: '2024-01-16T09:00:00Z' },
      ] },
    ])
    expect(await snapshot(db, TABLES)).toEqual(before)
  })

  it('merge applies exactly the analysis: one-sided changes from each side, nothing deleted', async () => {
    const analysis = await analyze(files.backup, db.url, { base: files.base })
    const dry = await merge(files.backup, db.url, { base: files.base, dryRun: true })
    expect(dry).toEqual(analysis)
    const report = await merge(files.backup, db.url, { base: files.base })
    expect(report).toEqual(analysis)
    expect(names(await readTable(db, 'User', ['id']))).toEqual([
      'd1:Dev Tester:test@dev.local:admin', // development's own: kept
      'u1:Ann:ann@corp.example:user', // changed in production only: taken
      'u2:Bob:bob@example.com:user', // deleted in production, unchanged here: kept (no --apply-deletions)
      'u3:Cyd:cid@example.com:user', // both changed the name: the strategy (backup_wins) decides
      'u4:Dee:dee@example.com:admin', // deleted here, changed in production: backup_wins brings it back
      'u5:Eve:eve@dev.local:user', // changed here only: kept
      'u7:Gus:gus@example.com:tester', // deleted in production, changed here: kept
      'u8:Hal:hal@example.com:user', // new in production
      'u9:Ivy:ivy@example.com:owner', // the same change on both sides
    ])
    // u6 was deleted here and unchanged in production: it stays deleted (a two-way merge would bring it back).
    const again = await analyze(files.backup, db.url, { base: files.base })
    expect(again.tables.User.new).toBe(0)
    expect(again.tables.User.deletedHere).toBe(1)
  })

  it('--apply-deletions deletes what production deleted and development did not touch, children first', async () => {
    const analysis = await analyze(files.backup, db.url, { base: files.base, applyDeletions: true })
    expect(analysis.tables.User).toMatchObject({ deletedInBackup: 1, deleted: 2, resolved: { backup: 3, current: 0 } })
    expect(analysis.tables.Team).toMatchObject({ deletedInBackup: 1, deleted: 1 })
    const report = await merge(files.backup, db.url, { base: files.base, applyDeletions: true })
    expect(report).toEqual(analysis)
    const users = (await readTable(db, 'User', ['id'])).map((r) => r.id)
    // u2 deleted (unchanged here); u7 (changed here) deleted by backup_wins, which --apply-deletions allows; then Team 2, its parent.
    expect(users).toEqual(['d1', 'u1', 'u3', 'u4', 'u5', 'u8', 'u9'])
    expect((await readTable(db, 'Team', ['id'])).map((r) => Number(r.id))).toEqual([1])
  })

  it('all or nothing: a deletion that would orphan a row added here fails, names the foreign key, and changes nothing', async () => {
    await db.exec(`INSERT INTO "User" VALUES ('d2', 'Ops Tester', 'ops@dev.local', 'user', 2, '2024-01-16T11:00:00Z')`)
    const before = await snapshot(db, TABLES)
    const analysis = await analyze(files.backup, db.url, { base: files.base, applyDeletions: true })
    expect(analysis.tables.Team.deleted).toBe(1)
    const error = await merge(files.backup, db.url, { base: files.base, applyDeletions: true, dryRun: true }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(/foreign key|FOREIGN KEY|violates/i)
    await expect(merge(files.backup, db.url, { base: files.base, applyDeletions: true })).rejects.toThrow(/foreign key|FOREIGN KEY|violates/i)
    expect(await snapshot(db, TABLES)).toEqual(before)
  })

  it('the manual strategy lists each conflict with base, backup and current, refuses unresolved, applies resolutions', async () => {
    const analysis = await analyze(files.backup, db.url, { base: files.base, strategy: 'manual' })
    expect(analysis.totals.unresolved).toBe(3)
    expect(analysis.conflicts.every((c) => c.resolution === 'unresolved' && c.fields.every((f) => 'base' in f && 'backup' in f && 'current' in f))).toBe(true)
    const before = await snapshot(db, TABLES)
    await expect(merge(files.backup, db.url, { base: files.base, strategy: 'manual' })).rejects.toBeInstanceOf(MergeRefusedError)
    expect(await snapshot(db, TABLES)).toEqual(before)
    // An explicit "backup" for a record deleted in the backup would delete it: that needs --apply-deletions.
    await expect(
      merge(files.backup, db.url, { base: files.base, strategy: 'manual', resolutions: [{ table: 'User', key: 'u7', resolution: 'backup' }] }),
    ).rejects.toThrow(/--apply-deletions/)
    expect(await snapshot(db, TABLES)).toEqual(before)
    const resolutions = [
      { table: 'User', key: 'u3', resolution: { fields: { name: 'Cyd (test)' } } },
      { table: 'User', key: 'u4', resolution: 'current' },
      { table: 'User', key: 'u7', resolution: 'merge' },
    ]
    const report = await merge(files.backup, db.url, { base: files.base, strategy: 'manual', resolutions })
    expect(report.totals).toMatchObject({ conflicts: 3, unresolved: 0, resolved: { backup: 0, current: 1, merged: 2 } })
    const users = await readTable(db, 'User', ['id'])
    expect(users.find((u) => u.id === 'u3')?.name).toBe('Cyd (test)')
    expect(users.some((u) => u.id === 'u4')).toBe(false)
    expect(users.find((u) => u.id === 'u7')?.role).toBe('tester')
  })

  it('plans: analyze --plan with a base, merge --plan needs the same base, refuses a stale plan', async () => {
    const plan = tmp.file('sync.plan')
    const analysis = await analyze(files.backup, db.url, { base: files.base, applyDeletions: true, plan })
    await expect(merge(files.backup, db.url, { plan })).rejects.toThrow(/give it again with --base/)
    await expect(merge(files.backup, db.url, { plan, base: files.base, applyDeletions: true })).rejects.toBeInstanceOf(UsageError)
    await expect(merge(files.backup, db.url, { plan, base: files.backup })).rejects.toMatchObject({ reason: 'stale-plan' })
    // A record the plan deletes changed meanwhile: stale, nothing changed.
    await db.exec(`UPDATE "User" SET name = 'Bobby' WHERE id = 'u2'`)
    const before = await snapshot(db, TABLES)
    await expect(merge(files.backup, db.url, { plan, base: files.base })).rejects.toMatchObject({ reason: 'stale-plan' })
    expect(await snapshot(db, TABLES)).toEqual(before)
    await db.exec(`UPDATE "User" SET name = 'Bob' WHERE id = 'u2'`)
    expect(await merge(files.backup, db.url, { plan, base: files.base })).toEqual(analysis)
    expect((await readTable(db, 'User', ['id'])).some((u) => u.id === 'u2')).toBe(false)
  })

  it('bad input is refused before anything is written', async () => {
    const before = await snapshot(db, TABLES)
    await expect(merge(files.backup, db.url, { applyDeletions: true })).rejects.toThrow(/--apply-deletions needs --base/)
    // A base newer than the backup.
    await expect(merge(files.base, db.url, { base: files.backup })).rejects.toThrow(/made after the backup/)
    // A base from another database: no table in common.
    const other = await createTestDb(engine)
    try {
      await other.exec(`CREATE TABLE "Invoice" (id integer PRIMARY KEY, total integer); INSERT INTO "Invoice" VALUES (1, 10);`)
      const foreign = await makeBackup(other, tmp.file('other.json'))
      const err = await merge(files.backup, db.url, { base: foreign }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(UsageError)
      expect((err as Error).message).toMatch(engine === 'postgres' ? /backup of the database/ : /none of the tables merged/)
      if (engine === 'sqlite') {
        // The same table keyed differently (SQLite files of the same name: the metadata cannot tell them apart).
        await other.exec(`DROP TABLE "Invoice"; CREATE TABLE "User" (email text PRIMARY KEY, id text, name text);`)
        const rekeyed = await makeBackup(other, tmp.file('rekeyed.json'))
        await expect(merge(files.backup, db.url, { base: rekeyed })).rejects.toThrow(/"User" is keyed by email there and by id in the backup/)
      }
    } finally {
      await other.drop()
    }
    await expect(merge(files.backup, db.url, { base: tmp.file('missing.json') })).rejects.toThrow(/does not exist/)
    expect(await snapshot(db, TABLES)).toEqual(before)
  })
})

describe('three-way merge through the CLI and the API (SQLite)', () => {
  let db: TestDb
  let tmp: ReturnType<typeof scratch>
  let files: { base: string; backup: string }
  let server: TestServer | undefined
  beforeAll(async () => {
    db = await createTestDb('sqlite')
    tmp = scratch()
    files = await example(db, tmp.dir)
  })
  afterAll(async () => {
    await server?.stop()
    await db?.drop()
    tmp?.cleanup()
  })
  const cli = (...args: string[]) => runCli([...args, '--db', db.url], { cwd: tmp.dir })

  it('analyze --base --json and the text report with three values; exit 2 for --apply-deletions without --base', async () => {
    const json = await cli('analyze', files.backup, '--base', files.base, '--json')
    expect(json.code, json.stderr).toBe(0)
    const report = json.json<MergeReport>()
    expect(report.totals).toMatchObject({ deletedInBackup: 2, deletedHere: 1, deleted: 0, conflicts: 3 })
    const text = await cli('analyze', files.backup, '--base', files.base)
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain('three-way, base')
    expect(text.stdout).toMatch(/deleted in backup/)
    expect(text.stdout).toContain('User "u3" (modify/modify): → backup')
    expect(text.stdout).toMatch(/name: base Cid {2}backup Cyd {2}current Cid \(test\)/)
    expect(text.stdout).toMatch(/role: base user {2}backup \(deleted\) {2}current tester/)
    const bad = await cli('merge', files.backup, '--apply-deletions', '--yes', '--json')
    expect(bad.code).toBe(2)
    expect(bad.json()).toMatchObject({ success: false, code: 'BAD_BASE' })
  })

  it('the API takes base and applyDeletions; applying deletions needs super_admin', async () => {
    server = await startTestServer({ db: db.url })
    fs.mkdirSync(server.dir, { recursive: true })
    fs.copyFileSync(files.base, path.join(server.dir, 'prod-monday.json'))
    fs.copyFileSync(files.backup, path.join(server.dir, 'prod-friday.json'))
    const admin = await createToken(server.root, 'admin3', 'admin')
    const superAdmin = await createToken(server.root, 'super3', 'super_admin')
    const call = (token: string, action: string, options: object) =>
      server!.request('/api/admin/backup/merge', { method: 'POST', token, json: { action, filename: 'prod-friday.json', options: { base: 'prod-monday.json', ...options } } })
    const analysis = await call(admin, 'analyze', { applyDeletions: true })
    expect(analysis.status).toBe(200)
    const body = (await analysis.json()) as MergeReport & { success: boolean }
    expect(body.totals).toMatchObject({ deletedInBackup: 2, deleted: 3 })
    expect(body.conflicts.find((c) => c.key === 'u3')?.fields[0]).toEqual({ name: 'name', base: 'Cid', backup: 'Cyd', current: 'Cid (test)' })
    expect((await call(admin, 'merge', { applyDeletions: true })).status).toBe(403)
    const merged = await call(superAdmin, 'merge', { applyDeletions: true })
    expect(merged.status, await merged.clone().text()).toBe(200)
    expect((await readTable(db, 'User', ['id'])).map((r) => r.id)).toEqual(['d1', 'u1', 'u3', 'u4', 'u5', 'u8', 'u9'])
  })

  it('a saved plan that applies deletions needs super_admin to merge, though an admin may make it', async () => {
    // The server of the test above; its merge already applied the deletions, the plan still says it deletes.
    const admin = await createToken(server!.root, 'admin4', 'admin')
    const superAdmin = await createToken(server!.root, 'super4', 'super_admin')
    const call = (token: string, action: string, options: object) =>
      server!.request('/api/admin/backup/merge', { method: 'POST', token, json: { action, filename: 'prod-friday.json', options: { base: 'prod-monday.json', ...options } } })
    const analysis = await call(admin, 'analyze', { applyDeletions: true, savePlan: true })
    expect(analysis.status, await analysis.clone().text()).toBe(200)
    const { planId } = (await analysis.json()) as { planId: string }
    expect(planId).toMatch(/^p_/)
    const before = await readTable(db, 'User', ['id'])
    const refused = await call(admin, 'merge', { plan: planId })
    expect(refused.status).toBe(403)
    expect(await refused.text()).toContain('applies deletions')
    expect(await readTable(db, 'User', ['id'])).toEqual(before)
    const merged = await call(superAdmin, 'merge', { plan: planId })
    expect(merged.status, await merged.clone().text()).toBe(200)
  })
})
