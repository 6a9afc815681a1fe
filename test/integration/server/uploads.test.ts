/**
 * Uploads: streamed to a temporary file, size-limited, checked before they are listed; every
 * refusal or interruption leaves the backup directory as it was.
 */
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../../helpers/cli.js'
import { createToken, listing, startTestServer, type TestServer } from './server-helpers.js'
import { createDemoDatabase, type DemoDatabase } from './data-helpers.js'

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/format-v1')

describe('uploads', () => {
  let db: DemoDatabase
  let server: TestServer
  let token: string

  beforeAll(async () => {
    db = await createDemoDatabase('sqlite')
    // 1 MiB of upload, 4 MiB of decompressed JSON: small enough to test both limits quickly.
    server = await startTestServer({ db: db.url, args: ['--max-upload', '1MiB', '--max-decompressed', '4MiB'] })
    token = await createToken(server.root, 'ada', 'admin')
  })

  afterAll(async () => {
    await server?.stop()
    await db?.cleanup()
  })

  function upload(name: string, body: Buffer): Promise<Response> {
    return server.request(`/api/backups/upload?filename=${encodeURIComponent(name)}`, { method: 'POST', token, body, headers: { 'content-type': 'application/octet-stream' } })
  }

  async function expectRefused(name: string, body: Buffer, status: number, code: string): Promise<void> {
    const before = listing(server.dir)
    const response = await upload(name, body)
    const answer: any = await response.json()
    expect(response.status, JSON.stringify(answer)).toBe(status)
    expect(answer).toMatchObject({ success: false, code })
    expect(listing(server.dir)).toEqual(before)
  }

  it('accepts a valid backup, gzip too, and lists it only once it is checked', async () => {
    const response = await upload('demo.json.gz', zlib.gzipSync(fs.readFileSync(db.backupFile)))
    const body: any = await response.json()
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.backup).toMatchObject({ file: 'demo.json.gz', compression: 'gzip', recordCounts: { User: 40 }, catalogued: true })
    expect(body.verification.ok).toBe(true)
    const list: any = await (await server.request('/api/backups', { token })).json()
    expect(list.backups.map((b: { file: string }) => b.file)).toEqual(['demo.json.gz'])
  })

  it.each([
    ['incremental-backup-2024-01-15T12-00-00.json', 'the Smart Backup layout (seed 000)', ['Registration', 'User']],
    ['crm-backup_2025-10-09.json', 'the native MongoDB layout (seed 002)', ['departments', 'roles', 'users']],
  ])('accepts %s, %s', async (file, _layout, tables) => {
    const response = await upload(file, fs.readFileSync(path.join(FIXTURES, file)))
    const body: any = await response.json()
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect([...body.backup.tables].sort()).toEqual(expect.arrayContaining(tables))
  })

  it('refuses a name that is taken (409), leaving the file there as it was', async () => {
    const before = fs.readFileSync(`${server.dir}/demo.json.gz`)
    await expectRefused('demo.json.gz', fs.readFileSync(db.backupFile), 409, 'FILE_EXISTS')
    expect(fs.readFileSync(`${server.dir}/demo.json.gz`).equals(before)).toBe(true)
  })

  it('refuses a body over --max-upload with 413', async () => {
    await expectRefused('big.json', Buffer.alloc(1024 * 1024 + 1, 0x20), 413, 'TOO_LARGE')
  })

  it('refuses a gzip bomb with 413 while reading it', async () => {
    const bomb = zlib.gzipSync(Buffer.concat([Buffer.from('{"tables":['), Buffer.alloc(64 * 1024 * 1024, 0x20), Buffer.from(']}')]), { level: 9 })
    expect(bomb.length).toBeLessThan(1024 * 1024)
    await expectRefused('bomb.json.gz', bomb, 413, 'INTEGRITY')
  })

  it('refuses a truncated gzip, a non-JSON file and JSON that is not a backup with 422', async () => {
    const gz = zlib.gzipSync(fs.readFileSync(db.backupFile))
    await expectRefused('cut.json.gz', gz.subarray(0, Math.floor(gz.length / 2)), 422, 'INTEGRITY')
    await expectRefused('text.json', Buffer.from('this is not json at all\n'), 422, 'BAD_FORMAT')
    await expectRefused('other.json', Buffer.from('{"hello":"world"}'), 422, 'BAD_FORMAT')
    const backup = fs.readFileSync(db.backupFile)
    await expectRefused('half.json', backup.subarray(0, Math.floor(backup.length / 2)), 422, 'BAD_FORMAT')
  })

  it.each(['../escape.json', '/etc/passwd.json', 'a/b.json', '.hidden.json', 'x.txt', 'nul\u0000.json', 'ctl\u0007.json', '%2e%2e%2fx.json', 'x.json.meta.json'])(
    'refuses the name %j with 400',
    async (name) => {
      await expectRefused(name, fs.readFileSync(db.backupFile), 400, 'UNSAFE_PATH')
    },
  )

  it('leaves nothing behind when the client disconnects halfway', async () => {
    const before = listing(server.dir)
    const url = new URL(`${server.url}/api/backups/upload?filename=gone.json`)
    await new Promise<void>((resolve) => {
      const request = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(800_000) } })
      request.on('error', () => resolve())
      request.on('response', () => resolve())
      request.write(Buffer.alloc(300_000, 0x20), () => setTimeout(() => request.destroy(), 200))
      request.on('close', () => resolve())
    })
    // The server notices the reset and removes its temporary file.
    await expect.poll(() => listing(server.dir), { timeout: 5000 }).toEqual(before)
    expect(fs.readdirSync(server.dir).filter((f) => f.startsWith('.tmp-'))).toEqual([])
  })
})
