/**
 * A seed "Smart Backup" file (seed 000: tableName / primaryKey / records, no column types) merged
 * into PostgreSQL and SQLite databases that already hold data. Its values are converted to the
 * current columns' types and compared there: ISO timestamps with milliseconds against
 * timestamp(3) / timestamptz / SQLite DATETIME text, `true` against a SQLite boolean stored as 1,
 * a number against numeric(10,2), a JSON object against jsonb. The file lists a child table before
 * its parent: the current database's foreign keys decide the order.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { analyze, merge } from '../../../src/engine/merge.js'
import { ENGINES, counts, createTestDb, readTable, scratch, writeSmartBackup, type EngineName, type TestDb } from './harness.js'

const SCHEMA: Record<EngineName, string> = {
  postgres: `
    CREATE TABLE "User" (id text PRIMARY KEY, email text NOT NULL UNIQUE, name text, "isAdmin" boolean NOT NULL DEFAULT false,
      score numeric(10,2), profile jsonb, "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" timestamp(3) NOT NULL);
    CREATE TABLE "Registration" (id text PRIMARY KEY, "userId" text NOT NULL REFERENCES "User"(id), status text NOT NULL, "updatedAt" timestamp(3) NOT NULL);
    CREATE TABLE "RoomAllocation" ("roomId" integer NOT NULL, "registrationId" text NOT NULL REFERENCES "Registration"(id),
      "updatedAt" timestamptz(6), PRIMARY KEY ("roomId", "registrationId"));
    INSERT INTO "User" VALUES
      ('u1', 'ann@example.com', 'Ann', true, 1.50, '{"b": 1, "a": 2}', '2024-01-15 10:30:00', '2024-01-15 10:30:00'),
      ('u2', 'bob@example.com', 'Bob (old)', false, NULL, NULL, '2024-01-15 10:30:00', '2024-01-10 08:00:00'),
      ('u3', 'cid@example.com', 'Cida', false, NULL, NULL, '2024-01-15 10:30:00', '2024-01-20 08:00:00'),
      ('u5', 'eve@example.com', 'Eve', false, NULL, NULL, '2024-01-15 10:30:00', '2024-01-20 08:00:00');
    INSERT INTO "Registration" VALUES ('r2', 'u1', 'confirmed', '2024-01-15 10:30:00');
    INSERT INTO "RoomAllocation" VALUES (2, 'r2', '2024-01-15 10:30:00.123+00');`,
  sqlite: `
    PRAGMA foreign_keys = ON;
    CREATE TABLE "User" (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT, "isAdmin" BOOLEAN NOT NULL DEFAULT 0,
      score NUMERIC, profile JSON, "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" DATETIME NOT NULL);
    CREATE TABLE "Registration" (id TEXT PRIMARY KEY, "userId" TEXT NOT NULL REFERENCES "User"(id), status TEXT NOT NULL, "updatedAt" DATETIME NOT NULL);
    CREATE TABLE "RoomAllocation" ("roomId" INTEGER NOT NULL, "registrationId" TEXT NOT NULL REFERENCES "Registration"(id),
      "updatedAt" DATETIME, PRIMARY KEY ("roomId", "registrationId"));
    INSERT INTO "User" VALUES
      ('u1', 'ann@example.com', 'Ann', 1, 1.5, '{"b": 1, "a": 2}', '2024-01-15 10:30:00', '2024-01-15 10:30:00'),
      ('u2', 'bob@example.com', 'Bob (old)', 0, NULL, NULL, '2024-01-15 10:30:00', '2024-01-10 08:00:00'),
      ('u3', 'cid@example.com', 'Cida', 0, NULL, NULL, '2024-01-15 10:30:00', '2024-01-20 08:00:00'),
      ('u5', 'eve@example.com', 'Eve', 0, NULL, NULL, '2024-01-15 10:30:00', '2024-01-20 08:00:00');
    INSERT INTO "Registration" VALUES ('r2', 'u1', 'confirmed', '2024-01-15 10:30:00');
    INSERT INTO "RoomAllocation" VALUES (2, 'r2', '2024-01-15 10:30:00.123');`,
}

const SEED = [
  {
    tableName: 'Registration',
    primaryKey: 'id',
    records: [
      { id: 'r1', userId: 'u4', status: 'pending', updatedAt: '2024-01-15T10:30:00.000Z' },
      { id: 'r2', userId: 'u1', status: 'confirmed', updatedAt: '2024-01-15T10:30:00.000Z' },
    ],
  },
  {
    tableName: 'User',
    primaryKey: 'id',
    records: [
      { id: 'u1', email: 'ann@example.com', name: 'Ann', isAdmin: true, score: 1.5, profile: { a: 2, b: 1 }, createdAt: '2024-01-15T10:30:00.000Z', updatedAt: '2024-01-15T10:30:00.000Z' },
      { id: 'u2', email: 'bob@example.com', name: 'Bob', isAdmin: false, score: null, profile: null, createdAt: '2024-01-15T10:30:00.000Z', updatedAt: '2024-01-15T10:30:00.000Z' },
      { id: 'u3', email: 'cid@example.com', name: 'Cid', isAdmin: false, score: null, profile: null, createdAt: '2024-01-15T10:30:00.000Z', updatedAt: '2024-01-15T10:30:00.000Z' },
      { id: 'u4', email: 'dee@example.com', name: 'Dee', isAdmin: true, score: 2, profile: { tags: ['x'] }, createdAt: '2024-01-15T10:30:00.000Z', updatedAt: '2024-01-15T10:30:00.000Z' },
    ],
  },
  {
    tableName: 'RoomAllocation',
    primaryKey: ['roomId', 'registrationId'],
    records: [
      { roomId: 1, registrationId: 'r1', updatedAt: '2024-01-15T10:30:00.000Z' },
      { roomId: 2, registrationId: 'r2', updatedAt: '2024-01-15T10:30:00.123Z' },
    ],
  },
]

describe.each(ENGINES)('a seed Smart Backup merged into %s with data', (engine) => {
  let db: TestDb
  let tmp: ReturnType<typeof scratch>
  beforeEach(async () => {
    db = await createTestDb(engine)
    tmp = scratch()
    await db.exec(SCHEMA[engine])
  })
  afterEach(async () => {
    await db?.drop()
    tmp?.cleanup()
  })

  it('converts values to the current column types, compares them there, and inserts parents first', async () => {
    const file = writeSmartBackup(tmp.file('incremental-backup-2024-01-15T12-00-00.json'), SEED)
    const analysis = await analyze(file, db.url)
    expect(analysis.tables).toEqual({
      Registration: counts({ new: 1, unchanged: 1 }),
      User: counts({ new: 1, unchanged: 1, updated: 1, kept: 1, currentOnly: 1 }),
      RoomAllocation: counts({ new: 1, unchanged: 1 }),
    })
    expect(analysis.conflicts).toEqual([])
    const report = await merge(file, db.url)
    expect(report).toEqual(analysis)

    const users = await readTable(db, 'User', ['id'])
    expect(users.map((u) => [u.id, u.name])).toEqual([
      ['u1', 'Ann'],
      ['u2', 'Bob'],
      ['u3', 'Cida'],
      ['u4', 'Dee'],
      ['u5', 'Eve'],
    ])
    const dee = users.find((u) => u.id === 'u4')!
    expect(dee.isAdmin).toBe(true)
    expect(JSON.parse(String(dee.profile))).toEqual({ tags: ['x'] })
    if (engine === 'postgres') expect(dee.updatedAt).toBe('2024-01-15T10:30:00')
    expect((await readTable(db, 'RoomAllocation', ['roomId'])).map((r) => r.registrationId)).toEqual(['r1', 'r2'])

    const again = await analyze(file, db.url)
    expect(again.totals).toEqual(counts({ unchanged: 7, kept: 1, currentOnly: 1 }))
  })
})
