/**
 * Issue #16 §4: off-site copies on a real S3-compatible server (s3rver on loopback, see
 * test/helpers/s3-server.ts) with the real AWS SDK: backups streamed up (smart and full, gzip and
 * encryption, multipart beyond one part), list / verify / restore / delete / prune straight from
 * the remote, copy up and down; a failed upload leaves no object; an unreachable endpoint, refused
 * credentials and a missing bucket are clear errors that create nothing; the secret never shows.
 */
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery } from '../../helpers/databases.js'
import { runCli } from '../../helpers/cli.js'
import { S3_SECRET, startS3, type TestS3 } from '../../helpers/s3-server.js'

const BUCKET = 'mergeback-test'
let s3: TestS3
let source: { file: string; url: string; cleanup: () => void }

function rows(file: string): unknown[] {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare('SELECT * FROM item ORDER BY id').all()
  } finally {
    db.close()
  }
}

beforeAll(async () => {
  s3 = await startS3([BUCKET])
  source = makeSqlitePath()
  const db = new Database(source.file)
  db.exec('CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, blob BLOB)')
  const insert = db.prepare('INSERT INTO item (name, blob) VALUES (?, ?)')
  for (let i = 0; i < 50; i++) insert.run(`item ${i}`, randomBytes(16))
  db.close()
})

afterAll(async () => {
  await s3?.close()
  source?.cleanup()
})

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { ...s3.env, ...env } })

describe('backups on S3-compatible storage', () => {
  it('a smart backup streams up (gzip + encryption): listed, verified and restored straight from the remote, no local file', async () => {
    const local = makeTempDir()
    const target = makeSqlitePath()
    const env = { MERGEBACK_PASSPHRASE: 'remote passphrase' }
    try {
      const remote = `s3://${BUCKET}/smart`
      const made = await cli(['backup', '--db', source.url, '--remote', remote, '--dir', local.dir, '--name', 'daily', '--gzip', '--encrypt', '--json'], env)
      expect(made.code, made.stderr + made.stdout).toBe(0)
      expect(made.json().file).toMatch(new RegExp(`^s3://${BUCKET}/smart/daily-.*\\.json\\.gz\\.enc$`))
      // Only the audit log, which records the backup: no backup file.
      expect(fs.readdirSync(local.dir)).toEqual(['audit.head', 'audit.jsonl'])
      expect(fs.readFileSync(path.join(local.dir, 'audit.jsonl'), 'utf8')).toContain(`"remote":"${remote}/"`)
      expect(s3.objects(BUCKET).filter((k) => k.startsWith('smart/'))).toHaveLength(2)

      const listed = await cli(['list', '--remote', remote, '--json'])
      expect(listed.code, listed.stderr).toBe(0)
      expect(listed.json().backups).toHaveLength(1)
      expect(listed.json().backups[0]).toMatchObject({ name: 'daily', catalogued: true, encrypted: true, compression: 'gzip', engine: 'sqlite', recordCounts: { item: 50 } })
      const file = listed.json().backups[0].file as string

      const verified = await cli(['verify', file, '--remote', remote, '--json'], env)
      expect(verified.code, verified.stdout + verified.stderr).toBe(0)
      expect(verified.json()).toMatchObject({ ok: true, file: `${remote}/${file}` })

      const restored = await cli(['restore', 'daily', '--remote', remote, '--db', target.url, '--json'], env)
      expect(restored.code, restored.stderr + restored.stdout).toBe(0)
      expect(rows(target.file)).toEqual(rows(source.file))
    } finally {
      local.cleanup()
      target.cleanup()
    }
  })

  it('a full PostgreSQL backup streams up and restores from the remote into an empty database', async () => {
    const db = await createPostgresDatabase()
    const copy = await createPostgresDatabase()
    try {
      await pgQuery(db.url, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one'), (2, 'two'); CREATE VIEW v AS SELECT v FROM t")
      const remote = `s3://${BUCKET}/full`
      const made = await cli(['backup', '--full', '--db', db.url, '--remote', remote, '--json'])
      expect(made.code, made.stderr + made.stdout).toBe(0)
      expect(made.json().file).toMatch(/\.pgdump$/)
      const restored = await cli(['restore', path.basename(made.json().file), '--remote', remote, '--db', copy.url, '--json'])
      expect(restored.code, restored.stderr + restored.stdout).toBe(0)
      expect(await pgQuery(copy.url, 'SELECT * FROM v ORDER BY 1')).toEqual([{ v: 'one' }, { v: 'two' }])
    } finally {
      await db.drop()
      await copy.drop()
    }
  })

  it('a backup larger than one part goes up as a multipart upload and verifies', async () => {
    const big = makeSqlitePath()
    try {
      const db = new Database(big.file)
      db.exec('CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, blob BLOB)')
      const insert = db.prepare('INSERT INTO item (name, blob) VALUES (?, ?)')
      // ~20 MB of random bytes (base64 in JSON: ~27 MB): more than three 8 MiB parts.
      for (let i = 0; i < 320; i++) insert.run(`big ${i}`, randomBytes(64 * 1024))
      db.close()
      const remote = `s3://${BUCKET}/big`
      const made = await cli(['backup', '--db', big.url, '--remote', remote, '--json'])
      expect(made.code, made.stderr + made.stdout).toBe(0)
      expect(made.json().sizeBytes).toBeGreaterThan(3 * 8 * 1024 * 1024)
      const verified = await cli(['verify', path.basename(made.json().file), '--remote', remote, '--json'])
      expect(verified.json().ok).toBe(true)
      const stored = fs.statSync(path.join(s3.directory, BUCKET, `big/${path.basename(made.json().file)}._S3rver_object`)).size
      expect(stored).toBe(made.json().sizeBytes)
    } finally {
      big.cleanup()
    }
  })

  it('copies a local backup up and a remote one down, with their catalog entries; download never overwrites', async () => {
    const local = makeTempDir()
    const other = makeTempDir()
    try {
      const made = await cli(['backup', '--db', source.url, '--dir', local.dir, '--name', 'copyme', '--json'])
      expect(made.code, made.stderr).toBe(0)
      const remote = `s3://${BUCKET}/copies`
      const up = await cli(['upload', 'copyme', '--dir', local.dir, '--remote', remote, '--json'])
      expect(up.code, up.stderr + up.stdout).toBe(0)
      const again = await cli(['upload', 'copyme', '--dir', local.dir, '--remote', remote, '--json'])
      expect(again.code).toBe(2)
      expect(again.json().error).toMatch(/already exists/)
      const down = await cli(['download', 'copyme', '--remote', remote, '--dir', other.dir, '--json'])
      expect(down.code, down.stderr + down.stdout).toBe(0)
      const name = path.basename(made.json().file)
      expect(fs.readFileSync(path.join(other.dir, name))).toEqual(fs.readFileSync(made.json().file))
      expect(JSON.parse(fs.readFileSync(path.join(other.dir, `${name}.meta.json`), 'utf8')).sha256).toBe(made.json().sha256)
      expect((await cli(['verify', name, '--dir', other.dir, '--json'])).json().ok).toBe(true)
      const twice = await cli(['download', 'copyme', '--remote', remote, '--dir', other.dir, '--json'])
      expect(twice.code).toBe(2)
      const audit = fs.readFileSync(path.join(other.dir, 'audit.jsonl'), 'utf8')
      expect(audit).toContain('"action":"download"')
      expect(fs.readFileSync(path.join(local.dir, 'audit.jsonl'), 'utf8')).toContain('"action":"upload"')
    } finally {
      local.cleanup()
      other.cleanup()
    }
  })

  it('prune and delete on the remote', async () => {
    const local = makeTempDir()
    try {
      for (const stamp of ['2026-01-01T00-00-00', '2026-01-02T00-00-00', '2026-01-03T00-00-00']) {
        const file = path.join(local.dir, `old-${stamp}.json`)
        const made = await cli(['backup', '--db', source.url, '--out', file, '--name', 'old', '--json'])
        expect(made.code, made.stderr).toBe(0)
        expect((await cli(['upload', file, '--remote', `s3://${BUCKET}/prune`, '--json'])).code).toBe(0)
      }
      const remote = `s3://${BUCKET}/prune`
      const dry = await cli(['prune', '--keep-last', '1', '--remote', remote, '--dry-run', '--json'])
      expect(dry.json().remove.map((r: { file: string }) => r.file)).toEqual(['old-2026-01-02T00-00-00.json', 'old-2026-01-01T00-00-00.json'])
      expect((await cli(['list', '--remote', remote, '--json'])).json().backups).toHaveLength(3)
      const pruned = await cli(['prune', '--keep-last', '1', '--remote', remote, '--yes', '--json'])
      expect(pruned.code, pruned.stderr).toBe(0)
      expect((await cli(['list', '--remote', remote, '--json'])).json().backups.map((b: { file: string }) => b.file)).toEqual(['old-2026-01-03T00-00-00.json'])
      const deleted = await cli(['delete', 'old-2026-01-03T00-00-00.json', '--remote', remote, '--yes', '--json'])
      expect(deleted.code, deleted.stderr).toBe(0)
      expect(s3.objects(BUCKET).filter((k) => k.startsWith('prune/'))).toEqual([])
    } finally {
      local.cleanup()
    }
  })

  it('an upload that fails halfway leaves no object (the dump program dies after 20 MB)', async () => {
    const db = await createPostgresDatabase()
    const bin = makeTempDir('mergeback-bin-')
    try {
      fs.writeFileSync(
        path.join(bin.dir, 'pg_dump'),
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 99.0"; exit 0; fi\nhead -c 20000000 /dev/urandom\necho "pg_dump: error: connection lost" >&2\nexit 1\n',
        { mode: 0o755 },
      )
      const remote = `s3://${BUCKET}/failing`
      const result = await cli(['backup', '--full', '--db', db.url, '--remote', remote, '--json'], { MERGEBACK_PG_BINDIR: bin.dir })
      expect(result.code).toBe(1)
      expect(result.json().error).toMatch(/pg_dump failed .*connection lost/)
      expect(s3.objects(BUCKET).filter((k) => k.startsWith('failing/'))).toEqual([])
      expect((await cli(['list', '--remote', remote, '--json'])).json().backups).toEqual([])
    } finally {
      await db.drop()
      bin.cleanup()
    }
  })

  it('verify --remote and restore --remote use a private temporary copy, removed afterwards (also after a failure); a damaged or unreachable remote backup creates no target', async () => {
    const local = makeTempDir()
    const tmp = makeTempDir()
    const targets = [makeSqlitePath(), makeSqlitePath(), makeSqlitePath(), makeSqlitePath()]
    // TMPDIR is where the copies go (os.tmpdir()): it must be empty after every command.
    const env = { TMPDIR: tmp.dir }
    try {
      const remote = `s3://${BUCKET}/tmpcopy`
      const made = await cli(['backup', '--db', source.url, '--remote', remote, '--dir', local.dir, '--name', 'copy', '--json'], env)
      expect(made.code, made.stderr + made.stdout).toBe(0)
      const file = path.basename(made.json().file as string)

      const verified = await cli(['verify', file, '--remote', remote, '--json'], env)
      expect(verified.code, verified.stdout + verified.stderr).toBe(0)
      expect(fs.readdirSync(tmp.dir)).toEqual([])
      const restored = await cli(['restore', file, '--remote', remote, '--db', targets[0]!.url, '--json'], env)
      expect(restored.code, restored.stdout + restored.stderr).toBe(0)
      expect(rows(targets[0]!.file)).toEqual(rows(source.file))
      expect(fs.readdirSync(tmp.dir)).toEqual([])

      // One byte of a record changed in the stored object (same size): verify says so, restore refuses, nothing is created.
      const stored = path.join(s3.directory, BUCKET, 'tmpcopy', `${file}._S3rver_object`)
      const bytes = fs.readFileSync(stored)
      const at = bytes.indexOf('item 7')
      expect(at).toBeGreaterThan(0)
      bytes[at + 5] = '8'.charCodeAt(0)
      fs.writeFileSync(stored, bytes)
      const damaged = await cli(['verify', file, '--remote', remote, '--json'], env)
      expect(damaged.code).not.toBe(0)
      expect(damaged.json().ok).toBe(false)
      expect(fs.readdirSync(tmp.dir)).toEqual([])
      const refused = await cli(['restore', file, '--remote', remote, '--db', targets[1]!.url, '--json'], env)
      expect(refused.code).not.toBe(0)
      expect(refused.json().error).toMatch(/SHA-256|checksum|damaged/i)
      expect(fs.existsSync(targets[1]!.file)).toBe(false)
      expect(fs.readdirSync(tmp.dir)).toEqual([])

      // A missing bucket or an unreachable endpoint: a clear error before anything is created.
      const missing = await cli(['restore', file, '--remote', 's3://no-such-bucket/tmpcopy', '--db', targets[2]!.url, '--json'], env)
      expect(missing.code).toBe(2)
      expect(missing.json().error).toMatch(/bucket "no-such-bucket" does not exist/)
      const unreachable = await cli(['restore', file, '--remote', remote, '--db', targets[3]!.url, '--json'], { ...env, MERGEBACK_S3_ENDPOINT: 'http://127.0.0.1:1' })
      expect(unreachable.code).toBe(1)
      expect(unreachable.json().error).toMatch(/Cannot reach S3 at http:\/\/127\.0\.0\.1:1/)
      for (const t of targets.slice(2)) expect(fs.existsSync(t.file)).toBe(false)
      expect(fs.readdirSync(tmp.dir)).toEqual([])
    } finally {
      local.cleanup()
      tmp.cleanup()
      for (const t of targets) t.cleanup()
    }
  })

  it('bad input: a non-s3 URL, an unreachable endpoint, refused credentials, a missing bucket — clear errors, nothing created, no secret shown', async () => {
    const local = makeTempDir()
    try {
      const notS3 = await cli(['list', '--remote', 'https://example.com/bucket', '--json'])
      expect(notS3.code).toBe(2)
      expect(notS3.json().error).toMatch(/use s3:\/\/bucket\/prefix/)

      const unreachable = await cli(['backup', '--db', source.url, '--remote', `s3://${BUCKET}/x`, '--dir', local.dir, '--json'], { MERGEBACK_S3_ENDPOINT: 'http://127.0.0.1:1' })
      expect(unreachable.code).toBe(1)
      expect(unreachable.json().error).toMatch(/Cannot reach S3 at http:\/\/127\.0\.0\.1:1/)

      const refused = await cli(['backup', '--db', source.url, '--remote', `s3://${BUCKET}/x`, '--dir', local.dir, '--json'], { AWS_ACCESS_KEY_ID: 'UNKNOWNKEY' })
      expect(refused.code).toBe(1)
      expect(refused.json().error).toMatch(/S3 at http:\/\/127\.0\.0\.1:\d+ refused the credentials while checking the bucket .*AWS_ACCESS_KEY_ID/)

      const missing = await cli(['backup', '--db', source.url, '--remote', 's3://no-such-bucket/x', '--dir', local.dir, '--json'])
      expect(missing.code).toBe(2)
      expect(missing.json().error).toMatch(/bucket "no-such-bucket" does not exist/)

      expect(fs.readdirSync(s3.directory).sort()).toEqual([BUCKET])
      expect(s3.objects(BUCKET).filter((k) => k.startsWith('x/'))).toEqual([])
      expect(fs.readdirSync(local.dir)).toEqual([])
      for (const r of [notS3, unreachable, refused, missing]) expect(r.stdout + r.stderr).not.toContain(S3_SECRET)
    } finally {
      local.cleanup()
    }
  })
})
