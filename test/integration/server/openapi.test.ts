/**
 * The OpenAPI document validates against the OpenAPI 3.1 schema (a real validator), and every
 * operation in it answers over HTTP (no "no such route", no 500).
 */
import fs from 'node:fs'
import { Validator } from '@seriousme/openapi-schema-validator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createToken, startTestServer, waitForJob, type TestServer } from './server-helpers.js'
import { createDemoDatabase, type DemoDatabase } from './data-helpers.js'

/** A body each operation accepts, for the ones that need more than `{}`. */
const BODIES: Record<string, unknown> = {
  'post /api/admin/backup/merge': { action: 'analyze', filename: 'b.json', options: {} },
  'put /api/settings/backup': { filename: 'b.json', dryRun: true },
  'post /api/backups/{name}/restore': { dryRun: true },
  'post /api/backups/{name}/merge': { dryRun: true },
  'post /api/prune': { keepLast: 100, dryRun: true },
  'post /api/schedules': { name: 'openapi-listed', cron: '0 3 * * *' },
  'put /api/schedules/{id}': { name: 'openapi-kept', cron: '0 4 * * *' },
}

describe('the OpenAPI document', () => {
  let db: DemoDatabase
  let server: TestServer
  let token: string
  let doc: any

  beforeAll(async () => {
    db = await createDemoDatabase('sqlite')
    server = await startTestServer({ db: db.url })
    token = await createToken(server.root, 'root', 'super_admin')
    const put = await server.request('/api/backups/upload?filename=b.json', { method: 'POST', token, body: fs.readFileSync(db.backupFile), headers: { 'content-type': 'application/octet-stream' } })
    expect(put.status).toBe(201)
    fs.copyFileSync(db.backupFile, `${server.dir}/to-delete.json`)
    doc = await (await server.request('/api/openapi.json')).json()
  })

  afterAll(async () => {
    await server?.stop()
    await db?.cleanup()
  })

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(doc)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
    expect(doc.openapi).toBe('3.1.0')
    // The validator does reject a broken document (so the pass above means something).
    expect((await new Validator().validate({ ...doc, paths: { '/x': { get: { responses: 'none' } } } })).valid).toBe(false)
  })

  it('describes every route of docs/api.md', () => {
    const operations = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${p}`))
    for (const expected of [
      'GET /api/health',
      'GET /api/openapi.json',
      'GET /api/backups',
      'POST /api/backups',
      'GET /api/backups/{name}',
      'GET /api/backups/{name}/download',
      'POST /api/backups/{name}/download-token',
      'POST /api/backups/upload',
      'POST /api/backups/{name}/verify',
      'POST /api/backups/{name}/restore',
      'POST /api/backups/{name}/analyze',
      'POST /api/backups/{name}/merge',
      'DELETE /api/backups/{name}',
      'POST /api/prune',
      'GET /api/stats',
      'GET /api/audit',
      'GET /api/audit/verify',
      'GET /api/jobs',
      'GET /api/jobs/{id}',
      'GET /api/jobs/{id}/events',
      'DELETE /api/jobs/{id}',
      'GET /api/admin/backup/download',
      'POST /api/admin/backup/merge',
      'GET /api/settings/backup',
      'POST /api/settings/backup',
      'PUT /api/settings/backup',
    ]) {
      expect(operations).toContain(expected)
    }
  })

  it('every operation in it answers', async () => {
    const started: any = await (await server.request('/api/backups/b.json/verify', { method: 'POST', token })).json()
    await waitForJob(server, started.jobId, token)
    for (const [template, operations] of Object.entries(doc.paths) as [string, Record<string, any>][]) {
      for (const method of Object.keys(operations)) {
        const key = `${method} ${template}`
        let target = template.replace('{id}', started.jobId).replace('{name}', method === 'delete' ? 'to-delete.json' : 'b.json')
        if (template.startsWith('/api/schedules/{id}')) {
          // Each schedule operation gets a schedule of its own (a deleted one cannot be run).
          const made: any = await (await server.request('/api/schedules', { method: 'POST', token, json: { name: `openapi-${method}-${template.length}`, cron: '0 3 * * *' } })).json()
          target = template.replace('{id}', made.schedule.id)
        }
        if (template === '/api/admin/backup/download') target += '?action=create-and-download&type=incremental'
        if (template === '/api/backups/upload') target += '?filename=again.json'
        const init =
          template === '/api/backups/upload'
            ? { method: method.toUpperCase(), token, body: fs.readFileSync(db.backupFile), headers: { 'content-type': 'application/octet-stream' } }
            : ['post', 'put'].includes(method)
              ? { method: method.toUpperCase(), token, json: BODIES[key] ?? {} }
              : { method: method.toUpperCase(), token }
        const response = await server.request(target, init)
        const text = await response.text()
        expect(response.status, `${key}: ${text.slice(0, 300)}`).toBeLessThan(300)
        expect(Object.keys(operations[method].responses), key).toContain(String(response.status))
        if (response.status === 202) await waitForJob(server, JSON.parse(text).jobId, token)
      }
    }
  })
})
