/**
 * `backup --no-digest-index`: the backup is written without the `.digests` file (a backup that
 * will never start a chain skips its cost), and an incremental backup on top of it is refused
 * before anything is written, saying why and what to do.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDemoDatabase } from '../../../src/demo/demo-database.js'
import { listDir, runCli } from '../../helpers/cli.js'
import { makeTempDir } from '../../helpers/databases.js'

let temp: { dir: string; cleanup: () => void }
let db: string
let dir: string

beforeAll(() => {
  temp = makeTempDir('mergeback-no-index-')
  db = path.join(temp.dir, 'demo.db')
  createDemoDatabase(db)
  dir = path.join(temp.dir, 'backups')
})
afterAll(() => temp.cleanup())

describe('backup --no-digest-index', () => {
  it('writes no digest index, and an incremental backup on it is refused with the way forward', async () => {
    const full = await runCli(['backup', '--db', `sqlite:${db}`, '--dir', dir, '--name', 'nightly', '--no-digest-index', '--json'])
    expect(full.code, full.stderr).toBe(0)
    const file: string = full.json().file
    expect(fs.existsSync(`${file}.digests`)).toBe(false)
    const before = await listDir(dir)
    const increment = await runCli(['backup', '--db', `sqlite:${db}`, '--dir', dir, '--name', 'nightly', '--incremental'])
    expect(increment.code).toBe(2)
    expect(increment.stderr).toMatch(/no digest index.*--no-digest-index.*Make a full backup/s)
    expect(await listDir(dir)).toEqual(before)
  })

  it('a backup without the flag has its index', async () => {
    const full = await runCli(['backup', '--db', `sqlite:${db}`, '--dir', dir, '--name', 'indexed', '--json'])
    expect(full.code, full.stderr).toBe(0)
    expect(fs.existsSync(`${full.json().file}.digests`)).toBe(true)
  })
})
