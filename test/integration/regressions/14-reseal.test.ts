/**
 * Issue #14 item 12: a backup edited by hand (the format is meant to be readable) could not be
 * restored: it failed its checksum with no way forward. `mergeback reseal FILE` re-computes the
 * checksums after checking the edit still parses, writes a new file, and is audit-logged.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { runCli } from '../../helpers/cli.js'
import { makeSqlitePath, makeTempDir } from '../../helpers/databases.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

describe('#14 item 12: mergeback reseal', () => {
  it('an edited backup fails its checksum; resealed, it restores with the edit; a broken edit is refused and nothing is written', async () => {
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const dir = path.join(tmp.dir, 'backups')
    fs.mkdirSync(dir)
    const source = makeSqlitePath()
    cleanups.push(source.cleanup)
    const conn = new Database(source.file)
    conn.exec(`CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO person VALUES (1, 'Ann'), (2, 'Bob');`)
    conn.close()
    const made = await runCli(['backup', '--db', source.url, '--dir', dir, '--name', 'people', '--json'])
    expect(made.code, made.stderr).toBe(0)
    const file = made.json().file as string
    const edited = path.join(tmp.dir, 'people-edited.json')
    fs.writeFileSync(edited, fs.readFileSync(file, 'utf8').replace('"Bob"', '"Robert"'))

    const target = makeSqlitePath()
    cleanups.push(target.cleanup)
    const refused = await runCli(['restore', edited, '--db', target.url, '--yes', '--dir', dir])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/checksum/i)

    const resealed = await runCli(['reseal', edited, '--dir', dir, '--json'])
    expect(resealed.code, resealed.stderr).toBe(0)
    const out = resealed.json().resealed as string
    expect(out).toBe(path.join(tmp.dir, 'people-edited-resealed.json'))
    expect(fs.readFileSync(edited, 'utf8')).toContain('"Robert"')
    const inspected = await runCli(['inspect', out, '--json'])
    expect(inspected.json().metadata.warnings.join('\n')).toMatch(/Resealed by mergeback reseal.*edited by hand/)

    const restored = await runCli(['restore', out, '--db', target.url, '--yes', '--dir', dir])
    expect(restored.code, restored.stderr).toBe(0)
    const check = new Database(target.file, { readonly: true })
    expect(check.prepare('SELECT name FROM person ORDER BY id').all()).toEqual([{ name: 'Ann' }, { name: 'Robert' }])
    check.close()
    const audit = await runCli(['audit', '--dir', dir, '--json'])
    expect(audit.json().entries.map((e: { action: string }) => e.action)).toContain('reseal')

    // Not over an existing file; and an edit that broke the JSON is refused, writing nothing.
    expect((await runCli(['reseal', edited, '--dir', dir])).code).toBe(2)
    const broken = path.join(tmp.dir, 'broken.json')
    fs.writeFileSync(broken, fs.readFileSync(file, 'utf8').replace('"Bob"}', '"Bob"'))
    const failed = await runCli(['reseal', broken, '--dir', dir])
    expect(failed.code).toBe(2)
    expect(fs.existsSync(path.join(tmp.dir, 'broken-resealed.json'))).toBe(false)
    expect(fs.readdirSync(tmp.dir).filter((name) => name.includes('.tmp'))).toEqual([])
  })
})
