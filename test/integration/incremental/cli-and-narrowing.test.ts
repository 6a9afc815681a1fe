/**
 * Issue #18 part 2 through the CLI (`backup --incremental`, `--since`, `restore`/`inspect`/`verify`
 * of the last increment, `prune`), and `--changed-since-column`, which narrows the comparison to
 * recent rows only when asked (PostgreSQL computes the digests server-side; SQLite in the client).
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery } from '../../helpers/databases.js'
import { runCli } from '../../helpers/cli.js'
import { createToken, startTestServer, waitForJob } from '../server/server-helpers.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

describe('incremental backups from the CLI', () => {
  it('backs up incrementally, shows, verifies, restores the chain and prunes around it', async () => {
    const db = makeSqlitePath()
    cleanups.push(db.cleanup)
    const tmp = makeTempDir('mbincr-cli-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'backups')
    const conn = new Database(db.file)
    conn.exec(`CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO note VALUES (1, 'a'), (2, 'b'), (3, 'c');`)
    conn.close()
    const full = await runCli(['backup', '--db', db.url, '--dir', dir, '--name', 'app', '--json'])
    expect(full.code, full.stderr).toBe(0)
    const edit = new Database(db.file)
    edit.exec(`UPDATE note SET body = 'B' WHERE id = 2; DELETE FROM note WHERE id = 3; INSERT INTO note VALUES (4, 'd');`)
    edit.close()
    // The second backup of a second would take the same file name: wait for the next second.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const inc = await runCli(['backup', '--db', db.url, '--dir', dir, '--name', 'app', '--incremental'])
    expect(inc.code, inc.stderr).toBe(0)
    expect(inc.stdout).toMatch(/incremental \(link 1 of the chain of app-.*\.json\), since app-.*\.json: changed rows below, deleted keys: 1/)
    expect(inc.stdout).toContain('note: 2 rows')

    const shown = await runCli(['inspect', 'app', '--dir', dir])
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(/incremental: the final state of a chain of 2 links/)
    expect(shown.stdout).toMatch(/note\s+3\s/)
    const verified = await runCli(['verify', 'app', '--dir', dir, '--json'])
    expect(verified.code, verified.stderr).toBe(0)
    expect(verified.json().checks.filter((c: { check: string }) => c.check.startsWith('link '))).toHaveLength(2)

    const target = makeSqlitePath()
    cleanups.push(target.cleanup)
    const restored = await runCli(['restore', 'app', '--dir', dir, '--db', target.url, '--json'])
    expect(restored.code, restored.stderr).toBe(0)
    const rows = new Database(target.file).prepare('SELECT id, body FROM note ORDER BY id').all()
    expect(rows).toEqual([
      { id: 1, body: 'a' },
      { id: 2, body: 'B' },
      { id: 4, body: 'd' },
    ])

    const pruned = await runCli(['prune', '--dir', dir, '--keep-last', '1', '--yes', '--json'])
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(pruned.json().remove).toEqual([])

    // Bad input: --since a backup that is not there, and --changed-since-column alone.
    const missing = await runCli(['backup', '--db', db.url, '--dir', dir, '--since', 'nothing-here'])
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toMatch(/--since nothing-here: there is no backup/)
    const alone = await runCli(['backup', '--db', db.url, '--dir', dir, '--changed-since-column', 'updated_at'])
    expect(alone.code).toBe(2)
    expect(alone.stderr).toMatch(/only goes with --incremental/)
  }, 120_000)
})

describe('incremental backups through the HTTP API', () => {
  it('POST /api/backups with incremental: true, then since: a file name', async () => {
    const db = makeSqlitePath()
    cleanups.push(db.cleanup)
    const conn = new Database(db.file)
    conn.exec(`CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO note VALUES (1, 'a'), (2, 'b');`)
    conn.close()
    const server = await startTestServer({ db: db.url })
    cleanups.push(async () => void (await server.stop()))
    const token = await createToken(server.root, 'incr', 'admin')
    const make = async (json: unknown) => {
      const started = await server.request('/api/backups', { method: 'POST', token, json })
      expect(started.status).toBe(202)
      return waitForJob(server, ((await started.json()) as { jobId: string }).jobId, token)
    }
    const full = await make({ name: 'api' })
    expect(full.state).toBe('succeeded')
    const edit = new Database(db.file)
    edit.exec(`UPDATE note SET body = 'B' WHERE id = 2;`)
    edit.close()
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const inc = await make({ name: 'api', incremental: true })
    expect(inc.state, JSON.stringify(inc.error)).toBe('succeeded')
    expect(inc.result.metadata.format).toBe('mergeback-incremental')
    expect(inc.result.metadata.recordCounts).toEqual({ note: 1 })
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const since = await make({ name: 'api', since: full.result.file })
    expect(since.result.metadata.incremental.parent.file).toBe(full.result.file)
    const bad = await make({ name: 'api', since: 'no-such-backup' })
    expect(bad.state).toBe('failed')
  }, 120_000)
})

describe.each(['postgres', 'sqlite'] as const)('--changed-since-column on %s', (engine) => {
  it('compares only rows changed after the parent, yet finds every deletion', async () => {
    const tmp = makeTempDir('mbincr-since-')
    cleanups.push(tmp.cleanup)
    let url: string
    let exec: (sql: string) => Promise<void>
    if (engine === 'postgres') {
      const db = await createPostgresDatabase('mbincr_since')
      cleanups.push(() => db.drop())
      url = db.url
      exec = async (sql) => void (await pgQuery(url, sql))
    } else {
      const db = makeSqlitePath()
      cleanups.push(db.cleanup)
      url = db.url
      exec = async (sql) => {
        const conn = new Database(db.file)
        conn.exec(sql)
        conn.close()
      }
    }
    const type = engine === 'postgres' ? 'timestamptz' : 'TIMESTAMP'
    await exec(`CREATE TABLE doc (id INTEGER PRIMARY KEY, body VARCHAR(20), updated_at ${type});
      INSERT INTO doc VALUES (1, 'one', '2020-01-01T00:00:00Z'), (2, 'two', '2020-01-01T00:00:00Z'), (3, 'three', '2020-01-01T00:00:00Z');`)
    const dir = path.join(tmp.dir, 'b')
    // Without row stamps: on PostgreSQL an increment from a parent with stamps is exact and
    // needs no narrowing (row-stamps.test.ts); narrowing is what this test is about.
    const full = await backup({ db: url, out: dir, name: 'n', now: new Date('2026-12-01T00:00:00Z'), rowStamps: false })
    // Row 1 changed with a fresh timestamp, row 2 changed behind the timestamp's back, row 3 deleted.
    await exec(`UPDATE doc SET body = 'ONE', updated_at = '2030-01-01T00:00:00Z' WHERE id = 1;
      UPDATE doc SET body = 'TWO' WHERE id = 2; DELETE FROM doc WHERE id = 3;`)
    const narrowed = await backup({ db: url, out: dir, name: 'n', incremental: true, changedSinceColumn: 'updated_at', now: new Date('2026-12-02T00:00:00Z') })
    expect(narrowed.metadata.recordCounts).toEqual({ doc: 1 })
    // PostgreSQL's integer is a JSON number; SQLite's INTEGER is 64-bit, a string.
    expect(narrowed.metadata.incremental?.deleted).toEqual({ doc: [[engine === 'postgres' ? 3 : '3']] })
    expect(narrowed.metadata.incremental?.detection).toMatchObject({ changedSinceColumn: 'updated_at' })
    // Without narrowing, the change made behind the timestamp's back is found too.
    const exact = await backup({ db: url, out: dir, since: path.basename(full.file), name: 'n', now: new Date('2026-12-03T00:00:00Z') })
    expect(exact.metadata.recordCounts).toEqual({ doc: 2 })
    expect(exact.metadata.incremental?.detection).toBe('digest')
    // A column that is not there: every row compared, and said so.
    const unknown = await backup({ db: url, out: dir, since: path.basename(full.file), name: 'n', changedSinceColumn: 'nope', now: new Date('2026-12-04T00:00:00Z') })
    expect(unknown.metadata.recordCounts).toEqual({ doc: 2 })
    expect(unknown.warnings.length + (unknown.metadata.warnings?.length ?? 0)).toBeGreaterThan(0)
    // The narrowed chain restores what it recorded.
    const target = makeSqlitePath()
    cleanups.push(target.cleanup)
    await restore({ file: narrowed.file, db: target.url })
    const rows = new Database(target.file).prepare('SELECT id, body FROM doc ORDER BY id').all()
    expect(rows).toEqual([
      { id: 1, body: 'ONE' },
      { id: 2, body: 'two' },
    ])
    expect(fs.existsSync(`${narrowed.file}.digests`)).toBe(true)
  }, 60_000)
})
