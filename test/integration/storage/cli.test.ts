/**
 * The CLI verbs of the backup repository — list, delete, prune, audit (verify) — run through
 * `main(argv)` in this process: exit codes (DESIGN.md §6), --json documents, confirmations.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../../../src/cli/main.js'
import { appendAudit } from '../../../src/audit/audit-log.js'
import { makeTempDir } from '../../helpers/databases.js'
import { writeBackup } from './helpers.js'

let temp: { dir: string; cleanup: () => void }
let dir: string

beforeEach(() => {
  temp = makeTempDir('mergeback-cli-')
  dir = path.join(temp.dir, 'backups')
})
afterEach(() => temp.cleanup())

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  json<T = any>(): T
}

/** Runs `mergeback ...args` in-process, capturing stdout and stderr. No terminal: confirmations need --yes. */
async function run(...args: string[]): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const out = process.stdout.write.bind(process.stdout)
  const err = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write
  let code: number
  try {
    code = await main(['node', 'mergeback', ...args])
  } finally {
    process.stdout.write = out
    process.stderr.write = err
  }
  return { code, stdout, stderr, json: () => JSON.parse(stdout) }
}

const at = (iso: string) => new Date(iso)

describe('mergeback list', () => {
  it('says so when there are no backups', async () => {
    const result = await run('list', '--dir', dir)
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/No backups in/)
  })

  it('prints a table, and with --json one document with every catalog field', async () => {
    await writeBackup(dir, '{}', { name: 'nightly', gzip: true, now: at('2026-01-02T03:04:05Z') })
    await writeBackup(dir, '{}', { name: 'manual', now: at('2026-01-03T03:04:05Z') })
    fs.writeFileSync(path.join(dir, '.tmp-0123456789abcdef.partial'), '{"tab')
    const text = await run('list', '--dir', dir)
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/manual-2026-01-03T03-04-05\.json\s+manual\s+2026-01-03 03:04:05/)
    expect(text.stdout).toMatch(/nightly-2026-01-02T03-04-05\.json\.gz .*gzip/)
    expect(text.stdout).toMatch(/1 unfinished temporary file/)
    const json = await run('list', '--dir', dir, '--json')
    const doc = json.json()
    expect(doc.backups.map((b: { file: string }) => b.file)).toEqual(['manual-2026-01-03T03-04-05.json', 'nightly-2026-01-02T03-04-05.json.gz'])
    expect(Object.keys(doc.backups[1]).sort()).toEqual(
      ['catalogued', 'compression', 'createdAt', 'database', 'description', 'encrypted', 'engine', 'file', 'kind', 'name', 'origin', 'originKind', 'path', 'recordCounts', 'sha256', 'sizeBytes', 'tables', 'verified'].sort(),
    )
    expect(doc.unfinished).toHaveLength(1)
  })

  it('takes the directory from MERGEBACK_DIR', async () => {
    await writeBackup(dir, '{}', { now: at('2026-01-02T03:04:05Z') })
    process.env.MERGEBACK_DIR = dir
    try {
      expect((await run('list', '--json')).json().backups).toHaveLength(1)
    } finally {
      delete process.env.MERGEBACK_DIR
    }
  })
})

describe('mergeback delete', () => {
  it('refuses without a terminal or --yes, then deletes with --yes and audits it', async () => {
    const { path: file } = await writeBackup(dir, '{}', { now: at('2026-01-02T03:04:05Z') })
    const refused = await run('delete', path.basename(file), '--dir', dir)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/--yes/)
    expect(fs.existsSync(file)).toBe(true)
    const done = await run('delete', 'daily', '--dir', dir, '--yes', '--json')
    expect(done.code).toBe(0)
    expect(done.json().deleted.file).toBe(path.basename(file))
    expect(fs.existsSync(file)).toBe(false)
    const audit = (await run('audit', '--dir', dir, '--json')).json()
    expect(audit.entries.map((e: { action: string; outcome: string }) => [e.action, e.outcome])).toEqual([['delete', 'success']])
  })

  it('exits 2 for a missing, ambiguous or unsafe name and changes nothing', async () => {
    await writeBackup(dir, '{}', { now: at('2026-01-02T03:04:05Z') })
    await writeBackup(dir, '{}', { now: at('2026-01-03T03:04:05Z') })
    const before = fs.readdirSync(dir).sort()
    for (const name of ['nothing', 'daily', '../x', '/etc/passwd', 'a/../../b', '%2e%2e']) {
      const result = await run('delete', name, '--dir', dir, '--yes', '--json')
      expect(result.code, name).toBe(2)
      expect(result.json().success).toBe(false)
    }
    expect(fs.readdirSync(dir).sort()).toEqual(before)
  })
})

describe('mergeback prune', () => {
  async function seed(): Promise<void> {
    for (const day of ['2026-01-01', '2026-01-02', '2026-02-01', '2026-03-01']) await writeBackup(dir, '{}', { now: at(`${day}T00:00:00Z`) })
  }

  it('refuses an empty or invalid policy with exit 2', async () => {
    await seed()
    for (const args of [[], ['--keep-last', '0'], ['--keep-last', '-1'], ['--keep-daily', 'x'], ['--keep-last', '1', '--group-by', 'host']]) {
      const result = await run('prune', '--dir', dir, ...args)
      expect(result.code, args.join(' ')).toBe(2)
    }
    expect((await run('list', '--dir', dir, '--json')).json().backups).toHaveLength(4)
  })

  it('--dry-run shows the plan and the reasons and removes nothing', async () => {
    await seed()
    const result = await run('prune', '--dir', dir, '--keep-monthly', '2', '--dry-run', '--json')
    expect(result.code).toBe(0)
    const report = result.json()
    expect(report.dryRun).toBe(true)
    expect(report.keep.map((k: { reasons: string[] }) => k.reasons)).toEqual([['monthly 2026-03'], ['monthly 2026-02']])
    expect(report.remove).toHaveLength(2)
    const text = await run('prune', '--dir', dir, '--keep-monthly', '2', '--dry-run')
    expect(text.stdout).toMatch(/Would remove 2 backups/)
    expect((await run('list', '--dir', dir, '--json')).json().backups).toHaveLength(4)
  })

  it('asks before removing (refused without a terminal), and removes with --yes', async () => {
    await seed()
    expect((await run('prune', '--dir', dir, '--keep-last', '1')).code).toBe(2)
    expect((await run('list', '--dir', dir, '--json')).json().backups).toHaveLength(4)
    const result = await run('prune', '--dir', dir, '--keep-last', '1', '--yes')
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/Removed 3 backups/)
    expect((await run('list', '--dir', dir, '--json')).json().backups).toHaveLength(1)
    // Nothing left to remove: no confirmation needed.
    expect((await run('prune', '--dir', dir, '--keep-last', '1')).code).toBe(0)
  })
})

describe('mergeback audit', () => {
  it('lists entries and verifies an intact chain', async () => {
    await appendAudit(dir, { action: 'backup', actor: 'ci', target: 'sqlite:app.db', outcome: 'success', counts: { User: 3 } })
    await appendAudit(dir, { action: 'restore', actor: 'ci', target: 'sqlite:app.db', outcome: 'failure', error: 'boom' })
    const list = await run('audit', '--dir', dir)
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(/backup\s+success\s+sqlite:app\.db\s+User=3/)
    expect(list.stdout).toMatch(/#2: boom/)
    expect((await run('audit', '--dir', dir, '--json', '--last', '1')).json().entries.map((e: { seq: number }) => e.seq)).toEqual([2])
    const verify = await run('audit', 'verify', '--dir', dir)
    expect(verify.code).toBe(0)
    expect(verify.stdout).toMatch(/2 entries, chain intact/)
    expect((await run('audit', '--dir', dir, 'verify', '--json')).json()).toMatchObject({ ok: true, entries: 2 })
  })

  it('audit verify exits 2 naming the line of an edited or removed entry', async () => {
    for (const action of ['backup', 'restore', 'merge'] as const) await appendAudit(dir, { action, outcome: 'success' })
    const file = path.join(dir, 'audit.jsonl')
    const lines = fs.readFileSync(file, 'utf8').split('\n')
    fs.writeFileSync(file, [lines[0], lines[2], ''].join('\n'))
    const removed = await run('audit', 'verify', '--dir', dir)
    expect(removed.code).toBe(2)
    expect(removed.stderr).toMatch(/line 2: the chain breaks at entry 3: entry 2 is missing/)
    fs.writeFileSync(file, [lines[0], lines[1]!.replace('"restore"', '"delete"'), lines[2], ''].join('\n'))
    const edited = await run('audit', 'verify', '--dir', dir, '--json')
    expect(edited.code).toBe(2)
    expect(edited.json().details.problems).toEqual([{ line: 2, problem: 'entry 2 was edited: its hash does not match its content' }])
  })

  it('audit verify exits 2 when the last entries were cut off, and warns on an old log without a head file (issue #13 finding 7)', async () => {
    for (const action of ['backup', 'restore', 'merge', 'delete'] as const) await appendAudit(dir, { action, outcome: 'success' })
    const file = path.join(dir, 'audit.jsonl')
    const whole = fs.readFileSync(file, 'utf8')
    const lines = whole.split('\n')
    fs.writeFileSync(file, [...lines.slice(0, 3), ''].join('\n'))
    const cut = await run('audit', 'verify', '--dir', dir)
    expect(cut.code).toBe(2)
    expect(cut.stderr).toMatch(/the log ends at entry 3, but audit\.head records entry 4: the last entry was removed/)
    fs.writeFileSync(file, whole)
    fs.rmSync(path.join(dir, 'audit.head'))
    const old = await run('audit', 'verify', '--dir', dir)
    expect(old.code).toBe(0)
    expect(old.stdout).toMatch(/4 entries, chain intact/)
    expect(old.stdout).toMatch(/Warning: There is no audit\.head beside the log/)
    expect((await run('audit', 'verify', '--dir', dir, '--json')).json().warnings).toHaveLength(1)
  })
})
