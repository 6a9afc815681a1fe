/**
 * Issue #14 item 5: `npm test` wrote into the user's own `./backups/audit.jsonl` (CLI tests run
 * without `--dir` or a temporary cwd). A CLI run in the tests without `cwd` now gets a temporary
 * MERGEBACK_DIR, and the integration project's global setup fails the run if the repository's
 * `./backups` changed (test/helpers/working-directory-guard.ts).
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { REPO_ROOT, runCli, scratchBackupDir } from '../../helpers/cli.js'
import { makeSqlitePath } from '../../helpers/databases.js'
import { backupsState } from '../../helpers/working-directory-guard.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

describe('#14 item 5: tests never touch the working directory\'s backups', () => {
  it('a CLI run without cwd writes its audit entry into a temporary directory, not ./backups', async () => {
    const before = backupsState()
    const target = makeSqlitePath()
    cleanups.push(target.cleanup)
    const fixture = path.join(REPO_ROOT, 'test/fixtures/format-v1/incremental-backup-2024-01-15T12-00-00.json')
    const result = await runCli(['restore', fixture, '--db', target.url, '--yes', '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(backupsState()).toBe(before)
    const audit = fs.readFileSync(path.join(scratchBackupDir(), 'audit.jsonl'), 'utf8')
    expect(audit).toContain('"restore"')
    expect(path.relative(REPO_ROOT, scratchBackupDir()).startsWith('..')).toBe(true)
  })
})
