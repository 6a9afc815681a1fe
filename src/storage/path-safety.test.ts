import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UsageError } from '../errors.js'
import { resolveBackupPath } from './path-safety.js'

let root: string
let dir: string

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-paths-'))
  dir = path.join(root, 'backups')
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(root, 'secret.json'), '{}')
  for (const f of ['daily-2026-01-01T00-00-00.json', 'daily-2026-03-01T00-00-00.json.gz', 'daily-2026-02-01T00-00-00.json', 'weekly-2026-01-05T00-00-00.json']) {
    fs.writeFileSync(path.join(dir, f), '{}')
  }
})

afterEach(() => fs.rmSync(root, { recursive: true, force: true }))

function refused(ref: string, options?: { allowOutside?: boolean }): UsageError {
  try {
    resolveBackupPath(dir, ref, options)
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError)
    expect((error as UsageError).code).toBe('UNSAFE_PATH')
    return error as UsageError
  }
  throw new Error(`${JSON.stringify(ref)} was not refused`)
}

describe('resolveBackupPath', () => {
  it('resolves a file name inside the directory', () => {
    expect(resolveBackupPath(dir, 'weekly-2026-01-05T00-00-00.json')).toBe(path.join(dir, 'weekly-2026-01-05T00-00-00.json'))
  })

  it('resolves a backup name to its newest backup', () => {
    expect(resolveBackupPath(dir, 'daily')).toBe(path.join(dir, 'daily-2026-03-01T00-00-00.json.gz'))
    expect(resolveBackupPath(dir, 'weekly')).toBe(path.join(dir, 'weekly-2026-01-05T00-00-00.json'))
  })

  it('returns dir/<name> for a name that does not exist yet (callers creating a file)', () => {
    expect(resolveBackupPath(dir, 'upload.json')).toBe(path.join(dir, 'upload.json'))
  })

  const traversal = ['../x', '..', '.', '/etc/passwd', 'a/../../b', '..\\x', 'sub/file.json', '%2e%2e', '%2e%2e%2fsecret.json', '..%2Fsecret.json', '%2E%2E', 'a\0b', '\0', '', 'a\nb', 'x\u007f']
  for (const ref of traversal) {
    it(`refuses ${JSON.stringify(ref)}`, () => {
      refused(ref)
    })
  }

  it('refuses a symbolic link leading out of the directory', () => {
    fs.symlinkSync(path.join(root, 'secret.json'), path.join(dir, 'evil.json'))
    fs.symlinkSync('/etc/passwd', path.join(dir, 'passwd.json'))
    fs.symlinkSync(root, path.join(dir, 'up'))
    expect(refused('evil.json').message).toMatch(/symbolic link leading out/)
    refused('passwd.json')
    refused('up')
  })

  it('refuses a symbolic link to nothing', () => {
    fs.symlinkSync(path.join(root, 'gone.json'), path.join(dir, 'dangling.json'))
    expect(refused('dangling.json').message).toMatch(/symbolic link to nothing/)
  })

  it('refuses a chain of links that ends outside', () => {
    fs.symlinkSync(path.join(root, 'secret.json'), path.join(root, 'hop.json'))
    fs.symlinkSync(path.join(root, 'hop.json'), path.join(dir, 'chain.json'))
    refused('chain.json')
  })

  it('allows a symbolic link that stays inside, and a backup directory that is itself a link', () => {
    fs.symlinkSync(path.join(dir, 'weekly-2026-01-05T00-00-00.json'), path.join(dir, 'latest.json'))
    expect(resolveBackupPath(dir, 'latest.json')).toBe(path.join(dir, 'latest.json'))
    const linkedDir = path.join(root, 'linked')
    fs.symlinkSync(dir, linkedDir)
    expect(resolveBackupPath(linkedDir, 'latest.json')).toBe(path.join(linkedDir, 'latest.json'))
  })

  it('with allowOutside (the CLI) accepts a path as the user gave it, but still refuses NUL bytes', () => {
    expect(resolveBackupPath(dir, path.join(root, 'secret.json'), { allowOutside: true })).toBe(path.join(root, 'secret.json'))
    expect(resolveBackupPath(dir, '../secret.json', { allowOutside: true })).toBe(path.resolve('../secret.json'))
    refused('a\0b', { allowOutside: true })
  })
})
