/**
 * Issue #14 item 7: analyze (and any write into a non-empty table) failed on a table with rules:
 * `INSERT with ON CONFLICT clause cannot be used with table that has INSERT or UPDATE rules`.
 * Such tables now skip existing keys with an anti-join, and their rules, like user triggers, do
 * not run during the write (ALTER TABLE … DISABLE RULE in the transaction).
 */
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { createPostgresDatabase, makeTempDir, pgQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

describe('#14 item 7: tables with rules', () => {
  it('analyze, merge and restore into a non-empty table with INSERT and UPDATE rules work, and the rules do not run', async () => {
    const db = await createPostgresDatabase('mb14rule')
    cleanups.push(() => db.drop())
    await pgQuery(
      db.url,
      `CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL);
       CREATE TABLE item_log (id serial PRIMARY KEY, item_id integer, what text);
       CREATE RULE item_ins AS ON INSERT TO item DO ALSO INSERT INTO item_log (item_id, what) VALUES (NEW.id, 'insert');
       CREATE RULE item_upd AS ON UPDATE TO item DO ALSO INSERT INTO item_log (item_id, what) VALUES (NEW.id, 'update');
       INSERT INTO item VALUES (1, 'one'), (2, 'two'), (3, 'three');`,
    )
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const file = (await backup({ db: db.url, out: path.join(tmp.dir, 'b.json'), tables: ['item'] })).file
    await pgQuery(db.url, `DELETE FROM item WHERE id = 3; UPDATE item SET name = 'uno' WHERE id = 1; DELETE FROM item_log`)

    const preview = await analyze(file, db.url, { onWarning: () => undefined })
    expect(preview.totals).toMatchObject({ new: 1, unchanged: 1, conflicts: 1 })
    const merged = await merge(file, db.url, { onWarning: () => undefined })
    expect(merged.totals).toMatchObject(preview.totals)
    expect(await pgQuery(db.url, `SELECT id, name FROM item ORDER BY id`)).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
      { id: 3, name: 'three' },
    ])
    expect(await pgQuery(db.url, `SELECT count(*)::int AS n FROM item_log`)).toEqual([{ n: 0 }])

    await pgQuery(db.url, `DELETE FROM item WHERE id = 2`)
    const restored = await restore({ file, db: db.url })
    expect(restored.tables.item).toMatchObject({ inserted: 1, skipped: 2 })
    expect(restored.warnings.join('\n')).toMatch(/rule "item"\."item_ins"/)
    expect(await pgQuery(db.url, `SELECT count(*)::int AS n FROM item_log`)).toEqual([{ n: 0 }])
    expect(await pgQuery(db.url, `SELECT rulename, ev_enabled FROM pg_rewrite WHERE ev_class = 'item'::regclass ORDER BY rulename`)).toEqual([
      { rulename: 'item_ins', ev_enabled: 'O' },
      { rulename: 'item_upd', ev_enabled: 'O' },
    ])
  })
})
