/**
 * Issue #13 through the HTTP API: the reader's limits are the server's (`serve --max-depth …`),
 * a file beyond one is a 413 naming limit, flag and variable; a key twice is a 422; and
 * restore/analyze/merge take `dropUnsafeDefinitions` as the CLI takes --drop-unsafe-definitions.
 */
import path from 'node:path'
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TableSchema } from '../../../src/adapters/adapter.js'
import { makeSqlitePath } from '../../helpers/databases.js'
import { createToken, listing, startTestServer, waitForJob, type TestServer } from '../server/server-helpers.js'
import { keyedTable, nested, writeCraftedFile } from './crafted-files.js'
import { writeCraftedBackup } from './targets.js'

describe('the API applies the reader limits and takes dropUnsafeDefinitions', () => {
  let server: TestServer
  let token: string
  let target: ReturnType<typeof makeSqlitePath>
  const scratch = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'mbapi-sec-'))

  beforeAll(async () => {
    target = makeSqlitePath()
    server = await startTestServer({ db: target.url, args: ['--max-depth', '16'] })
    token = await createToken(server.root, 'ada', 'admin')
  })

  afterAll(async () => {
    await server?.stop()
    target?.cleanup()
    fs.rmSync(scratch, { recursive: true, force: true })
  })

  function upload(name: string, body: Buffer): Promise<Response> {
    return server.request(`/api/backups/upload?filename=${encodeURIComponent(name)}`, { method: 'POST', token, body, headers: { 'content-type': 'application/octet-stream' } })
  }

  it('an upload nested deeper than serve --max-depth: 413 naming the limit, nothing kept', async () => {
    const file = path.join(scratch, 'deep.json')
    writeCraftedFile(file, 'sqlite', [keyedTable([`{"id":1,"a":${nested(20)}}`])])
    // The audit log and its head (written beside it as each job ends) are not backups.
    const backups = () => listing(server.dir).filter((entry) => !entry.startsWith('audit'))
    const before = backups()
    const response = await upload('deep.json', fs.readFileSync(file))
    const answer: any = await response.json()
    expect(response.status, JSON.stringify(answer)).toBe(413)
    expect(answer).toMatchObject({ success: false, code: 'BAD_FORMAT', details: { limit: 'maxDepth', limitValue: 16, flag: '--max-depth', env: 'MERGEBACK_MAX_DEPTH' } })
    expect(answer.error).toMatch(/nested deeper than 16 levels \(limit maxDepth = 16; raise it with the flag --max-depth/)
    expect(backups()).toEqual(before)
  })

  it('an upload with a key twice in a table: 422 naming table and key', async () => {
    const file = path.join(scratch, 'dup.json')
    writeCraftedFile(file, 'sqlite', [keyedTable(['{"id":1,"a":"x"}', '{"id":1,"a":"y"}'], 'text')])
    const response = await upload('dup.json', fs.readFileSync(file))
    const answer: any = await response.json()
    expect(response.status, JSON.stringify(answer)).toBe(422)
    expect(answer.error).toMatch(/table "t" holds the key \(id\) = 1 twice/)
  })

  it('restore refuses a default it cannot rebuild (422) unless dropUnsafeDefinitions; analyze and merge accept the option', async () => {
    const table: TableSchema = {
      name: 't',
      columns: [
        { name: 'id', type: 'INTEGER', kind: 'integer', nullable: false },
        { name: 'a', type: 'TEXT', kind: 'text', nullable: true, default: "readfile('/etc/hostname')" },
      ],
      primaryKey: ['id'],
      uniqueConstraints: [],
      indexes: [],
      foreignKeys: [],
    }
    const file = path.join(scratch, 'unsafe.json')
    await writeCraftedBackup(file, 'sqlite', table, [{ id: 1, a: 'one' }])
    const uploaded = await upload('unsafe.json', fs.readFileSync(file))
    expect(uploaded.status, await uploaded.clone().text()).toBe(201)

    const start = async (action: string, json: unknown) => {
      const response = await server.request(`/api/backups/unsafe.json/${action}`, { method: 'POST', token, json })
      const body: any = await response.json()
      expect(response.status, JSON.stringify(body)).toBe(202)
      return waitForJob(server, body.jobId, token)
    }
    const refused = await start('restore', {})
    expect(refused.state).toBe('failed')
    expect(refused.error).toMatchObject({ status: 422, code: 'BAD_FORMAT' })
    expect(refused.error.error).toMatch(/readfile/)

    const restored = await start('restore', { dropUnsafeDefinitions: true })
    expect(restored.state, JSON.stringify(restored.error)).toBe('succeeded')
    expect(restored.result.totals).toEqual({ inserted: 1, skipped: 0 })
    expect(restored.result.warnings.join('\n')).toMatch(/default .*readfile.* is not recreated/)

    for (const action of ['analyze', 'merge']) {
      const done = await start(action, { dropUnsafeDefinitions: true })
      expect(done.state, `${action} ${JSON.stringify(done.error)}`).toBe('succeeded')
    }
    const unknown = await server.request('/api/backups/unsafe.json/restore', { method: 'POST', token, json: { dropUnsafeDefinitions: 'yes' } })
    expect(unknown.status).toBe(400)
  })
})
