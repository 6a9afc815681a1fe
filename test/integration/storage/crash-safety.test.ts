/**
 * Crash safety (issue #6): a process writing backups is SIGKILLed at random moments — while
 * streaming, fsyncing, renaming, writing the sidecar or appending to the audit log. Afterwards
 * `list` shows no partial backup, every listed backup verifies and parses completely, and the
 * audit log's chain is intact.
 */
import path from 'node:path'
import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listBackups, listUnfinished } from '../../../src/storage/catalog.js'
import { verifyBackupFile } from '../../../src/storage/backup-file.js'
import { verifyAudit } from '../../../src/audit/audit-log.js'
import { makeTempDir } from '../../helpers/databases.js'
import { readBackupBytes } from './helpers.js'

const REPO = path.resolve(import.meta.dirname, '../../..')
const SCRIPT = path.join(import.meta.dirname, 'fixtures/write-backups.ts')
const PASSPHRASE = 'crash test passphrase'

let temp: { dir: string; cleanup: () => void }
beforeAll(() => {
  temp = makeTempDir('mergeback-crash-')
})
afterAll(() => temp.cleanup())

/**
 * Runs the writer and SIGKILLs it `delayMs` after it printed `after` ('ready': its modules are
 * loaded; 'committed': a first backup is complete). Resolves with how it ended.
 */
function runAndKill(dir: string, options: { gzip: boolean; encrypt: boolean; megabytes: number; delayMs: number; after: 'ready' | 'committed' }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, dir, options.gzip ? '1' : '0', options.encrypt ? '1' : '0', String(options.megabytes)], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let stdout = ''
    let timer: NodeJS.Timeout | undefined
    child.stderr.on('data', (d) => (stderr += d))
    child.stdout.on('data', (d) => {
      stdout += d
      if (timer === undefined && stdout.split('\n').includes(options.after)) timer = setTimeout(() => child.kill('SIGKILL'), options.delayMs)
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (signal === 'SIGKILL') resolve('killed')
      else reject(new Error(`writer exited by itself (code ${code}): ${stderr}`))
    })
  })
}

describe('a backup writer killed at random moments', () => {
  it('never leaves a partial backup that list shows, and every listed backup verifies', async () => {
    const dir = path.join(temp.dir, 'backups')
    const runs = [
      { gzip: false, encrypt: false },
      { gzip: true, encrypt: false },
      { gzip: false, encrypt: true },
      { gzip: true, encrypt: true },
    ]
    const delays: number[] = []
    for (let round = 0; round < 2; round++) {
      for (const run of runs) {
        // Each backup takes a fraction of a second, so kills land in every phase. The last run kills
        // only after a first backup is complete, so that there is always one to check.
        const delayMs = Math.floor(Math.random() * 1600)
        const after = round === 1 && run === runs[runs.length - 1] ? 'committed' : 'ready'
        delays.push(delayMs)
        expect(await runAndKill(dir, { ...run, megabytes: 2, delayMs, after })).toBe('killed')
      }
    }
    const context = `kill delays (ms): ${delays.join(', ')}`

    const backups = await listBackups(dir)
    expect(backups.length, context).toBeGreaterThan(0)
    for (const backup of backups) {
      const report = await verifyBackupFile(backup.path, { passphrase: PASSPHRASE })
      expect(report.ok, `${backup.file}: ${JSON.stringify(report.checks)} (${context})`).toBe(true)
      const { bytes, error } = await readBackupBytes(backup.path, { passphrase: PASSPHRASE })
      expect(error, backup.file).toBeUndefined()
      const document = JSON.parse(bytes.toString()) as { tables: { records: unknown[] }[]; metadata: { recordCounts: { T: number } } }
      expect(document.tables[0]?.records.length, backup.file).toBe(document.metadata.recordCounts.T)
    }
    // Killed writes leave only temporary files, which list does not show.
    const unfinished = await listUnfinished(dir)
    for (const u of unfinished) expect(backups.some((b) => b.file === u.file)).toBe(false)

    const audit = await verifyAudit(dir)
    expect(audit.problems, context).toEqual([])
  })
})
