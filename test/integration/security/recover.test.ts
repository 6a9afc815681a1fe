/**
 * `mergeback recover` and the leftover clean-up behind it (issue #13 finding 2): staging tables of
 * a run whose lock is free are removed; those of a run still holding its lock are left alone; the
 * removal asks first and is audited. On an engine that cannot leave anything, nothing is found.
 */
import fs from 'node:fs'
import path from 'node:path'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeLeftovers } from '../../../src/adapters/mysql/mysql-staging.js'
import { runCli } from '../../helpers/cli.js'
import { createMysqlDatabase, makeSqlitePath, makeTempDir, type TestDatabase } from '../../helpers/databases.js'

let db: TestDatabase
const temp = makeTempDir('mergeback-recover-')
beforeAll(async () => {
  db = await createMysqlDatabase('seccrash_recover')
})
afterAll(async () => {
  await db?.drop()
  temp.cleanup()
})

async function tables(connection: mysql.Connection): Promise<string[]> {
  const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME')
  return rows.map((r) => String(r.name)).sort()
}

describe('recover on MariaDB', () => {
  it('removes staging tables of dead runs only, asks first, and audits it', async () => {
    const connection = await mysql.createConnection({ uri: db.url })
    const live = await mysql.createConnection({ uri: db.url })
    try {
      await connection.query('CREATE TABLE keep (id INT PRIMARY KEY)')
      await connection.query('CREATE TABLE `_mb_stage_dead0001_p` (id INT PRIMARY KEY)')
      await connection.query('CREATE TABLE `_mb_stage_dead0001_c` (id INT PRIMARY KEY, p INT, CONSTRAINT fk_recover_c FOREIGN KEY (p) REFERENCES `_mb_stage_dead0001_p` (id))')
      await connection.query('CREATE TABLE `_mb_stage_live0002_t` (id INT PRIMARY KEY)')
      await connection.query('CREATE TABLE `_mb_old_dead0003_t` (id INT PRIMARY KEY)')
      // A run still alive holds its lock.
      await live.query("SELECT GET_LOCK('mergeback_stage_live0002', 0)")

      await connection.query('SET SESSION foreign_key_checks = 0')
      const first = await removeLeftovers(connection, { waitSeconds: 0 })
      expect([...first.removed].sort()).toEqual(['_mb_old_dead0003_t', '_mb_stage_dead0001_c', '_mb_stage_dead0001_p'])
      expect(first.busy).toEqual(['_mb_stage_live0002_t'])
      expect(await tables(connection)).toEqual(['_mb_stage_live0002_t', 'keep'])

      const dry = await runCli(['recover', '--db', db.url, '--dry-run', '--json', '--dir', temp.dir])
      expect(dry.code, dry.stderr).toBe(0)
      expect(dry.json()).toMatchObject({ engine: 'mysql', found: ['_mb_stage_live0002_t'], removed: [], dryRun: true })

      const unconfirmed = await runCli(['recover', '--db', db.url, '--dir', temp.dir])
      expect(unconfirmed.code).toBe(2)
      expect(unconfirmed.stderr).toMatch(/Drop 1 staging table\(s\).*pass --yes/)

      await live.end()
      fs.mkdirSync(temp.dir, { recursive: true })
      const done = await runCli(['recover', '--db', db.url, '--yes', '--json', '--dir', temp.dir])
      expect(done.code, done.stderr).toBe(0)
      expect(done.json()).toMatchObject({ found: ['_mb_stage_live0002_t'], removed: ['_mb_stage_live0002_t'], busy: [] })
      expect(await tables(connection)).toEqual(['keep'])
      const audit = fs.readFileSync(path.join(temp.dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      expect(audit.at(-1)).toMatchObject({ action: 'recover', outcome: 'success', counts: { removed: 1, busy: 0 } })

      const nothing = await runCli(['recover', '--db', db.url, '--dir', temp.dir])
      expect(nothing.code).toBe(0)
      expect(nothing.stdout).toMatch(/Nothing to recover/)
    } finally {
      await live.end().catch(() => undefined)
      await connection.end()
    }
  })
})

describe('staging tables are not data', () => {
  it('a backup of a MariaDB database leaves staging tables out', async () => {
    const connection = await mysql.createConnection({ uri: db.url })
    try {
      await connection.query('CREATE TABLE IF NOT EXISTS keep (id INT PRIMARY KEY)')
      await connection.query('CREATE TABLE `_mb_stage_dead0009_keep` (id INT PRIMARY KEY)')
      await connection.query('INSERT INTO `_mb_stage_dead0009_keep` VALUES (1)')
      const { backup } = await import('../../../src/engine/backup.js')
      const { file } = await backup({ db: db.url, out: path.join(temp.dir, 'staging-left-out.json') })
      const document = JSON.parse(fs.readFileSync(file, 'utf8')) as { metadata: { tables: string[] } }
      expect(document.metadata.tables).toEqual(['keep'])
    } finally {
      await connection.query('DROP TABLE IF EXISTS `_mb_stage_dead0009_keep`')
      await connection.end()
    }
  })
})

describe('recover elsewhere', () => {
  it('finds nothing on SQLite (its DDL is transactional)', async () => {
    const sqlite = makeSqlitePath()
    try {
      fs.writeFileSync(sqlite.file, '')
      const result = await runCli(['recover', '--db', sqlite.url, '--json'])
      expect(result.code, result.stderr).toBe(0)
      expect(result.json()).toMatchObject({ engine: 'sqlite', found: [], removed: [] })
    } finally {
      sqlite.cleanup()
    }
  })
})
