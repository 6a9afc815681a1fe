import { describe, expect, it } from 'vitest'
import { UsageError } from '../errors.js'
import { backupFileName, checkBackupName, isBackupDataFileName, isTemporaryFileName, parseBackupFileName } from './naming.js'

describe('backup file names', () => {
  const at = new Date('2026-11-22T10:30:05.999Z')

  it('follows <name>-YYYY-MM-DDTHH-mm-ss.json[.gz][.enc] in UTC', () => {
    expect(backupFileName('daily', at, { gzip: false, encrypted: false })).toBe('daily-2026-11-22T10-30-05.json')
    expect(backupFileName('daily', at, { gzip: true, encrypted: false })).toBe('daily-2026-11-22T10-30-05.json.gz')
    expect(backupFileName('daily', at, { gzip: false, encrypted: true })).toBe('daily-2026-11-22T10-30-05.json.enc')
    expect(backupFileName('incremental-backup', at, { gzip: true, encrypted: true })).toBe('incremental-backup-2026-11-22T10-30-05.json.gz.enc')
    expect(backupFileName('daily', at, { gzip: false, zstd: true, encrypted: true })).toBe('daily-2026-11-22T10-30-05.json.zst.enc')
  })

  it('parses what it makes, to the second', () => {
    const parsed = parseBackupFileName('pre-release.v2-2026-11-22T10-30-05.json.gz.enc')
    expect(parsed).toEqual({ name: 'pre-release.v2', createdAt: new Date('2026-11-22T10:30:05Z'), gzip: true, zstd: false, encrypted: true, format: 'json' })
    expect(parseBackupFileName('daily-2026-11-22T10-30-05.json.zst.enc')).toMatchObject({ gzip: false, zstd: true, encrypted: true })
    expect(parseBackupFileName('daily-2026-11-22T10-30-05.json.gz.zst')).toBeUndefined()
  })

  it('rejects names that are not backups, and impossible dates', () => {
    for (const file of [
      'daily.json',
      'daily-2026-11-22.json',
      'daily-2026-02-30T10-00-00.json',
      'daily-2026-11-22T25-00-00.json',
      'daily-2026-11-22T10-30-05.json.meta.json',
      'daily-2026-11-22T10-30-05.json.enc.gz',
      '.tmp-abc.partial',
      '-2026-11-22T10-30-05.json',
    ]) {
      expect(parseBackupFileName(file), file).toBeUndefined()
    }
  })

  it('accepts only safe backup names', () => {
    for (const good of ['daily', 'a', 'Pre-Release_2.1', 'x'.repeat(100)]) expect(() => checkBackupName(good)).not.toThrow()
    for (const bad of ['', '.hidden', '-x', '_x', '../x', 'a/b', 'a b', 'a\0b', 'x'.repeat(101), 'ünïcode', '%2e%2e']) {
      expect(() => checkBackupName(bad), bad).toThrow(UsageError)
    }
  })

  it('tells data files, sidecars and temporary files apart', () => {
    expect(isBackupDataFileName('daily-2026-11-22T10-30-05.json.gz')).toBe(true)
    expect(isBackupDataFileName('hand-made.json')).toBe(true)
    expect(isBackupDataFileName('daily-2026-11-22T10-30-05.json.gz.meta.json')).toBe(false)
    expect(isBackupDataFileName('audit.jsonl')).toBe(false)
    expect(isBackupDataFileName('.tmp-0123.partial')).toBe(false)
    expect(isBackupDataFileName('.hidden.json')).toBe(false)
    expect(isTemporaryFileName('.tmp-0123.partial')).toBe(true)
    expect(isTemporaryFileName('daily.json')).toBe(false)
  })
})
