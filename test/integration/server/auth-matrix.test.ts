/**
 * Every route × { no token, malformed token, revoked token, admin, super_admin } → the expected
 * status; for every refusal, nothing changed (the database's digest, the backup directory's
 * listing) and the refusal is in the audit log.
 */
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createToken, listing, revokeToken, startTestServer, waitForJob, type TestServer } from './server-helpers.js'
import { createDemoDatabase, digest, type DemoDatabase } from './data-helpers.js'

type Who = 'none' | 'malformed' | 'revoked' | 'admin' | 'super_admin'

interface RouteCase {
  readonly name: string
  readonly method: string
  readonly path: () => string
  readonly json?: unknown
  readonly raw?: () => Buffer
  /** Status for admin and super_admin. */
  readonly admin: number
  readonly superAdmin: number
}

describe('the authorization matrix', () => {
  let db: DemoDatabase
  let server: TestServer
  const tokens: Record<Who, string | undefined> = { none: undefined, malformed: 'not-a-token', revoked: undefined, admin: undefined, super_admin: undefined }
  let jobId = ''
  let uploads = 0
  let deletable: string[] = []

  beforeAll(async () => {
    db = await createDemoDatabase('sqlite')
    server = await startTestServer({ db: db.url })
    tokens.admin = await createToken(server.root, 'ada', 'admin')
    tokens.super_admin = await createToken(server.root, 'root', 'super_admin')
    tokens.revoked = await createToken(server.root, 'gone', 'super_admin')
    await revokeToken(server.root, 'gone')
    const put = await server.request('/api/backups/upload?filename=b.json', { method: 'POST', token: tokens.admin, body: fs.readFileSync(db.backupFile), headers: { 'content-type': 'application/octet-stream' } })
    expect(put.status).toBe(201)
    for (const name of ['d1.json', 'd2.json']) {
      fs.copyFileSync(db.backupFile, `${server.dir}/${name}`)
    }
    deletable = ['d1.json', 'd2.json']
    const started: any = await (await server.request('/api/backups/b.json/verify', { method: 'POST', token: tokens.admin })).json()
    jobId = started.jobId
    await waitForJob(server, jobId, tokens.admin!)
  })

  afterAll(async () => {
    await server?.stop()
    await db?.cleanup()
  })

  const routes: RouteCase[] = [
    { name: 'me', method: 'GET', path: () => '/api/me', admin: 200, superAdmin: 200 },
    { name: 'databases', method: 'GET', path: () => '/api/databases', admin: 200, superAdmin: 200 },
    { name: 'list', method: 'GET', path: () => '/api/backups', admin: 200, superAdmin: 200 },
    { name: 'create', method: 'POST', path: () => '/api/backups', json: { name: 'm' }, admin: 202, superAdmin: 202 },
    { name: 'inspect', method: 'GET', path: () => '/api/backups/b.json', admin: 200, superAdmin: 200 },
    { name: 'download', method: 'GET', path: () => '/api/backups/b.json/download', admin: 200, superAdmin: 200 },
    { name: 'download-token', method: 'POST', path: () => '/api/backups/b.json/download-token', admin: 200, superAdmin: 200 },
    { name: 'upload', method: 'POST', path: () => `/api/backups/upload?filename=u${++uploads}.json`, raw: () => fs.readFileSync(db.backupFile), admin: 201, superAdmin: 201 },
    { name: 'verify', method: 'POST', path: () => '/api/backups/b.json/verify', admin: 202, superAdmin: 202 },
    { name: 'restore dry run', method: 'POST', path: () => '/api/backups/b.json/restore', json: { dryRun: true }, admin: 202, superAdmin: 202 },
    { name: 'restore with drop', method: 'POST', path: () => '/api/backups/b.json/restore', json: { drop: true, tables: ['Message'] }, admin: 403, superAdmin: 202 },
    { name: 'analyze', method: 'POST', path: () => '/api/backups/b.json/analyze', json: {}, admin: 202, superAdmin: 202 },
    { name: 'merge dry run', method: 'POST', path: () => '/api/backups/b.json/merge', json: { dryRun: true }, admin: 202, superAdmin: 202 },
    { name: 'delete', method: 'DELETE', path: () => `/api/backups/${deletable[0]}`, admin: 403, superAdmin: 200 },
    { name: 'prune', method: 'POST', path: () => '/api/prune', json: { keepLast: 100 }, admin: 403, superAdmin: 200 },
    { name: 'prune dry run', method: 'POST', path: () => '/api/prune', json: { keepLast: 1, dryRun: true }, admin: 200, superAdmin: 200 },
    { name: 'stats', method: 'GET', path: () => '/api/stats', admin: 200, superAdmin: 200 },
    { name: 'audit', method: 'GET', path: () => '/api/audit', admin: 200, superAdmin: 200 },
    { name: 'audit verify', method: 'GET', path: () => '/api/audit/verify', admin: 200, superAdmin: 200 },
    { name: 'jobs', method: 'GET', path: () => '/api/jobs', admin: 200, superAdmin: 200 },
    { name: 'job', method: 'GET', path: () => `/api/jobs/${jobId}`, admin: 200, superAdmin: 200 },
    { name: 'job events', method: 'GET', path: () => `/api/jobs/${jobId}/events`, admin: 200, superAdmin: 200 },
    { name: 'cancel job', method: 'DELETE', path: () => `/api/jobs/${jobId}`, admin: 200, superAdmin: 200 },
    { name: 'seed download', method: 'GET', path: () => '/api/admin/backup/download?action=create-and-download&type=incremental', admin: 200, superAdmin: 200 },
    { name: 'seed merge', method: 'POST', path: () => '/api/admin/backup/merge', json: { action: 'analyze', filename: 'b.json', options: {} }, admin: 200, superAdmin: 200 },
    { name: 'settings list', method: 'GET', path: () => '/api/settings/backup', admin: 200, superAdmin: 200 },
    { name: 'settings create', method: 'POST', path: () => '/api/settings/backup', json: { backupName: 's' }, admin: 201, superAdmin: 201 },
    { name: 'settings restore', method: 'PUT', path: () => '/api/settings/backup', json: { filename: 'b.json', dryRun: true }, admin: 200, superAdmin: 200 },
    { name: 'settings restore with drop', method: 'PUT', path: () => '/api/settings/backup', json: { filename: 'b.json', dropExisting: true, restoreTables: ['Message'] }, admin: 403, superAdmin: 200 },
  ]

  async function call(route: RouteCase, who: Who): Promise<Response> {
    const token = tokens[who]
    const headers: Record<string, string> = {}
    if (who === 'malformed') headers.authorization = 'Basic dXNlcjpwYXNz'
    const init = { method: route.method, headers, token: who === 'malformed' || who === 'none' ? undefined : token }
    if (route.raw) return server.request(route.path(), { ...init, body: route.raw(), headers: { ...headers, 'content-type': 'application/octet-stream' } })
    if (route.json !== undefined) return server.request(route.path(), { ...init, json: route.json })
    return server.request(route.path(), init)
  }

  async function auditRefusals(): Promise<number> {
    const text = fs.existsSync(`${server.dir}/audit.jsonl`) ? fs.readFileSync(`${server.dir}/audit.jsonl`, 'utf8') : ''
    return text.split('\n').filter((l) => l.includes('"action":"auth"') && l.includes('"outcome":"refused"')).length
  }

  it.each(['none', 'malformed', 'revoked'] as Who[])('refuses every route with 401 for %s, changing nothing and auditing the refusal', async (who) => {
    for (const route of routes) {
      const dbBefore = await digest(db.url)
      const dirBefore = listing(server.dir)
      const refusalsBefore = await auditRefusals()
      const response = await call(route, who)
      expect(response.status, `${route.name} (${who})`).toBe(401)
      expect(await response.json()).toMatchObject({ success: false, code: 'UNAUTHENTICATED' })
      expect(await digest(db.url), route.name).toBe(dbBefore)
      expect(listing(server.dir), route.name).toEqual(dirBefore)
      expect(await auditRefusals(), route.name).toBe(refusalsBefore + 1)
    }
  })

  it('gives admin what admin may do, and 403 (changing nothing, audited) for the rest', async () => {
    for (const route of routes) {
      const dbBefore = await digest(db.url)
      const dirBefore = listing(server.dir)
      const refusalsBefore = await auditRefusals()
      const response = await call(route, 'admin')
      const text = await response.text()
      expect(response.status, `${route.name}: ${text.slice(0, 300)}`).toBe(route.admin)
      if (route.admin === 403) {
        expect(JSON.parse(text)).toMatchObject({ success: false, code: 'FORBIDDEN' })
        expect(await digest(db.url), route.name).toBe(dbBefore)
        expect(listing(server.dir), route.name).toEqual(dirBefore)
        expect(await auditRefusals(), route.name).toBe(refusalsBefore + 1)
      }
      if (response.status === 202) await waitForJob(server, JSON.parse(text).jobId, tokens.admin!)
    }
  })

  it('gives super_admin everything', async () => {
    for (const route of routes) {
      const response = await call(route, 'super_admin')
      const text = await response.text()
      expect(response.status, `${route.name}: ${text.slice(0, 300)}`).toBe(route.superAdmin)
      if (response.status === 202) {
        const job = await waitForJob(server, JSON.parse(text).jobId, tokens.super_admin!)
        expect(job.state, `${route.name}: ${JSON.stringify(job.error)}`).toBe('succeeded')
      }
      if (route.name === 'delete') deletable.shift()
    }
  })

  it('a download token opens only its own file, only for a minute, only for GET', async () => {
    const issued: any = await (await server.request('/api/backups/b.json/download-token', { method: 'POST', token: tokens.admin })).json()
    expect((await server.request(issued.url)).status).toBe(200)
    expect((await server.request(`/api/backups/u1.json/download?token=${issued.token}`)).status).toBe(401)
    expect((await server.request(`/api/backups/b.json?token=${issued.token}`)).status).toBe(401)
    expect((await server.request(`/api/backups/b.json/download?token=dlt_forged`)).status).toBe(401)
  })
})
