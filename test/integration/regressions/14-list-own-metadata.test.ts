/**
 * Issue #14 item 11 (rest): `list`, the API's list and the catalog showed a hand-made or
 * uploaded file by its file name and modification time, although the file names itself
 * (`metadata.backupName`) and carries its time (`exportedAt`, or `timestamp` in the CRM layout).
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { listBackups } from '../../../src/storage/catalog.js'
import { REPO_ROOT, runCli } from '../../helpers/cli.js'
import { makeTempDir } from '../../helpers/databases.js'
import { createToken, startTestServer, type TestServer } from '../server/server-helpers.js'

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/format-v1')
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** A hand-made backup in our layout, larger than what `list` peeks at, its metadata last. */
function bigHandMade(): string {
  const records = Array.from({ length: 3000 }, (_, i) => ({ id: i + 1, note: `row ${i} with "metadata": {"backupName": "decoy"} inside a string` }))
  return JSON.stringify(
    {
      tables: [{ tableName: 'notes', primaryKey: 'id', records }],
      metadata: { exportedAt: '2023-03-04T05:06:07.000Z', version: '1.0', backupName: 'hand-made-notes', recordCounts: { notes: 3000 } },
    },
    null,
    2,
  )
}

describe('#14 item 11: list shows a file\'s own name and time', () => {
  it('files copied in by hand: CRM layout (metadata first), Smart Backup layout and a large file (metadata last)', async () => {
    const tmp = makeTempDir('mb14-list-')
    cleanups.push(tmp.cleanup)
    fs.copyFileSync(path.join(FIXTURES, 'crm-backup_2025-10-09.json'), path.join(tmp.dir, 'from-the-crm.json'))
    fs.copyFileSync(path.join(FIXTURES, 'incremental-backup-2024-01-15T12-00-00.json'), path.join(tmp.dir, 'smart.json'))
    fs.writeFileSync(path.join(tmp.dir, 'big.json'), bigHandMade())
    expect(fs.statSync(path.join(tmp.dir, 'big.json')).size).toBeGreaterThan(200 * 1024)
    // A file whose metadata has neither name nor time keeps its file name and mtime.
    fs.writeFileSync(path.join(tmp.dir, 'bare.json'), JSON.stringify({ tables: [], metadata: { version: '1.0' } }))
    const mtime = fs.statSync(path.join(tmp.dir, 'bare.json')).mtime.toISOString()

    const byFile = Object.fromEntries((await listBackups(tmp.dir)).map((b) => [b.file, b]))
    expect(byFile['from-the-crm.json']).toMatchObject({
      name: 'daily-backup',
      createdAt: '2025-10-09T08:15:30.123Z',
      database: 'crm_database',
      description: 'Daily CRM backup',
      tables: ['users', 'departments', 'roles'],
      catalogued: false,
    })
    expect(byFile['smart.json']).toMatchObject({ name: 'smart', createdAt: '2024-01-15T12:00:00.000Z', recordCounts: { User: 3, Room: 0 } })
    expect(byFile['big.json']).toMatchObject({ name: 'hand-made-notes', createdAt: '2023-03-04T05:06:07.000Z', recordCounts: { notes: 3000 } })
    expect(byFile['bare.json']).toMatchObject({ name: 'bare', createdAt: mtime })

    const cli = await runCli(['list', '--dir', tmp.dir])
    expect(cli.code, cli.stderr).toBe(0)
    expect(cli.stdout).toMatch(/from-the-crm\.json\s+daily-backup\s+2025-10-09 08:15:30/)
    expect(cli.stdout).toMatch(/big\.json\s+hand-made-notes\s+2023-03-04 05:06:07/)
  })

  it('an upload is catalogued under its own name and time, in the API list too', async () => {
    const server: TestServer = await startTestServer()
    cleanups.push(async () => void (await server.stop()))
    const token = await createToken(server.root, 'ada', 'admin')
    const response = await server.request('/api/backups/upload?filename=uploaded.json', {
      method: 'POST',
      token,
      body: fs.readFileSync(path.join(FIXTURES, 'crm-backup_2025-10-09.json')),
      headers: { 'content-type': 'application/octet-stream' },
    })
    const body: any = await response.json()
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.backup).toMatchObject({ file: 'uploaded.json', name: 'daily-backup', createdAt: '2025-10-09T08:15:30.123Z', database: 'crm_database', catalogued: true })
    const list: any = await (await server.request('/api/backups', { token })).json()
    expect(list.backups).toEqual([expect.objectContaining({ file: 'uploaded.json', name: 'daily-backup', createdAt: '2025-10-09T08:15:30.123Z' })])
  })
})
