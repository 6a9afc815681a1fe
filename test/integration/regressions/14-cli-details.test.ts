/**
 * Issue #14 item 11: `backup --out x.json --gzip` wrote gzip data into a `.json` file without a
 * word; answering "n" at a confirmation prompt exited 2 (bad input); the text audit output named
 * only the file of a restore, not the database; "Backed up 1 tables".
 */
import fs from 'node:fs'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { EXIT_CANCELLED, exitCodeFor } from '../../../src/cli/exit-codes.js'
import { createOutput } from '../../../src/cli/output.js'
import { REPO_ROOT, runCli } from '../../helpers/cli.js'
import { makeSqlitePath, makeTempDir } from '../../helpers/databases.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})
const FIXTURE = path.join(REPO_ROOT, 'test/fixtures/format-v1/incremental-backup-2024-01-15T12-00-00.json')

describe('#14 item 11: smaller things found by a new user', () => {
  it('backup --out x.json --gzip is refused (exit 2) with the right name, and writes nothing; "1 table"', async () => {
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const db = makeSqlitePath()
    cleanups.push(db.cleanup)
    expect((await runCli(['restore', FIXTURE, '--db', db.url, '--tables', 'User', '--yes'])).code).toBe(0)
    const refused = await runCli(['backup', '--db', db.url, '--out', path.join(tmp.dir, 'x.json'), '--gzip'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/does not end in \.json\.gz.*name it .*x\.json\.gz/)
    expect(fs.readdirSync(tmp.dir)).toEqual([])
    const done = await runCli(['backup', '--db', db.url, '--out', path.join(tmp.dir, 'x.json.gz'), '--gzip'])
    expect(done.code, done.stderr).toBe(0)
    expect(done.stdout).toMatch(/^Backed up 1 table of sqlite/)
  })

  it('"n" at a confirmation prompt is "cancelled": exit 4, documented', async () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.ReadStream
    const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 80 }) as unknown as NodeJS.WriteStream
    const output = createOutput({ json: false, stdin, stderr, stdout: new PassThrough() as unknown as NodeJS.WriteStream })
    const asking = output.confirm('This empties every table.', false)
    ;(stdin as unknown as PassThrough).write('n\n')
    const error = await asking.catch((e: unknown) => e)
    expect(exitCodeFor(error)).toBe(EXIT_CANCELLED)
    expect(EXIT_CANCELLED).toBe(4)
    expect(fs.readFileSync(path.join(REPO_ROOT, 'docs/errors.md'), 'utf8')).toMatch(/CANCELLED.*\n.*exits with \*\*4\*\*/)
  })

  it('the text audit log names the database a restore went into', async () => {
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const db = makeSqlitePath()
    cleanups.push(db.cleanup)
    const dir = path.join(tmp.dir, 'backups')
    fs.mkdirSync(dir)
    expect((await runCli(['restore', FIXTURE, '--db', db.url, '--yes', '--dir', dir])).code).toBe(0)
    const audit = await runCli(['audit', '--dir', dir])
    expect(audit.stdout).toContain(`incremental-backup-2024-01-15T12-00-00.json → sqlite:${db.file}`)
  })
})
