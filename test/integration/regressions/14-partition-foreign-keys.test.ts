/**
 * Issue #14 item 6: a partitioned table whose foreign keys are defined on its partitions was
 * loaded before the tables those partitions reference, and a restore into the application's own
 * schema failed with a foreign-key violation. The partitions' foreign keys now order the parent
 * too (the target's, and the backup's own).
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

// "a_events" sorts before "customers" and "venues": without the partitions' keys it would load first.
const SCHEMA = `
  CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
  CREATE TABLE venues (id integer PRIMARY KEY, name text NOT NULL);
  CREATE TABLE a_events (id integer NOT NULL, at date NOT NULL, customer_id integer NOT NULL, venue_id integer, PRIMARY KEY (id, at, customer_id)) PARTITION BY RANGE (at);
  CREATE TABLE a_events_2024 PARTITION OF a_events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
  CREATE TABLE a_events_2025 PARTITION OF a_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY LIST (customer_id);
  CREATE TABLE a_events_2025_v1 PARTITION OF a_events_2025 FOR VALUES IN (2);
  CREATE TABLE a_events_2025_other PARTITION OF a_events_2025 DEFAULT;
  CREATE TABLE a_events_rest PARTITION OF a_events DEFAULT;
  ALTER TABLE a_events_2024 ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
  ALTER TABLE a_events_2025_v1 ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
  ALTER TABLE a_events_2025_other ADD FOREIGN KEY (venue_id) REFERENCES venues (id);
`

describe('#14 item 6: partitions\' foreign keys order the partitioned table', () => {
  it('backup, then restore into an empty copy of the application\'s schema, analyze unchanged, merge after edits', async () => {
    const source = await createPostgresDatabase('mb14part')
    cleanups.push(() => source.drop())
    await pgQuery(
      source.url,
      SCHEMA +
        `INSERT INTO customers VALUES (1, 'Ann'), (2, 'Bob'); INSERT INTO venues VALUES (1, 'Hall'), (2, 'Yard');
         INSERT INTO a_events VALUES (1, '2024-05-01', 1, NULL), (2, '2025-02-01', 2, 1), (3, '2025-03-01', 1, 2), (4, '2030-01-01', 2, NULL);`,
    )
    const tmp = makeTempDir('mb14-')
    cleanups.push(tmp.cleanup)
    const file = (await backup({ db: source.url, out: path.join(tmp.dir, 'b.json') })).file

    const target = await createPostgresDatabase('mb14part')
    cleanups.push(() => target.drop())
    await pgQuery(target.url, SCHEMA)
    const report = await restore({ file, db: target.url })
    expect(report.totals.inserted).toBe(8)
    const rows = `SELECT tableoid::regclass::text AS part, id FROM a_events ORDER BY id`
    expect(await pgQuery(target.url, rows)).toEqual(await pgQuery(source.url, rows))

    const same = await analyze(file, target.url)
    expect(same.totals).toMatchObject({ new: 0, unchanged: 8, conflicts: 0 })

    await pgQuery(target.url, `DELETE FROM a_events; DELETE FROM customers WHERE id = 2`)
    const merged = await merge(file, target.url)
    expect(merged.totals).toMatchObject({ new: 5, unchanged: 3 })
    expect(await pgQuery(target.url, rows)).toEqual(await pgQuery(source.url, rows))
  })
})
