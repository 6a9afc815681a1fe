/**
 * A damaged backup restores nothing (issue #6): each kind of damage to a real backup of a SQLite
 * database makes `restore` fail with the specific error before it writes anything, and the target
 * database stays exactly as it was (here: empty).
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FormatError, IntegrityError, type IntegrityReason } from '../../../src/errors.js'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { HEADER_LENGTH, OFFSET_SALT, chunkOffset, DEFAULT_CHUNK_SIZE } from '../../../src/crypto/container.js'
import { sidecarPathFor } from '../../../src/storage/naming.js'
import { makeSqlitePath, makeTempDir } from '../../helpers/databases.js'

const PASSPHRASE = 'restore nothing'
let temp: { dir: string; cleanup: () => void }
let source: { file: string; url: string; cleanup: () => void }
const files: Record<'plain' | 'gzip' | 'gzipEnc', string> = { plain: '', gzip: '', gzipEnc: '' }

beforeAll(async () => {
  temp = makeTempDir('mergeback-damaged-restore-')
  source = makeSqlitePath()
  const db = new Database(source.file)
  db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, note TEXT)')
  const insert = db.prepare('INSERT INTO users (id, email, note) VALUES (?, ?, ?)')
  db.transaction(() => {
    for (let i = 1; i <= 20_000; i++) insert.run(i, `user${i}@example.com`, `note ${i} ${'x'.repeat(i % 50)}`)
  })()
  db.close()
  const dir = path.join(temp.dir, 'backups')
  files.plain = (await backup({ db: source.url, out: dir, name: 'plain' })).file
  files.gzip = (await backup({ db: source.url, out: dir, name: 'gzip', gzip: true })).file
  files.gzipEnc = (await backup({ db: source.url, out: dir, name: 'gzipenc', gzip: true, passphrase: PASSPHRASE })).file
})
afterAll(() => {
  source.cleanup()
  temp.cleanup()
})

let copies = 0
function damaged(kind: keyof typeof files, damage: (bytes: Buffer) => Buffer): string {
  const original = files[kind]
  const target = path.join(path.dirname(original), `damaged${++copies}-2026-01-01T00-00-00${path.basename(original).replace(/^[^.]*/, '')}`)
  fs.writeFileSync(target, damage(Buffer.from(fs.readFileSync(original))))
  const sidecar = JSON.parse(fs.readFileSync(sidecarPathFor(original), 'utf8'))
  fs.writeFileSync(sidecarPathFor(target), JSON.stringify({ ...sidecar, file: path.basename(target) }))
  return target
}

const flip = (offset: number) => (b: Buffer) => ((b[offset < 0 ? b.length + offset : offset]! ^= 0x08), b)

async function expectNothingRestored(file: string, expected: { error: typeof IntegrityError | typeof FormatError; reason?: IntegrityReason }, passphrase = PASSPHRASE): Promise<void> {
  const target = makeSqlitePath()
  try {
    const error = await restore({ file, db: target.url, passphrase }).catch((e: unknown) => e)
    expect(error, path.basename(file)).toBeInstanceOf(expected.error)
    if (expected.reason) expect((error as IntegrityError).reason).toBe(expected.reason)
    if (fs.existsSync(target.file)) {
      const db = new Database(target.file, { readonly: true })
      try {
        expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([])
      } finally {
        db.close()
      }
    }
  } finally {
    target.cleanup()
  }
}

describe('restoring a damaged backup writes nothing', () => {
  it('the intact backups restore (the baseline)', async () => {
    for (const file of Object.values(files)) {
      const target = makeSqlitePath()
      try {
        const report = await restore({ file, db: target.url, passphrase: PASSPHRASE })
        expect(report.totals.inserted).toBe(20_000)
      } finally {
        target.cleanup()
      }
    }
  })

  it('a hand-edited value in plain JSON', async () => {
    const edited = damaged('plain', (b) => Buffer.from(b.toString().replace('user17@example.com', 'user71@example.com')))
    await expectNothingRestored(edited, { error: IntegrityError, reason: 'checksum' })
  })

  it('a flipped byte near the end of plain JSON (the last records)', async () => {
    const text = fs.readFileSync(files.plain, 'utf8')
    await expectNothingRestored(damaged('plain', flip(text.lastIndexOf('user19999@') + 2)), { error: IntegrityError })
  })

  it('a flipped byte in the gzip trailer', async () => {
    await expectNothingRestored(damaged('gzip', flip(-6)), { error: IntegrityError, reason: 'checksum' })
  })

  it('truncation', async () => {
    await expectNothingRestored(damaged('gzip', (b) => b.subarray(0, b.length - 100)), { error: IntegrityError, reason: 'truncated' })
    await expectNothingRestored(damaged('gzipEnc', (b) => b.subarray(0, chunkOffset(DEFAULT_CHUNK_SIZE, 1))), { error: IntegrityError, reason: 'truncated' })
  })

  it('a flipped byte in the encrypted header, the first chunk and the last chunk', async () => {
    await expectNothingRestored(damaged('gzipEnc', flip(OFFSET_SALT)), { error: IntegrityError, reason: 'tampered' })
    await expectNothingRestored(damaged('gzipEnc', flip(HEADER_LENGTH + 3)), { error: IntegrityError, reason: 'tampered' })
    await expectNothingRestored(damaged('gzipEnc', flip(-3)), { error: IntegrityError, reason: 'tampered' })
  })

  it('a wrong passphrase', async () => {
    await expectNothingRestored(files.gzipEnc, { error: IntegrityError, reason: 'wrong-passphrase' }, 'not the passphrase')
  })
})
