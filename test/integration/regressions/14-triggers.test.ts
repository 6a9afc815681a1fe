/**
 * Issue #14 item 4: triggers rewrote restored and merged data. A PostgreSQL `BEFORE UPDATE`
 * trigger that sets `last_update = now()` overwrote the backup's value during a merge; a MariaDB
 * `AFTER INSERT` trigger that writes into another table made a restore into the application's own
 * schema fail with a duplicate key. Now: PostgreSQL switches the user triggers of the written
 * tables off inside the transaction (as owner; anyone else is refused before anything is written),
 * SQLite drops and re-creates them inside it, MariaDB refuses unless --allow-triggers.
 */
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { analyze, merge } from '../../../src/engine/merge.js'
import { UsageError } from '../../../src/errors.js'
import { POSTGRES_ADMIN_URL, createMysqlDatabase, createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

function tempDir(): string {
  const tmp = makeTempDir('mb14-')
  cleanups.push(tmp.cleanup)
  return tmp.dir
}

const PG_SCHEMA = `
  CREATE TABLE film (id integer PRIMARY KEY, title text NOT NULL, last_update timestamptz NOT NULL DEFAULT now());
  CREATE TABLE film_log (id serial PRIMARY KEY, film_id integer NOT NULL, what text NOT NULL);
  CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.last_update = now(); RETURN NEW; END $$;
  CREATE FUNCTION log_film() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO film_log (film_id, what) VALUES (NEW.id, TG_OP); RETURN NEW; END $$;
  CREATE TRIGGER film_stamp BEFORE UPDATE ON film FOR EACH ROW EXECUTE FUNCTION stamp();
  CREATE TRIGGER film_log AFTER INSERT OR UPDATE ON film FOR EACH ROW EXECUTE FUNCTION log_film();
  ALTER TABLE film ENABLE ALWAYS TRIGGER film_log;
  INSERT INTO film (id, title, last_update) VALUES (1, 'Alien', '2020-01-01 00:00:00+00'), (2, 'Brazil', '2020-01-02 00:00:00+00');
`

describe('#14 item 4: PostgreSQL user triggers do not run during restores and merges', () => {
  it('a merge writes the backup\'s last_update; a restore adds no log rows; the triggers are back on, as they were', async () => {
    const db = await createPostgresDatabase('mb14trg')
    cleanups.push(() => db.drop())
    await pgQuery(db.url, PG_SCHEMA)
    const file = (await backup({ db: db.url, out: path.join(tempDir(), 'b.json'), tables: ['film'] })).file
    const logBefore = await pgQuery(db.url, `SELECT count(*)::int AS n FROM film_log`)

    await pgQuery(db.url, `UPDATE film SET title = 'Alien (edited)' WHERE id = 1; DELETE FROM film WHERE id = 2`)
    const report = await merge(file, db.url, { preserveNewer: false, onWarning: () => undefined })
    expect(report.totals).toMatchObject({ new: 1, conflicts: 1 })
    expect(await pgQuery(db.url, `SELECT id, title, last_update::text AS t FROM film ORDER BY id`)).toEqual([
      { id: 1, title: 'Alien', t: '2020-01-01 00:00:00+00' },
      { id: 2, title: 'Brazil', t: '2020-01-02 00:00:00+00' },
    ])
    // The edit above logged one row; the merge none.
    expect(await pgQuery(db.url, `SELECT count(*)::int AS n FROM film_log`)).toEqual([{ n: logBefore[0].n + 1 }])

    await pgQuery(db.url, `DELETE FROM film WHERE id = 2`)
    const restored = await restore({ file, db: db.url })
    expect(restored.tables.film).toMatchObject({ inserted: 1, skipped: 1 })
    expect(restored.warnings.join('\n')).toMatch(/User triggers did not run.*"film"\."film_log".*"film"\."film_stamp"/)
    expect(await pgQuery(db.url, `SELECT count(*)::int AS n FROM film_log`)).toEqual([{ n: logBefore[0].n + 1 }])
    expect(await pgQuery(db.url, `SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'film'::regclass AND NOT tgisinternal ORDER BY tgname`)).toEqual([
      { tgname: 'film_log', tgenabled: 'A' },
      { tgname: 'film_stamp', tgenabled: 'O' },
    ])
    // Triggers still work for the application.
    await pgQuery(db.url, `UPDATE film SET title = 'Brazil!' WHERE id = 2`)
    const [stamped] = await pgQuery(db.url, `SELECT last_update > '2021-01-01' AS fresh FROM film WHERE id = 2`)
    expect(stamped.fresh).toBe(true)
  })

  it('a user who does not own the table is refused before anything is written', async () => {
    const db = await createPostgresDatabase('mb14trg')
    cleanups.push(() => db.drop())
    await pgQuery(db.url, PG_SCHEMA)
    const file = (await backup({ db: db.url, out: path.join(tempDir(), 'b.json'), tables: ['film'] })).file
    const role = `mb14_writer_${randomBytes(4).toString('hex')}`
    await pgQuery(db.url, `CREATE ROLE ${role} LOGIN; GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT, INSERT, UPDATE ON film, film_log TO ${role}; GRANT USAGE ON SEQUENCE film_log_id_seq TO ${role}`)
    cleanups.push(async () => {
      await pgQuery(db.url, `DROP OWNED BY ${role}`)
      await pgQuery(POSTGRES_ADMIN_URL, `DROP ROLE IF EXISTS ${role}`)
    })
    await pgQuery(db.url, `DELETE FROM film WHERE id = 2`)
    const url = new URL(db.url)
    url.username = role
    const error = await merge(file, url.toString()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UsageError)
    expect((error as UsageError).code).toBe('TRIGGERS')
    expect((error as Error).message).toMatch(/owner/)
    expect(await pgQuery(db.url, `SELECT id FROM film ORDER BY id`)).toEqual([{ id: 1 }])
  })
})

describe('#14 item 4: SQLite triggers do not run during restores and merges', () => {
  it('merge writes the backup\'s values and the triggers are there afterwards', async () => {
    const sqlite = makeSqlitePath()
    cleanups.push(sqlite.cleanup)
    const conn = new Database(sqlite.file)
    conn.exec(`
      CREATE TABLE film (id INTEGER PRIMARY KEY, title TEXT NOT NULL, last_update TEXT NOT NULL);
      CREATE TABLE film_log (id INTEGER PRIMARY KEY, film_id INTEGER NOT NULL);
      CREATE TRIGGER film_stamp AFTER UPDATE ON film BEGIN UPDATE film SET last_update = 'now' WHERE id = NEW.id AND last_update <> 'now'; END;
      CREATE TRIGGER film_log AFTER INSERT ON film BEGIN INSERT INTO film_log (film_id) VALUES (NEW.id); END;
      INSERT INTO film VALUES (1, 'Alien', '2020-01-01'), (2, 'Brazil', '2020-01-02');`)
    conn.close()
    const file = (await backup({ db: sqlite.url, out: path.join(tempDir(), 'b.json'), tables: ['film'] })).file
    const edit = new Database(sqlite.file)
    edit.exec(`UPDATE film SET title = 'edited', last_update = '2020-01-01' WHERE id = 1; DELETE FROM film WHERE id = 2; DELETE FROM film_log`)
    edit.close()
    const report = await merge(file, sqlite.url, { preserveNewer: false, onWarning: () => undefined })
    expect(report.totals).toMatchObject({ new: 1, conflicts: 1 })
    const check = new Database(sqlite.file, { readonly: true })
    try {
      expect(check.prepare(`SELECT * FROM film ORDER BY id`).all()).toEqual([
        { id: 1, title: 'Alien', last_update: '2020-01-01' },
        { id: 2, title: 'Brazil', last_update: '2020-01-02' },
      ])
      expect(check.prepare(`SELECT count(*) AS n FROM film_log`).get()).toEqual({ n: 0 })
      expect(check.prepare(`SELECT name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name`).all()).toEqual([{ name: 'film_log' }, { name: 'film_stamp' }])
    } finally {
      check.close()
    }
  })
})

describe('#14 item 4: MariaDB triggers (which cannot be switched off) are refused unless allowed', () => {
  it('refuses a restore into a schema whose tables have triggers, changing nothing; --allow-triggers lets them run and says so', async () => {
    const db = await createMysqlDatabase('mb14trg')
    cleanups.push(() => db.drop())
    const mysql = await import('mysql2/promise')
    const conn = await mysql.createConnection({ uri: db.url, multipleStatements: true })
    cleanups.push(() => conn.end())
    await conn.query(`
      CREATE TABLE customer (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL);
      CREATE TABLE customer_log (id INT PRIMARY KEY, note VARCHAR(50) NOT NULL);
      CREATE TRIGGER customer_log AFTER INSERT ON customer FOR EACH ROW INSERT INTO customer_log VALUES (NEW.id, CONCAT('new ', NEW.name));
      INSERT INTO customer VALUES (1, 'Ann');`)
    const file = (await backup({ db: db.url, out: path.join(tempDir(), 'b.json') })).file
    await conn.query(`DELETE FROM customer; DELETE FROM customer_log`)

    const error = await restore({ file, db: db.url }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UsageError)
    expect((error as UsageError).code).toBe('TRIGGERS')
    expect((error as Error).message).toMatch(/customer_log \(AFTER INSERT on customer\).*--allow-triggers/)
    const [[counts]] = (await conn.query(`SELECT (SELECT count(*) FROM customer) AS c, (SELECT count(*) FROM customer_log) AS l`)) as unknown as [[{ c: number; l: number }]]
    expect(counts).toEqual({ c: 0, l: 0 })

    await expect(analyze(file, db.url)).rejects.toMatchObject({ code: 'TRIGGERS' })
    // Allowed, into the table the trigger writes only: nothing fires, and the report names the trigger.
    const allowed = await restore({ file, db: db.url, tables: ['customer'], allowTriggers: true })
    expect(allowed.warnings.join('\n')).toMatch(/Triggers ran during this restore \(--allow-triggers\).*customer_log/)
  })
})
