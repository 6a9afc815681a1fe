/**
 * Issue #13, finding 1: a backup file's SQL never reaches a database unchecked.
 *
 * Each case is a backup with valid checksums whose schema carries a hostile piece of SQL in one
 * DDL-bearing field (type, default, generated expression, index definition and predicate, CHECK,
 * enum type name and labels, domain, table options, collation, foreign-key action). Each is
 * restored into PostgreSQL, MariaDB and SQLite databases that hold a `victim` table, with a
 * marker file beside them: a refused file exits 2 (verify too) and leaves the target as it was;
 * a full definition from a foreign file is left out with a warning and the table is built from
 * its columns. Either way the victim and the marker are untouched.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ColumnSchema, Engine, TableSchema } from '../../../src/adapters/adapter.js'
import { exitCodeFor } from '../../../src/cli/exit-codes.js'
import { verify } from '../../../src/engine/inspect.js'
import { restore } from '../../../src/engine/restore.js'
import { FormatError } from '../../../src/errors.js'
import { runCli } from '../../helpers/cli.js'
import { makeTempDir } from '../../helpers/databases.js'
import { TARGETS, makeMarker, makeTarget, writeCraftedBackup, type Target, type TargetEngine } from './targets.js'

const temp = makeTempDir('mbsec-')
const marker = makeMarker(temp.dir)
const M = marker.path

const targets = new Map<TargetEngine, Target>()
beforeAll(async () => {
  for (const engine of TARGETS) targets.set(engine, await makeTarget(engine))
}, 60_000)
afterAll(async () => {
  for (const target of targets.values()) await target.drop()
  temp.cleanup()
})

const id: ColumnSchema = { name: 'id', type: 'integer', kind: 'integer', nullable: false }
const typeOf: Record<Exclude<Engine, 'mongodb'>, { int: string; text: string }> = {
  postgres: { int: 'integer', text: 'text' },
  mysql: { int: 'int(11)', text: 'text' },
  sqlite: { int: 'INTEGER', text: 'TEXT' },
}

function table(engine: Exclude<Engine, 'mongodb'>, patch: Partial<TableSchema> & { a?: Partial<ColumnSchema> }): TableSchema {
  const { a, ...rest } = patch
  return {
    name: 't',
    columns: [
      { ...id, type: typeOf[engine].int },
      { name: 'a', type: typeOf[engine].text, kind: 'text', nullable: true, ...a },
    ],
    primaryKey: ['id'],
    uniqueConstraints: [],
    indexes: [],
    foreignKeys: [],
    ...rest,
  }
}

interface Case {
  readonly name: string
  readonly engine: Exclude<Engine, 'mongodb'>
  readonly table: TableSchema
  /** 'refused': exit 2, nothing changed. 'dropped': restored from the columns, with this warning. */
  readonly outcome: 'refused' | { readonly warning: RegExp }
}

const CASES: Case[] = [
  // PostgreSQL
  { name: 'pg type adding a column that reads a file', engine: 'postgres', table: table('postgres', { a: { type: `text, w text DEFAULT pg_read_file('${M}')` } }), outcome: 'refused' },
  { name: 'pg type adding a column with a default', engine: 'postgres', table: table('postgres', { a: { type: 'text, w text DEFAULT (1)' } }), outcome: 'refused' },
  { name: 'pg type with a collation', engine: 'postgres', table: table('postgres', { a: { type: 'text COLLATE "C"' } }), outcome: 'refused' },
  { name: 'pg type with a comment', engine: 'postgres', table: table('postgres', { a: { type: 'text -- x' } }), outcome: 'refused' },
  { name: 'pg default reading a file', engine: 'postgres', table: table('postgres', { a: { default: `pg_read_file('${M}')` } }), outcome: 'refused' },
  { name: 'pg default with a subquery', engine: 'postgres', table: table('postgres', { a: { default: '(SELECT secret FROM victim LIMIT 1)' } }), outcome: 'refused' },
  { name: 'pg generated expression reading the victim', engine: 'postgres', table: table('postgres', { a: { generated: '(SELECT count(*) FROM victim)' } }), outcome: 'refused' },
  {
    name: 'pg index predicate reading a file',
    engine: 'postgres',
    table: table('postgres', { indexes: [{ name: 'i', columns: ['a'], unique: false, definition: `CREATE INDEX i ON public.t USING btree (a) WHERE (pg_read_file('${M}') IS NOT NULL)` }] }),
    outcome: 'refused',
  },
  {
    name: 'pg index definition on another table',
    engine: 'postgres',
    table: table('postgres', { indexes: [{ name: 'i', columns: ['a'], unique: false, definition: 'CREATE UNIQUE INDEX i ON public.victim USING btree (secret)' }] }),
    outcome: 'refused',
  },
  {
    name: 'pg index expression calling a function',
    engine: 'postgres',
    table: table('postgres', { indexes: [{ name: 'i', columns: [], unique: false, definition: `CREATE INDEX i ON public.t USING btree (pg_read_file(a))` }] }),
    outcome: 'refused',
  },
  { name: 'pg CHECK with a subquery', engine: 'postgres', table: table('postgres', { options: { checks: [{ name: 'c', definition: 'CHECK ((SELECT count(*) FROM victim) > 0)' }] } }), outcome: 'refused' },
  {
    name: 'pg enum type name with a statement',
    engine: 'postgres',
    table: table('postgres', { a: { type: 'e', kind: 'enum', enumName: `e AS ENUM ('x'); DROP TABLE victim; CREATE TYPE f`, enumValues: ['x'] } }),
    outcome: 'refused',
  },
  {
    name: 'pg domain over a hostile base type',
    engine: 'postgres',
    table: table('postgres', { a: { type: 'd' }, options: { domains: [{ name: 'd', baseType: `text DEFAULT pg_read_file('${M}')`, notNull: false, default: null, constraints: [] }] } }),
    outcome: 'refused',
  },
  {
    name: 'pg domain with a hostile default',
    engine: 'postgres',
    table: table('postgres', { a: { type: 'd' }, options: { domains: [{ name: 'd', baseType: 'text', notNull: false, default: `pg_read_file('${M}')`, constraints: [] }] } }),
    outcome: 'refused',
  },
  {
    name: 'pg foreign-key action with a statement',
    engine: 'postgres',
    table: table('postgres', { foreignKeys: [{ name: 'f', columns: ['id'], referencedTable: 't', referencedColumns: ['id'], onDelete: 'CASCADE; DROP TABLE victim' }] }),
    outcome: 'refused',
  },
  // MySQL / MariaDB
  { name: 'mysql type adding a column that reads a file', engine: 'mysql', table: table('mysql', { a: { type: `text, w text DEFAULT (load_file('${M}'))` } }), outcome: 'refused' },
  { name: 'mysql enum type closing early', engine: 'mysql', table: table('mysql', { a: { type: "enum('x'), w int", kind: 'enum', enumValues: ['x'] } }), outcome: 'refused' },
  { name: 'mysql collation in the type with more after it', engine: 'mysql', table: table('mysql', { a: { type: 'text COLLATE utf8mb4_bin, w int' } }), outcome: 'refused' },
  { name: 'mysql default reading a file', engine: 'mysql', table: table('mysql', { a: { default: `(load_file('${M}'))` } }), outcome: 'refused' },
  { name: 'mysql generated expression reading the victim', engine: 'mysql', table: table('mysql', { a: { generated: '(select secret from victim limit 1)' } }), outcome: 'refused' },
  { name: 'mysql table collation with more options', engine: 'mysql', table: table('mysql', { options: { collation: 'utf8mb4_bin ENGINE=MEMORY' } }), outcome: 'refused' },
  { name: 'mysql table engine with a select', engine: 'mysql', table: table('mysql', { options: { engine: 'InnoDB AS SELECT * FROM victim' } }), outcome: 'refused' },
  {
    name: 'mysql table definition copying the victim',
    engine: 'mysql',
    table: table('mysql', { options: { definition: 'CREATE TABLE `t` AS SELECT 1 AS id, secret AS a FROM victim' } }),
    outcome: { warning: /own CREATE TABLE text is not used/ },
  },
  // SQLite
  { name: 'sqlite type with a default', engine: 'sqlite', table: table('sqlite', { a: { type: 'TEXT DEFAULT 1' } }), outcome: 'refused' },
  { name: 'sqlite type adding a column', engine: 'sqlite', table: table('sqlite', { a: { type: 'TEXT, w TEXT' } }), outcome: 'refused' },
  { name: 'sqlite default with a subquery', engine: 'sqlite', table: table('sqlite', { a: { default: '(SELECT secret FROM victim)' } }), outcome: 'refused' },
  {
    name: 'sqlite index predicate with a subquery',
    engine: 'sqlite',
    table: table('sqlite', { indexes: [{ name: 'i', columns: ['a'], unique: false, definition: 'CREATE INDEX i ON t (a) WHERE a IN (SELECT secret FROM victim)' }] }),
    outcome: 'refused',
  },
  {
    name: 'sqlite table sql copying the victim',
    engine: 'sqlite',
    table: table('sqlite', { options: { sql: 'CREATE TABLE t AS SELECT id, secret AS a FROM victim', withoutRowid: false, strict: false, triggers: [] } }),
    outcome: { warning: /own CREATE TABLE text is not used/ },
  },
  {
    name: 'sqlite trigger emptying the victim',
    engine: 'sqlite',
    table: table('sqlite', {
      options: { sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)', withoutRowid: false, strict: false, triggers: ['CREATE TRIGGER x AFTER INSERT ON t BEGIN DELETE FROM victim; END'] },
    }),
    outcome: { warning: /trigger\(s\) are not recreated/ },
  },
]

const ROWS = [
  { id: 1, a: 'one' },
  { id: 2, a: 'two' },
]

describe.each(TARGETS)('crafted backups restored into %s', (targetEngine) => {
  for (const c of CASES) {
    it(c.name, async () => {
      const target = targets.get(targetEngine)!
      const file = path.join(temp.dir, `${targetEngine}-${c.name.replace(/\W+/g, '-')}.json`)
      await writeCraftedBackup(file, c.engine, c.table, ROWS)
      const victimBefore = await target.victim()
      if (c.outcome === 'refused') {
        const error = await restore({ file, db: target.url }).then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(error).toBeInstanceOf(FormatError)
        expect(exitCodeFor(error)).toBe(2)
        expect((error as FormatError).message).toMatch(/"t"/)
        expect(await target.tables()).toEqual(['victim'])
        const verified = await verify(file)
        expect(verified.ok).toBe(false)
      } else {
        const report = await restore({ file, db: target.url })
        expect(report.warnings.join('\n')).toMatch(c.outcome.warning)
        expect(await target.tables()).toEqual(['t', 'victim'])
        expect(await target.columns('t')).toEqual(['id', 'a'])
        expect(report.totals.inserted).toBe(2)
        await dropTable(target, 't')
      }
      expect(await target.victim()).toBe(victimBefore)
      expect(marker.untouched()).toBe(true)
    })
  }
})

async function dropTable(target: Target, name: string): Promise<void> {
  const { pgQuery } = await import('../../helpers/databases.js')
  if (target.engine === 'postgres') await pgQuery(target.url, `DROP TABLE "${name}"`)
  else if (target.engine === 'mysql') {
    const mysql = await import('mysql2/promise')
    const conn = await mysql.createConnection({ uri: target.url })
    await conn.query(`DROP TABLE \`${name}\``)
    await conn.end()
  } else {
    const Database = (await import('better-sqlite3')).default
    const db = new Database(target.url.slice('sqlite:'.length))
    db.exec(`DROP TABLE "${name}"`)
    db.close()
  }
}

describe('the CLI on a crafted file', () => {
  it('restore exits 2 with one line naming table and column; verify exits 2; nothing changed', async () => {
    const target = targets.get('postgres')!
    const file = path.join(temp.dir, 'cli.json')
    await writeCraftedBackup(file, 'postgres', CASES[0]!.table, ROWS)
    const restored = await runCli(['restore', file, '--db', target.url])
    expect(restored.code).toBe(2)
    expect(restored.stderr.trim().split('\n')).toHaveLength(1)
    expect(restored.stderr).toMatch(/Table "t", column "a"/)
    const verified = await runCli(['verify', file])
    expect(verified.code).toBe(2)
    expect(await target.tables()).toEqual(['victim'])
  })

  it('--drop-unsafe-definitions leaves a hostile default out with a warning, and nothing runs', async () => {
    const target = targets.get('postgres')!
    const file = path.join(temp.dir, 'drop-unsafe.json')
    await writeCraftedBackup(file, 'postgres', table('postgres', { a: { default: `pg_read_file('${M}')` } }), ROWS)
    const refused = await runCli(['verify', file])
    expect(refused.code).toBe(2)
    const restored = await runCli(['restore', file, '--db', target.url, '--drop-unsafe-definitions', '--json'])
    expect(restored.code).toBe(0)
    const report = JSON.parse(restored.stdout) as { warnings: string[] }
    expect(report.warnings.join('\n')).toMatch(/default .*pg_read_file.* is not recreated/)
    const { pgQuery } = await import('../../helpers/databases.js')
    const defaults = await pgQuery<{ d: string | null }>(target.url, "SELECT column_default AS d FROM information_schema.columns WHERE table_name = 't' AND column_name = 'a'")
    expect(defaults).toEqual([{ d: null }])
    expect(marker.untouched()).toBe(true)
    await dropTable(target, 't')
    expect(fs.existsSync(file)).toBe(true)
  })
})
