/**
 * Issue #13 / docs/security.md: a full backup is the engine's own dump, whose SQL runs as written.
 * Restoring one requires the origin seal (made and sealed by this installation): a full backup
 * from another installation, or without its sealed catalog entry, is refused (exit 2 naming why)
 * unless the CLI user passes --trust-full-backup; the API never restores full backups (400) and
 * has no such override.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { makeSqlitePath, makeTempDir } from '../../helpers/databases.js'
import { createToken, startTestServer, waitForJob } from '../server/server-helpers.js'

describe('restoring a full backup needs the origin seal', () => {
  const temp = makeTempDir('mbfullseal-')
  const here = { MERGEBACK_STATE_DIR: path.join(temp.dir, 'state-here') }
  const elsewhere = { MERGEBACK_STATE_DIR: path.join(temp.dir, 'state-elsewhere') }
  const source = makeSqlitePath()
  const backups = path.join(temp.dir, 'backups')
  let file = ''

  beforeAll(async () => {
    const db = new Database(source.file)
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1, 'one'), (2, 'two');")
    db.close()
    const made = await runCli(['backup', '--full', '--db', source.url, '--dir', backups, '--json'], { env: here })
    expect(made.code, made.stderr + made.stdout).toBe(0)
    file = made.json().file as string
  })

  afterAll(() => {
    source.cleanup()
    temp.cleanup()
  })

  const rows = (url: string) => {
    const db = new Database(url.replace(/^sqlite:/, ''), { readonly: true })
    try {
      return db.prepare('SELECT * FROM t ORDER BY id').all()
    } finally {
      db.close()
    }
  }

  it('made and sealed here: restores', async () => {
    const target = makeSqlitePath()
    try {
      const restored = await runCli(['restore', file, '--db', target.url, '--json'], { env: here })
      expect(restored.code, restored.stderr + restored.stdout).toBe(0)
      expect(rows(target.url)).toEqual([{ id: 1, a: 'one' }, { id: 2, a: 'two' }])
    } finally {
      target.cleanup()
    }
  })

  it("another installation's full backup: exit 2 naming why, nothing written; --trust-full-backup restores it", async () => {
    const target = makeSqlitePath()
    try {
      const refused = await runCli(['restore', file, '--db', target.url], { env: elsewhere })
      expect(refused.code).toBe(2)
      expect(refused.stderr).toMatch(/is a full backup that this installation did not make \(its catalog entry is sealed with another installation's key\).*--trust-full-backup/)
      expect(refused.stderr.trim().split('\n')).toHaveLength(1)
      expect(fs.existsSync(target.file)).toBe(false)
      const trusted = await runCli(['restore', file, '--db', target.url, '--trust-full-backup', '--json'], { env: elsewhere })
      expect(trusted.code, trusted.stderr).toBe(0)
      expect(rows(target.url)).toHaveLength(2)
    } finally {
      target.cleanup()
    }
  })

  it('a full backup copied without its catalog entry, or with the seal removed from it: refused', async () => {
    const target = makeSqlitePath()
    try {
      const copy = path.join(temp.dir, 'copied', path.basename(file))
      fs.mkdirSync(path.dirname(copy), { recursive: true })
      fs.copyFileSync(file, copy)
      const bare = await runCli(['restore', copy, '--db', target.url], { env: here })
      expect(bare.code).toBe(2)
      expect(bare.stderr).toMatch(/did not make \(it has no catalog entry \(\.meta\.json\) sealed by this installation\)/)

      const sidecar = JSON.parse(fs.readFileSync(`${file}.meta.json`, 'utf8')) as Record<string, unknown>
      expect(typeof sidecar.originSeal).toBe('string')
      delete sidecar.originSeal
      fs.writeFileSync(`${copy}.meta.json`, JSON.stringify(sidecar))
      const unsealed = await runCli(['restore', copy, '--db', target.url], { env: here })
      expect(unsealed.code).toBe(2)
      expect(unsealed.stderr).toMatch(/did not make \(its catalog entry carries no seal of this installation\)/)

      // A sealed entry beside another file: the seal covers the SHA-256, which verify then compares.
      fs.writeFileSync(`${copy}.meta.json`, fs.readFileSync(`${file}.meta.json`))
      fs.appendFileSync(copy, Buffer.from('-- appended\n'))
      const changed = await runCli(['restore', copy, '--db', target.url], { env: here })
      expect(changed.code).toBe(2)
      expect(changed.stderr).toMatch(/damaged|size|SHA-256/)
      expect(fs.existsSync(target.file)).toBe(false)
    } finally {
      target.cleanup()
    }
  })

  it('the API never restores a full backup (400), and offers no override', async () => {
    const target = makeSqlitePath()
    const server = await startTestServer({ db: target.url, env: here })
    try {
      const token = await createToken(server.root, 'ada', 'admin')
      fs.mkdirSync(server.dir, { recursive: true })
      fs.copyFileSync(file, path.join(server.dir, path.basename(file)))
      fs.copyFileSync(`${file}.meta.json`, path.join(server.dir, `${path.basename(file)}.meta.json`))
      const started = await server.request(`/api/backups/${path.basename(file)}/restore`, { method: 'POST', token, json: {} })
      const body: any = await started.json()
      if (started.status === 202) {
        const done = await waitForJob(server, body.jobId, token)
        expect(done.state).toBe('failed')
        expect(done.error.status).toBe(400)
      } else {
        expect(started.status, JSON.stringify(body)).toBe(400)
      }
      const override = await server.request(`/api/backups/${path.basename(file)}/restore`, { method: 'POST', token, json: { trustFullBackup: true } })
      expect(override.status).toBe(400)
      expect(fs.existsSync(target.file)).toBe(false)
    } finally {
      await server.stop()
      target.cleanup()
    }
  })
})
