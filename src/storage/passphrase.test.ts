import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UsageError } from '../errors.js'
import { PASSPHRASE_ENV, readPassphrase } from './passphrase.js'

let dir: string
const saved = process.env[PASSPHRASE_ENV]

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-pass-'))
  delete process.env[PASSPHRASE_ENV]
})

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true })
  if (saved === undefined) delete process.env[PASSPHRASE_ENV]
  else process.env[PASSPHRASE_ENV] = saved
})

function file(content: string): string {
  const p = path.join(dir, 'pass')
  fs.writeFileSync(p, content)
  return p
}

describe('readPassphrase', () => {
  it('is undefined when nothing is configured', () => {
    expect(readPassphrase({})).toBeUndefined()
  })

  it('reads the environment variable as it is', () => {
    process.env[PASSPHRASE_ENV] = ' spaced out \n'
    expect(readPassphrase({})).toBe(' spaced out \n')
  })

  it('removes exactly one trailing newline from the file', () => {
    expect(readPassphrase({ passphraseFile: file('secret\n') })).toBe('secret')
    expect(readPassphrase({ passphraseFile: file('secret\r\n') })).toBe('secret')
    expect(readPassphrase({ passphraseFile: file('secret\n\n') })).toBe('secret\n')
    expect(readPassphrase({ passphraseFile: file(' secret ') })).toBe(' secret ')
  })

  it('prefers --passphrase-file over the environment', () => {
    process.env[PASSPHRASE_ENV] = 'from-env'
    expect(readPassphrase({ passphraseFile: file('from-file') })).toBe('from-file')
  })

  it('refuses an empty passphrase and an unreadable file', () => {
    expect(() => readPassphrase({ passphraseFile: file('') })).toThrow(UsageError)
    expect(() => readPassphrase({ passphraseFile: file('\n') })).toThrow(UsageError)
    expect(() => readPassphrase({ passphraseFile: path.join(dir, 'missing') })).toThrow(/does not exist/)
    process.env[PASSPHRASE_ENV] = ''
    expect(() => readPassphrase({})).toThrow(UsageError)
  })
})
