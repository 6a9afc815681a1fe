/**
 * Trust of origin: a backup this installation made carries its seal and restores with the
 * engine's own definitions; the same file under another installation's key, or with its schema
 * edited, is foreign and gets the strict path.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { inspect } from '../../../src/engine/inspect.js'
import { restore } from '../../../src/engine/restore.js'
import { FormatError } from '../../../src/errors.js'
import { listBackups } from '../../../src/storage/catalog.js'
import { createPostgresDatabase, makeTempDir, pgQuery, type TestDatabase } from '../../helpers/databases.js'

const temp = makeTempDir('mbseal-')
const here = path.join(temp.dir, 'state-here')
const elsewhere = path.join(temp.dir, 'state-elsewhere')
const backups = path.join(temp.dir, 'backups')
const databases: TestDatabase[] = []
const savedStateDir = process.env.MERGEBACK_STATE_DIR
let file = ''

async function fresh(): Promise<TestDatabase> {
  const db = await createPostgresDatabase('mbseal')
  databases.push(db)
  return db
}

beforeAll(async () => {
  process.env.MERGEBACK_STATE_DIR = here
  const source = await fresh()
  await pgQuery(source.url, 'CREATE TABLE docs (id serial PRIMARY KEY, body text NOT NULL, CONSTRAINT short CHECK (length(body) < 1000))')
  await pgQuery(source.url, "CREATE INDEX docs_fts ON docs USING gin (to_tsvector('english', body))")
  await pgQuery(source.url, "INSERT INTO docs (body) VALUES ('one'), ('two')")
  file = (await backup({ db: source.url, out: backups })).file
}, 60_000)
afterEach(() => {
  process.env.MERGEBACK_STATE_DIR = here
})
afterAll(async () => {
  for (const db of databases) await db.drop()
  if (savedStateDir === undefined) delete process.env.MERGEBACK_STATE_DIR
  else process.env.MERGEBACK_STATE_DIR = savedStateDir
  temp.cleanup()
})

const indexes = async (db: TestDatabase): Promise<string[]> =>
  (await pgQuery<{ d: string }>(db.url, "SELECT indexdef AS d FROM pg_indexes WHERE tablename = 'docs' ORDER BY 1")).map((r) => r.d)

describe('origin seal', () => {
  it('a backup made here is sealed, listed as made here, and restores with its own index definition', async () => {
    expect(fs.readFileSync(path.join(here, 'origin.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/)
    expect((fs.statSync(path.join(here, 'origin.key')).mode & 0o777).toString(8)).toBe('600')
    expect((await inspect(file)).origin).toBe('here')
    const listed = await listBackups(backups)
    expect(listed.map((b) => b.origin)).toEqual(['here'])
    const target = await fresh()
    const report = await restore({ file, db: target.url })
    expect(report.origin).toBe('here')
    expect(report.totals.inserted).toBe(2)
    expect((await indexes(target)).join('\n')).toMatch(/to_tsvector\('english'::regconfig, body\)/)
  })

  it('under another installation the same file is foreign: refused, or restored without what cannot be rebuilt', async () => {
    process.env.MERGEBACK_STATE_DIR = elsewhere
    expect((await inspect(file)).origin).toBe('foreign')
    expect((await listBackups(backups)).map((b) => b.origin)).toEqual(['foreign'])
    const target = await fresh()
    const error = await restore({ file, db: target.url }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(FormatError)
    expect((error as Error).message).toMatch(/Index "docs_fts" of "docs".*refused.*to_tsvector/)
    expect(await pgQuery(target.url, "SELECT 1 FROM pg_class WHERE relname = 'docs'")).toEqual([])
    const report = await restore({ file, db: target.url, dropUnsafeDefinitions: true })
    expect(report.origin).toBe('foreign')
    expect(report.totals.inserted).toBe(2)
    expect(report.warnings.join('\n')).toMatch(/docs_fts/)
    // The CHECK is a plain expression: rebuilt even for a foreign file.
    expect(await pgQuery(target.url, "SELECT conname FROM pg_constraint WHERE conname = 'short'")).toEqual([{ conname: 'short' }])
  })

  it('a sealed file whose schema was edited is foreign', async () => {
    const edited = path.join(temp.dir, 'edited.json')
    fs.writeFileSync(edited, fs.readFileSync(file, 'utf8').replace("'english'", "'simple'"))
    expect((await inspect(edited)).origin).toBe('foreign')
    const unchanged = path.join(temp.dir, 'copy.json')
    fs.copyFileSync(file, unchanged)
    expect((await inspect(unchanged)).origin).toBe('here')
  })
})
