/**
 * The engines the incremental tests run on (PostgreSQL, MariaDB, SQLite): how to make a database
 * and run SQL in it, and a database's whole state read through a full backup.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { backup } from '../../../src/engine/backup.js'
import { readBackup } from '../../../src/format/reader.js'
import { openBackupStream } from '../../../src/storage/backup-file.js'
import { afterAll } from 'vitest'
import { createMysqlDatabase, createPostgresDatabase, makeSqlitePath, makeTempDir, pgQuery, type TestDatabase } from '../../helpers/databases.js'

interface Engine {
  readonly name: string
  create(): Promise<{ url: string; drop: () => Promise<void> }>
  exec(url: string, sql: string): Promise<void>
}

export const engines: Engine[] = [
  {
    name: 'sqlite',
    async create() {
      // A database's name is its file's name: each gets its own, so a foreign parent is told apart.
      const db = makeSqlitePath()
      return { url: `sqlite:${path.join(path.dirname(db.file), `db${Math.random().toString(36).slice(2, 8)}.db`)}`, drop: async () => db.cleanup() }
    },
    async exec(url, sql) {
      const conn = new Database(url.slice('sqlite:'.length))
      try {
        conn.exec(sql)
      } finally {
        conn.close()
      }
    },
  },
  {
    name: 'postgres',
    async create() {
      const db: TestDatabase = await createPostgresDatabase('mbincr')
      return { url: db.url, drop: () => db.drop() }
    },
    async exec(url, sql) {
      await pgQuery(url, sql)
    },
  },
  {
    name: 'mariadb',
    async create() {
      const db: TestDatabase = await createMysqlDatabase('mbincr')
      return { url: db.url, drop: () => db.drop() }
    },
    async exec(url, sql) {
      const mysql = await import('mysql2/promise')
      const conn = await mysql.createConnection({ uri: url, multipleStatements: true })
      try {
        await conn.query(sql)
      } finally {
        await conn.end()
      }
    },
  },
]

/** Every table's records (as canonical lines, sorted) of a database, through a full backup. */
export async function stateOf(url: string, dir: string): Promise<Record<string, string[]>> {
  const file = path.join(dir, `state-${Math.random().toString(36).slice(2)}.json`)
  await backup({ db: url, out: file })
  const tables: Record<string, string[]> = {}
  for await (const event of readBackup(await openBackupStream(file), { records: 'lines' })) {
    if (event.type === 'table') tables[event.table.name] = []
    if (event.type === 'lines') {
      const text = event.lines.toString('utf8')
      tables[event.table]!.push(...text.split('\n').filter((l) => l !== ''))
    }
  }
  fs.rmSync(file)
  for (const lines of Object.values(tables)) lines.sort()
  return tables
}


/** The files of a backup directory, the audit log left out: what a refused command must not change. */
export function filesIn(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => !f.startsWith('audit')).sort()
}

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** A source database of `engine` and a temporary directory with `backups/` (not made yet) and `work/`, all removed after the file's tests. */
export async function chainWorkspace(engine: Engine, prefix: string): Promise<{ source: { url: string }; dir: string; work: string }> {
  const source = await engine.create()
  cleanups.push(source.drop)
  const tmp = makeTempDir(prefix)
  cleanups.push(tmp.cleanup)
  const work = path.join(tmp.dir, 'work')
  fs.mkdirSync(work)
  return { source, dir: path.join(tmp.dir, 'backups'), work }
}

/**
 * A chain made by running each of `steps` (SQL) on the source and taking an incremental backup
 * named `name` after it: the increments' files, in order. The full backup is the caller's.
 */
export async function incrementsAfter(engine: Engine, url: string, dir: string, name: string, steps: readonly string[]): Promise<string[]> {
  const links: string[] = []
  for (const sql of steps) {
    await engine.exec(url, sql)
    links.push((await backup({ db: url, out: dir, name, incremental: true })).file)
  }
  return links
}

/**
 * A chain of a full backup and two increments in a new workspace (chainWorkspace): `item` (3000
 * rows, one-column key), `tag` (a composite key); updates, deletes and inserts in between.
 */
export async function itemTagChain(engine: Engine, prefix: string): Promise<{ source: { url: string }; dir: string; work: string; full: string; last: string }> {
  const { source, dir, work } = await chainWorkspace(engine, prefix)
  const items = Array.from({ length: 3000 }, (_, i) => `(${i + 1}, 'item ${i + 1}', ${(i * 1.25).toFixed(2)})`).join(', ')
  await engine.exec(
    source.url,
    `CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2));
     CREATE TABLE tag (a INTEGER NOT NULL, b VARCHAR(20) NOT NULL, PRIMARY KEY (a, b));
     INSERT INTO item VALUES ${items};
     INSERT INTO tag VALUES (1, 'x'), (2, 'y');`,
  )
  const full = await backup({ db: source.url, out: dir, name: 'n', now: new Date('2026-12-01T00:00:00Z') })
  await engine.exec(source.url, `UPDATE item SET name = 'renamed' WHERE id IN (5, 2500); DELETE FROM item WHERE id = 7; INSERT INTO tag VALUES (3, 'z');`)
  await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-02T00:00:00Z') })
  await engine.exec(source.url, `DELETE FROM item WHERE id = 2000; INSERT INTO item VALUES (9001, 'late', 1.00);`)
  const last = await backup({ db: source.url, out: dir, name: 'n', incremental: true, now: new Date('2026-12-03T00:00:00Z') })
  return { source, dir, work, full: full.file, last: last.file }
}
