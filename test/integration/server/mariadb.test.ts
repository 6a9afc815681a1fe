/**
 * MariaDB through the API, one scenario end to end: the seed's create-and-download, the seed's
 * analyze and merge bodies after a change, and a restore job followed to its end.
 */
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createToken, startTestServer, waitForJob, type TestServer } from './server-helpers.js'
import { createDemoDatabase, digest, sql, type DemoDatabase } from './data-helpers.js'

describe('the API on MariaDB', () => {
  let db: DemoDatabase
  let server: TestServer
  let token: string

  beforeAll(async () => {
    db = await createDemoDatabase('mysql')
    server = await startTestServer({ db: db.url })
    token = await createToken(server.root, 'ada', 'admin')
  }, 120_000)

  afterAll(async () => {
    await server?.stop()
    await db?.cleanup()
  })

  it('backs up, analyzes, merges and restores', async () => {
    const download = await server.request('/api/admin/backup/download?action=create-and-download&type=incremental', { token })
    expect(download.status).toBe(200)
    const name = /filename="([^"]+)"/.exec(download.headers.get('content-disposition') ?? '')![1]!
    const body = Buffer.from(await download.arrayBuffer())
    expect(body.equals(fs.readFileSync(`${server.dir}/${name}`))).toBe(true)
    fs.copyFileSync(`${server.dir}/${name}`, `${server.dir}/backup.json`)

    await sql(db.url, [`DELETE FROM "Message" WHERE "id" = 'm002'`, `UPDATE "User" SET "name" = 'Changed' WHERE "id" = 'u02'`])
    const changed = await digest(db.url)
    const analyzed: any = await (
      await server.request('/api/admin/backup/merge', { method: 'POST', token, json: { action: 'analyze', filename: 'backup.json', options: { conflictResolution: 'backup_wins', preserveNewer: true } } })
    ).json()
    expect(analyzed).toMatchObject({ success: true, totals: { new: 1, conflicts: 1 } })
    expect(await digest(db.url)).toBe(changed)
    const merged: any = await (
      await server.request('/api/admin/backup/merge', { method: 'POST', token, json: { action: 'merge', filename: 'backup.json', options: { conflictResolution: 'backup_wins', preserveNewer: true, dryRun: false } } })
    ).json()
    expect(merged).toMatchObject({ success: true, totals: { new: 1, conflicts: 1 } })
    expect(await sql(db.url, `SELECT "name" FROM "User" WHERE "id" = 'u02'`)).toEqual([{ name: 'José García Núñez' }])

    const target = await db.sibling()
    const started: any = await (await server.request('/api/backups/backup.json/restore', { method: 'POST', token, json: { targetDatabase: target.name } })).json()
    const job = await waitForJob(server, started.jobId, token)
    expect(job).toMatchObject({ state: 'succeeded', result: { totals: { inserted: 297, skipped: 0 } } })
    expect(await digest(target.url)).toBe(await digest(db.url))
  }, 120_000)
})
