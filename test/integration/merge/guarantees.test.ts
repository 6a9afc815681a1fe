/**
 * The guarantees of DESIGN.md §4 on real databases (PostgreSQL and SQLite): all or nothing (a
 * foreign-key failure rolls everything back and names the constraint; a damaged file changes
 * nothing), plans (applied exactly, refused when stale), tables without a primary key, drift,
 * and the worked example of docs/merge.md.
 */
import fs from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { analyze, merge } from '../../../src/engine/merge.js'
import { DatabaseError, MergeRefusedError, UsageError } from '../../../src/errors.js'
import { ENGINES, counts, createTestDb, makeBackup, readTable, scratch, snapshot, type EngineName, type TestDb } from './harness.js'

describe.each(ENGINES)('merge guarantees (%s)', (engine) => {
  let db: TestDb
  let tmp: ReturnType<typeof scratch>
  const int = (n: number) => (engine === 'sqlite' ? String(n) : n)
  const pk = engine === 'sqlite' ? 'INTEGER PRIMARY KEY' : 'integer PRIMARY KEY'
  const ts = engine === 'sqlite' ? 'DATETIME' : 'timestamptz'

  beforeEach(async () => {
    db = await createTestDb(engine)
    tmp = scratch()
  })
  afterEach(async () => {
    await db?.drop()
    tmp?.cleanup()
  })

  describe('all or nothing', () => {
    beforeEach(async () => {
      await db.exec(`
        CREATE TABLE "Parent" (id ${pk}, name text);
        CREATE TABLE "Child" (id ${pk}, "parentId" integer NOT NULL CONSTRAINT child_parent_fk REFERENCES "Parent"(id), note text);
        INSERT INTO "Parent" VALUES (1, 'p1'), (2, 'p2');
        INSERT INTO "Child" VALUES (10, 1, 'backup note'), (11, 2, 'second');`)
    })

    it('a foreign-key failure rolls back every change and names the table and constraint', async () => {
      const file = await makeBackup(db, tmp.file('b.json'))
      await db.exec(`DELETE FROM "Child" WHERE id = 11; DELETE FROM "Parent" WHERE id = 2; UPDATE "Child" SET note = 'live note' WHERE id = 10;`)
      const before = await snapshot(db, { Parent: ['id'], Child: ['id'] })
      // Only Child is merged: its record 11 references Parent 2, which is gone.
      const error = await merge(file, db.url, { tables: ['Child'] }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DatabaseError)
      const e = error as DatabaseError
      expect(e.table).toBe('Child')
      expect(`${e.message} ${e.constraint ?? ''}`).toMatch(engine === 'postgres' ? /child_parent_fk/ : /Parent/)
      // The conflict on record 10 (backup_wins) was written before the failure: rolled back too.
      expect(await snapshot(db, { Parent: ['id'], Child: ['id'] })).toEqual(before)
      // analyze only reads (issue #14): it classifies, and says that the selection leaves out a
      // table it references; the dry run executes the merge and meets the failure.
      const warnings: string[] = []
      const preview = await analyze(file, db.url, { tables: ['Child'], onWarning: (w) => warnings.push(w) })
      expect(preview.tables.Child).toMatchObject({ new: 1 })
      expect(warnings.join('\n')).toMatch(/Child → Parent.*--tables Child,Parent/)
      await expect(merge(file, db.url, { tables: ['Child'], dryRun: true })).rejects.toBeInstanceOf(DatabaseError)
      // With the parent table merged too, parents first: it works.
      const report = await merge(file, db.url)
      expect(report.tables.Parent.new).toBe(1)
      expect(report.tables.Child.new).toBe(1)
    })

    it('a new record that collides on another unique constraint fails, names the record, and changes nothing', async () => {
      await db.exec(`CREATE TABLE "Member" (id text PRIMARY KEY, email text NOT NULL UNIQUE); INSERT INTO "Member" VALUES ('m1', 'a@example.com');`)
      const file = await makeBackup(db, tmp.file('b.json'))
      await db.exec(`DELETE FROM "Member"; INSERT INTO "Member" VALUES ('m9', 'a@example.com'); UPDATE "Child" SET note = 'live' WHERE id = 10;`)
      const before = await snapshot(db, { Member: ['id'], Child: ['id'] })
      const error = await merge(file, db.url).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DatabaseError)
      expect(error).toMatchObject({ table: 'Member', key: 'm1' })
      expect(await snapshot(db, { Member: ['id'], Child: ['id'] })).toEqual(before)
    })

    it('a damaged backup file changes nothing', async () => {
      const file = await makeBackup(db, tmp.file('b.json'))
      await db.exec(`DELETE FROM "Child"`)
      const text = fs.readFileSync(file, 'utf8')
      fs.writeFileSync(file, text.replace('backup note', 'backup nose'))
      await expect(merge(file, db.url)).rejects.toMatchObject({ name: expect.stringMatching(/IntegrityError|FormatError/) })
      expect((await readTable(db, 'Child', ['id'])).length).toBe(0)
    })
  })

  describe('plans', () => {
    let file: string
    let plan: string
    beforeEach(async () => {
      await db.exec(`
        CREATE TABLE "User" (id text PRIMARY KEY, name text, "updatedAt" ${ts});
        CREATE TABLE "Log" (at ${ts}, line text);
        INSERT INTO "User" VALUES ('u1', 'Ann', '2024-01-01T10:00:00Z'), ('u2', 'Bob', '2024-01-01T10:00:00Z'), ('u3', 'Cid', '2024-01-01T10:00:00Z');
        INSERT INTO "Log" VALUES ('2024-01-01T10:00:00Z', 'a'), ('2024-01-01T10:00:00Z', 'a'), (NULL, 'b');`)
      file = await makeBackup(db, tmp.file('b.json'))
      await db.exec(`DELETE FROM "User" WHERE id = 'u1'; UPDATE "User" SET name = 'BOB' WHERE id = 'u2'; DELETE FROM "Log" WHERE line = 'b';`)
      plan = tmp.file('merge.plan')
    })
    const tables = { User: ['id'], Log: ['at', 'line'] }

    it('analyze --plan, then merge --plan applies exactly that plan', async () => {
      const analysis = await analyze(file, db.url, { strategy: 'current_wins', plan })
      expect(analysis.tables.User).toEqual(counts({ new: 1, unchanged: 1, conflicts: 1, resolved: { current: 1 } }))
      expect(analysis.tables.Log).toEqual(counts({ new: 1, unchanged: 2 }))
      const lines = fs.readFileSync(plan, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      expect(lines[0]).toMatchObject({ format: 'mergeback-plan', options: { strategy: 'current_wins' } })
      expect(lines.at(-1)).toMatchObject({ end: true, entries: lines.length - 2 })
      const dryRun = await merge(file, db.url, { plan, dryRun: true })
      expect(dryRun).toEqual(analysis)
      const report = await merge(file, db.url, { plan })
      expect(report).toEqual(analysis)
      expect((await readTable(db, 'User', ['id'])).map((r) => r.name)).toEqual(['Ann', 'BOB', 'Cid'])
    })

    it('refuses (exit 3, nothing changed) when a record the plan depends on changed', async () => {
      await analyze(file, db.url, { plan })
      await db.exec(`UPDATE "User" SET name = 'Robert' WHERE id = 'u2'`)
      const before = await snapshot(db, tables)
      await expect(merge(file, db.url, { plan })).rejects.toMatchObject({ name: 'MergeRefusedError', reason: 'stale-plan' })
      expect(await snapshot(db, tables)).toEqual(before)
    })

    it('refuses when a record appeared where the plan inserts one', async () => {
      await analyze(file, db.url, { plan })
      await db.exec(`INSERT INTO "User" VALUES ('u1', 'Another Ann', NULL)`)
      const error = await merge(file, db.url, { plan }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(MergeRefusedError)
      expect((error as Error).message).toMatch(/"u1".*now exists/)
    })

    it('refuses when a record the plan leaves unchanged was deleted, or a table without a key changed', async () => {
      await analyze(file, db.url, { plan })
      await db.exec(`DELETE FROM "User" WHERE id = 'u3'`)
      await expect(merge(file, db.url, { plan })).rejects.toMatchObject({ reason: 'stale-plan' })
      await db.exec(`INSERT INTO "User" VALUES ('u3', 'Cid', '2024-01-01T10:00:00Z')`)
      await db.exec(`INSERT INTO "Log" VALUES (NULL, 'b')`)
      await expect(merge(file, db.url, { plan })).rejects.toMatchObject({ reason: 'stale-plan' })
    })

    it('refuses a plan for another backup file, options given with a plan, and a damaged plan', async () => {
      await analyze(file, db.url, { plan })
      const other = await makeBackup(db, tmp.file('other.json'))
      await expect(merge(other, db.url, { plan })).rejects.toMatchObject({ reason: 'stale-plan' })
      await expect(merge(file, db.url, { plan, strategy: 'current_wins' })).rejects.toBeInstanceOf(UsageError)
      const lines = fs.readFileSync(plan, 'utf8').split('\n')
      fs.writeFileSync(plan, lines.slice(0, -2).join('\n') + '\n')
      await expect(merge(file, db.url, { plan })).rejects.toMatchObject({ name: 'UsageError', code: 'BAD_PLAN' })
      fs.writeFileSync(plan, 'not a plan\n')
      await expect(merge(file, db.url, { plan })).rejects.toMatchObject({ code: 'BAD_PLAN' })
    })

    it('a failed analyze leaves no plan behind', async () => {
      await expect(analyze(file, db.url, { plan, tables: ['Nope'] })).rejects.toBeInstanceOf(UsageError)
      expect(fs.existsSync(plan)).toBe(false)
      expect(fs.readdirSync(tmp.dir).filter((f) => f.includes('plan'))).toEqual([])
    })
  })

  describe('tables without a primary key', () => {
    it('match on a unique NOT NULL key, else on whole rows counting duplicates; never duplicated', async () => {
      await db.exec(`
        CREATE TABLE "Setting" (name text NOT NULL UNIQUE, value text, updated_at ${ts});
        CREATE TABLE "Log" (at ${ts}, line text, n integer);
        INSERT INTO "Setting" VALUES ('theme', 'dark', '2024-01-01T10:00:00Z'), ('lang', 'en', '2024-01-01T10:00:00Z'), ('tz', 'UTC', '2024-01-01T10:00:00Z');
        INSERT INTO "Log" VALUES ('2024-01-01T10:00:00Z', 'a', 1), ('2024-01-01T10:00:00Z', 'a', 1), (NULL, NULL, NULL), ('2024-01-02T10:00:00Z', 'c', 3);`)
      const file = await makeBackup(db, tmp.file('b.json'))
      await db.exec(`
        UPDATE "Setting" SET value = 'light', updated_at = '2023-01-01T00:00:00Z' WHERE name = 'theme';
        UPDATE "Setting" SET value = 'de' WHERE name = 'lang';
        DELETE FROM "Setting" WHERE name = 'tz';
        INSERT INTO "Setting" VALUES ('extra', 'x', NULL);
        DELETE FROM "Log" WHERE n = 3;
        INSERT INTO "Log" VALUES ('2024-01-03T10:00:00Z', 'd', 4);`)
      // Remove one of the two identical rows.
      await db.exec(engine === 'postgres' ? `DELETE FROM "Log" WHERE ctid IN (SELECT ctid FROM "Log" WHERE line = 'a' LIMIT 1)` : `DELETE FROM "Log" WHERE rowid IN (SELECT rowid FROM "Log" WHERE line = 'a' LIMIT 1)`)
      const report = await merge(file, db.url)
      expect(report.tables.Setting).toEqual(counts({ new: 1, updated: 1, conflicts: 1, resolved: { backup: 1 }, currentOnly: 1 }))
      expect(report.conflicts).toEqual([{ table: 'Setting', key: 'lang', fields: [{ name: 'value', backup: 'en', current: 'de' }], resolution: 'backup' }])
      // Log: the missing copy of 'a' and row 'c' come back; the NULL row is matched (NULL = NULL).
      expect(report.tables.Log).toEqual(counts({ new: 2, unchanged: 2, currentOnly: 1 }))
      expect((await readTable(db, 'Log', ['n'])).map((r) => r.line)).toEqual([null, 'a', 'a', 'c', 'd'].sort((a, b) => (a === null ? -1 : b === null ? 1 : 0)))
      const again = await merge(file, db.url)
      expect(again.tables.Log).toEqual(counts({ unchanged: 4, currentOnly: 1 }))
      expect(again.tables.Setting).toEqual(counts({ unchanged: 3, currentOnly: 1 }))
    })
  })

  describe('drift', () => {
    beforeEach(async () => {
      await db.exec(`
        CREATE TABLE "User" (id text PRIMARY KEY, name text, email text);
        CREATE TABLE "Note" (id ${pk}, body text);
        INSERT INTO "User" VALUES ('u1', 'Ann', 'ann@example.com');
        INSERT INTO "Note" VALUES (1, 'hello');`)
    })

    it('a backup table the database lacks is refused unless excluded', async () => {
      const file = await makeBackup(db, tmp.file('b.json'))
      await db.exec(`DROP TABLE "Note"`)
      await expect(analyze(file, db.url)).rejects.toThrow(/"Note".*--exclude Note/)
      expect((await analyze(file, db.url, { exclude: ['Note'] })).tables.User.unchanged).toBe(1)
    })

    it('a backup column the database lacks is refused; a column the backup lacks keeps its values and defaults', async () => {
      const file = await makeBackup(db, tmp.file('b.json'))
      await db.exec(`ALTER TABLE "User" DROP COLUMN email`)
      await expect(merge(file, db.url)).rejects.toMatchObject({ name: 'UsageError', message: expect.stringMatching(/"email"/) })
      await db.exec(`ALTER TABLE "User" ADD COLUMN email text; ALTER TABLE "User" ADD COLUMN role text DEFAULT 'member';`)
      await db.exec(`UPDATE "User" SET email = 'other@example.com', role = 'admin', name = 'ANN' WHERE id = 'u1'; INSERT INTO "User" (id, name) VALUES ('u9', 'Live');`)
      await db.exec(`DELETE FROM "Note"`)
      const report = await merge(file, db.url)
      expect(report.tables.User).toEqual(counts({ conflicts: 1, resolved: { backup: 1 }, currentOnly: 1 }))
      const users = await readTable(db, 'User', ['id'])
      expect(users.map((u) => [u.id, u.name, u.email, u.role])).toEqual([
        ['u1', 'Ann', 'ann@example.com', 'admin'],
        ['u9', 'Live', null, 'member'],
      ])
      expect(report.tables.Note.new).toBe(1)
      expect((await readTable(db, 'Note', ['id']))[0]).toEqual({ id: int(1), body: 'hello' })
    })
  })

  it('the worked example of docs/merge.md', async () => {
    const at = (day: string, time: string) => `2024-01-${day}T${time}:00Z`
    const MON = '15'
    await db.exec(`
      CREATE TABLE "User" (id text PRIMARY KEY, name text, email text, "updatedAt" ${ts});
      INSERT INTO "User" VALUES
        ('u1', 'Ann', 'ann@example.com', '${at(MON, '09:00')}'), ('u2', 'Bob', 'bob@example.com', '${at(MON, '09:00')}'),
        ('u3', 'Cid', 'cid@example.com', '${at(MON, '09:00')}'), ('u4', 'Dee', 'dee@example.com', '${at(MON, '09:00')}'),
        ('u5', 'Eve', 'eve@example.com', NULL);`)
    const file = await makeBackup(db, tmp.file('monday.json'))
    await db.exec(`
      DELETE FROM "User" WHERE id = 'u1';
      UPDATE "User" SET email = 'bob@old.example.com', "updatedAt" = '${at('14', '18:00')}' WHERE id = 'u2';
      UPDATE "User" SET name = 'Cida', "updatedAt" = '${at('17', '14:00')}' WHERE id = 'u3';
      UPDATE "User" SET email = 'dee@example.org' WHERE id = 'u4';
      UPDATE "User" SET name = 'Evelyn' WHERE id = 'u5';
      INSERT INTO "User" VALUES ('u6', 'Fay', 'fay@example.com', '${at('17', '15:00')}');`)
    const analysis = await analyze(file, db.url)
    const userCounts = counts({ new: 1, updated: 1, kept: 1, conflicts: 2, resolved: { backup: 2 }, currentOnly: 1 })
    expect(analysis).toEqual({
      tables: { User: userCounts },
      totals: userCounts,
      conflicts: [
        { table: 'User', key: 'u4', fields: [{ name: 'email', backup: 'dee@example.com', current: 'dee@example.org' }], resolution: 'backup' },
        { table: 'User', key: 'u5', fields: [{ name: 'name', backup: 'Eve', current: 'Evelyn' }], resolution: 'backup' },
      ],
      records: { User: { new: { keys: ['u1'], more: 0 }, updated: { keys: [expect.any(String)], more: 0 }, kept: { keys: [expect.any(String)], more: 0 } } },
    })
    const resolutions = [
      { table: 'User', key: 'u4', resolution: 'current' },
      { table: 'User', key: 'u5', resolution: { fields: { name: 'Evelyn' } } },
    ]
    const plan = tmp.file('monday.plan')
    const planned = await analyze(file, db.url, { strategy: 'manual', resolutions, plan })
    const merged = await merge(file, db.url, { plan })
    expect(merged).toEqual(planned)
    const users = await readTable(db, 'User', ['id'])
    expect(users.map((u) => [u.id, u.name, u.email])).toEqual([
      ['u1', 'Ann', 'ann@example.com'],
      ['u2', 'Bob', 'bob@example.com'],
      ['u3', 'Cida', 'cid@example.com'],
      ['u4', 'Dee', 'dee@example.org'],
      ['u5', 'Evelyn', 'eve@example.com'],
      ['u6', 'Fay', 'fay@example.com'],
    ])
    const again = await analyze(file, db.url, { strategy: 'manual', resolutions })
    expect(again.totals).toEqual(counts({ unchanged: 2, kept: 1, conflicts: 2, resolved: { current: 1, merged: 1 }, currentOnly: 1 }))
  })
})

describe('merging a fresh backup into its own database reports everything unchanged', () => {
  const SCHEMAS: Record<EngineName, string> = {
    postgres: `
      CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
      CREATE TABLE "Everything" (
        id bigserial PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, num numeric, num2 numeric(12,4), f4 real, f8 double precision,
        b boolean, t text, vc varchar(20), ch char(5), u uuid, ip inet, bin bytea, d date, ts timestamp(6), tstz timestamptz(6),
        tm time, tmtz timetz, iv interval, j json, jb jsonb, ai integer[], at text[], a2 integer[][], e mood, bits bit varying(8),
        x xml, m money, p point, gen integer GENERATED ALWAYS AS (i4 / 2) STORED, "updatedAt" timestamptz
      );
      CREATE TABLE "Pair" (a integer, b text, v numeric, PRIMARY KEY (a, b));
      INSERT INTO "Everything" (i2, i4, i8, num, num2, f4, f8, b, t, vc, ch, u, ip, bin, d, ts, tstz, tm, tmtz, iv, j, jb, ai, at, a2, e, bits, x, m, p, "updatedAt") VALUES
        (-32768, 2147483647, -9223372036854775808, 'NaN', 1.5, 1.1, 'NaN', true, 'ünïcødé 🎉', 'v', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '10.0.0.1/24', '\\x00ff10', '0044-03-15 BC', 'infinity', '2024-01-15 10:30:00.123456+00', '23:59:59.999999', '10:30:00+02', 'P1Y2M3DT4H5M6.789S', '{"b": 1,  "a": [1, 2.50]}', '{"b": 1, "a": [1, 2.50]}', '{1,NULL,3}', '{"x","",NULL}', '{{1,2},{3,4}}', 'happy', '0101', '<a>x</a>', 12.34, '(1,2)', '2024-01-15T10:30:00Z'),
        (0, 0, 9223372036854775807, '123456789012345678901234567890.123456789', 0, '-Infinity', -0.0, false, '', '', '', NULL, '::1', '', '2024-02-29', '2024-01-15 10:30:00', '-infinity', '00:00:00', '00:00:00-05:30', 'PT0S', 'null', '[]', '{}', '{}', '{}', 'sad', '', '', 0, '(0,0)', NULL),
        (NULL, NULL, NULL, '-0.000', NULL, 'Infinity', 5e-324, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{"big": 12345678901234567890123}', '{"big": 12345678901234567890123}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
      INSERT INTO "Pair" VALUES (1, 'x', 1.50), (1, 'y', NULL), (2, 'x', 3);`,
    sqlite: `
      CREATE TABLE "Everything" (id INTEGER PRIMARY KEY, i INTEGER, big BIGINT, r REAL, n NUMERIC, dec DECIMAL(10,2), b BOOLEAN, t TEXT,
        vc VARCHAR(20), blob BLOB, anything, dt DATETIME, d DATE, j JSON, "updatedAt" DATETIME);
      CREATE TABLE "Pair" (a INTEGER, b TEXT, v NUMERIC, PRIMARY KEY (a, b));
      INSERT INTO "Everything" VALUES
        (1, -9223372036854775808, 9223372036854775807, 1.1, 1.5, 12.50, 1, 'ünïcødé 🎉', 'v', x'00ff10', 'free', '2024-01-15 10:30:00', '2024-01-15', '{"b": 1,  "a": [1, 2.50]}', 1705314600000),
        (2, 0, 0, -0.0, 'N/A', '1e3', 0, '', '', x'', 12, '2024-01-15T10:30:00.123Z', '0044-03-15', '[]', '2024-01-15T10:30:00Z'),
        (3, 'text in an integer column', 1.5, 1e308, NULL, NULL, NULL, NULL, NULL, NULL, x'01', NULL, NULL, 'null', NULL);
      INSERT INTO "Pair" VALUES (1, 'x', 1.50), (1, 'y', NULL), (2, 'x', 3);`,
  }

  it.each(ENGINES)('%s', async (engine) => {
    const db = await createTestDb(engine)
    const tmp = scratch()
    try {
      await db.exec(SCHEMAS[engine])
      const file = await makeBackup(db, tmp.file('fresh.json'))
      const report = await analyze(file, db.url, { preserveNewer: false })
      expect(report.conflicts).toEqual([])
      expect(report.totals).toEqual(counts({ unchanged: 6 }))
      expect(await merge(file, db.url, { preserveNewer: false })).toEqual(report)
    } finally {
      await db.drop()
      tmp.cleanup()
    }
  })
})
