/**
 * The key order of adapters/key-order.ts (text by its UTF-8 bytes) on PostgreSQL: a key column
 * whose collation already sorts by code point (C, POSIX, ucs_basic, libc's C.UTF-8) is read in its
 * index's order, without `COLLATE "C"` (which made the server sort whole tables in every full
 * backup and every analyze: docs/performance.md, round ten, the merge); a column of any other
 * collation is still sorted with it. Either way the backup's digest index is in the key order and
 * says so, so the next increment streams it.
 */
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { introspect } from '../../../src/adapters/postgres/postgres-introspector.js'
import { recordLineSelect } from '../../../src/adapters/postgres/postgres-source.js'
import { DigestIndexReader, loadDigestIndex } from '../../../src/storage/digest-index.js'
import { KEY_ORDER_C, keyOrder } from '../../../src/adapters/key-order.js'
import type { TableSchema } from '../../../src/adapters/adapter.js'
import { createPostgresDatabase, makeTempDir, pgQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** Key collations by table suffix: all but `icu` sort by code point. */
const COLLATIONS: Record<string, string> = { c: '"C"', posix: '"POSIX"', ucs: 'ucs_basic', icu: '"und-x-icu"' }
const ROWS = 20_000

describe('PostgreSQL key order and column collations', () => {
  it('reads code-point collations in index order and sorts the others; every index is in key order and flagged', async () => {
    const db = await createPostgresDatabase('mbkeycoll')
    cleanups.push(() => db.drop())
    const collations = { ...COLLATIONS }
    if ((await pgQuery(db.url, `SELECT 1 FROM pg_catalog.pg_collation WHERE collname = 'C.utf8' AND collencoding IN (-1, 6)`)).length > 0) collations.cutf8 = '"C.utf8"'
    // Non-ASCII keys and a character above U+FFFF; analyzed, so that the planner uses the key's
    // index for an ORDER BY it can serve.
    for (const [suffix, collation] of Object.entries(collations)) {
      await pgQuery(
        db.url,
        `CREATE TABLE k_${suffix} (w text COLLATE ${collation} PRIMARY KEY, v text);
         INSERT INTO k_${suffix} SELECT (ARRAY['a','B','é','Z','ü','😀','ｚ','_','Ω'])[1 + g % 9] || g, 'v' || g FROM generate_series(1, ${ROWS}) g;
         ANALYZE k_${suffix};`,
      )
    }
    const schemas = new Map<string, TableSchema>()
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const { tables } = await introspect(client, 'public')
      expect(tables.map((t) => t.schema.name).sort()).toEqual(Object.keys(collations).map((s) => `k_${s}`).sort())
      for (const table of tables) {
        const name = table.schema.name
        schemas.set(name, table.schema)
        const codePoint = name !== 'k_icu'
        expect(table.columns.find((c) => c.schema.name === 'w')!.codePointOrder, name).toBe(codePoint)
        const select = recordLineSelect('public', table, ['w', 'v'], { ordered: true })!
        const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${select}`)).rows.map((row) => row['QUERY PLAN']).join('\n')
        if (codePoint) {
          expect(select, name).not.toContain('COLLATE')
          expect(plan, name).not.toMatch(/Sort/)
        } else {
          expect(select, name).toContain('COLLATE "C"')
          expect(plan, name).toMatch(/Sort/)
        }
      }
    } finally {
      await client.end()
    }

    const tmp = makeTempDir('mbkeycoll-')
    cleanups.push(tmp.cleanup)
    const full = await backup({ db: db.url, out: tmp.dir, name: 'k' })
    const index = (await loadDigestIndex(full.file))!
    const heads = (await DigestIndexReader.open(full.file))!
    try {
      for (const [name, schema] of schemas) {
        expect((await heads.head(name))?.order, name).toBe(KEY_ORDER_C)
        const entries = index.tables.get(name)!
        expect(entries.count, name).toBe(ROWS)
        const order = keyOrder(schema)!
        let inOrder = 0
        for (let i = 1; i < entries.count; i++) if (order(entries.keyText(i - 1), entries.keyText(i)) < 0) inOrder++
        expect(inOrder, name).toBe(ROWS - 1)
      }
    } finally {
      heads.close()
    }
  }, 120_000)
})
