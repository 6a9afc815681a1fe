/**
 * Issue #16 §1–2 through the CLI: schedules in the state directory, `schedule run --now` making
 * the backup and applying the schedule's retention to its own backups only (locally and on a
 * real S3 server), `schedule status` exiting non-zero after a failed run, the failure in the
 * audit log and POSTed to a webhook receiver on loopback; bad schedules refused with nothing written.
 */
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeSqlitePath, makeTempDir } from '../../helpers/databases.js'
import { runCli } from '../../helpers/cli.js'
import { startS3, type TestS3 } from '../../helpers/s3-server.js'

let db: { file: string; url: string; cleanup: () => void }
let s3: TestS3
const received: unknown[] = []
let receiver: http.Server
let hook: string

beforeAll(async () => {
  db = makeSqlitePath()
  const sqlite = new Database(db.file)
  sqlite.exec("CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO note (text) VALUES ('a'), ('b')")
  sqlite.close()
  s3 = await startS3(['scheduled'])
  receiver = http.createServer((req, res) => {
    let text = ''
    req.on('data', (d) => (text += d))
    req.on('end', () => {
      received.push(JSON.parse(text))
      res.statusCode = 204
      res.end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`
})

afterAll(async () => {
  db?.cleanup()
  await s3?.close()
  await new Promise((resolve) => receiver.close(resolve))
})

describe('mergeback schedule', () => {
  it('refuses a malformed cron, an unknown time zone, a non-http(s) webhook, an unknown database: exit 2, nothing written', async () => {
    const tmp = makeTempDir()
    try {
      const common = ['--db', db.url, '--dir', path.join(tmp.dir, 'backups'), '--state', path.join(tmp.dir, 'state'), '--json']
      const bad: [string[], RegExp][] = [
        [['--cron', '0 25 * * *'], /Malformed cron expression/],
        [['--cron', '0 3 * * *', '--timezone', 'Atlantis/Capital'], /Unknown time zone/],
        [['--cron', '0 3 * * *', '--webhook', 'file:///etc/passwd'], /http:\/\/ or https:\/\//],
        [['--cron', '0 3 * * *', '--database', 'nope'], /Unknown database "nope"/],
      ]
      for (const [args, message] of bad) {
        const result = await runCli(['schedule', 'add', '--name', 'daily', ...args, ...common])
        expect(result.code, result.stdout).toBe(2)
        expect(result.json().error).toMatch(message)
      }
      expect(fs.existsSync(path.join(tmp.dir, 'state'))).toBe(false)
      expect(fs.existsSync(path.join(tmp.dir, 'backups'))).toBe(false)
    } finally {
      tmp.cleanup()
    }
  })

  it('refuses a schedule whose remote cannot be used now (missing bucket, refused credentials, unreachable endpoint): exit 2, nothing written, no secret shown', async () => {
    const tmp = makeTempDir()
    try {
      const common = ['--db', db.url, '--dir', path.join(tmp.dir, 'backups'), '--state', path.join(tmp.dir, 'state'), '--json']
      const add = (remote: string, env: Record<string, string>) =>
        runCli(['schedule', 'add', '--name', 'offsite', '--cron', '0 3 * * *', '--destination', 'remote', '--remote', remote, ...common], { env })
      const bad: [Awaited<ReturnType<typeof add>>, RegExp][] = [
        [await add('s3://no-such-bucket/app', s3.env), /remote cannot be used: The bucket "no-such-bucket" does not exist/],
        [await add('s3://scheduled/app', { ...s3.env, AWS_ACCESS_KEY_ID: 'UNKNOWNKEY' }), /remote cannot be used: S3 at http:\/\/127\.0\.0\.1:\d+ refused the credentials/],
        [await add('s3://scheduled/app', { ...s3.env, MERGEBACK_S3_ENDPOINT: 'http://127.0.0.1:1' }), /remote cannot be used: Cannot reach S3 at http:\/\/127\.0\.0\.1:1/],
      ]
      for (const [result, message] of bad) {
        expect(result.code, result.stdout).toBe(2)
        expect(result.json()).toMatchObject({ code: 'BAD_REMOTE' })
        expect(result.json().error).toMatch(message)
        expect(result.stdout + result.stderr).not.toContain(s3.env.AWS_SECRET_ACCESS_KEY)
      }
      expect(fs.existsSync(path.join(tmp.dir, 'state'))).toBe(false)
      expect(fs.existsSync(path.join(tmp.dir, 'backups'))).toBe(false)
      expect(s3.objects('scheduled').filter((k) => k.startsWith('app/'))).toEqual([])
    } finally {
      tmp.cleanup()
    }
  })

  it('runs a schedule: backup into the directory and the remote, retention on its own backups only', async () => {
    const tmp = makeTempDir()
    try {
      const dir = path.join(tmp.dir, 'backups')
      const common = ['--db', db.url, '--dir', dir, '--state', path.join(tmp.dir, 'state'), '--json']
      // Another backup in the same directory, of another name: the schedule's retention leaves it alone.
      expect((await runCli(['backup', '--db', db.url, '--dir', dir, '--name', 'manual', '--json'])).code).toBe(0)
      const added = await runCli(
        ['schedule', 'add', '--name', 'daily', '--cron', '0 3 * * *', '--timezone', 'Europe/Berlin', '--gzip', '--destination', 'both', '--remote', 's3://scheduled/app', '--keep-last', '1', ...common],
        { env: s3.env },
      )
      expect(added.code, added.stderr + added.stdout).toBe(0)
      const id = added.json().schedule.id as string
      for (let i = 0; i < 2; i++) {
        const run = await runCli(['schedule', 'run', '--now', id, ...common], { env: s3.env })
        expect(run.code, run.stderr + run.stdout).toBe(0)
        expect(run.json().run).toMatchObject({ outcome: 'success', trigger: 'manual' })
        if (i === 0) await new Promise((resolve) => setTimeout(resolve, 1100)) // a new second: a new file name
        else expect(run.json().run.pruned).toHaveLength(2)
      }
      const names = fs.readdirSync(dir).filter((f) => /\.json(\.gz)?$/.test(f) && !f.endsWith('.meta.json') && !f.startsWith('audit'))
      expect(names.filter((f) => f.startsWith('daily-'))).toHaveLength(1)
      expect(names.filter((f) => f.startsWith('manual-'))).toHaveLength(1)
      expect(s3.objects('scheduled').filter((k) => !k.endsWith('.meta.json'))).toEqual([`app/${names.find((f) => f.startsWith('daily-'))}`])
      const status = await runCli(['schedule', 'status', ...common])
      expect(status.code, status.stdout).toBe(0)
      expect(status.json().schedules[0]).toMatchObject({ schedule: { id, name: 'daily' }, lastRun: { outcome: 'success' } })
      expect(Date.parse(status.json().schedules[0].nextRunAt)).toBeGreaterThan(Date.now())
      expect(fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8')).toContain('"actor":"schedule:daily"')
    } finally {
      tmp.cleanup()
    }
  })

  it('a failed run: exit 1, in the audit log, POSTed to the webhook; status exits 1 until a run succeeds', async () => {
    const tmp = makeTempDir()
    try {
      const dir = path.join(tmp.dir, 'backups')
      fs.mkdirSync(dir)
      const common = ['--db', `sqlite:${path.join(tmp.dir, 'missing', 'gone.db')}`, '--dir', dir, '--state', path.join(tmp.dir, 'state'), '--json']
      const added = await runCli(['schedule', 'add', '--name', 'broken', '--cron', '*/5 * * * *', '--webhook', hook, ...common])
      expect(added.code, added.stdout).toBe(0)
      const id = added.json().schedule.id as string
      const run = await runCli(['schedule', 'run', '--now', id, ...common])
      expect(run.code).toBe(1)
      expect(run.json().run).toMatchObject({ outcome: 'failure', acknowledged: false })
      expect(received).toContainEqual(expect.objectContaining({ event: 'schedule.failed', schedule: { id, name: 'broken' }, error: expect.stringMatching(/gone\.db/) }))
      const status = await runCli(['schedule', 'status', ...common])
      expect(status.code).toBe(1)
      expect(status.json().failed).toEqual([id])
      const audit = fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8')
      expect(audit).toMatch(/"actor":"schedule:broken".*"outcome":"failure"/)
      expect(fs.readdirSync(dir).filter((f) => !f.startsWith('audit'))).toEqual([])
    } finally {
      tmp.cleanup()
    }
  })
})
