/**
 * Issue #2 end to end through the CLI, on real PostgreSQL and SQLite: backup, restore into an
 * empty database and into an existing one, restore twice, --drop with --tables, --dry-run,
 * a restore that fails midway, the seed layouts, and every bad input of the point 10.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresDatabase, makeTempDir, pgQuery, type TestDatabase } from '../../helpers/databases.js'
import { listDir, REPO_ROOT, runCli } from '../../helpers/cli.js'
import { PG_EVENT_DATA, PG_EVENT_SCHEMA, PG_EVENT_SNAPSHOT_SQL } from '../../helpers/event-schema.js'

const snapshot = async (url: string) => (await pgQuery(url, PG_EVENT_SNAPSHOT_SQL)).map((r) => `${r.t}: ${r.rows}`).join('\n')

describe('backup and restore through the CLI (PostgreSQL)', () => {
  let source: TestDatabase
  let tmp: { dir: string; cleanup: () => void }
  let backupFile: string
  const dbs: TestDatabase[] = []
  const fresh = async () => {
    const db = await createPostgresDatabase()
    dbs.push(db)
    return db
  }

  beforeAll(async () => {
    source = await createPostgresDatabase()
    await pgQuery(source.url, PG_EVENT_SCHEMA + PG_EVENT_DATA)
    tmp = makeTempDir()
    const result = await runCli(['backup', '--db', source.url, '--out', tmp.dir, '--name', 'events', '--json'])
    expect(result.code, result.stderr + result.stdout).toBe(0)
    backupFile = result.json().file
  })

  afterAll(async () => {
    await source?.drop()
    for (const db of dbs) await db.drop()
    tmp?.cleanup()
  })

  it('writes one named, verifiable file with counts and checksums', async () => {
    expect(path.basename(backupFile)).toMatch(/^events-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.json$/)
    const inspected = await runCli(['inspect', backupFile, '--json'])
    expect(inspected.code, inspected.stderr).toBe(0)
    const report = inspected.json()
    expect(report.metadata.recordCounts).toEqual({ User: 3, Room: 3, Registration: 3, RoomAllocation: 2, 'Audit Log': 3 })
    expect(Object.keys(report.metadata.checksums)).toHaveLength(5)
    // Parents before children, so a restore streams the file once.
    const order = report.tables.map((t: { name: string }) => t.name)
    expect(order.indexOf('User')).toBeLessThan(order.indexOf('Registration'))
    expect(order.indexOf('Registration')).toBeLessThan(order.indexOf('RoomAllocation'))
    const verified = await runCli(['verify', backupFile, '--json'])
    expect(verified.code, verified.stdout).toBe(0)
    expect(verified.json().ok).toBe(true)
  })

  it('restores into an empty database: same data, schema recreated, sequences moved on', async () => {
    const target = await fresh()
    const result = await runCli(['restore', backupFile, '--db', target.url, '--json'])
    expect(result.code, result.stderr + result.stdout).toBe(0)
    expect(result.json().totals).toEqual({ inserted: 14, skipped: 0 })
    expect(await snapshot(target.url)).toBe(await snapshot(source.url))
    // serial default works after the restore (sequence moved past the restored ids)
    const [room] = await pgQuery(target.url, `INSERT INTO "Room" (name, capacity) VALUES ('Dogwood', 1) RETURNING id`)
    expect(room.id).toBe(4)
    // enum, index and foreign key exist
    const [{ n }] = await pgQuery(target.url, `SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'registration_user_idx'`)
    expect(n).toBe(1)
    await expect(pgQuery(target.url, `INSERT INTO "Registration" (id, "userId") VALUES ('rx', 'nobody')`)).rejects.toThrow(/foreign key/)
    await expect(pgQuery(target.url, `INSERT INTO "Registration" (id, "userId", status) VALUES ('ry', 'u1', 'bogus')`)).rejects.toThrow(/enum/)
  })

  it('restoring twice changes nothing (keyless table too)', async () => {
    const target = await fresh()
    expect((await runCli(['restore', backupFile, '--db', target.url])).code).toBe(0)
    const before = await snapshot(target.url)
    const again = await runCli(['restore', backupFile, '--db', target.url, '--json'])
    expect(again.code, again.stderr).toBe(0)
    expect(again.json().totals).toEqual({ inserted: 0, skipped: 14 })
    expect(await snapshot(target.url)).toBe(before)
  })

  it('restores into an existing schema and skips rows whose key exists', async () => {
    const target = await fresh()
    await pgQuery(target.url, PG_EVENT_SCHEMA + `INSERT INTO "User" VALUES ('u1', 'ana@new.example', 'Ana (changed)', now(), now());`)
    const result = await runCli(['restore', backupFile, '--db', target.url, '--json'])
    expect(result.code, result.stderr + result.stdout).toBe(0)
    expect(result.json().tables.User).toMatchObject({ inserted: 2, skipped: 1, created: false })
    const [u1] = await pgQuery(target.url, `SELECT name FROM "User" WHERE id = 'u1'`)
    expect(u1.name).toBe('Ana (changed)')
  })

  it('--drop with --tables empties only the selected table', async () => {
    const target = await fresh()
    expect((await runCli(['restore', backupFile, '--db', target.url])).code).toBe(0)
    await pgQuery(target.url, `INSERT INTO "Audit Log" VALUES (now(), 'me', 'local only'); UPDATE "User" SET name = 'local' WHERE id = 'u3'`)
    const result = await runCli(['restore', backupFile, '--db', target.url, '--tables', 'Audit Log', '--drop', '--yes', '--json'])
    expect(result.code, result.stderr + result.stdout).toBe(0)
    expect(result.json().tables['Audit Log']).toMatchObject({ inserted: 3, emptied: true })
    const [{ n }] = await pgQuery(target.url, `SELECT count(*)::int AS n FROM "Audit Log" WHERE note = 'local only'`)
    expect(n).toBe(0)
    const [u3] = await pgQuery(target.url, `SELECT name FROM "User" WHERE id = 'u3'`)
    expect(u3.name).toBe('local')
  })

  it('--drop without --yes and without a terminal is refused and changes nothing', async () => {
    const target = await fresh()
    expect((await runCli(['restore', backupFile, '--db', target.url])).code).toBe(0)
    const before = await snapshot(target.url)
    const result = await runCli(['restore', backupFile, '--db', target.url, '--drop'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--yes/)
    expect(await snapshot(target.url)).toBe(before)
  })

  it('--dry-run reports the restore and changes nothing', async () => {
    const target = await fresh()
    const result = await runCli(['restore', backupFile, '--db', target.url, '--dry-run', '--json'])
    expect(result.code, result.stderr + result.stdout).toBe(0)
    expect(result.json()).toMatchObject({ dryRun: true, totals: { inserted: 14, skipped: 0 } })
    const tables = await pgQuery(target.url, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)
    expect(tables[0].n).toBe(0)
  })

  it('a restore that fails midway leaves the database exactly as before, naming table and constraint', async () => {
    const target = await fresh()
    // Same schema, but a stricter room capacity: the backup's third room (capacity 1) violates it.
    await pgQuery(target.url, PG_EVENT_SCHEMA.replace('CHECK (capacity > 0)', 'CONSTRAINT room_capacity_min CHECK (capacity > 1)') + `INSERT INTO "User" VALUES ('u9', 'z@example.com', 'Zed', now(), now());`)
    const before = await snapshot(target.url)
    const result = await runCli(['restore', backupFile, '--db', target.url])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/Room/)
    expect(result.stderr).toMatch(/room_capacity_min/)
    expect(await snapshot(target.url)).toBe(before)
  })

  it('prints one JSON document on stdout with --json and nothing else', async () => {
    const target = await fresh()
    const result = await runCli(['restore', backupFile, '--db', target.url, '--json'])
    expect(() => JSON.parse(result.stdout)).not.toThrow()
    expect(result.stdout.trim().startsWith('{')).toBe(true)
  })
})

describe('SQLite: the demo, a backup and a restore across engines', () => {
  let tmp: { dir: string; cleanup: () => void }
  const dbs: TestDatabase[] = []
  beforeAll(() => {
    tmp = makeTempDir()
  })
  afterAll(async () => {
    for (const db of dbs) await db.drop()
    tmp?.cleanup()
  })

  it('demo creates the database once, backs it up, and a restore reproduces it', async () => {
    const demo = await runCli(['demo', '--json'], { cwd: tmp.dir })
    expect(demo.code, demo.stderr + demo.stdout).toBe(0)
    const report = demo.json()
    expect(report.created).toBe(true)
    expect(fs.existsSync(path.join(tmp.dir, 'demo.db'))).toBe(true)
    expect(report.backup.file).toContain(path.join(tmp.dir, 'backups'))
    const again = await runCli(['demo', '--json'], { cwd: tmp.dir })
    expect(again.json().created).toBe(false)

    const restored = await runCli(['restore', report.backup.file, '--db', 'sqlite:copy.db', '--json'], { cwd: tmp.dir })
    expect(restored.code, restored.stderr + restored.stdout).toBe(0)
    const total = Object.values(report.tables as Record<string, number>).reduce((a, b) => a + b, 0)
    expect(restored.json().totals).toEqual({ inserted: total, skipped: 0 })
    // Backing up the copy gives the same per-table checksums: the data is identical.
    const copy = await runCli(['backup', '--db', 'sqlite:copy.db', '--out', 'copy.json', '--json'], { cwd: tmp.dir })
    expect(copy.code, copy.stderr).toBe(0)
    expect(copy.json().metadata.checksums).toEqual(report.backup.metadata.checksums)
  })

  it('a SQLite backup restores into PostgreSQL (another engine, tables created from kinds)', async () => {
    const target = await createPostgresDatabase()
    dbs.push(target)
    const demo = await runCli(['demo', '--json', '--file', 'cross.db', '--dir', 'cross'], { cwd: tmp.dir })
    expect(demo.code, demo.stderr).toBe(0)
    const result = await runCli(['restore', demo.json().backup.file, '--db', target.url, '--json'], { cwd: tmp.dir })
    expect(result.code, result.stderr + result.stdout).toBe(0)
    for (const [table, n] of Object.entries(demo.json().tables as Record<string, number>)) {
      const [{ c }] = await pgQuery(target.url, `SELECT count(*)::int AS c FROM "${table}"`)
      expect(c, table).toBe(n)
    }
  })
})

describe('the seeds\' layouts', () => {
  const fixtures = path.join(REPO_ROOT, 'test/fixtures/format-v1')
  const seedFile = (pattern: RegExp) => {
    const name = fs.readdirSync(fixtures).find((f) => pattern.test(f))
    if (!name) throw new Error(`no fixture matching ${pattern} in ${fixtures}`)
    return path.join(fixtures, name)
  }

  it('inspect reads a seed "Smart Backup" file and a seed "native MongoDB" file', async () => {
    const smart = await runCli(['inspect', seedFile(/^incremental-backup/), '--json'])
    expect(smart.code, smart.stderr).toBe(0)
    expect(smart.json().layout).toBe('smart-backup')
    const mongo = await runCli(['inspect', seedFile(/^crm-backup/), '--json'])
    expect(mongo.code, mongo.stderr).toBe(0)
    expect(mongo.json().layout).toBe('mongo-native')
  })

  it('a seed "Smart Backup" file restores into PostgreSQL, values converted to the column types', async () => {
    const target = await createPostgresDatabase()
    try {
      const tmp = makeTempDir()
      const file = path.join(tmp.dir, 'smart.json')
      fs.writeFileSync(
        file,
        JSON.stringify({
          tables: [
            { tableName: 'User', primaryKey: 'id', records: [{ id: 'user123', email: 'john@example.com', name: 'John Doe', active: true, createdAt: '2024-01-15T10:30:00.000Z', updatedAt: '2024-01-15T10:30:00.000Z' }] },
          ],
          metadata: { exportedAt: '2024-01-15T12:00:00.000Z', version: '1.0', recordCounts: { User: 1 } },
        }),
      )
      await pgQuery(target.url, `CREATE TABLE "User" (id text PRIMARY KEY, email text, name text, active boolean, "createdAt" timestamptz, "updatedAt" timestamp(3))`)
      const result = await runCli(['restore', file, '--db', target.url, '--json'])
      expect(result.code, result.stderr + result.stdout).toBe(0)
      const [row] = await pgQuery(target.url, `SELECT active, "createdAt" = '2024-01-15T10:30:00Z'::timestamptz AS same FROM "User"`)
      expect(row).toEqual({ active: true, same: true })
      tmp.cleanup()
    } finally {
      await target.drop()
    }
  })
})

describe('a seed "Smart Backup" file listing a child table before its parent', () => {
  it('restores into PostgreSQL in the target\'s foreign-key order', async () => {
    const target = await createPostgresDatabase()
    const tmp = makeTempDir()
    try {
      const file = path.join(tmp.dir, 'smart.json')
      fs.writeFileSync(
        file,
        JSON.stringify({
          tables: [
            { tableName: 'Registration', primaryKey: 'id', records: [{ id: 'r1', userId: 'u1', amount: 12.5 }] },
            { tableName: 'User', primaryKey: 'id', records: [{ id: 'u1', email: 'a@example.com' }] },
          ],
          metadata: { exportedAt: '2024-01-15T12:00:00.000Z', version: '1.0', recordCounts: { Registration: 1, User: 1 } },
        }),
      )
      await pgQuery(target.url, `CREATE TABLE "User" (id text PRIMARY KEY, email text); CREATE TABLE "Registration" (id text PRIMARY KEY, "userId" text NOT NULL REFERENCES "User"(id), amount numeric(10,2))`)
      const result = await runCli(['restore', file, '--db', target.url, '--json'])
      expect(result.code, result.stderr + result.stdout).toBe(0)
      expect(result.json().totals).toEqual({ inserted: 2, skipped: 0 })
      const [row] = await pgQuery(target.url, `SELECT amount::text FROM "Registration"`)
      expect(row.amount).toBe('12.50')
    } finally {
      await target.drop()
      tmp.cleanup()
    }
  })
})

describe('a seed "Smart Backup" file into SQLite', () => {
  it('restores into an existing SQLite table, values converted to the column types', async () => {
    const tmp = makeTempDir()
    try {
      const file = path.join(tmp.dir, 'smart.json')
      fs.writeFileSync(
        file,
        JSON.stringify({
          tables: [{ tableName: 'User', primaryKey: 'id', records: [{ id: 'user123', email: 'john@example.com', active: true, profile: { tags: ['a'] }, createdAt: '2024-01-15T10:30:00.000Z' }] }],
          metadata: { exportedAt: '2024-01-15T12:00:00.000Z', version: '1.0', recordCounts: { User: 1 } },
        }),
      )
      const Database = (await import('better-sqlite3')).default
      const dbFile = path.join(tmp.dir, 'app.db')
      const db = new Database(dbFile)
      db.exec('CREATE TABLE "User" (id TEXT PRIMARY KEY, email TEXT, active BOOLEAN, profile JSON, createdAt DATETIME)')
      db.close()
      const result = await runCli(['restore', file, '--db', `sqlite:${dbFile}`, '--json'])
      expect(result.code, result.stderr + result.stdout).toBe(0)
      const check = new Database(dbFile, { readonly: true })
      expect(check.prepare('SELECT id, active, profile, createdAt FROM "User"').get()).toEqual({
        id: 'user123',
        active: 1,
        profile: '{"tags":["a"]}',
        createdAt: '2024-01-15T10:30:00.000Z',
      })
      check.close()
    } finally {
      tmp.cleanup()
    }
  })
})

describe('bad input: a clear one-line error, the right exit code, nothing written', () => {
  let tmp: { dir: string; cleanup: () => void }
  let target: TestDatabase
  let goodFile: string
  beforeAll(async () => {
    tmp = makeTempDir()
    target = await createPostgresDatabase()
    await pgQuery(target.url, PG_EVENT_SCHEMA + PG_EVENT_DATA)
    const made = await runCli(['backup', '--db', target.url, '--out', path.join(tmp.dir, 'good.json'), '--json'])
    expect(made.code, made.stderr).toBe(0)
    goodFile = made.json().file
  })
  afterAll(async () => {
    await target?.drop()
    tmp?.cleanup()
  })

  const expectNothingChanged = async (backupsDir: string, before: string) => {
    expect(await listDir(backupsDir)).toEqual([])
    expect(await snapshot(target.url)).toBe(before)
  }

  it.each([
    ['an unknown URL scheme', ['backup', '--db', 'oracle://u@h/db'], 2, /Unknown database URL/],
    ['no database at all', ['backup'], 2, /--db/],
    ['a missing file', ['restore', 'no-such-backup.json', '--db', 'sqlite:x.db'], 2, /No backup file/],
  ])('%s', async (_name, args, code, message) => {
    const backups = path.join(tmp.dir, 'backups-untouched')
    const result = await runCli([...args, '--dir', backups], { cwd: tmp.dir })
    expect(result.code, result.stderr).toBe(code)
    expect(result.stderr).toMatch(message)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(await listDir(backups)).toEqual([])
    expect(fs.existsSync(path.join(tmp.dir, 'x.db'))).toBe(false)
  })

  it('malformed JSON names the byte offset', async () => {
    const before = await snapshot(target.url)
    const file = path.join(tmp.dir, 'broken.json')
    const text = fs.readFileSync(goodFile, 'utf8')
    const at = text.indexOf('"records":[') + '"records":['.length
    fs.writeFileSync(file, text.slice(0, at) + '{{{' + text.slice(at))
    const result = await runCli(['restore', file, '--db', target.url, '--dir', path.join(tmp.dir, 'b1')])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/offset|byte/i)
    await expectNothingChanged(path.join(tmp.dir, 'b1'), before)
  })

  it('a JSON file that is not a backup', async () => {
    const before = await snapshot(target.url)
    const file = path.join(tmp.dir, 'package.json')
    fs.writeFileSync(file, JSON.stringify({ name: 'not-a-backup', version: '1.0.0' }))
    const result = await runCli(['restore', file, '--db', target.url, '--dir', path.join(tmp.dir, 'b2')])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/not a mergeback backup|not a backup/i)
    await expectNothingChanged(path.join(tmp.dir, 'b2'), before)
  })

  it('a hand-edited value fails the checksum and restores nothing', async () => {
    const fresh = await createPostgresDatabase()
    try {
      const file = path.join(tmp.dir, 'edited.json')
      fs.writeFileSync(file, fs.readFileSync(goodFile, 'utf8').replace('ana@example.com', 'eve@example.com'))
      const result = await runCli(['restore', file, '--db', fresh.url])
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/checksum/i)
      const [{ n }] = await pgQuery(fresh.url, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)
      expect(n).toBe(0)
    } finally {
      await fresh.drop()
    }
  })

  it('a table in --tables that is not in the backup / not in the database', async () => {
    const before = await snapshot(target.url)
    const restoreResult = await runCli(['restore', goodFile, '--db', target.url, '--tables', 'Nope'])
    expect(restoreResult.code).toBe(2)
    expect(restoreResult.stderr).toMatch(/Nope/)
    const backups = path.join(tmp.dir, 'b3')
    const backupResult = await runCli(['backup', '--db', target.url, '--tables', 'User,Nope', '--out', backups])
    expect(backupResult.code).toBe(2)
    expect(backupResult.stderr).toMatch(/Nope/)
    await expectNothingChanged(backups, before)
  })

  it('an unreachable database fails within seconds with exit 1 and never shows the password', async () => {
    const backups = path.join(tmp.dir, 'b4')
    const result = await runCli(['backup', '--db', 'postgres://admin:s3cret-pw@127.0.0.1:1/app', '--out', backups])
    expect(result.code).toBe(1)
    expect(result.durationMs).toBeLessThan(15_000)
    expect(result.stderr).not.toContain('s3cret-pw')
    expect(result.stderr).toMatch(/127\.0\.0\.1:1/)
    expect(await listDir(backups)).toEqual([])
  })

  it('a database that refuses (does not exist) fails with exit 1', async () => {
    const url = new URL(target.url)
    url.pathname = '/mergeback_no_such_database'
    const result = await runCli(['stats', '--db', url.toString(), '--json'])
    expect(result.code).toBe(1)
    expect(result.json()).toMatchObject({ success: false, code: 'CONNECTION' })
  })
})
