import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { verifyAudit } from '../../../src/audit/audit-log.js'
import { makeTempDir } from '../../helpers/databases.js'

const REPO = path.resolve(import.meta.dirname, '../../..')
let temp: { dir: string; cleanup: () => void }

beforeEach(() => {
  temp = makeTempDir('mergeback-audit-procs-')
})
afterEach(() => temp.cleanup())

describe('audit log under concurrent processes', () => {
  it('chains correctly when three processes append at once', async () => {
    const script = `
      import { appendAudit } from ${JSON.stringify(path.join(REPO, 'src/audit/audit-log.ts'))}
      for (let i = 0; i < 15; i++) await appendAudit(process.argv[2], { action: 'backup', actor: 'p' + process.pid, outcome: 'success' })
    `
    const scriptPath = path.join(temp.dir, 'append.mts')
    fs.writeFileSync(scriptPath, script)
    const dir = path.join(temp.dir, 'backups')
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', scriptPath, dir], { cwd: REPO, stdio: 'inherit' })
        child.on('error', reject)
        child.on('exit', (code) => resolve(code ?? -1))
      })
    expect(await Promise.all([run(), run(), run()])).toEqual([0, 0, 0])
    const report = await verifyAudit(dir)
    expect(report).toMatchObject({ ok: true, entries: 45, problems: [] })
  })
})
