/**
 * The seeds' endpoints with the seeds' exact request bodies, over real HTTP, into SQLite and
 * PostgreSQL: create-and-download, analyze and merge, and /api/settings/backup (list, create,
 * restore from a server file and from an upload).
 */
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createToken, listing, startTestServer, type TestServer } from './server-helpers.js'
import { createDemoDatabase, digest, sql, type DemoDatabase, type Engine } from './data-helpers.js'

const ENGINES: Engine[] = ['sqlite', 'postgres']

describe.each(ENGINES)('the seeds\' endpoints on %s', (engine) => {
  let db: DemoDatabase
  let server: TestServer
  let admin: string
  let superAdmin: string

  beforeAll(async () => {
    db = await createDemoDatabase(engine)
    server = await startTestServer({ db: db.url })
    admin = await createToken(server.root, 'ada', 'admin')
    superAdmin = await createToken(server.root, 'root', 'super_admin')
    // The seed's merge examples name "backup.json": upload the demo backup under that name.
    const uploaded = await server.request('/api/backups/upload?filename=backup.json', { method: 'POST', token: admin, body: fs.readFileSync(db.backupFile), headers: { 'content-type': 'application/octet-stream' } })
    expect(uploaded.status, await uploaded.clone().text()).toBe(201)
  })

  afterAll(async () => {
    await server?.stop()
    await db?.cleanup()
  })

  it('GET /api/admin/backup/download?action=create-and-download&type=incremental streams the new backup as an attachment', async () => {
    const response = await server.request('/api/admin/backup/download?action=create-and-download&type=incremental', { token: admin })
    expect(response.status).toBe(200)
    const disposition = response.headers.get('content-disposition') ?? ''
    const name = /filename="(incremental-backup-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.json)"/.exec(disposition)?.[1]
    expect(name, disposition).toBeDefined()
    const body = Buffer.from(await response.arrayBuffer())
    expect(body.equals(fs.readFileSync(`${server.dir}/${name}`))).toBe(true)
    const parsed = JSON.parse(body.toString('utf8'))
    expect(parsed.tables.map((t: { tableName: string }) => t.tableName).sort()).toEqual(['Message', 'Registration', 'Room', 'RoomAllocation', 'User'])
    expect(parsed.metadata).toMatchObject({ version: '1.0', recordCounts: { User: 40 } })
  })

  it('refuses other actions and types with 400 listing the accepted ones, creating nothing', async () => {
    const before = listing(server.dir)
    for (const query of ['action=create&type=incremental', 'action=create-and-download&type=full', '']) {
      const response = await server.request(`/api/admin/backup/download?${query}`, { token: admin })
      expect(response.status).toBe(400)
      const body: any = await response.json()
      expect(body).toMatchObject({ success: false, details: { accepted: { action: ['create-and-download'], type: ['incremental'] } } })
    }
    expect(listing(server.dir)).toEqual(before)
  })

  it('POST /api/admin/backup/merge: the seed\'s analyze body reports, the seed\'s merge body merges', async () => {
    // After the backup: one message deleted, one user renamed without touching updatedAt (a conflict).
    await sql(db.url, [`DELETE FROM "Message" WHERE "id" = 'm001'`, `UPDATE "User" SET "name" = 'Renamed' WHERE "id" = 'u01'`])
    const changed = await digest(db.url)
    const analyzeBody = { action: 'analyze', filename: 'backup.json', options: { conflictResolution: 'backup_wins', preserveNewer: true } }
    const analyzed = await server.request('/api/admin/backup/merge', { method: 'POST', token: admin, json: analyzeBody })
    const report: any = await analyzed.json()
    expect(analyzed.status, JSON.stringify(report)).toBe(200)
    expect(report).toMatchObject({ success: true, action: 'analyze', filename: 'backup.json', dryRun: true })
    expect(report.totals).toMatchObject({ new: 1, conflicts: 1, resolved: { backup: 1, current: 0, merged: 0 }, unresolved: 0, currentOnly: 0 })
    expect(report.tables.Message.new).toBe(1)
    expect(report.conflicts).toEqual([expect.objectContaining({ table: 'User', key: 'u01', fields: [expect.objectContaining({ name: 'name', current: 'Renamed' })] })])
    expect(await digest(db.url)).toBe(changed)

    const mergeBody = { action: 'merge', filename: 'backup.json', options: { conflictResolution: 'backup_wins', preserveNewer: true, dryRun: false } }
    const merged = await server.request('/api/admin/backup/merge', { method: 'POST', token: admin, json: mergeBody })
    const mergeReport: any = await merged.json()
    expect(merged.status, JSON.stringify(mergeReport)).toBe(200)
    expect(mergeReport).toMatchObject({ success: true, action: 'merge', dryRun: false, totals: { new: 1, conflicts: 1 } })
    expect(await sql(db.url, `SELECT "name" FROM "User" WHERE "id" = 'u01'`)).toEqual([{ name: 'Ana Müller' }])
    expect(await sql(db.url, `SELECT "id" FROM "Message" WHERE "id" = 'm001'`)).toHaveLength(1)
  })

  it('POST /api/admin/backup/merge with options.plan applies the analyzed plan, or refuses a stale one with 409 and changes nothing', async () => {
    const seedMerge = (options: object) => server.request('/api/admin/backup/merge', { method: 'POST', token: admin, json: { action: options.hasOwnProperty('plan') ? 'merge' : 'analyze', filename: 'backup.json', options } })
    await sql(db.url, `UPDATE "User" SET "name" = 'Planned' WHERE "id" = 'u02'`)
    const first: any = await (await seedMerge({ conflictResolution: 'current_wins', savePlan: true })).json()
    expect(first).toMatchObject({ success: true, action: 'analyze', planId: expect.stringMatching(/^p_/) })
    await sql(db.url, `UPDATE "User" SET "name" = 'Changed since' WHERE "id" = 'u02'`)
    const before = await digest(db.url)
    const stale = await seedMerge({ plan: first.planId })
    expect(stale.status).toBe(409)
    expect(await stale.json()).toMatchObject({ success: false, code: 'MERGE_REFUSED', details: { reason: 'stale-plan' } })
    expect(await digest(db.url)).toBe(before)

    const fresh: any = await (await seedMerge({ conflictResolution: 'current_wins', savePlan: true })).json()
    const applied = await seedMerge({ plan: fresh.planId })
    const report: any = await applied.json()
    expect(applied.status, JSON.stringify(report)).toBe(200)
    expect(report).toMatchObject({ success: true, action: 'merge', totals: { conflicts: fresh.totals.conflicts } })
    expect(await sql(db.url, `SELECT "name" FROM "User" WHERE "id" = 'u02'`)).toEqual([{ name: 'Changed since' }])
  })

  it('answers 404 for a file that is not there and 400 for a traversal name, changing nothing', async () => {
    const before = await digest(db.url)
    const missing = await server.request('/api/admin/backup/merge', { method: 'POST', token: admin, json: { action: 'merge', filename: 'nope.json', options: {} } })
    expect(missing.status).toBe(404)
    const traversal = await server.request('/api/admin/backup/merge', { method: 'POST', token: admin, json: { action: 'merge', filename: '../state/tokens.json', options: {} } })
    expect(traversal.status).toBe(400)
    expect(await traversal.json()).toMatchObject({ success: false, code: 'UNSAFE_PATH' })
    expect(await digest(db.url)).toBe(before)
  })

  it('GET /api/settings/backup lists backups with metadata and the database statistics', async () => {
    const response = await server.request('/api/settings/backup', { token: admin })
    const body: any = await response.json()
    expect(response.status, JSON.stringify(body)).toBe(200)
    expect(body.success).toBe(true)
    expect(body.backups.map((b: { file: string }) => b.file)).toContain('backup.json')
    expect(body.backups.find((b: { file: string }) => b.file === 'backup.json')).toMatchObject({ recordCounts: { User: 40 }, catalogued: true })
    expect(body.stats).toMatchObject({ engine, tables: expect.arrayContaining([expect.objectContaining({ name: 'User', rows: 40 })]) })
  })

  it('POST /api/settings/backup creates a backup from the seed\'s form fields', async () => {
    const response = await server.request('/api/settings/backup', {
      method: 'POST',
      token: admin,
      json: { backupName: 'daily-backup', description: 'Daily CRM backup', compression: 'gzip', includeIndexes: true, excludeCollections: ['Message'] },
    })
    const body: any = await response.json()
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.backup).toMatchObject({ backupName: 'daily-backup', description: 'Daily CRM backup', compression: 'gzip', documentCount: 40 + 90 + 12 + 35 })
    expect(body.backup.filename).toMatch(/^daily-backup-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.json\.gz$/)
    expect(body.backup.collections).not.toContain('Message')
    expect(fs.existsSync(`${server.dir}/${body.backup.filename}`)).toBe(true)
  })

  it('PUT /api/settings/backup restores a server file into a targetDatabase (dry run first) and from an upload', async () => {
    const target = await db.sibling()
    const targetName = engine === 'sqlite' ? undefined : target.name
    if (engine === 'sqlite') {
      // SQLite has no server to name a database on: the target is a configured alias.
      await server.stop({ keep: true })
      server = await startTestServer({ root: server.root, db: db.url, config: { databases: { copy: target.url } } })
    }
    const targetDatabase = targetName ?? 'copy'
    const empty = await digest(target.url)
    const dry = await server.request('/api/settings/backup', { method: 'PUT', token: admin, json: { filename: 'backup.json', targetDatabase, dropExisting: false, dryRun: true, restoreTables: ['User', 'Room'] } })
    const dryBody: any = await dry.json()
    expect(dry.status, JSON.stringify(dryBody)).toBe(200)
    expect(dryBody).toMatchObject({ success: true, dryRun: true, results: { totals: { inserted: 52, skipped: 0 } } })
    expect(await digest(target.url)).toBe(empty)
    const real = await server.request('/api/settings/backup', { method: 'PUT', token: admin, json: { filename: 'backup.json', targetDatabase, restoreTables: ['User', 'Room'] } })
    expect(real.status).toBe(200)
    expect(Number((await sql(target.url, 'SELECT COUNT(*) AS n FROM "User"'))[0]!.n)).toBe(40)

    // Method B: the file as the body, the options in the query.
    const upload = await server.request(`/api/settings/backup?filename=from-upload.json&targetDatabase=${targetDatabase}&restoreTables=Registration`, {
      method: 'PUT',
      token: admin,
      body: fs.readFileSync(db.backupFile),
      headers: { 'content-type': 'application/octet-stream' },
    })
    const uploadBody: any = await upload.json()
    expect(upload.status, JSON.stringify(uploadBody)).toBe(200)
    expect(uploadBody).toMatchObject({ success: true, filename: 'from-upload.json', results: { totals: { inserted: 90 } } })
    expect(fs.existsSync(`${server.dir}/from-upload.json`)).toBe(true)

    // dropExisting needs super_admin; a URL as targetDatabase is refused.
    const dropped = await server.request('/api/settings/backup', { method: 'PUT', token: admin, json: { filename: 'backup.json', targetDatabase, dropExisting: true } })
    expect(dropped.status).toBe(403)
    const url = await server.request('/api/settings/backup', { method: 'PUT', token: superAdmin, json: { filename: 'backup.json', targetDatabase: 'postgres://evil.example/db' } })
    expect(url.status).toBe(400)
  })
})
