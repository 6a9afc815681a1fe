import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AUDIT_FILE, AUDIT_HEAD_FILE, AUDIT_LOCK_FILE, GENESIS_HASH, appendAudit, readAudit, readAuditHead, verifyAudit } from './audit-log.js'

let dir: string
const logPath = () => path.join(dir, AUDIT_FILE)
const lines = () => fs.readFileSync(logPath(), 'utf8').split('\n').filter((l, i, all) => l !== '' || i < all.length - 1)
const writeLines = (ls: string[]) => fs.writeFileSync(logPath(), ls.map((l) => `${l}\n`).join(''))

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-audit-'))
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

async function appendFive(): Promise<void> {
  for (const action of ['backup', 'restore', 'merge', 'delete', 'prune'] as const) {
    await appendAudit(dir, { action, actor: 'tester', target: 'sqlite:app.db', outcome: 'success', counts: { rows: 1 } })
  }
}

describe('audit log', () => {
  it('appends hash-chained entries with seq, time, actor and prev', async () => {
    await appendFive()
    const { entries, damagedLines } = await readAudit(dir)
    expect(damagedLines).toEqual([])
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])
    expect(entries[0]?.prev).toBe(GENESIS_HASH)
    for (let i = 1; i < entries.length; i++) expect(entries[i]?.prev).toBe(entries[i - 1]?.hash)
    expect(entries[2]).toMatchObject({ action: 'merge', actor: 'tester', outcome: 'success', counts: { rows: 1 } })
    const report = await verifyAudit(dir)
    expect(report).toMatchObject({ ok: true, entries: 5, problems: [], head: entries[4]?.hash })
  })

  it('defaults the actor to the OS user and removes passwords from URLs anywhere in the entry', async () => {
    await appendAudit(dir, {
      action: 'restore',
      target: 'postgres://app:s3cret@db.example/app',
      options: { source: { url: 'mysql://root:hunter2@127.0.0.1/x' } },
      outcome: 'failure',
      error: 'could not reach postgresql://u:pw@h/db',
    })
    const text = fs.readFileSync(logPath(), 'utf8')
    expect(text).not.toMatch(/s3cret|hunter2|:pw@/)
    expect(text).toContain('postgres://app:***@db.example/app')
    const [entry] = (await readAudit(dir)).entries
    expect(entry?.actor).toBe(os.userInfo().username)
    expect((await verifyAudit(dir)).ok).toBe(true)
  })

  it('treats a missing log as empty and valid', async () => {
    expect(await readAudit(dir)).toEqual({ entries: [], damagedLines: [] })
    expect(await verifyAudit(dir)).toEqual({ ok: true, entries: 0, head: GENESIS_HASH, problems: [], warnings: [] })
  })

  it('writes the file with mode 0600 and leaves no lock behind', async () => {
    await appendFive()
    expect(fs.statSync(logPath()).mode & 0o777).toBe(0o600)
    expect(fs.existsSync(path.join(dir, AUDIT_LOCK_FILE))).toBe(false)
  })

  describe('detects tampering', () => {
    it('an edited entry', async () => {
      await appendFive()
      const ls = lines()
      ls[2] = ls[2]!.replace('"outcome":"success"', '"outcome":"failure"')
      writeLines(ls)
      const report = await verifyAudit(dir)
      expect(report.ok).toBe(false)
      expect(report.problems).toEqual([{ line: 3, problem: expect.stringMatching(/entry 3 was edited/) }])
    })

    it('an edited entry whose own hash was recomputed (the next entry no longer chains)', async () => {
      await appendFive()
      const ls = lines()
      const { createHash } = await import('node:crypto')
      const body = ls[1]!.replace(/,"hash":"[0-9a-f]{64}"\}$/, '}').replace('"actor":"tester"', '"actor":"mallory"')
      ls[1] = `${body.slice(0, -1)},"hash":"${createHash('sha256').update(body).digest('hex')}"}`
      writeLines(ls)
      const report = await verifyAudit(dir)
      expect(report.problems).toEqual([{ line: 3, problem: expect.stringMatching(/chain breaks at entry 3/) }])
    })

    it('a removed entry', async () => {
      await appendFive()
      const ls = lines()
      ls.splice(2, 1)
      writeLines(ls)
      expect((await verifyAudit(dir)).problems).toEqual([{ line: 3, problem: expect.stringMatching(/entry 3 is missing/) }])
    })

    it('removed entries at the start', async () => {
      await appendFive()
      writeLines(lines().slice(2))
      expect((await verifyAudit(dir)).problems).toEqual([{ line: 1, problem: expect.stringMatching(/entries 1–2 are missing/) }])
    })

    it('reordered entries', async () => {
      await appendFive()
      const ls = lines()
      ;[ls[1], ls[2]] = [ls[2]!, ls[1]!]
      writeLines(ls)
      const report = await verifyAudit(dir)
      expect(report.problems.map((p) => p.line)).toEqual([2, 3, 4])
      expect(report.problems[1]?.problem).toMatch(/out of order or repeated/)
    })

    it('a repeated entry', async () => {
      await appendFive()
      const ls = lines()
      ls.splice(3, 0, ls[2]!)
      writeLines(ls)
      expect((await verifyAudit(dir)).problems).toEqual([{ line: 4, problem: expect.stringMatching(/out of order or repeated/) }])
    })

    it('an inserted, forged entry', async () => {
      await appendFive()
      const other = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-audit-forge-'))
      await appendAudit(other, { action: 'delete', actor: 'mallory', outcome: 'success' })
      const forged = fs.readFileSync(path.join(other, AUDIT_FILE), 'utf8').trim()
      fs.rmSync(other, { recursive: true })
      const ls = lines()
      ls.splice(2, 0, forged)
      writeLines(ls)
      const report = await verifyAudit(dir)
      expect(report.problems.map((p) => p.line)).toEqual([3, 4])
    })

    it('a line that is not an entry, and a blank line', async () => {
      await appendFive()
      const ls = lines()
      ls.splice(1, 0, 'garbage')
      ls.splice(4, 0, '')
      writeLines(ls)
      const report = await verifyAudit(dir)
      expect(report.problems).toEqual([
        { line: 2, problem: expect.stringMatching(/not an audit entry/) },
        { line: 5, problem: 'blank line' },
      ])
      expect((await readAudit(dir)).damagedLines).toEqual([2, 5])
    })
  })

  describe('detects entries cut off the end (issue #13 finding 7)', () => {
    it('keeps audit.head at the last entry after each append, and an untouched log passes', async () => {
      await appendFive()
      const { entries } = await readAudit(dir)
      expect(await readAuditHead(dir)).toEqual({ seq: 5, hash: entries[4]?.hash })
      expect(fs.statSync(path.join(dir, AUDIT_HEAD_FILE)).mode & 0o777).toBe(0o600)
      expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([])
      expect(await verifyAudit(dir)).toMatchObject({ ok: true, entries: 5, problems: [], warnings: [] })
    })

    it('the last entry removed', async () => {
      await appendFive()
      writeLines(lines().slice(0, 4))
      const report = await verifyAudit(dir)
      expect(report.ok).toBe(false)
      expect(report.problems).toEqual([{ line: 5, problem: expect.stringMatching(/log ends at entry 4, but audit\.head records entry 5: the last entry was removed/) }])
    })

    it('the last 3 entries removed', async () => {
      await appendFive()
      writeLines(lines().slice(0, 2))
      const report = await verifyAudit(dir)
      expect(report.ok).toBe(false)
      expect(report.problems).toEqual([{ line: 3, problem: expect.stringMatching(/log ends at entry 2, but audit\.head records entry 5: the last 3 entries were removed/) }])
    })

    it('a cut followed by new appends stays detected (the head is not overwritten)', async () => {
      await appendFive()
      writeLines(lines().slice(0, 3))
      await appendAudit(dir, { action: 'backup', actor: 'tester', outcome: 'success' })
      await appendAudit(dir, { action: 'backup', actor: 'tester', outcome: 'success' })
      await appendAudit(dir, { action: 'backup', actor: 'tester', outcome: 'success' })
      const report = await verifyAudit(dir)
      expect(report.entries).toBe(6)
      expect(report.ok).toBe(false)
      expect(report.problems[0]?.problem).toMatch(/audit\.head records entry 5 with hash .*, but the log's entry 5 has hash/)
    })

    it('a head file that disagrees with the log', async () => {
      await appendFive()
      fs.writeFileSync(path.join(dir, AUDIT_HEAD_FILE), `${JSON.stringify({ seq: 5, hash: 'a'.repeat(64) })}\n`)
      expect((await verifyAudit(dir)).problems).toEqual([{ line: 6, problem: expect.stringMatching(/records entry 5 with hash aaaaaaaaaaaa…, but the log's entry 5 has hash/) }])
      fs.writeFileSync(path.join(dir, AUDIT_HEAD_FILE), 'garbage')
      expect((await verifyAudit(dir)).problems).toEqual([{ line: 6, problem: expect.stringMatching(/audit\.head is damaged/) }])
    })

    it('a cut with the head file removed too is still caught by a sidecar that recorded the head', async () => {
      await appendFive()
      const { entries } = await readAudit(dir)
      fs.writeFileSync(path.join(dir, 'x.json.meta.json'), JSON.stringify({ file: 'x.json', auditHead: { seq: 4, hash: entries[3]?.hash } }))
      writeLines(lines().slice(0, 3))
      fs.rmSync(path.join(dir, AUDIT_HEAD_FILE))
      const report = await verifyAudit(dir)
      expect(report.ok).toBe(false)
      expect(report.problems).toEqual([{ line: 4, problem: expect.stringMatching(/the sidecar x\.json\.meta\.json records entry 4: the last entry was removed/) }])
    })

    it('an old log without a head file passes with a clear warning, and the next append starts one', async () => {
      await appendFive()
      fs.rmSync(path.join(dir, AUDIT_HEAD_FILE))
      const report = await verifyAudit(dir)
      expect(report).toMatchObject({ ok: true, entries: 5, problems: [] })
      expect(report.warnings).toEqual([expect.stringMatching(/no audit\.head beside the log .*removal of the last entries cannot be detected/)])
      await appendAudit(dir, { action: 'backup', actor: 'tester', outcome: 'success' })
      expect(await verifyAudit(dir)).toMatchObject({ ok: true, entries: 6, warnings: [] })
    })

    it('a head one entry behind (a crash between the append and the head) is not a failure', async () => {
      await appendFive()
      const { entries } = await readAudit(dir)
      fs.writeFileSync(path.join(dir, AUDIT_HEAD_FILE), `${JSON.stringify({ seq: 4, hash: entries[3]?.hash })}\n`)
      expect(await verifyAudit(dir)).toMatchObject({ ok: true, problems: [], warnings: [] })
    })
  })

  it('after a torn last line, starts a new line and chains to the last intact entry', async () => {
    await appendFive()
    fs.appendFileSync(logPath(), '{"seq":6,"time":"2026-')
    await appendAudit(dir, { action: 'backup', actor: 'tester', outcome: 'success' })
    const report = await verifyAudit(dir)
    expect(report.problems).toEqual([{ line: 6, problem: expect.stringMatching(/not an audit entry/) }])
    const { entries } = await readAudit(dir)
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(entries[5]?.prev).toBe(entries[4]?.hash)
  })

  it('chains correctly under concurrent appends in one process', async () => {
    await Promise.all(Array.from({ length: 25 }, (_, i) => appendAudit(dir, { action: 'backup', actor: `a${i}`, outcome: 'success' })))
    const report = await verifyAudit(dir)
    expect(report).toMatchObject({ ok: true, entries: 25 })
  })

  it('breaks a lock left by a process that died', async () => {
    fs.writeFileSync(path.join(dir, AUDIT_LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), since: 0, token: 'x' }))
    await appendAudit(dir, { action: 'backup', outcome: 'success' })
    expect((await verifyAudit(dir)).entries).toBe(1)
  })

  // An empty lock (a process killed between creating and writing it) a few seconds old, and a torn
  // one older than the stale age: both are broken, not waited on until "locked".
  it.each([
    ['an empty lock file a few seconds old', '', 5_000],
    ['a torn lock file once it is old', '{"pi', 60_000],
  ])('breaks %s', async (_, text, ageMs) => {
    const lock = path.join(dir, AUDIT_LOCK_FILE)
    fs.writeFileSync(lock, text)
    const then = new Date(Date.now() - ageMs)
    fs.utimesSync(lock, then, then)
    await appendAudit(dir, { action: 'backup', outcome: 'success' })
    expect((await verifyAudit(dir)).entries).toBe(1)
  })
})
