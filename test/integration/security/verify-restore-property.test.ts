/**
 * Issue #13: `verify` and `restore` agree on every file — verify passes ⇔ restore succeeds
 * (structurally) — and a refused restore changes nothing. Random files (fast-check): values
 * nested up to and beyond the depth limit, strings around the record-size limit, the same key
 * twice, record counts that disagree with the metadata, broken checksums; restored into SQLite
 * (with and without the table already there) and PostgreSQL.
 *
 * Small limits (library option `limits`) keep each file small. Run counts are small in CI; set
 * MERGEBACK_PROPERTY_RUNS (e.g. 500) for the full count (docs/security.md).
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { verify } from '../../../src/engine/inspect.js'
import { restore } from '../../../src/engine/restore.js'
import { createPostgresDatabase, makeTempDir, pgQuery } from '../../helpers/databases.js'
import { writeCraftedFile } from './crafted-files.js'

const FULL = Number(process.env.MERGEBACK_PROPERTY_RUNS ?? 0)
const SQLITE_RUNS = FULL > 0 ? FULL : 30
const POSTGRES_RUNS = FULL > 0 ? Math.max(1, Math.round(FULL / 5)) : 6
/** The full count takes minutes (a database per PostgreSQL file). */
const TIMEOUT = FULL > 0 ? 60 * 60_000 : undefined
/** Records sit at depth 5 of the document; values nest from there. */
const LIMITS = { maxDepth: 24, maxRecordBytes: 2048 }

const temp = makeTempDir('mbprop-')
afterAll(() => temp.cleanup())

type Value = string | number | null | Value[] | { [key: string]: Value }

interface Model {
  readonly ids: number[]
  readonly values: Value[]
  readonly damage: 'none' | 'count' | 'checksum' | 'duplicate'
  readonly existing: boolean
}

const nestedValue = fc.integer({ min: 0, max: LIMITS.maxDepth + 6 }).map((depth): Value => {
  let value: Value = 'leaf'
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value }
  return value
})
const longString = fc.integer({ min: LIMITS.maxRecordBytes - 60, max: LIMITS.maxRecordBytes + 40 }).map((n) => 'x'.repeat(n))
const value = fc.oneof(
  { weight: 3, arbitrary: fc.oneof(fc.string({ unit: 'grapheme-ascii', maxLength: 30 }), fc.integer(), fc.constant(null)) },
  { weight: 2, arbitrary: nestedValue },
  { weight: 2, arbitrary: longString },
)

const model: fc.Arbitrary<Model> = fc
  .record({
    ids: fc.uniqueArray(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 8 }),
    values: fc.array(value, { minLength: 8, maxLength: 8 }),
    damage: fc.constantFrom('none', 'none', 'none', 'count', 'checksum', 'duplicate'),
    existing: fc.boolean(),
  })
  .map((m) => ({ ...m, ids: m.damage === 'duplicate' ? [...m.ids, m.ids[0]!] : m.ids }))

let fileNumber = 0

/** Writes the model as a backup for `engine` (checksums right, then damaged as the model says). */
function writeModel(m: Model, engine: 'sqlite' | 'postgres'): string {
  const file = path.join(temp.dir, `prop-${engine}-${fileNumber++}.json`)
  const columns =
    engine === 'sqlite'
      ? [
          { name: 'id', type: 'INTEGER', kind: 'integer', nullable: false },
          { name: 'a', type: 'TEXT', kind: 'unknown', nullable: true },
        ]
      : [
          { name: 'id', type: 'integer', kind: 'integer', nullable: false },
          { name: 'a', type: 'jsonb', kind: 'json', nullable: true },
        ]
  // A json column's wire value is the JSON text, as a string (docs/format.md): on PostgreSQL the
  // nesting is inside that string, so the depth limit is exercised on SQLite only.
  const lines = m.ids.map((id, i) => {
    const value = m.values[i % m.values.length]!
    return JSON.stringify({ id, a: engine === 'postgres' ? JSON.stringify(value) : value })
  })
  writeCraftedFile(file, engine, [{ header: { tableName: 't', primaryKey: 'id', columns }, lines }])
  let text = fs.readFileSync(file, 'utf8')
  if (m.damage === 'count') text = text.replace(/"recordCounts":\{"t":(\d+)\}/, (_all, n: string) => `"recordCounts":{"t":${Number(n) + 1}}`)
  if (m.damage === 'checksum') text = text.replace(/"checksums":\{"t":"sha256:(.)/, (_all, c: string) => `"checksums":{"t":"sha256:${c === '0' ? '1' : '0'}`)
  fs.writeFileSync(file, text)
  return file
}

/** Everything in a SQLite database, as comparable data. */
function sqliteState(file: string): unknown {
  const db = new Database(file, { readonly: true })
  try {
    const tables = db.prepare("SELECT name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string; sql: string }[]
    return tables.map((t) => ({ ...t, rows: db.prepare(`SELECT * FROM "${t.name}" ORDER BY 1`).all() }))
  } finally {
    db.close()
  }
}

async function outcome(run: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  try {
    await run()
    return { ok: true }
  } catch (error) {
    return { ok: false, error: (error as Error).message }
  }
}

describe('verify and restore agree (property)', () => {
  it(`into SQLite: verify passes ⇔ restore succeeds; a refused restore changes nothing (${SQLITE_RUNS} files)`, async () => {
    await fc.assert(
      fc.asyncProperty(model, async (m) => {
        const file = writeModel(m, 'sqlite')
        const target = path.join(temp.dir, `target-${fileNumber}.db`)
        const db = new Database(target)
        db.exec("CREATE TABLE victim (id INTEGER PRIMARY KEY, secret TEXT); INSERT INTO victim VALUES (1, 'keep')")
        if (m.existing) db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1000, 'there')")
        db.close()
        const before = sqliteState(target)
        const verified = await verify(file, { limits: LIMITS })
        const restored = await outcome(() => restore({ file, db: `sqlite:${target}`, limits: LIMITS }))
        expect(restored.ok, `verify ${verified.ok ? 'passed' : 'failed'}; restore: ${restored.error ?? 'ok'}; ${JSON.stringify(verified.checks)}`).toBe(verified.ok)
        if (m.damage !== 'none') expect(verified.ok).toBe(false)
        if (!restored.ok) {
          expect(restored.error).not.toMatch(/internal error|Maximum call stack/)
          expect(sqliteState(target)).toEqual(before)
        }
      }),
      { numRuns: SQLITE_RUNS },
    )
  }, TIMEOUT)

  it(`into PostgreSQL: the same (${POSTGRES_RUNS} files)`, async () => {
    await fc.assert(
      fc.asyncProperty(model, async (m) => {
        const file = writeModel(m, 'postgres')
        const db = await createPostgresDatabase('mbprop')
        try {
          await pgQuery(db.url, "CREATE TABLE victim (id integer PRIMARY KEY, secret text); INSERT INTO victim VALUES (1, 'keep')")
          if (m.existing) await pgQuery(db.url, `CREATE TABLE t (id integer PRIMARY KEY, a jsonb); INSERT INTO t VALUES (1000, '"there"')`)
          const state = async () => ({
            tables: await pgQuery(db.url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"),
            victim: await pgQuery(db.url, 'SELECT * FROM victim'),
            t: m.existing ? await pgQuery(db.url, 'SELECT id, a::text FROM t ORDER BY id') : null,
          })
          const before = await state()
          const verified = await verify(file, { limits: LIMITS })
          const restored = await outcome(() => restore({ file, db: db.url, limits: LIMITS }))
          expect(restored.ok, `verify ${verified.ok ? 'passed' : 'failed'}; restore: ${restored.error ?? 'ok'}; ${JSON.stringify(verified.checks)}`).toBe(verified.ok)
          if (m.damage !== 'none') expect(verified.ok).toBe(false)
          if (!restored.ok) expect(await state()).toEqual(before)
        } finally {
          await db.drop()
        }
      }),
      { numRuns: POSTGRES_RUNS },
    )
  }, TIMEOUT)
})
