/**
 * Issue #16 §3: full native backups through the CLI on the real PostgreSQL, MariaDB and SQLite:
 * each restored into an empty database and compared with the source, a trigger, a view and a
 * function (SQLite has no stored functions: a trigger, a view, an index and a CHECK) included;
 * the same catalog (list, verify, delete, prune) and containers (gzip, encryption); and the bad
 * input of the issue: a missing or too old dump program, MongoDB, another engine's database, a
 * damaged file, a non-empty target — each a clear error with nothing changed.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMysqlDatabase, createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery, type TestDatabase } from '../../helpers/databases.js'
import { runCli } from '../../helpers/cli.js'

const PG_SETUP = `
CREATE TABLE account (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2) NOT NULL DEFAULT 0, updated_at timestamptz DEFAULT now());
CREATE TABLE audit_log (id serial PRIMARY KEY, account_id int REFERENCES account(id), note text);
CREATE FUNCTION add_tax(x numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT x * 1.2 $$;
CREATE FUNCTION log_account() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit_log(account_id, note) VALUES (NEW.id, 'inserted ' || NEW.name); RETURN NEW; END $$;
CREATE TRIGGER account_log AFTER INSERT ON account FOR EACH ROW EXECUTE FUNCTION log_account();
CREATE VIEW rich AS SELECT id, name, add_tax(balance) AS gross FROM account WHERE balance > 100;
ALTER TABLE account ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON account USING (name <> 'hidden');
INSERT INTO account(name, balance) VALUES ('a', 50), ('b', 150.5), ('c', 1000);
`

/** Everything a full backup must carry, as comparable text. */
async function pgSnapshot(url: string): Promise<Record<string, unknown>> {
  const q = (sql: string) => pgQuery(url, sql)
  return {
    account: await q('SELECT id, name, balance::text FROM account ORDER BY id'),
    audit: await q('SELECT id, account_id, note FROM audit_log ORDER BY id'),
    view: await q('SELECT * FROM rich ORDER BY id'),
    viewDefinition: await q("SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'"),
    functions: await q("SELECT p.proname, pg_get_functiondef(p.oid) AS def FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1"),
    triggers: await q('SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1'),
    policies: await q("SELECT policyname, qual FROM pg_policies WHERE schemaname = 'public'"),
    rls: await q("SELECT relname, relrowsecurity FROM pg_class WHERE relname = 'account'"),
  }
}

const MYSQL_SETUP = [
  'CREATE TABLE account (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL, balance DECIMAL(12,2) NOT NULL DEFAULT 0, photo BLOB)',
  'CREATE TABLE audit_log (id INT AUTO_INCREMENT PRIMARY KEY, account_id INT, note VARCHAR(80))',
  'CREATE FUNCTION add_tax(x DECIMAL(12,2)) RETURNS DECIMAL(14,4) DETERMINISTIC RETURN x * 1.2',
  "CREATE TRIGGER account_log AFTER INSERT ON account FOR EACH ROW INSERT INTO audit_log(account_id, note) VALUES (NEW.id, CONCAT('inserted ', NEW.name))",
  'CREATE VIEW rich AS SELECT id, name, add_tax(balance) AS gross FROM account WHERE balance > 100',
  "INSERT INTO account(name, balance, photo) VALUES ('a', 50, NULL), ('b', 150.5, X'00FF10'), ('c', 1000, X'')",
]

async function mysqlSnapshot(url: string, database: string): Promise<Record<string, unknown>> {
  const conn = await mysql.createConnection({ uri: url })
  try {
    const q = async (sql: string) => JSON.parse(JSON.stringify((await conn.query(sql))[0]).split(database).join('DB'))
    return {
      account: await q('SELECT id, name, balance, HEX(photo) AS photo FROM account ORDER BY id'),
      audit: await q('SELECT * FROM audit_log ORDER BY id'),
      view: await q('SELECT * FROM rich ORDER BY id'),
      viewDefinition: await q('SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()'),
      functions: await q('SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION, DTD_IDENTIFIER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()'),
      triggers: await q('SELECT TRIGGER_NAME, EVENT_MANIPULATION, ACTION_TIMING, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()'),
      autoIncrement: await q("SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1"),
    }
  } finally {
    await conn.end()
  }
}

const SQLITE_SETUP = `
CREATE TABLE account (id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance REAL NOT NULL CHECK (balance >= 0), photo BLOB);
CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER REFERENCES account(id), note TEXT);
CREATE INDEX account_name ON account(name);
CREATE TRIGGER account_log AFTER INSERT ON account BEGIN INSERT INTO audit_log(account_id, note) VALUES (NEW.id, 'inserted ' || NEW.name); END;
CREATE VIEW rich AS SELECT id, name, balance * 1.2 AS gross FROM account WHERE balance > 100;
INSERT INTO account(name, balance, photo) VALUES ('a', 50, NULL), ('b', 150.5, x'00ff10'), ('c', 1000, x'');
`

function sqliteSnapshot(file: string): Record<string, unknown> {
  const db = new Database(file, { readonly: true })
  try {
    return {
      schema: db.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all(),
      account: db.prepare('SELECT id, name, balance, hex(photo) AS photo FROM account ORDER BY id').all(),
      audit: db.prepare('SELECT * FROM audit_log ORDER BY id').all(),
      view: db.prepare('SELECT * FROM rich ORDER BY id').all(),
    }
  } finally {
    db.close()
  }
}

describe('full backups on PostgreSQL', () => {
  let source: TestDatabase
  let tmp: { dir: string; cleanup: () => void }
  let file: string
  const dbs: TestDatabase[] = []
  const fresh = async () => {
    const db = await createPostgresDatabase()
    dbs.push(db)
    return db
  }

  beforeAll(async () => {
    source = await createPostgresDatabase()
    await pgQuery(source.url, PG_SETUP)
    tmp = makeTempDir()
    const result = await runCli(['backup', '--full', '--db', source.url, '--dir', tmp.dir, '--json'])
    expect(result.code, result.stderr + result.stdout).toBe(0)
    file = result.json().file
  })

  afterAll(async () => {
    await source?.drop()
    for (const db of dbs) await db.drop()
    tmp?.cleanup()
  })

  it('is a catalogued .pgdump file that list and verify know as a full backup', async () => {
    expect(path.basename(file)).toMatch(/^full-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.pgdump$/)
    const listed = (await runCli(['list', '--dir', tmp.dir, '--json'])).json()
    expect(listed.backups).toHaveLength(1)
    expect(listed.backups[0]).toMatchObject({ file: path.basename(file), kind: 'full', engine: 'postgres', catalogued: true })
    const verified = await runCli(['verify', file, '--json'])
    expect(verified.code, verified.stdout).toBe(0)
    expect(verified.json()).toMatchObject({ ok: true, kind: 'full', engine: 'postgres' })
    const audit = (await runCli(['audit', '--dir', tmp.dir, '--json'])).json()
    expect(JSON.stringify(audit)).toContain('"kind":"full"')
  })

  it('restores into an empty database with the same rows, view, functions, trigger and row-level security', async () => {
    const target = await fresh()
    const result = await runCli(['restore', file, '--db', target.url, '--json'])
    expect(result.code, result.stderr + result.stdout).toBe(0)
    expect(result.json()).toMatchObject({ kind: 'full', engine: 'postgres', atomic: true })
    expect(await pgSnapshot(target.url)).toEqual(await pgSnapshot(source.url))
    // The trigger and the sequence work in the copy.
    await pgQuery(target.url, "INSERT INTO account(name, balance) VALUES ('d', 5)")
    expect(await pgQuery(target.url, "SELECT account_id, note FROM audit_log WHERE note = 'inserted d'")).toEqual([{ account_id: 4, note: 'inserted d' }])
  })

  it('gzip + encryption: the same containers, verify and restore with the passphrase', async () => {
    const env = { MERGEBACK_PASSPHRASE: 'correct horse battery staple' }
    const made = await runCli(['backup', '--full', '--gzip', '--encrypt', '--db', source.url, '--dir', tmp.dir, '--name', 'sealed', '--json'], { env })
    expect(made.code, made.stderr).toBe(0)
    const sealed = made.json().file as string
    expect(sealed).toMatch(/\.pgdump\.gz\.enc$/)
    expect(fs.readFileSync(sealed).subarray(0, 8).toString('latin1')).toBe('MRGBKENC')
    expect((await runCli(['verify', sealed, '--json'], { env })).json().ok).toBe(true)
    const wrong = await runCli(['verify', sealed, '--json'], { env: { MERGEBACK_PASSPHRASE: 'wrong' } })
    expect(wrong.code).toBe(2)
    const target = await fresh()
    const restored = await runCli(['restore', sealed, '--db', target.url, '--json'], { env })
    expect(restored.code, restored.stderr).toBe(0)
    expect(await pgSnapshot(target.url)).toEqual(await pgSnapshot(source.url))
    const deleted = await runCli(['delete', path.basename(sealed), '--dir', tmp.dir, '--yes', '--json'])
    expect(deleted.code, deleted.stderr).toBe(0)
    expect(fs.existsSync(sealed)).toBe(false)
  })

  it('into a database that already has the objects: pg_restore fails, the transaction rolls back, nothing changes; --drop replaces them', async () => {
    const target = await fresh()
    await pgQuery(target.url, "CREATE TABLE account (id int PRIMARY KEY, name text); INSERT INTO account VALUES (1, 'mine')")
    const refused = await runCli(['restore', file, '--db', target.url, '--json'])
    expect(refused.code).toBe(1)
    expect(refused.json().error).toMatch(/pg_restore failed .*already exists/s)
    expect(await pgQuery(target.url, 'SELECT * FROM account')).toEqual([{ id: 1, name: 'mine' }])
    expect(await pgQuery(target.url, "SELECT count(*)::int AS n FROM pg_views WHERE schemaname = 'public'")).toEqual([{ n: 0 }])
    const dropped = await runCli(['restore', file, '--db', target.url, '--drop', '--yes', '--json'])
    expect(dropped.code, dropped.stderr + dropped.stdout).toBe(0)
    expect(await pgSnapshot(target.url)).toEqual(await pgSnapshot(source.url))
  })

  it('a damaged file is refused before anything is written', async () => {
    const damaged = path.join(tmp.dir, 'damaged-2026-01-01T00-00-00.pgdump')
    const bytes = fs.readFileSync(file)
    bytes[Math.floor(bytes.length / 2)] ^= 0xff
    fs.writeFileSync(damaged, bytes)
    fs.writeFileSync(`${damaged}.meta.json`, fs.readFileSync(`${file}.meta.json`, 'utf8').replace(path.basename(file), path.basename(damaged)))
    const target = await fresh()
    const result = await runCli(['restore', damaged, '--db', target.url, '--json'])
    expect(result.code).toBe(2)
    expect(result.json().error).toMatch(/damaged, nothing was restored/)
    expect(await pgQuery(target.url, "SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")).toEqual([{ n: 0 }])
    expect((await runCli(['verify', damaged, '--json'])).code).toBe(2)
  })

  it('a full backup cannot be analyzed, merged or restored in part', async () => {
    const target = await fresh()
    const analyze = await runCli(['analyze', file, '--db', target.url, '--json'])
    expect(analyze.code).toBe(2)
    expect(analyze.json().error).toMatch(/is a full backup/)
    const partial = await runCli(['restore', file, '--db', target.url, '--tables', 'account', '--json'])
    expect(partial.code).toBe(2)
    expect(partial.json().error).toMatch(/--tables cannot be used with a full backup/)
  })

  it('into a database of another engine: a clear error, nothing created', async () => {
    const sqlite = makeSqlitePath()
    try {
      const result = await runCli(['restore', file, '--db', sqlite.url, '--json'])
      expect(result.code).toBe(2)
      expect(result.json()).toMatchObject({ code: 'ENGINE_MISMATCH' })
      expect(result.json().error).toMatch(/full backup of a postgres database; it cannot be restored into sqlite/)
      expect(fs.existsSync(sqlite.file)).toBe(false)
    } finally {
      sqlite.cleanup()
    }
  })

  it('a missing or too old pg_dump: a clear error naming it and the version needed, no file written', async () => {
    const empty = makeTempDir('mergeback-out-')
    const bin = makeTempDir('mergeback-bin-')
    try {
      const missing = await runCli(['backup', '--full', '--db', source.url, '--dir', empty.dir, '--json'], { env: { MERGEBACK_PG_BINDIR: bin.dir } })
      expect(missing.code).toBe(2)
      expect(missing.json().error).toMatch(/pg_dump was not found in .*MERGEBACK_PG_BINDIR.*version 1\d\.0 or newer/)
      fs.writeFileSync(path.join(bin.dir, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n', { mode: 0o755 })
      const old = await runCli(['backup', '--full', '--db', source.url, '--dir', empty.dir, '--json'], { env: { MERGEBACK_PG_BINDIR: bin.dir } })
      expect(old.code).toBe(2)
      expect(old.json().error).toMatch(/pg_dump 9\.6 .* is too old to dump this PostgreSQL 1\d.*version 1\d\.0 or newer is needed/)
      expect(fs.readdirSync(empty.dir).filter((f) => !f.startsWith('audit'))).toEqual([])
    } finally {
      empty.cleanup()
      bin.cleanup()
    }
  })

  it('MongoDB: a clear error before connecting', async () => {
    const result = await runCli(['backup', '--full', '--db', 'mongodb://127.0.0.1:1/app', '--dir', tmp.dir, '--json'])
    expect(result.code).toBe(2)
    expect(result.json().error).toMatch(/MongoDB has no full native backup/)
  })
})

describe('full backups on MariaDB', () => {
  let source: TestDatabase
  let tmp: { dir: string; cleanup: () => void }
  let file: string
  const dbs: TestDatabase[] = []

  beforeAll(async () => {
    source = await createMysqlDatabase()
    const conn = await mysql.createConnection({ uri: source.url })
    for (const sql of MYSQL_SETUP) await conn.query(sql)
    await conn.end()
    tmp = makeTempDir()
    const result = await runCli(['backup', '--full', '--gzip', '--db', source.url, '--dir', tmp.dir, '--json'])
    expect(result.code, result.stderr + result.stdout).toBe(0)
    file = result.json().file
  })

  afterAll(async () => {
    await source?.drop()
    for (const db of dbs) await db.drop()
    tmp?.cleanup()
  })

  it('restores into an empty database with the same rows, view, function and trigger', async () => {
    expect(file).toMatch(/\.sql\.gz$/)
    expect((await runCli(['verify', file, '--json'])).json()).toMatchObject({ ok: true, engine: 'mysql' })
    const target = await createMysqlDatabase()
    dbs.push(target)
    const result = await runCli(['restore', file, '--db', target.url, '--json'])
    expect(result.code, result.stderr + result.stdout).toBe(0)
    expect(result.json()).toMatchObject({ kind: 'full', engine: 'mysql', atomic: false })
    expect(await mysqlSnapshot(target.url, target.name)).toEqual(await mysqlSnapshot(source.url, source.name))
    const conn = await mysql.createConnection({ uri: target.url })
    try {
      await conn.query("INSERT INTO account(name, balance) VALUES ('d', 5)")
      const [rows] = await conn.query("SELECT account_id, note FROM audit_log WHERE note = 'inserted d'")
      expect(rows).toEqual([{ account_id: 4, note: 'inserted d' }])
    } finally {
      await conn.end()
    }
  })

  it('into a database that is not empty: refused without --drop, nothing changed', async () => {
    const target = await createMysqlDatabase()
    dbs.push(target)
    const conn = await mysql.createConnection({ uri: target.url })
    try {
      await conn.query('CREATE TABLE mine (id INT PRIMARY KEY)')
      const refused = await runCli(['restore', file, '--db', target.url, '--json'])
      expect(refused.code).toBe(2)
      expect(refused.json().error).toMatch(/is not empty: a full restore recreates the whole database/)
      const [tables] = await conn.query('SHOW TABLES')
      expect(tables).toHaveLength(1)
    } finally {
      await conn.end()
    }
  })

  it('a truncated dump (no "Dump completed" marker) is refused before anything runs', async () => {
    const plain = await runCli(['backup', '--full', '--db', source.url, '--dir', tmp.dir, '--name', 'plain', '--json'])
    expect(plain.code, plain.stderr).toBe(0)
    const text = fs.readFileSync(plain.json().file, 'utf8')
    const cut = path.join(tmp.dir, 'cut-2026-01-01T00-00-00.sql')
    fs.writeFileSync(cut, text.slice(0, text.lastIndexOf('-- Dump completed')))
    const target = await createMysqlDatabase()
    dbs.push(target)
    const result = await runCli(['restore', cut, '--db', target.url, '--json'])
    expect(result.code).toBe(2)
    expect(result.json().error).toMatch(/Dump completed/)
    const conn = await mysql.createConnection({ uri: target.url })
    const [tables] = await conn.query('SHOW TABLES')
    await conn.end()
    expect(tables).toEqual([])
  })
})

describe('full backups on SQLite', () => {
  it('restores by an atomic file swap: same schema (trigger, view, index, CHECK) and rows; refuses a non-empty target without --drop', async () => {
    const source = makeSqlitePath()
    const target = makeSqlitePath()
    const tmp = makeTempDir()
    try {
      const db = new Database(source.file)
      db.pragma('journal_mode = WAL')
      db.exec(SQLITE_SETUP)
      // A write still in the WAL (not checkpointed) must be in the backup too.
      db.exec("INSERT INTO account(name, balance) VALUES ('wal', 7)")
      const made = await runCli(['backup', '--full', '--db', source.url, '--dir', tmp.dir, '--json'])
      db.close()
      expect(made.code, made.stderr + made.stdout).toBe(0)
      const file = made.json().file as string
      expect(file).toMatch(/\.sqlite$/)
      expect(fs.readdirSync(tmp.dir).filter((f) => f.startsWith('.tmp-'))).toEqual([])
      expect((await runCli(['verify', file, '--json'])).json()).toMatchObject({ ok: true, engine: 'sqlite' })

      const restored = await runCli(['restore', file, '--db', target.url, '--json'])
      expect(restored.code, restored.stderr + restored.stdout).toBe(0)
      expect(sqliteSnapshot(target.file)).toEqual(sqliteSnapshot(source.file))

      const copy = new Database(target.file)
      copy.exec("INSERT INTO account(name, balance) VALUES ('e', 1)")
      copy.close()
      const refused = await runCli(['restore', file, '--db', target.url, '--json'])
      expect(refused.code).toBe(2)
      expect(refused.json().error).toMatch(/is not empty/)
      expect((sqliteSnapshot(target.file).account as unknown[]).length).toBe(5)
      const replaced = await runCli(['restore', file, '--db', target.url, '--drop', '--yes', '--json'])
      expect(replaced.code, replaced.stderr).toBe(0)
      expect(sqliteSnapshot(target.file)).toEqual(sqliteSnapshot(source.file))
      expect(fs.readdirSync(path.dirname(target.file)).filter((f) => f.startsWith('.tmp-'))).toEqual([])
    } finally {
      source.cleanup()
      target.cleanup()
      tmp.cleanup()
    }
  })
})
