/**
 * The server's skeleton over real HTTP: health, tokens (create, revoke), the backup list, the
 * OpenAPI document, the admin page, graceful shutdown.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { makeSqlitePath } from '../../helpers/databases.js'
import { createToken, revokeToken, startTestServer, type TestServer } from './server-helpers.js'

describe('mergeback serve: basics', () => {
  let server: TestServer
  let sqlite: ReturnType<typeof makeSqlitePath>
  let admin: string

  beforeAll(async () => {
    sqlite = makeSqlitePath()
    const made = await runCli(['demo', '--file', sqlite.file, '--dir', path.join(path.dirname(sqlite.file), 'demo-backups'), '--json'])
    expect(made.code, made.stderr).toBe(0)
    server = await startTestServer({ db: sqlite.url })
    admin = await createToken(server.root, 'ada', 'admin')
  })

  afterAll(async () => {
    await server?.stop()
    sqlite?.cleanup()
  })

  it('answers /api/health without a token, with the version and the database reachable', async () => {
    const response = await server.request('/api/health')
    expect(response.status).toBe(200)
    const body: any = await response.json()
    expect(body).toMatchObject({ success: true, status: 'ok', databases: { default: { engine: 'sqlite', reachable: true } } })
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('stores only a hash of each token, in a 0600 file outside the backup directory', async () => {
    const file = path.join(server.stateDir, 'tokens.json')
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    const text = fs.readFileSync(file, 'utf8')
    expect(text).not.toContain(admin)
    expect(path.relative(server.dir, server.stateDir).startsWith('..')).toBe(true)
    const listed = await runCli(['token', 'list', '--state', server.stateDir, '--json'])
    expect(listed.json().tokens).toEqual([expect.objectContaining({ name: 'ada', role: 'admin' })])
    expect(listed.stdout).not.toContain(admin)
  })

  it('refuses a state directory inside the backup directory', async () => {
    const result = await runCli(['token', 'create', '--name', 'x', '--role', 'admin', '--dir', server.dir, '--state', path.join(server.dir, 'state'), '--json'])
    expect(result.code).toBe(2)
    expect(result.json().error).toMatch(/inside the backup directory/)
  })

  it('/api/audit/verify reports the last audit entries cut off (issue #13 finding 7)', async () => {
    const { appendAudit } = await import('../../../src/audit/audit-log.js')
    for (let i = 0; i < 3; i++) await appendAudit(server.dir, { action: 'backup', actor: 'test', outcome: 'success' })
    const intact: any = await (await server.request('/api/audit/verify', { token: admin })).json()
    expect(intact).toMatchObject({ success: true, ok: true, problems: [] })
    const file = path.join(server.dir, 'audit.jsonl')
    const whole = fs.readFileSync(file, 'utf8')
    const lines = whole.split('\n').filter(Boolean)
    fs.writeFileSync(file, lines.slice(0, -1).map((l) => `${l}\n`).join(''))
    const cut: any = await (await server.request('/api/audit/verify', { token: admin })).json()
    expect(cut.ok).toBe(false)
    expect(cut.problems).toEqual([expect.objectContaining({ problem: expect.stringMatching(/the last entry was removed/) })])
    fs.writeFileSync(file, whole)
  })

  it('lists backups with a token and refuses without one', async () => {
    expect((await server.request('/api/backups')).status).toBe(401)
    const response = await server.request('/api/backups', { token: admin })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ success: true, backups: [], unfinished: [] })
  })

  it('stops accepting a revoked token at the next request', async () => {
    const token = await createToken(server.root, 'temp', 'admin')
    expect((await server.request('/api/me', { token })).status).toBe(200)
    await revokeToken(server.root, 'temp')
    const refused = await server.request('/api/me', { token })
    expect(refused.status).toBe(401)
    expect(await refused.json()).toMatchObject({ success: false, code: 'UNAUTHENTICATED' })
  })

  it('serves the OpenAPI document and redirects / to the admin page, which says when it is not built', async () => {
    const doc: any = await (await server.request("/api/openapi.json")).json()
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toContain('/api/backups')
    const root = await server.request('/', { redirect: 'manual' })
    expect(root.status).toBe(302)
    expect(root.headers.get('location')).toBe('/admin/backup/')
    const page = await server.request('/admin/backup/')
    expect(page.status).toBe(404)
    expect(await page.text()).toContain('not built')
    fs.mkdirSync(path.join(server.root, 'web', 'assets'), { recursive: true })
    fs.writeFileSync(path.join(server.root, 'web', 'index.html'), '<!doctype html><title>page</title>')
    fs.writeFileSync(path.join(server.root, 'web', 'assets', 'app.js'), 'console.log(1)')
    const built = await server.request('/admin/backup/')
    expect(built.status).toBe(200)
    expect(await built.text()).toContain('<title>page</title>')
    expect((await server.request('/admin/backup/some/route')).status).toBe(200)
    const asset = await server.request('/admin/backup/assets/app.js')
    expect(asset.headers.get('content-type')).toContain('javascript')
    expect((await server.request('/admin/backup/..%2F..%2Fstate%2Ftokens.json')).status).toBe(200)
    expect(await (await server.request('/admin/backup/..%2F..%2Fstate%2Ftokens.json')).text()).toContain('<title>page</title>')
  })

  it('logs each request as one JSON line on stderr without the token', async () => {
    const before = server.logs.length
    await server.request('/api/backups', { token: admin })
    const mine = () => server.logs.slice(before).filter((l) => l.msg === 'request' && l.path === '/api/backups')
    await expect.poll(() => mine().length).toBe(1)
    const lines = mine()
    expect(lines.at(-1)).toMatchObject({ method: 'GET', status: 200, actor: { name: 'ada', role: 'admin' } })
    expect(JSON.stringify(server.logs)).not.toContain(admin)
  })

  it('exits cleanly on SIGTERM', async () => {
    const other = await startTestServer({ db: sqlite.url })
    expect(await other.stop()).toBe(0)
  })
})
