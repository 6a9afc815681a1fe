/**
 * Issue #18: `delete` protects chain links. A backup that a kept increment needs (its full backup,
 * or an earlier increment) is refused, naming the increments (CLI exit 2, API 409), and nothing is
 * deleted; `--with-increments` (API `withIncrements=true`) deletes it with every increment that
 * needs it. The chain's last increment, which nothing needs, deletes as any backup does.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { backup } from '../../../src/engine/backup.js'
import { makeSqlitePath, makeTempDir } from '../../helpers/databases.js'
import { runCli } from '../../helpers/cli.js'
import { createToken, startTestServer } from '../server/server-helpers.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** A full backup and two increments of a small SQLite database in `dir`; their file names, full first. */
async function makeChain(dir: string): Promise<string[]> {
  const db = makeSqlitePath()
  cleanups.push(db.cleanup)
  const exec = (sql: string) => {
    const conn = new Database(db.file)
    conn.exec(sql)
    conn.close()
  }
  exec(`CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO note VALUES (1, 'a'), (2, 'b');`)
  const full = await backup({ db: db.url, out: dir, name: 'app', now: new Date('2026-12-01T00:00:00Z') })
  exec(`UPDATE note SET body = 'B' WHERE id = 2;`)
  const first = await backup({ db: db.url, out: dir, name: 'app', incremental: true, now: new Date('2026-12-02T00:00:00Z') })
  exec(`DELETE FROM note WHERE id = 1;`)
  const second = await backup({ db: db.url, out: dir, name: 'app', incremental: true, now: new Date('2026-12-03T00:00:00Z') })
  return [full.file, first.file, second.file].map((f) => path.basename(f))
}

const present = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.meta.json')).sort()

describe('delete of a chain link from the CLI', () => {
  it('refuses the full backup and a middle increment, naming the increments; --with-increments deletes the dependent chain', async () => {
    const tmp = makeTempDir('mbincr-del-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'backups')
    const [full, first, second] = await makeChain(dir)
    const before = present(dir)
    expect(before).toEqual([full, first, second].sort())

    const refused = await runCli(['delete', full!, '--dir', dir, '--yes'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(`${full} is a link of the chain of 2 incremental backups`)
    expect(refused.stderr).toContain(second!)
    expect(refused.stderr).toContain(first!)
    expect(refused.stderr).toContain('--with-increments')
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    expect(present(dir)).toEqual(before)

    const middle = await runCli(['delete', first!, '--dir', dir, '--yes', '--json'])
    expect(middle.code).toBe(2)
    const error = middle.json<{ code: string; details: { increments: string[] } }>()
    expect(error.code).toBe('CHAIN_LINK_NEEDED')
    expect(error.details.increments).toEqual([second])
    expect(present(dir)).toEqual(before)
    expect(fs.existsSync(path.join(dir, `${first}.digests`))).toBe(true)

    // The last increment is needed by nothing: deleted as any backup, and the chain ends at `first` again.
    const last = await runCli(['delete', second!, '--dir', dir, '--yes'])
    expect(last.code, last.stderr).toBe(0)
    expect(present(dir)).toEqual([full, first].sort())

    const all = await runCli(['delete', full!, '--dir', dir, '--yes', '--with-increments', '--json'])
    expect(all.code, all.stderr).toBe(0)
    const result = all.json<{ deleted: { file: string }; increments: { file: string }[] }>()
    expect(result.deleted.file).toBe(full)
    expect(result.increments.map((i) => i.file)).toEqual([first])
    expect(present(dir)).toEqual([])
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.digests') || f.endsWith('.meta.json'))).toEqual([])
  }, 60_000)
})

describe('DELETE /api/backups/:name of a chain link', () => {
  it('answers 409 naming the increments, deletes nothing; withIncrements=true deletes the chain; a bad flag is 400', async () => {
    const server = await startTestServer()
    cleanups.push(async () => void (await server.stop()))
    const dir = path.join(server.root, 'backups')
    const [full, first, second] = await makeChain(dir)
    const token = await createToken(server.root, 'root', 'super_admin')

    const refused = await server.request(`/api/backups/${full}`, { method: 'DELETE', token })
    expect(refused.status).toBe(409)
    const body = (await refused.json()) as { success: boolean; code: string; error: string; details: { increments: string[] } }
    expect(body.success).toBe(false)
    expect(body.code).toBe('CHAIN_LINK_NEEDED')
    expect(body.details.increments).toEqual([second, first])
    expect(body.error).toContain(first!)
    expect(present(dir)).toEqual([full, first, second].sort())

    const bad = await server.request(`/api/backups/${full}?withIncrements=yes`, { method: 'DELETE', token })
    expect(bad.status).toBe(400)
    expect(present(dir)).toHaveLength(3)

    const deleted = await server.request(`/api/backups/${first}?withIncrements=true`, { method: 'DELETE', token })
    expect(deleted.status).toBe(200)
    const result = (await deleted.json()) as { deleted: { file: string }; increments: { file: string }[] }
    expect(result.deleted.file).toBe(first)
    expect(result.increments.map((i) => i.file)).toEqual([second])
    expect(present(dir)).toEqual([full])

    // Nothing needs the full backup any more.
    const plain = await server.request(`/api/backups/${full}`, { method: 'DELETE', token })
    expect(plain.status).toBe(200)
    expect(present(dir)).toEqual([])
  }, 60_000)
})
