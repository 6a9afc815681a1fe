/**
 * Issue #13, finding 5: bad input is never an "internal error". Every flag of the commands that
 * read or write files and databases, with hostile values (an existing non-backup file, a
 * directory, a path under a file, outside paths, empty, huge), ends in one line on stderr and
 * exit 2, and changes nothing.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { makeTempDir } from '../../helpers/databases.js'
import { writeCraftedFile } from './crafted-files.js'

const temp = makeTempDir('mbhostile-')
const t = (name: string): string => path.join(temp.dir, name)
const HUGE = 'a'.repeat(100_000)

beforeAll(() => {
  const db = new Database(t('app.db'))
  db.exec("CREATE TABLE victim (id INTEGER PRIMARY KEY, secret TEXT); INSERT INTO victim VALUES (1, 'x')")
  db.close()
  fs.writeFileSync(t('notes.txt'), 'not a backup\n')
  fs.writeFileSync(t('notes.json'), 'not a backup\n')
  fs.writeFileSync(t('empty.json'), '')
  fs.mkdirSync(t('adir'))
  // A crafted SQLite type that once made the driver say "more than one statement".
  writeCraftedFile(t('crafted-type.json'), 'sqlite', [
    { header: { tableName: 't', primaryKey: 'id', columns: [{ name: 'id', type: 'INTEGER); DROP TABLE victim; --', kind: 'integer', nullable: false }] }, lines: ['{"id":1}'] },
  ])
})
afterAll(() => temp.cleanup())

const db = (): string => `sqlite:${t('app.db')}`

const CASES: readonly (readonly string[])[] = [
  ['backup', '--db', db(), '--out', t('notes.txt')],
  ['backup', '--db', db(), '--out', t('notes.json')],
  ['backup', '--db', db(), '--out', path.join(t('notes.txt'), 'x.json')],
  ['backup', '--db', db(), '--out', ''],
  ['backup', '--db', db(), '--out', '/proc/mergeback-x.json'],
  ['backup', '--db', db(), '--out', t('adir'), '--name', HUGE],
  ['backup', '--db', db(), '--out', t('adir'), '--name', '../escape'],
  ['backup', '--db', db(), '--out', t('adir'), '--tables', 'nope'],
  ['backup', '--db', `sqlite:${t('adir')}`, '--out', t('adir')],
  ['backup', '--db', `sqlite:${t('notes.txt')}`, '--out', t('adir')],
  ['backup', '--db', '', '--out', t('adir')],
  ['backup', '--db', db(), '--out', t('adir'), '--passphrase-file', t('adir')],
  ['backup', '--db', db(), '--out', t('adir'), '--passphrase-file', t('missing')],
  ['restore', t('notes.txt'), '--db', db()],
  ['restore', t('empty.json'), '--db', db()],
  ['restore', t('adir'), '--db', db()],
  ['restore', t('crafted-type.json'), '--db', db()],
  ['restore', '', '--db', db()],
  ['restore', '../../../etc/passwd', '--db', db(), '--dir', t('adir')],
  ['restore', HUGE, '--db', db()],
  ['restore', t('crafted-type.json'), '--db', db(), '--tables', HUGE],
  ['verify', t('notes.txt')],
  ['verify', t('crafted-type.json')],
  ['verify', t('adir')],
  ['inspect', t('notes.json')],
  ['analyze', t('notes.txt'), '--db', db()],
  ['merge', t('crafted-type.json'), '--db', db(), '--resolutions', t('adir')],
  ['merge', t('crafted-type.json'), '--db', db(), '--resolutions', t('notes.txt')],
  ['list', '--dir', t('notes.txt')],
  ['delete', '../notes.txt', '--dir', t('adir'), '--yes'],
  ['prune', '--keep-last', '-1', '--dir', t('adir')],
  ['prune', '--keep-last', HUGE, '--dir', t('adir')],
  ['stats', '--db', `sqlite:${t('missing.db')}`],
  // The reader's limits as flags (issue #13): bad values, and a file beyond them.
  ['verify', t('crafted-type.json'), '--max-depth', HUGE],
  ['verify', t('crafted-type.json'), '--max-depth', '0'],
  ['inspect', t('crafted-type.json'), '--max-record-bytes', '-1'],
  ['restore', t('crafted-type.json'), '--db', db(), '--max-tables', ''],
  ['restore', t('crafted-type.json'), '--db', db(), '--max-columns', '1e400'],
  ['restore', t('crafted-type.json'), '--db', db(), '--max-decompressed-bytes', '12 parsecs'],
  ['analyze', t('crafted-type.json'), '--db', db(), '--max-depth', '1'],
  ['merge', t('crafted-type.json'), '--db', db(), '--max-record-bytes', '1', '--yes'],
  ['reseal', t('crafted-type.json'), '--max-tables', '99999999999999999999999'],
]

describe('hostile CLI arguments', () => {
  it.each(CASES.map((args) => [args.map((a) => (a.length > 60 ? `${a.slice(0, 20)}…(${a.length})` : a)).join(' '), args] as const))(
    '%s → one line, exit 2',
    async (_label, args) => {
      const before = fs.readFileSync(t('app.db'))
      const result = await runCli(args)
      expect(result.stderr).not.toMatch(/internal error/)
      expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1)
      expect(result.code, result.stderr).toBe(2)
      expect(fs.readFileSync(t('app.db')).equals(before)).toBe(true)
      expect(fs.readFileSync(t('notes.txt'), 'utf8')).toBe('not a backup\n')
      expect(fs.readFileSync(t('notes.json'), 'utf8')).toBe('not a backup\n')
    },
  )
})
