/**
 * Where the encryption passphrase comes from (DESIGN.md §6): `--passphrase-file FILE` or the
 * environment variable MERGEBACK_PASSPHRASE — never a command-line value, which would show in
 * `ps` and in shell history.
 */
import fs from 'node:fs'
import { UsageError } from '../errors.js'

export const PASSPHRASE_ENV = 'MERGEBACK_PASSPHRASE'

/**
 * Returns the passphrase, or undefined when none is configured. `--passphrase-file` wins over
 * the environment. One trailing newline (LF or CRLF) is removed from the file's content, as an
 * editor or `echo` adds it; everything else is kept byte for byte (leading/trailing spaces are part
 * of the passphrase). Throws UsageError when the file cannot be read, or when the passphrase
 * configured is empty. Called by every CLI verb that reads or writes backups.
 */
export function readPassphrase(flags: { passphraseFile?: string }): string | undefined {
  if (flags.passphraseFile !== undefined) {
    let text: string
    try {
      text = fs.readFileSync(flags.passphraseFile, 'utf8')
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message
      throw new UsageError(`Cannot read the passphrase file ${flags.passphraseFile}: ${reason}.`, { code: 'BAD_PASSPHRASE_FILE', cause: error })
    }
    const passphrase = text.replace(/\r?\n$/, '')
    if (passphrase.length === 0) throw new UsageError(`The passphrase file ${flags.passphraseFile} is empty.`, { code: 'EMPTY_PASSPHRASE' })
    return passphrase
  }
  const fromEnv = process.env[PASSPHRASE_ENV]
  if (fromEnv === undefined) return undefined
  if (fromEnv.length === 0) throw new UsageError(`${PASSPHRASE_ENV} is set but empty: unset it or give a passphrase.`, { code: 'EMPTY_PASSPHRASE' })
  return fromEnv
}
