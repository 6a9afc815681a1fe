/**
 * What the admin page needs from the API (issue #12), over real HTTP on `mergeback serve`:
 * the per-backup `encrypt` choice, the catalog's origin kind and last verification, `/api/stats`
 * of another database (`targetDatabase`), saved plans that expire and are removed once applied,
 * and upload refusals with `details.reason` in words that name no temporary file.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { createToken, listing, startTestServer, waitForJob, type TestServer } from './server-helpers.js'
import { createDemoDatabase, sql, type DemoDatabase } from './data-helpers.js'

const DAY_AND_AN_HOUR_AGO = () => new Date(Date.now() - 25 * 60 * 60 * 1000)

async function json(response: Response): Promise<any> {
  return response.json()
}

/** Starts a backup through the API and waits for its job; answers the finished job. */
async function createBackup(server: TestServer, token: string, body: unknown): Promise<any> {
  const started = await server.request('/api/backups', { method: 'POST', token, json: body })
  const answer = await json(started)
  expect(started.status, JSON.stringify(answer)).toBe(202)
  return waitForJob(server, answer.jobId, token)
}

async function listed(server: TestServer, token: string, file: string): Promise<any> {
  const list = await json(await server.request('/api/backups', { token }))
  return list.backups.find((b: { file: string }) => b.file === file)
}

describe('encrypt per backup', () => {
  let db: DemoDatabase
  let plain: TestServer
  let secret: TestServer
  let plainToken: string
  let secretToken: string

  beforeAll(async () => {
    db = await createDemoDatabase('sqlite')
    plain = await startTestServer({ db: db.url })
    secret = await startTestServer({ db: db.url, env: { MERGEBACK_PASSPHRASE: 'correct horse battery staple' } })
    plainToken = await createToken(plain.root, 'ada', 'admin')
    secretToken = await createToken(secret.root, 'ada', 'admin')
  })

  afterAll(async () => {
    await plain?.stop()
    await secret?.stop()
    await db?.cleanup()
  })

  it('without a passphrase: /api/me says so, encrypt is a 400 naming the reason, nothing is written; the default is plain', async () => {
    expect(await json(await plain.request('/api/me', { token: plainToken }))).toMatchObject({ encryption: { available: false, default: false } })
    const before = listing(plain.dir)
    const refused = await plain.request('/api/backups', { method: 'POST', token: plainToken, json: { name: 'secret', encrypt: true } })
    const answer = await json(refused)
    expect(refused.status).toBe(400)
    expect(answer).toMatchObject({ success: false, code: 'NO_PASSPHRASE', details: { field: 'encrypt' } })
    expect(answer.error).toMatch(/without a passphrase/)
    // The seed's create refuses the same way.
    const seed = await plain.request('/api/settings/backup', { method: 'POST', token: plainToken, json: { backupName: 'secret', encrypt: true } })
    expect(seed.status).toBe(400)
    expect(listing(plain.dir)).toEqual(before)

    const job = await createBackup(plain, plainToken, { name: 'plain' })
    expect(job.state).toBe('succeeded')
    expect(job.result.file).toMatch(/^plain-.*\.json$/)
    expect(await listed(plain, plainToken, job.result.file)).toMatchObject({ encrypted: false })
  })

  it('with a passphrase: encrypts by default, and not when asked not to', async () => {
    expect(await json(await secret.request('/api/me', { token: secretToken }))).toMatchObject({ encryption: { available: true, default: true } })
    const byDefault = await createBackup(secret, secretToken, { name: 'default' })
    expect(byDefault.result.file).toMatch(/^default-.*\.json\.enc$/)
    expect(await listed(secret, secretToken, byDefault.result.file)).toMatchObject({ encrypted: true })
    expect(fs.readFileSync(path.join(secret.dir, byDefault.result.file)).subarray(0, 1).toString()).not.toBe('{')

    const notEncrypted = await createBackup(secret, secretToken, { name: 'clear', encrypt: false, gzip: true })
    expect(notEncrypted.result.file).toMatch(/^clear-.*\.json\.gz$/)
    expect(await listed(secret, secretToken, notEncrypted.result.file)).toMatchObject({ encrypted: false, compression: 'gzip' })
  })

  it('zstd on request (.json.zst, listed as zstd); gzip and zstd together is a 400 before any job, and nothing is written', async () => {
    const job = await createBackup(plain, plainToken, { name: 'compact', zstd: true })
    expect(job.state).toBe('succeeded')
    expect(job.result.file).toMatch(/^compact-.*\.json\.zst$/)
    // zstd's frame magic, 28 b5 2f fd.
    expect(fs.readFileSync(path.join(plain.dir, job.result.file)).subarray(0, 4).toString('hex')).toBe('28b52ffd')
    expect(await listed(plain, plainToken, job.result.file)).toMatchObject({ compression: 'zstd', encrypted: false })

    const before = listing(plain.dir)
    const jobsBefore = (await json(await plain.request('/api/jobs', { token: plainToken }))).jobs.length
    const refused = await plain.request('/api/backups', { method: 'POST', token: plainToken, json: { name: 'both', gzip: true, zstd: true } })
    expect(refused.status).toBe(400)
    expect(await json(refused)).toMatchObject({ success: false, code: 'BAD_COMPRESSION' })
    expect(listing(plain.dir)).toEqual(before)
    expect((await json(await plain.request('/api/jobs', { token: plainToken }))).jobs.length).toBe(jobsBefore)
  })
})

describe('origin kind, last verification, stats of another database, plans, upload refusals', () => {
  let db: DemoDatabase
  let server: TestServer
  let token: string
  let superToken: string

  beforeAll(async () => {
    db = await createDemoDatabase('postgres')
    server = await startTestServer({ db: db.url, args: ['--max-upload', '1MiB'] })
    token = await createToken(server.root, 'ada', 'admin')
    superToken = await createToken(server.root, 'root', 'super_admin')
  })

  afterAll(async () => {
    await server?.stop()
    await db?.cleanup()
  })

  it('records manual / uploaded / scheduled, and the last verification with its time (a damaged file recorded as such)', async () => {
    const made = await createBackup(server, token, { name: 'by-hand' })
    const manual = await listed(server, token, made.result.file)
    expect(manual).toMatchObject({ originKind: 'manual', origin: 'here', verified: null })

    const verifying = await json(await server.request(`/api/backups/${made.result.file}/verify`, { method: 'POST', token }))
    const verifiedJob = await waitForJob(server, verifyingId(verifying), token)
    expect(verifiedJob.result.ok).toBe(true)
    const afterVerify = await listed(server, token, made.result.file)
    expect(afterVerify.verified).toMatchObject({ ok: true })
    expect(Date.parse(afterVerify.verified.at)).toBeGreaterThanOrEqual(Date.parse(verifiedJob.createdAt) - 1000)

    const upload = await server.request('/api/backups/upload?filename=from-elsewhere.json', { method: 'POST', token, body: fs.readFileSync(db.backupFile), headers: { 'content-type': 'application/octet-stream' } })
    const uploaded = await json(upload)
    expect(upload.status, JSON.stringify(uploaded)).toBe(201)
    expect(uploaded.backup).toMatchObject({ originKind: 'uploaded', origin: 'foreign', verified: { ok: true } })
    // The verification speaks of the upload, never of the temporary file it was checked in.
    expect(JSON.stringify(uploaded)).not.toMatch(/\.tmp-|\.partial/)

    const schedule = await json(await server.request('/api/schedules', { method: 'POST', token: superToken, json: { name: 'nightly-web', cron: '0 3 * * *' } }))
    expect((await server.request(`/api/schedules/${schedule.schedule.id}/run`, { method: 'POST', token })).status).toBe(200)
    await vi.waitFor(
      async () => {
        const list = await json(await server.request('/api/backups', { token }))
        expect(list.backups.find((b: { name: string }) => b.name === 'nightly-web')).toMatchObject({ originKind: 'scheduled' })
      },
      { timeout: 30_000, interval: 250 },
    )

    // Damage a copy in place (same size): verify records it as damaged, with the failed check.
    const cliMade = await runCli(['backup', '--db', db.url, '--out', server.dir, '--name', 'cli-made', '--json'])
    expect(cliMade.code, cliMade.stderr).toBe(0)
    const file = path.basename(cliMade.json<{ file: string }>().file)
    expect(await listed(server, token, file)).toMatchObject({ originKind: 'manual' })
    const full = path.join(server.dir, file)
    const bytes = fs.readFileSync(full)
    const at = bytes.indexOf('"Borealis"')
    expect(at).toBeGreaterThan(0)
    bytes[at + 1] = 'X'.charCodeAt(0)
    fs.writeFileSync(full, bytes)
    const second = await json(await server.request(`/api/backups/${file}/verify`, { method: 'POST', token }))
    expect((await waitForJob(server, verifyingId(second), token)).result.ok).toBe(false)
    const damaged = await listed(server, token, file)
    expect(damaged.verified).toMatchObject({ ok: false })
    expect(damaged.verified.detail).toMatch(/SHA-256|checksum/)
  })

  it('/api/stats?targetDatabase= counts the rows of another database on the same server', async () => {
    const other = await db.sibling()
    await sql(other.url, ['CREATE TABLE "Visit" (id integer primary key, note text)', `INSERT INTO "Visit" VALUES (1, 'a'), (2, 'b'), (3, 'c')`])
    const response = await server.request(`/api/stats?targetDatabase=${encodeURIComponent(other.name)}`, { token })
    const body = await json(response)
    expect(response.status, JSON.stringify(body)).toBe(200)
    expect(body.database).toBe(`default/${other.name}`)
    expect(body.stats.tables).toEqual([expect.objectContaining({ name: 'Visit', rows: 3 })])
    // The default database is still what plain /api/stats counts.
    const own = await json(await server.request('/api/stats', { token }))
    expect(own.stats.tables.map((t: { name: string }) => t.name)).toContain('User')
    // A URL is never a target.
    expect((await server.request(`/api/stats?targetDatabase=${encodeURIComponent('postgres://x@evil/db')}`, { token })).status).toBe(400)
  })

  it('saved plans: removed once applied, refused and removed once older than 24 hours, swept when the next plan is saved', async () => {
    const base = (await createBackup(server, token, { name: 'plans' })).result.file
    const plansDir = path.join(server.stateDir, 'plans')
    const analyze = async (): Promise<string> => {
      const started = await json(await server.request(`/api/backups/${base}/analyze`, { method: 'POST', token, json: { savePlan: true } }))
      expect((await waitForJob(server, started.jobId, token)).state).toBe('succeeded')
      expect(fs.existsSync(path.join(plansDir, `${started.planId}.plan`))).toBe(true)
      return started.planId as string
    }

    const applied = await analyze()
    const merged = await json(await server.request(`/api/backups/${base}/merge`, { method: 'POST', token, json: { plan: applied } }))
    expect((await waitForJob(server, merged.jobId, token)).state).toBe('succeeded')
    await vi.waitFor(() => expect(fs.existsSync(path.join(plansDir, `${applied}.plan`))).toBe(false), { timeout: 10_000, interval: 100 })
    const again = await server.request(`/api/backups/${base}/merge`, { method: 'POST', token, json: { plan: applied } })
    expect(again.status).toBe(404)
    expect((await json(again)).error).toMatch(/removed once applied/)

    const old = await analyze()
    fs.utimesSync(path.join(plansDir, `${old}.plan`), DAY_AND_AN_HOUR_AGO(), DAY_AND_AN_HOUR_AGO())
    const expired = await server.request(`/api/backups/${base}/merge`, { method: 'POST', token, json: { plan: old } })
    const refusal = await json(expired)
    expect(expired.status).toBe(404)
    expect(refusal).toMatchObject({ success: false, details: { reason: 'expired-plan' } })
    expect(refusal.error).toMatch(/expired \(plans are kept 24 hours\)/)
    expect(fs.existsSync(path.join(plansDir, `${old}.plan`))).toBe(false)

    const forgotten = await analyze()
    fs.utimesSync(path.join(plansDir, `${forgotten}.plan`), DAY_AND_AN_HOUR_AGO(), DAY_AND_AN_HOUR_AGO())
    const fresh = await analyze()
    expect(fs.readdirSync(plansDir).sort()).toEqual([`${fresh}.plan`])
  })

  it('a stale plan is explained in the API\'s words (no CLI flag)', async () => {
    const base = (await createBackup(server, token, { name: 'stale' })).result.file
    await sql(db.url, `UPDATE "User" SET "name" = 'Changed Before' WHERE id = (SELECT min(id) FROM "User")`)
    const started = await json(await server.request(`/api/backups/${base}/analyze`, { method: 'POST', token, json: { savePlan: true } }))
    await waitForJob(server, started.jobId, token)
    await sql(db.url, `UPDATE "User" SET "name" = 'Changed After' WHERE id = (SELECT min(id) FROM "User")`)
    const merged = await json(await server.request(`/api/backups/${base}/merge`, { method: 'POST', token, json: { plan: started.planId } }))
    const job = await waitForJob(server, merged.jobId, token)
    expect(job.state).toBe('failed')
    expect(job.error).toMatchObject({ status: 409, details: { reason: 'stale-plan' } })
    expect(job.error.error).not.toMatch(/--plan/)
    expect(job.error.error).toMatch(/analyze the backup again for a new plan/)
  })

  it('upload refusals carry details.reason: not-a-backup, damaged (with the table), unsupported-version, too-large', async () => {
    const backup = fs.readFileSync(db.backupFile, 'utf8')
    const upload = async (name: string, body: Buffer | string) => {
      const response = await server.request(`/api/backups/upload?filename=${name}`, { method: 'POST', token, body, headers: { 'content-type': 'application/octet-stream' } })
      return { status: response.status, body: await json(response) }
    }
    const before = listing(server.dir)

    for (const [name, body] of [
      ['words.json', 'this is not json at all\n'],
      ['other.json', '{"hello":"world"}'],
    ] as const) {
      const r = await upload(name, body)
      expect(r.status, JSON.stringify(r.body)).toBe(422)
      expect(r.body).toMatchObject({ code: 'BAD_FORMAT', details: { reason: 'not-a-backup' } })
    }

    const at = backup.indexOf('"Borealis"')
    const damaged = await upload('damaged.json', `${backup.slice(0, at + 1)}X${backup.slice(at + 2)}`)
    expect(damaged.status, JSON.stringify(damaged.body)).toBe(422)
    expect(damaged.body).toMatchObject({ code: 'BAD_FORMAT', details: { reason: 'damaged', table: 'Room' } })

    const meta = backup.lastIndexOf('"metadata"')
    const future = backup.slice(0, meta) + backup.slice(meta).replace(/"version": "1(\.\d+)*"/, '"version": "9.0"')
    expect(future).not.toBe(backup)
    const unsupported = await upload('future.json', future)
    expect(unsupported.status, JSON.stringify(unsupported.body)).toBe(422)
    expect(unsupported.body).toMatchObject({ code: 'BAD_FORMAT', details: { reason: 'unsupported-version' } })

    const big = await upload('big.json', Buffer.alloc(1024 * 1024 + 1, 0x20))
    expect(big.status).toBe(413)
    expect(big.body).toMatchObject({ code: 'TOO_LARGE', details: { reason: 'too-large' } })

    for (const r of [damaged, unsupported]) expect(JSON.stringify(r.body)).not.toMatch(/\.tmp-|\.partial/)
    expect(listing(server.dir)).toEqual(before)
  })
})

function verifyingId(answer: { jobId?: string }): string {
  if (!answer.jobId) throw new Error(`no job id in ${JSON.stringify(answer)}`)
  return answer.jobId
}
