/**
 * Issue #14 item 8, MariaDB sequences: a backup carries each sequence a backed-up column's
 * default names (`DEFAULT NEXT VALUE FOR seq`) as structured fields (`options.sequences`), a
 * restore recreates it from them before the table, at the source's position, and a restore or
 * merge into a database that has it only ever moves it forward. A sequence name or option
 * carrying SQL is refused (exit 2, nothing changed). Into PostgreSQL such a column becomes an
 * identity column continuing after the restored ids.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { TableSchema } from '../../../src/adapters/adapter.js'
import { backup } from '../../../src/engine/backup.js'
import { merge } from '../../../src/engine/merge.js'
import { restore } from '../../../src/engine/restore.js'
import { readBackup } from '../../../src/format/reader.js'
import { runCli } from '../../helpers/cli.js'
import { createMysqlDatabase, createPostgresDatabase, makeTempDir, pgQuery } from '../../helpers/databases.js'
import { writeCraftedBackup } from '../security/targets.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

async function query<T = Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const mysql = await import('mysql2/promise')
  const conn = await mysql.createConnection({ uri: url, multipleStatements: true, supportBigNumbers: true, bigNumberStrings: true })
  try {
    const [rows] = await conn.query(sql)
    return (Array.isArray(rows) && Array.isArray(rows[rows.length - 1]) ? rows[rows.length - 1] : rows) as T[]
  } finally {
    await conn.end()
  }
}

const SCHEMA = `
  CREATE SEQUENCE order_seq START WITH 1000 MINVALUE 1 MAXVALUE 5000 INCREMENT BY 7 NOCACHE CYCLE;
  CREATE SEQUENCE ticket_seq START WITH 100 INCREMENT BY 5;
  CREATE TABLE orders (id BIGINT PRIMARY KEY DEFAULT NEXT VALUE FOR order_seq, note VARCHAR(20));
  CREATE TABLE ticket (id INT PRIMARY KEY DEFAULT NEXT VALUE FOR ticket_seq, title VARCHAR(20));`

async function source(): Promise<{ url: string; file: string; dir: string }> {
  const db = await createMysqlDatabase('mb14seq')
  cleanups.push(() => db.drop())
  await query(db.url, `${SCHEMA} INSERT INTO orders (note) VALUES ('a'), ('b'), ('c'); INSERT INTO ticket (title) VALUES ('x'), ('y');`)
  const tmp = makeTempDir('mb14seq-')
  cleanups.push(tmp.cleanup)
  const made = await backup({ db: db.url, out: path.join(tmp.dir, 'seq.json') })
  expect(made.warnings.join('\n')).not.toMatch(/sequence/i)
  return { url: db.url, file: made.file, dir: tmp.dir }
}

async function state(url: string, name: string): Promise<Record<string, string>> {
  const [row] = await query<Record<string, unknown>>(url, `SELECT * FROM \`${name}\``)
  return Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, String(v)]))
}

const showSequence = async (url: string, name: string): Promise<string> =>
  String((await query<Record<string, unknown>>(url, `SHOW CREATE SEQUENCE \`${name}\``))[0]!['Create Table'])

async function tableSchemas(file: string): Promise<TableSchema[]> {
  const tables: TableSchema[] = []
  for await (const event of readBackup(fs.createReadStream(file))) if (event.type === 'table') tables.push(event.table)
  return tables
}

describe('#14: MariaDB sequences are carried', () => {
  it('backup → restore into an empty database: the sequence is recreated, and the next default key is the one the source would give', async () => {
    const src = await source()
    const tables = await tableSchemas(src.file)
    expect(tables.find((t) => t.name === 'orders')!.options!.sequences).toEqual([
      { name: 'order_seq', start: '1000', increment: '7', minValue: '1', maxValue: '5000', cache: '0', cycle: true, next: '1021', round: '0' },
    ])
    expect(tables.find((t) => t.name === 'orders')!.columns[0]!.default).toBe('nextval(`order_seq`)')

    const empty = await createMysqlDatabase('mb14seq')
    cleanups.push(() => empty.drop())
    await restore({ file: src.file, db: empty.url })
    expect(await showSequence(empty.url, 'order_seq')).toBe(await showSequence(src.url, 'order_seq'))
    expect(await showSequence(empty.url, 'ticket_seq')).toBe(await showSequence(src.url, 'ticket_seq'))
    expect(await state(empty.url, 'ticket_seq')).toEqual(await state(src.url, 'ticket_seq'))
    expect(await query(empty.url, 'SELECT id, note FROM orders ORDER BY id')).toEqual(await query(src.url, 'SELECT id, note FROM orders ORDER BY id'))

    // The default of the restored table names the restored database's sequence, not the source's.
    await query(empty.url, "INSERT INTO orders (note) VALUES ('new')")
    await query(src.url, "INSERT INTO orders (note) VALUES ('new')")
    const [restoredNew] = await query<{ id: string }>(empty.url, "SELECT id FROM orders WHERE note = 'new'")
    const [sourceNew] = await query<{ id: string }>(src.url, "SELECT id FROM orders WHERE note = 'new'")
    expect(restoredNew!.id).toBe('1021')
    expect(restoredNew!.id).toBe(sourceNew!.id)
    // A cached sequence continues at the source's next uncached value: what the source hands out
    // after a restart, and never one it handed out already.
    await query(empty.url, "INSERT INTO ticket (title) VALUES ('new')")
    const [ticket] = await query<{ id: string }>(empty.url, "SELECT id FROM ticket WHERE title = 'new'")
    expect(String(ticket!.id)).toBe((tables.find((t) => t.name === 'ticket')!.options!.sequences as { next: string }[])[0]!.next)
    expect(Number(ticket!.id)).toBeGreaterThan(105)
  })

  it('a file made elsewhere: the sequence is rebuilt from its checked fields, and --drop recreates a missing one', async () => {
    const src = await source()
    const tables = await tableSchemas(src.file)
    const orders = tables.find((t) => t.name === 'orders')!
    const rows = (await query<{ id: string; note: string }>(src.url, 'SELECT id, note FROM orders ORDER BY id')).map((r) => ({ id: String(r.id), note: r.note }))
    const foreign = path.join(src.dir, 'foreign.json')
    const { definition: _definition, ...options } = orders.options!
    await writeCraftedBackup(foreign, 'mysql', { ...orders, options }, rows)

    // --drop into a database that has the table (without the default) but not the sequence.
    const target = await createMysqlDatabase('mb14seq')
    cleanups.push(() => target.drop())
    await query(target.url, "CREATE TABLE orders (id BIGINT PRIMARY KEY, note VARCHAR(20)); INSERT INTO orders VALUES (1, 'old')")
    await restore({ file: foreign, db: target.url, drop: true })
    expect(await showSequence(target.url, 'order_seq')).toBe(await showSequence(src.url, 'order_seq'))
    expect(await query(target.url, 'SELECT id, note FROM orders ORDER BY id')).toEqual(await query(src.url, 'SELECT id, note FROM orders ORDER BY id'))
    expect((await state(target.url, 'order_seq')).next_not_cached_value).toBe('1021')

    const empty = await createMysqlDatabase('mb14seq')
    cleanups.push(() => empty.drop())
    await restore({ file: foreign, db: empty.url })
    await query(empty.url, "INSERT INTO orders (note) VALUES ('new')")
    expect((await query<{ id: string }>(empty.url, "SELECT id FROM orders WHERE note = 'new'"))[0]!.id).toBe('1021')
  })

  it("into the application's own schema and by a merge, a sequence moves forward, never back", async () => {
    const src = await source()
    // Own schema, sequence behind the source: moved to the source's position.
    const own = await createMysqlDatabase('mb14seq')
    cleanups.push(() => own.drop())
    await query(own.url, SCHEMA)
    await restore({ file: src.file, db: own.url })
    expect((await state(own.url, 'order_seq')).next_not_cached_value).toBe('1021')
    await query(own.url, "INSERT INTO orders (note) VALUES ('new')")
    expect((await query<{ id: string }>(own.url, "SELECT id FROM orders WHERE note = 'new'"))[0]!.id).toBe('1021')

    // Own schema with the sequence ahead of the backup: it stays where it is.
    const ahead = await createMysqlDatabase('mb14seq')
    cleanups.push(() => ahead.drop())
    await query(ahead.url, `${SCHEMA} SELECT SETVAL(order_seq, 4000, 0);`)
    await restore({ file: src.file, db: ahead.url })
    expect((await state(ahead.url, 'order_seq')).next_not_cached_value).toBe('4000')

    // A merge: a sequence behind moves forward; one ahead stays.
    await query(own.url, "DELETE FROM orders WHERE note = 'new'; SELECT SETVAL(ticket_seq, 1, 0); ALTER SEQUENCE order_seq RESTART WITH 1;")
    expect((await state(own.url, 'order_seq')).next_not_cached_value).toBe('1')
    await merge(src.file, own.url)
    expect((await state(own.url, 'order_seq')).next_not_cached_value).toBe('1021')
    await merge(src.file, ahead.url)
    expect((await state(ahead.url, 'order_seq')).next_not_cached_value).toBe('4000')
  })

  it('a sequence name or option carrying SQL is refused with exit 2, and nothing changes', async () => {
    const src = await source()
    const orders = (await tableSchemas(src.file)).find((t) => t.name === 'orders')!
    const { definition: _definition, ...options } = orders.options!
    const sequence = (options.sequences as Record<string, unknown>[])[0]!
    const target = await createMysqlDatabase('mb14seq')
    cleanups.push(() => target.drop())
    await query(target.url, "CREATE TABLE victim (id INT PRIMARY KEY); INSERT INTO victim VALUES (1)")
    const hostile: [string, Record<string, unknown>, RegExp][] = [
      ['name', { name: 'order_seq`; DROP TABLE victim; --' }, /name .* is not an identifier/],
      ['increment', { increment: '7; DROP TABLE victim' }, /increment .* is not a 64-bit integer/],
      ['cache', { cache: '0 NOCACHE; DROP TABLE victim' }, /cache .* is not a 64-bit integer/],
      ['cycle', { cycle: 'CYCLE; DROP TABLE victim' }, /cycle .* is not true or false/],
    ]
    for (const [what, patch, message] of hostile) {
      const file = path.join(src.dir, `hostile-${what}.json`)
      await writeCraftedBackup(file, 'mysql', { ...orders, options: { ...options, sequences: [{ ...sequence, ...patch }] } }, [{ id: '1', note: 'a' }])
      const result = await runCli(['restore', file, '--db', target.url, '--yes'])
      expect(result.code, `${what}: ${result.stderr}`).toBe(2)
      expect(result.stderr).toMatch(message)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      if (what === 'name') expect((await runCli(['verify', file])).code).toBe(2)
    }
    // A default naming a sequence the file does not carry is SQL too: refused.
    const file = path.join(src.dir, 'hostile-default.json')
    const columns = orders.columns.map((c) => (c.name === 'id' ? { ...c, default: 'nextval(`victim`)' } : c))
    await writeCraftedBackup(file, 'mysql', { ...orders, columns, options: { ...options, sequences: [] } }, [{ id: '1', note: 'a' }])
    const result = await runCli(['restore', file, '--db', target.url, '--yes'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/default .* is refused/)
    expect(await query(target.url, "SELECT table_name AS t, table_type AS k FROM information_schema.tables WHERE table_schema = DATABASE()")).toEqual([{ t: 'victim', k: 'BASE TABLE' }])
    expect(await query(target.url, 'SELECT id FROM victim')).toEqual([{ id: 1 }])
  })

  it('into PostgreSQL the column becomes an identity column that continues after the restored ids', async () => {
    const src = await source()
    const pg = await createPostgresDatabase('mb14seq')
    cleanups.push(() => pg.drop())
    const done = await restore({ file: src.file, db: pg.url })
    expect(done.warnings.join('\n')).toMatch(/"orders"\."id" took its default from MariaDB sequence order_seq: it is created as an identity column/)
    const [column] = await pgQuery(pg.url, "SELECT is_identity FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'id'")
    expect(column!.is_identity).toBe('YES')
    const [row] = await pgQuery<{ id: string }>(pg.url, "INSERT INTO orders (note) VALUES ('new') RETURNING id")
    expect(Number(row!.id)).toBeGreaterThan(1014)
  })
})
