/**
 * `mergeback analyze` and `mergeback merge` as a user runs them (the built CLI, no terminal):
 * the exact --json report, the human table, confirmation, and the exit codes of DESIGN.md §6 —
 * 0 done, 1 failed (rolled back), 2 bad usage or input, 3 refused.
 */
import fs from 'node:fs'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { backup } from '../../../src/engine/backup.js'
import { counts, createTestDb, makeBackup, readTable, scratch, snapshot, type EngineName, type TestDb } from './harness.js'

const SETUP = `
  CREATE TABLE "Parent" (id integer PRIMARY KEY, name text);
  CREATE TABLE "User" (id text PRIMARY KEY, name text, "parentId" integer REFERENCES "Parent"(id), "updatedAt" text);
  INSERT INTO "Parent" VALUES (1, 'p1'), (2, 'p2');
  INSERT INTO "User" VALUES ('u1', 'Ann', 1, '2024-01-15T09:00:00Z'), ('u2', 'Bob', 2, '2024-01-15T09:00:00Z'), ('u3', 'Cid', NULL, NULL);`
const CHANGES = `
  DELETE FROM "User" WHERE id = 'u1';
  UPDATE "User" SET name = 'BOB' WHERE id = 'u2';
  UPDATE "User" SET name = 'CID' WHERE id = 'u3';`
const TABLES = { Parent: ['id'], User: ['id'] }

// The CLI is the same for every engine: everything runs on SQLite, and what touches the engine
// (reports, a rolled-back failure, a dry run) on PostgreSQL too, keeping the file quick.
const ON_POSTGRES = new Set(['analyze --json', 'dry run', 'failure'])

describe.each<EngineName>(['sqlite', 'postgres'])('analyze and merge through the CLI (%s)', (engine) => {
  const it = (name: string, tag: string, fn: () => Promise<void>) => (engine === 'sqlite' || ON_POSTGRES.has(tag) ? test(name, fn) : undefined)
  let db: TestDb
  let tmp: ReturnType<typeof scratch>
  let file: string
  beforeEach(async () => {
    db = await createTestDb(engine)
    tmp = scratch()
    await db.exec(SETUP)
    file = await makeBackup(db, tmp.file('b.json'))
    await db.exec(CHANGES)
  })
  afterEach(async () => {
    await db?.drop()
    tmp?.cleanup()
  })
  const cli = (...args: string[]) => runCli([...args, '--db', db.url], { cwd: tmp.dir })

  it('analyze --json prints exactly the §4 report and changes nothing', 'analyze --json', async () => {
    const before = await snapshot(db, TABLES)
    const result = await cli('analyze', file, '--json')
    expect(result.code, result.stderr).toBe(0)
    const report = result.json()
    expect(Object.keys(report)).toEqual(['tables', 'totals', 'conflicts', 'records'])
    expect(report.tables.User).toEqual(counts({ new: 1, conflicts: 2, resolved: { backup: 2 } }))
    expect(report.tables.Parent).toEqual(counts({ unchanged: 2 }))
    expect(report.conflicts.map((c: { key: string }) => c.key)).toEqual(['u2', 'u3'])
    expect(await snapshot(db, TABLES)).toEqual(before)
  })

  it('analyze without --json prints a table per table and the conflicts', 'human', async () => {
    const result = await cli('analyze', file)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/nothing was changed/)
    expect(result.stdout).toMatch(/^User\s+1\s+0\s+0\s+0\s+2\s+2\s+0\s+0\s+0\s+0$/m)
    expect(result.stdout).toMatch(/Conflicts \(2\):/)
    expect(result.stdout).toMatch(/name: backup Bob\s+current BOB/)
  })

  it('merge asks for confirmation: without a terminal and without --yes it refuses and changes nothing', 'confirm', async () => {
    const before = await snapshot(db, TABLES)
    const result = await cli('merge', file, '--json')
    expect(result.code).toBe(2)
    expect(result.json()).toMatchObject({ success: false, code: 'CONFIRMATION_REQUIRED' })
    expect(await snapshot(db, TABLES)).toEqual(before)
  })

  it('merge --dry-run needs no confirmation, reports what merge then does, and changes nothing', 'dry run', async () => {
    const before = await snapshot(db, TABLES)
    const dry = await cli('merge', file, '--dry-run', '--json')
    expect(dry.code, dry.stderr).toBe(0)
    expect(await snapshot(db, TABLES)).toEqual(before)
    const real = await cli('merge', file, '--yes', '--json')
    expect(real.code, real.stderr).toBe(0)
    expect(real.json()).toEqual(dry.json())
    expect((await readTable(db, 'User', ['id'])).map((u) => u.name)).toEqual(['Ann', 'Bob', 'Cid'])
  })

  it('manual: exit 3 with unresolved conflicts; resolutions and --skip-unresolved go through', 'manual', async () => {
    const refused = await cli('merge', file, '--strategy', 'manual', '--yes', '--json')
    expect(refused.code).toBe(3)
    expect(refused.json()).toMatchObject({ success: false, code: 'MERGE_REFUSED', details: { reason: 'unresolved-conflicts', unresolved: 2 } })
    const human = await cli('merge', file, '--strategy', 'manual', '--yes')
    expect(human.code).toBe(3)
    expect(human.stderr).toMatch(/2 conflicts are unresolved/)

    // The conflicts of analyze --json, each with a resolution added, are a resolutions file.
    const analysis = (await cli('analyze', file, '--strategy', 'manual', '--json')).json()
    const resolutions = analysis.conflicts.map((c: object, i: number) => ({ ...c, resolution: i === 0 ? 'current' : 'backup' }))
    fs.writeFileSync(tmp.file('resolutions.json'), JSON.stringify(resolutions))
    const resolved = await cli('merge', file, '--strategy', 'manual', '--resolutions', tmp.file('resolutions.json'), '--yes', '--json')
    expect(resolved.code, resolved.stderr).toBe(0)
    expect(resolved.json().totals).toMatchObject({ conflicts: 2, unresolved: 0, resolved: { backup: 1, current: 1, merged: 0 } })
    expect((await readTable(db, 'User', ['id'])).map((u) => u.name)).toEqual(['Ann', 'BOB', 'Cid'])
  })

  it('--skip-unresolved merges what is decided', 'skip', async () => {
    const result = await cli('merge', file, '--strategy', 'manual', '--skip-unresolved', '--yes', '--json')
    expect(result.code, result.stderr).toBe(0)
    expect((await readTable(db, 'User', ['id'])).map((u) => u.name)).toEqual(['Ann', 'BOB', 'CID'])
  })

  it('--no-preserve-newer and --timestamp-field reach the merge', 'flags', async () => {
    await db.exec(`UPDATE "User" SET "updatedAt" = '2024-01-16T09:00:00Z' WHERE id = 'u2'`)
    expect((await cli('analyze', file, '--json')).json().tables.User.kept).toBe(1)
    expect((await cli('analyze', file, '--no-preserve-newer', '--json')).json().tables.User.kept).toBe(0)
    const bad = await cli('analyze', file, '--timestamp-field', 'nope', '--json')
    expect(bad.code).toBe(2)
  })

  it('analyze --plan, then merge --plan; a stale plan exits 3 and changes nothing', 'plan', async () => {
    const plan = tmp.file('p.plan')
    const analysis = await cli('analyze', file, '--plan', plan, '--json')
    expect(analysis.code, analysis.stderr).toBe(0)
    expect(fs.existsSync(plan)).toBe(true)
    await db.exec(`UPDATE "User" SET name = 'Cidney' WHERE id = 'u3'`)
    const before = await snapshot(db, TABLES)
    const stale = await cli('merge', file, '--plan', plan, '--yes', '--json')
    expect(stale.code).toBe(3)
    expect(stale.json()).toMatchObject({ code: 'MERGE_REFUSED', details: { reason: 'stale-plan', table: 'User', key: 'u3' } })
    expect(await snapshot(db, TABLES)).toEqual(before)
    const withOptions = await cli('merge', file, '--plan', plan, '--strategy', 'current_wins', '--yes', '--json')
    expect(withOptions.code).toBe(2)

    await db.exec(`UPDATE "User" SET name = 'CID' WHERE id = 'u3'`)
    const applied = await cli('merge', file, '--plan', plan, '--yes', '--json')
    expect(applied.code, applied.stderr).toBe(0)
    expect(applied.json()).toEqual(analysis.json())
  })

  it('bad input exits 2: unknown strategy, unknown table, bad resolutions file, missing backup, drift', 'bad input', async () => {
    expect((await cli('analyze', file, '--strategy', 'theirs', '--json')).code).toBe(2)
    expect((await cli('analyze', file, '--tables', 'Nope', '--json')).code).toBe(2)
    fs.writeFileSync(tmp.file('r.json'), '{"not":"an array"}')
    const badResolutions = await cli('merge', file, '--strategy', 'manual', '--resolutions', tmp.file('r.json'), '--yes', '--json')
    expect(badResolutions.code).toBe(2)
    expect(badResolutions.json().error).toMatch(/JSON array/)
    expect((await cli('merge', file, '--resolutions', tmp.file('missing.json'), '--yes', '--json')).code).toBe(2)
    expect((await cli('analyze', tmp.file('missing-backup.json'), '--json')).code).toBe(2)
    await db.exec(`DROP TABLE "User"`)
    const drift = await cli('analyze', file, '--json')
    expect(drift.code).toBe(2)
    expect(drift.json().error).toMatch(/--exclude User/)
    expect((await cli('analyze', file, '--exclude', 'User', '--json')).code).toBe(0)
  })

  it('a failing merge exits 1, names the table and the cause, and changes nothing', 'failure', async () => {
    await db.exec(`DELETE FROM "User" WHERE id = 'u2'; DELETE FROM "Parent" WHERE id = 2;`)
    const before = await snapshot(db, TABLES)
    const result = await cli('merge', file, '--tables', 'User', '--yes', '--json')
    expect(result.code).toBe(1)
    const error = result.json()
    expect(error).toMatchObject({ success: false, code: 'DATABASE', details: { table: 'User' } })
    expect(await snapshot(db, TABLES)).toEqual(before)
  })

  it('FILE may be a backup name in the backup directory', 'dir', async () => {
    const dir = tmp.file('backups')
    await backup({ db: db.url, out: dir, name: 'daily' })
    const result = await cli('analyze', 'daily', '--dir', dir, '--json')
    expect(result.code, result.stderr).toBe(0)
    expect(result.json().totals.unchanged).toBe(4)
  })
})
