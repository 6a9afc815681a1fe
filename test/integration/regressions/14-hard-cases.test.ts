/**
 * Issue #14 item 8, the part done so far: a corpus of hard PostgreSQL cases
 * (test/fixtures/hard-cases/postgres.sql: identity ALWAYS and generated columns, a domain, an enum
 * array, a range, tsvector, a self-referencing tree, reserved words and unicode
 * in names, a 63-byte identifier, a deferrable foreign-key cycle, inheritance) through
 * backup → restore into its own schema → restore into an empty database → analyze (all
 * unchanged) → merge after edits, each exact.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { REPO_ROOT } from '../../helpers/cli.js'
import { createPostgresDatabase, makeTempDir, pgQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const SQL = fs.readFileSync(path.join(REPO_ROOT, 'test/fixtures/hard-cases/postgres.sql'), 'utf8')

/** Every table's rows as text, for comparing two databases exactly. */
async function contents(url: string): Promise<Record<string, string[]>> {
  const tables = await pgQuery<{ name: string }>(url, `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
  const out: Record<string, string[]> = {}
  for (const { name } of tables) {
    const rows = await pgQuery<{ r: string }>(url, `SELECT t::text AS r FROM ONLY "${name.replace(/"/g, '""')}" t ORDER BY 1`)
    out[name] = rows.map((row) => row.r)
  }
  return out
}

describe('#14 item 8: PostgreSQL hard cases', () => {
  it('backup → restore into its own schema and into an empty database → analyze unchanged → merge after edits', async () => {
    const source = await createPostgresDatabase('mb14hard')
    cleanups.push(() => source.drop())
    await pgQuery(source.url, SQL)
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'hard.json') })
    const expected = await contents(source.url)

    // Into its own schema (empty tables made by the application's own DDL).
    const own = await createPostgresDatabase('mb14hard')
    cleanups.push(() => own.drop())
    await pgQuery(own.url, SQL.replace(/^INSERT INTO[\s\S]*?;$/gm, '').replace(/^BEGIN;|^COMMIT;/gm, ''))
    await restore({ file: made.file, db: own.url })
    expect(await contents(own.url)).toEqual(expected)

    // Into an empty database.
    const empty = await createPostgresDatabase('mb14hard')
    cleanups.push(() => empty.drop())
    const intoEmpty = await restore({ file: made.file, db: empty.url })
    expect(await contents(empty.url)).toEqual(expected)

    // Analyze against the source: everything unchanged.
    const same = await analyze(made.file, source.url)
    expect(same.totals).toMatchObject({ new: 0, updated: 0, conflicts: 0, kept: 0 })

    // Merge after edits: deleted rows come back, edited rows take the backup's values.
    await pgQuery(
      own.url,
      `DELETE FROM category WHERE id = 1; UPDATE person SET first_name = 'Anna' WHERE first_name = 'Ann';
       UPDATE "order" SET "Ünïcødé ✓" = 'changed' WHERE "select" = 1; DELETE FROM ONLY vehicle WHERE id = 1;`,
    )
    await merge(made.file, own.url)
    expect(await contents(own.url)).toEqual(expected)
    expect(intoEmpty.warnings).toBeDefined()
  })
})
