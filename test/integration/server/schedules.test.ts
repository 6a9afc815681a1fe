/**
 * `/api/schedules` over real HTTP on `mergeback serve` (issue #16): roles, validation with
 * nothing written, create → the scheduler arms it (next run shown), run now → the backup is
 * made and the last result shown, replace, delete.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { makeSqlitePath } from '../../helpers/databases.js'
import { createToken, startTestServer, type TestServer } from './server-helpers.js'

describe('mergeback serve: /api/schedules', () => {
  let server: TestServer
  let sqlite: ReturnType<typeof makeSqlitePath>
  let admin: string
  let superAdmin: string

  beforeAll(async () => {
    sqlite = makeSqlitePath()
    const made = await runCli(['demo', '--file', sqlite.file, '--dir', path.join(path.dirname(sqlite.file), 'demo-backups'), '--json'])
    expect(made.code, made.stderr).toBe(0)
    // An S3 endpoint nobody listens on: a schedule with a remote destination must be refused.
    server = await startTestServer({ db: sqlite.url, env: { MERGEBACK_S3_ENDPOINT: 'http://127.0.0.1:1', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'never-shown-secret' } })
    admin = await createToken(server.root, 'ada', 'admin')
    superAdmin = await createToken(server.root, 'root', 'super_admin')
  })

  afterAll(async () => {
    await server?.stop()
    sqlite?.cleanup()
  })

  it('refuses bad schedules with 400 and a clear error, and an admin with 403; nothing is written', async () => {
    const bad: [unknown, RegExp][] = [
      [{ name: 'nightly', cron: '0 3 * *' }, /Malformed cron expression/],
      [{ name: 'nightly', cron: '0 3 * * *', timezone: 'Nowhere/Special' }, /Unknown time zone/],
      [{ name: 'nightly', cron: '0 3 * * *', webhook: 'javascript:alert(1)' }, /http:\/\/ or https:\/\//],
      [{ name: 'nightly', cron: '0 3 * * *', database: 'postgres://evil@host/db' }, /Unknown database/],
      [{ name: 'nightly', cron: '0 3 * * *', destination: 'remote', remote: 's3://offsite/app' }, /remote cannot be used: Cannot reach S3 at http:\/\/127\.0\.0\.1:1/],
    ]
    for (const [json, message] of bad) {
      const response = await server.request('/api/schedules', { method: 'POST', token: superAdmin, json })
      expect(response.status, JSON.stringify(json)).toBe(400)
      expect(((await response.json()) as { error: string }).error).toMatch(message)
    }
    const forbidden = await server.request('/api/schedules', { method: 'POST', token: admin, json: { name: 'nightly', cron: '0 3 * * *' } })
    expect(forbidden.status).toBe(403)
    expect(fs.existsSync(path.join(server.stateDir, 'schedules.json'))).toBe(false)
  })

  it('create, list with the next run, run now, replace, delete', async () => {
    const created = await server.request('/api/schedules', { method: 'POST', token: superAdmin, json: { name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Berlin', gzip: true, retention: { keepLast: 3 } } })
    expect(created.status).toBe(201)
    const id = ((await created.json()) as { schedule: { id: string } }).schedule.id
    const listed = (await (await server.request('/api/schedules', { token: admin })).json()) as any
    expect(listed.schedules).toHaveLength(1)
    expect(listed.schedules[0]).toMatchObject({ schedule: { id, name: 'nightly', kind: 'smart' }, running: false })
    expect(Date.parse(listed.schedules[0].nextRunAt)).toBeGreaterThan(Date.now())

    const run = await server.request(`/api/schedules/${id}/run`, { method: 'POST', token: admin })
    expect(run.status).toBe(200)
    await vi.waitFor(
      async () => {
        const body = (await (await server.request('/api/schedules', { token: admin })).json()) as any
        expect(body.schedules[0].lastRun).toMatchObject({ outcome: 'success', trigger: 'manual' })
      },
      { timeout: 20_000, interval: 200 },
    )
    expect(fs.readdirSync(server.dir).filter((f) => /^nightly-.*\.json\.gz$/.test(f))).toHaveLength(1)

    const saved = fs.readFileSync(path.join(server.stateDir, 'schedules.json'), 'utf8')
    for (const json of [
      { name: 'nightly', cron: 'at dawn' },
      { name: 'nightly', cron: '0 3 * * *', timezone: 'Nowhere/Special' },
      { name: 'nightly', cron: '0 3 * * *', webhook: 'ftp://hooks.example.com' },
      { name: 'nightly', cron: '0 3 * * *', destination: 'both', remote: 's3://offsite/app' },
    ]) {
      const badUpdate = await server.request(`/api/schedules/${id}`, { method: 'PUT', token: superAdmin, json })
      expect(badUpdate.status, JSON.stringify(json)).toBe(400)
      expect(await badUpdate.text()).not.toContain('never-shown-secret')
    }
    // Nothing changed.
    expect(fs.readFileSync(path.join(server.stateDir, 'schedules.json'), 'utf8')).toBe(saved)
    const updated = await server.request(`/api/schedules/${id}`, { method: 'PUT', token: superAdmin, json: { name: 'nightly', cron: '30 2 * * 1', timezone: 'UTC' } })
    expect(updated.status).toBe(200)
    const after = (await (await server.request('/api/schedules', { token: admin })).json()) as any
    expect(after.schedules[0].schedule.cron).toBe('30 2 * * 1')
    expect(new Date(after.schedules[0].nextRunAt).getUTCDay()).toBe(1)

    expect((await server.request(`/api/schedules/${id}`, { method: 'DELETE', token: admin })).status).toBe(403)
    expect((await server.request(`/api/schedules/${id}`, { method: 'DELETE', token: superAdmin })).status).toBe(200)
    expect((await server.request(`/api/schedules/${id}/run`, { method: 'POST', token: admin })).status).toBe(404)
  })
})
