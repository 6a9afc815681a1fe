/**
 * The backup directory through the library: naming, atomic commit and abort, the catalog
 * (`listBackups`), delete and prune, and what each leaves in the audit log.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { InternalError, NotFoundError, UsageError } from '../../../src/errors.js'
import { createBackupFile, verifyBackupFile } from '../../../src/storage/backup-file.js'
import { deleteBackup, findBackup, listBackups, listUnfinished } from '../../../src/storage/catalog.js'
import { planPrune, prune } from '../../../src/storage/retention.js'
import { readAudit, verifyAudit } from '../../../src/audit/audit-log.js'
import { makeTempDir } from '../../helpers/databases.js'
import { FAST_SCRYPT, PASSPHRASE, backupJson, metadataFor, readBackupBytes, writeBackup } from './helpers.js'

let temp: { dir: string; cleanup: () => void }
let dir: string

beforeEach(() => {
  temp = makeTempDir('mergeback-repo-')
  dir = path.join(temp.dir, 'backups')
})
afterEach(() => temp.cleanup())

const at = (iso: string) => new Date(iso)

describe('createBackupFile', () => {
  it('names the file by the rule, creates the directory 0700 and the file 0600, and catalogues it', async () => {
    const json = backupJson(10)
    const committed = await writeBackup(dir, json, { name: 'daily', gzip: true, passphrase: PASSPHRASE, now: at('2026-11-22T10:30:05.120Z') })
    expect(path.basename(committed.path)).toBe('daily-2026-11-22T10-30-05.json.gz.enc')
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
    expect(fs.statSync(committed.path).mode & 0o777).toBe(0o600)
    expect(committed.sizeBytes).toBe(fs.statSync(committed.path).size)
    const [entry] = await listBackups(dir)
    expect(entry).toMatchObject({
      file: 'daily-2026-11-22T10-30-05.json.gz.enc',
      name: 'daily',
      description: 'test backup daily',
      engine: 'sqlite',
      database: 'app',
      sizeBytes: committed.sizeBytes,
      sha256: committed.sha256,
      compression: 'gzip',
      encrypted: true,
      catalogued: true,
      tables: ['User'],
      recordCounts: { User: 0 },
    })
    expect(fs.readdirSync(dir).sort()).toEqual(['daily-2026-11-22T10-30-05.json.gz.enc', 'daily-2026-11-22T10-30-05.json.gz.enc.meta.json'])
  })

  it('uses the next free second when the name is taken, never overwriting a backup', async () => {
    const now = at('2026-11-22T10:30:05Z')
    const a = await writeBackup(dir, '{}', { now })
    const b = await writeBackup(dir, '{}', { now })
    expect(path.basename(a.path)).toBe('daily-2026-11-22T10-30-05.json')
    expect(path.basename(b.path)).toBe('daily-2026-11-22T10-30-06.json')
  })

  it('shows nothing under the final name until commit, and abort leaves nothing', async () => {
    const pending = await createBackupFile({ dir }, { name: 'daily' })
    pending.stream.write('{"tables":[')
    expect(fs.existsSync(pending.path)).toBe(false)
    expect(await listBackups(dir)).toEqual([])
    expect((await listUnfinished(dir)).length).toBe(1)
    await pending.abort()
    await pending.abort()
    expect(fs.readdirSync(dir)).toEqual([])
    await expect(pending.commit(metadataFor('daily', 0))).rejects.toBeInstanceOf(InternalError)
  })

  it('fails the commit when the stream failed, and abort cleans up', async () => {
    const pending = await createBackupFile({ dir }, { name: 'daily', gzip: true })
    pending.stream.write('{"tables":[')
    ;(pending.stream as NodeJS.WritableStream & { destroy(error: Error): void }).destroy(new Error('disk on fire'))
    await expect(pending.commit(metadataFor('daily', 0))).rejects.toThrow('disk on fire')
    await pending.abort()
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it('writes an explicit file path atomically, replacing an existing file there', async () => {
    const file = path.join(temp.dir, 'out', 'dump.json')
    fs.mkdirSync(path.dirname(file))
    fs.writeFileSync(file, '{"old":1}')
    const pending = await createBackupFile({ file }, { name: 'daily' })
    pending.stream.write('{"tables":[],"metadata":{}}')
    expect(fs.readFileSync(file, 'utf8')).toBe('{"old":1}')
    await pending.commit(metadataFor('daily', 0))
    expect(fs.readFileSync(file, 'utf8')).toBe('{"tables":[],"metadata":{}}')
    expect((await verifyBackupFile(file)).ok).toBe(true)
  })

  it('never replaces a file that is not a backup (issue #13)', async () => {
    const file = path.join(temp.dir, 'notes.json')
    fs.writeFileSync(file, 'my notes')
    await expect(createBackupFile({ file }, { name: 'daily' })).rejects.toThrow(/not a backup is there/)
    expect(fs.readFileSync(file, 'utf8')).toBe('my notes')
  })

  it('refuses a bad name or gzip level before creating anything', async () => {
    await expect(createBackupFile({ dir }, { name: '../evil' })).rejects.toBeInstanceOf(UsageError)
    await expect(createBackupFile({ dir }, { name: 'ok', gzip: 0 })).rejects.toBeInstanceOf(UsageError)
    await expect(createBackupFile({ dir }, { name: 'ok', gzip: 10 })).rejects.toBeInstanceOf(UsageError)
    await expect(createBackupFile({ dir }, { name: 'ok', passphrase: '', scrypt: FAST_SCRYPT })).rejects.toBeInstanceOf(UsageError)
    expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).toEqual([])
  })

  it('accepts every gzip level 1–9', async () => {
    const json = backupJson(200)
    for (let level = 1; level <= 9; level++) {
      const { path: file } = await writeBackup(dir, json, { name: `level${level}`, gzip: level })
      expect((await readBackupBytes(file)).bytes.toString()).toBe(json)
    }
  })
})

describe('listBackups', () => {
  it('lists newest first, and shows backups without a catalog entry from their name and magic bytes', async () => {
    await writeBackup(dir, '{}', { name: 'old', now: at('2026-01-01T00:00:00Z') })
    await writeBackup(dir, '{}', { name: 'new', now: at('2026-03-01T00:00:00Z') })
    const copied = await writeBackup(dir, backupJson(5), { name: 'copied', gzip: true, passphrase: PASSPHRASE, now: at('2026-02-01T00:00:00Z') })
    fs.rmSync(`${copied.path}.meta.json`)
    const list = await listBackups(dir)
    expect(list.map((b) => b.name)).toEqual(['new', 'copied', 'old'])
    expect(list[1]).toMatchObject({ catalogued: false, encrypted: true, compression: 'gzip', createdAt: '2026-02-01T00:00:00.000Z' })
    expect(list[1]?.recordCounts).toBeUndefined()
    expect((await verifyBackupFile(copied.path, { passphrase: PASSPHRASE })).ok).toBe(true)
  })

  it('ignores temporary files, dot files, orphan sidecars, symbolic links and other files', async () => {
    await writeBackup(dir, '{}', { now: at('2026-01-01T00:00:00Z') })
    fs.writeFileSync(path.join(dir, '.tmp-0011223344556677.partial'), '{"tab')
    fs.writeFileSync(path.join(dir, '.hidden.json'), '{}')
    fs.writeFileSync(path.join(dir, 'gone-2026-01-01T00-00-00.json.meta.json'), '{}')
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x')
    fs.symlinkSync('/etc/hostname', path.join(dir, 'link-2026-01-01T00-00-00.json'))
    fs.mkdirSync(path.join(dir, 'sub-2026-01-01T00-00-00.json'))
    expect((await listBackups(dir)).map((b) => b.file)).toEqual(['daily-2026-01-01T00-00-00.json'])
  })

  it('does not trust a sidecar that names another file or is not valid, and flags a size change', async () => {
    const a = await writeBackup(dir, '{"a":1}', { name: 'a', now: at('2026-01-01T00:00:00Z') })
    const b = await writeBackup(dir, '{"b":2}', { name: 'b', now: at('2026-01-02T00:00:00Z') })
    const c = await writeBackup(dir, '{"c":3}', { name: 'c', now: at('2026-01-03T00:00:00Z') })
    fs.copyFileSync(`${a.path}.meta.json`, `${b.path}.meta.json`)
    fs.writeFileSync(`${a.path}.meta.json`, '{ not json')
    fs.appendFileSync(c.path, ' ')
    const list = await listBackups(dir)
    expect(list.find((e) => e.name === 'a')?.catalogued).toBe(false)
    expect(list.find((e) => e.name === 'b')?.catalogued).toBe(false)
    expect(list.find((e) => e.name === 'c')?.problem).toMatch(/size changed/)
  })

  it('has no backups in a directory that does not exist', async () => {
    expect(await listBackups(path.join(temp.dir, 'none'))).toEqual([])
  })
})

describe('delete', () => {
  it('deletes by file name or by a name only one backup has, with its sidecar, and audits it', async () => {
    const one = await writeBackup(dir, '{}', { name: 'one', now: at('2026-01-01T00:00:00Z') })
    const two = await writeBackup(dir, '{}', { name: 'two', now: at('2026-01-01T00:00:00Z') })
    await deleteBackup(dir, path.basename(one.path), { actor: 'ops' })
    await deleteBackup(dir, 'two')
    expect(fs.readdirSync(dir)).toEqual(['audit.head', 'audit.jsonl'])
    const { entries } = await readAudit(dir)
    expect(entries.map((e) => [e.action, e.actor, e.file, e.outcome])).toEqual([
      ['delete', 'ops', path.basename(one.path), 'success'],
      ['delete', entries[1]?.actor, path.basename(two.path), 'success'],
    ])
    expect((await verifyAudit(dir)).ok).toBe(true)
  })

  it('refuses an ambiguous name, listing the candidates, and changes nothing', async () => {
    await writeBackup(dir, '{}', { now: at('2026-01-01T00:00:00Z') })
    await writeBackup(dir, '{}', { now: at('2026-01-02T00:00:00Z') })
    const error = (await deleteBackup(dir, 'daily').catch((e: unknown) => e)) as UsageError
    expect(error).toBeInstanceOf(UsageError)
    expect(error.details.candidates).toEqual(['daily-2026-01-02T00-00-00.json', 'daily-2026-01-01T00-00-00.json'])
    expect((await listBackups(dir)).length).toBe(2)
  })

  it('refuses what is not a backup, and anything outside the directory', async () => {
    await writeBackup(dir, '{}', { now: at('2026-01-01T00:00:00Z') })
    fs.writeFileSync(path.join(temp.dir, 'victim.json'), '{}')
    fs.symlinkSync(path.join(temp.dir, 'victim.json'), path.join(dir, 'evil-2026-01-01T00-00-00.json'))
    await expect(findBackup(dir, 'daily-2026-01-01T00-00-00.json.meta.json')).rejects.toMatchObject({ code: 'NOT_A_BACKUP' })
    for (const ref of ['../victim.json', path.join(temp.dir, 'victim.json'), '%2e%2e%2fvictim.json', 'a\0b']) {
      await expect(deleteBackup(dir, ref)).rejects.toMatchObject({ code: 'UNSAFE_PATH' })
    }
    // A symbolic link is never a backup, wherever it points.
    await expect(deleteBackup(dir, 'evil-2026-01-01T00-00-00.json')).rejects.toMatchObject({ code: 'NOT_A_BACKUP' })
    await expect(deleteBackup(dir, 'nothing')).rejects.toBeInstanceOf(NotFoundError)
    expect(fs.existsSync(path.join(temp.dir, 'victim.json'))).toBe(true)
    expect((await listBackups(dir)).length).toBe(1)
  })
})

describe('prune', () => {
  async function seed(): Promise<void> {
    for (const day of ['2026-01-01', '2026-01-02', '2026-01-03', '2026-02-01', '2026-02-02', '2026-03-01']) {
      await writeBackup(dir, '{}', { now: at(`${day}T12:00:00Z`) })
    }
  }

  it('a dry run lists what would go and why, changes nothing, and is audited as a dry run', async () => {
    await seed()
    const before = fs.readdirSync(dir).sort()
    const report = await prune(dir, { keepLast: 2, keepMonthly: 3 }, { dryRun: true })
    expect(report.keep.map((k) => [k.file, k.reasons])).toEqual([
      ['daily-2026-03-01T12-00-00.json', ['last', 'monthly 2026-03']],
      ['daily-2026-02-02T12-00-00.json', ['last', 'monthly 2026-02']],
      ['daily-2026-01-03T12-00-00.json', ['monthly 2026-01']],
    ])
    expect(report.remove.map((r) => r.file).sort()).toEqual(['daily-2026-01-01T12-00-00.json', 'daily-2026-01-02T12-00-00.json', 'daily-2026-02-01T12-00-00.json'])
    expect(fs.readdirSync(dir).filter((f) => f !== 'audit.jsonl' && f !== 'audit.head').sort()).toEqual(before)
    const [entry] = (await readAudit(dir)).entries
    expect(entry).toMatchObject({ action: 'prune', outcome: 'dry-run', options: { keepLast: 2, keepMonthly: 3 } })
  })

  it('removes what no rule keeps (with sidecars), never temporary or foreign files, and audits it', async () => {
    await seed()
    fs.writeFileSync(path.join(dir, '.tmp-aaaaaaaaaaaaaaaa.partial'), 'being written')
    fs.writeFileSync(path.join(dir, 'hand-made.json'), '{}')
    const plan = await planPrune(dir, { keepLast: 1 })
    const report = await prune(dir, { keepLast: 1 })
    expect(report.remove).toEqual(plan.remove)
    expect(report.ignored).toEqual(['hand-made.json'])
    expect(fs.readdirSync(dir).sort()).toEqual([
      '.tmp-aaaaaaaaaaaaaaaa.partial',
      'audit.head',
      'audit.jsonl',
      'daily-2026-03-01T12-00-00.json',
      'daily-2026-03-01T12-00-00.json.meta.json',
      'hand-made.json',
    ])
    const [entry] = (await readAudit(dir)).entries
    expect(entry).toMatchObject({ action: 'prune', outcome: 'success', counts: { kept: 1, removed: 5 } })
    expect(entry?.files).toHaveLength(5)
  })

  it('refuses an empty policy before touching anything', async () => {
    await seed()
    const before = fs.readdirSync(dir).sort()
    await expect(prune(dir, {})).rejects.toMatchObject({ code: 'EMPTY_POLICY' })
    await expect(prune(dir, { keepLast: 0, keepDaily: 0 })).rejects.toBeInstanceOf(UsageError)
    expect(fs.readdirSync(dir).sort()).toEqual(before)
  })
})
