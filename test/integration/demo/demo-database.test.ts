/**
 * The demo database (src/demo/demo-database.ts): made once, deterministic, realistic enough for
 * the smart merge, and never touching a file that is already there.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { createDemoDatabase } from '../../../src/demo/demo-database.js'
import { NotFoundError, UsageError } from '../../../src/errors.js'
import { makeTempDir } from '../../helpers/databases.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

function tempDir(): string {
  const { dir, cleanup } = makeTempDir('mergeback-demo-')
  cleanups.push(cleanup)
  return dir
}

const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')

const EXPECTED_TABLES = { Message: 120, Registration: 90, Room: 12, RoomAllocation: 35, User: 40 }

describe('createDemoDatabase', () => {
  it('creates the database once; a second call leaves the file as it is', () => {
    const file = path.join(tempDir(), 'demo.db')
    expect(createDemoDatabase(file)).toEqual({ created: true, tables: EXPECTED_TABLES })
    const hash = sha256(file)
    const mtime = fs.statSync(file).mtimeMs
    expect(createDemoDatabase(file)).toEqual({ created: false, tables: EXPECTED_TABLES })
    expect(sha256(file)).toBe(hash)
    expect(fs.statSync(file).mtimeMs).toBe(mtime)
    // No temporary file is left beside it.
    expect(fs.readdirSync(path.dirname(file))).toEqual(['demo.db'])
  })

  it('is deterministic: one seed, one file; another seed, other data', () => {
    const a = path.join(tempDir(), 'a.db')
    const b = path.join(tempDir(), 'b.db')
    const c = path.join(tempDir(), 'c.db')
    createDemoDatabase(a)
    createDemoDatabase(b)
    createDemoDatabase(c, { seed: 7 })
    expect(sha256(a)).toBe(sha256(b))
    expect(sha256(a)).not.toBe(sha256(c))
  })

  it('holds consistent, realistic data', () => {
    const file = path.join(tempDir(), 'demo.db')
    createDemoDatabase(file)
    const db = new Database(file, { readonly: true })
    try {
      expect(db.pragma('integrity_check')).toEqual([{ integrity_check: 'ok' }])
      expect(db.pragma('foreign_key_check')).toEqual([])
      const names = (db.prepare(`SELECT name FROM "User"`).all() as { name: string }[]).map((u) => u.name)
      // Names from several scripts: Latin with diacritics, CJK, Hangul, Cyrillic, Greek, Arabic, Hebrew.
      for (const pattern of [/ü/, /\p{Script=Han}/u, /\p{Script=Hangul}/u, /\p{Script=Cyrillic}/u, /\p{Script=Greek}/u, /\p{Script=Arabic}/u, /\p{Script=Hebrew}/u]) {
        expect(names.some((n) => pattern.test(n))).toBe(true)
      }
      const bodies = db.prepare(`SELECT body FROM "Message"`).all() as { body: string }[]
      for (const { body } of bodies) expect(body.length).toBeGreaterThanOrEqual(900)
      expect(bodies.some(({ body }) => /\p{Extended_Pictographic}/u.test(body) && body.includes('\n'))).toBe(true)
      const photos = db.prepare(`SELECT photo FROM "Room" WHERE photo IS NOT NULL`).all() as { photo: Buffer }[]
      expect(photos.length).toBeGreaterThan(6)
      for (const { photo } of photos) {
        expect(photo.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
        expect(photo.length).toBeGreaterThan(200)
        expect(photo.length).toBeLessThan(1000)
      }
      for (const { metadata } of db.prepare(`SELECT metadata FROM "Registration" WHERE metadata IS NOT NULL`).all() as { metadata: string }[]) {
        expect(() => JSON.parse(metadata)).not.toThrow()
      }
      // Every table has an updatedAt in ISO-8601 UTC, never before the row was made.
      for (const table of ['User', 'Registration', 'Message', 'Room', 'RoomAllocation']) {
        const stamps = db.prepare(`SELECT "updatedAt" AS u FROM "${table}"`).all() as { u: string }[]
        for (const { u } of stamps) expect(u).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      }
      expect(db.prepare(`SELECT count(*) AS n FROM "User" WHERE "updatedAt" < "createdAt"`).get()).toEqual({ n: 0 })
      expect(db.prepare(`SELECT count(*) AS n FROM "User" WHERE "updatedAt" > "createdAt"`).get()).not.toEqual({ n: 0 })
      expect(db.prepare(`SELECT count(*) AS n FROM "Registration" WHERE "amount" <> CAST("amount" AS INTEGER)`).get()).not.toEqual({ n: 0 })
    } finally {
      db.close()
    }
  })

  it('never writes over a file that is not a database, and needs an existing directory', () => {
    const dir = tempDir()
    const junk = path.join(dir, 'notes.db')
    fs.writeFileSync(junk, 'not a database '.repeat(100))
    expect(() => createDemoDatabase(junk)).toThrow(UsageError)
    expect(fs.readFileSync(junk, 'utf8')).toBe('not a database '.repeat(100))
    expect(() => createDemoDatabase(path.join(dir, 'missing', 'demo.db'))).toThrow(NotFoundError)
    expect(fs.readdirSync(dir)).toEqual(['notes.db'])
  })
})
