/**
 * kill -9 during restores and merges into MariaDB (issue #13 finding 2): see kill9-harness.ts.
 * Tables a restore creates are made under staging names and swapped in by one RENAME TABLE, so a
 * kill leaves the database as it was (plus staging tables, which recover or the next run remove)
 * or as an uninterrupted run leaves it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import mysql from 'mysql2/promise'
import { createMysqlDatabase, makeTempDir } from '../../helpers/databases.js'
import { FULL, makeBackup, runScenario, type Kill9Rig } from './kill9-harness.js'

const rig: Kill9Rig = {
  engine: 'mysql',
  async create() {
    const db = await createMysqlDatabase('seccrash_k9')
    return { url: db.url, drop: () => db.drop() }
  },
  async exec(url, statements) {
    const connection = await mysql.createConnection({ uri: url })
    try {
      for (const sql of statements) await connection.query(sql)
    } finally {
      await connection.end()
    }
  },
  async snapshot(url) {
    const connection = await mysql.createConnection({ uri: url })
    try {
      const [tables] = await connection.query<mysql.RowDataPacket[]>('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME')
      const names = tables.map((t) => String(t.name))
      const rows: Record<string, string[]> = {}
      for (const name of names) {
        const [result] = await connection.query<mysql.RowDataPacket[][]>({ sql: `SELECT * FROM \`${name.replace(/`/g, '``')}\``, rowsAsArray: true })
        rows[name] = result.map((r) => JSON.stringify(r)).sort()
      }
      return { tables: names, rows }
    } finally {
      await connection.end()
    }
  },
}

const temp = makeTempDir('mergeback-kill9-mysql-source-')
let source: Awaited<ReturnType<typeof makeBackup>>
beforeAll(async () => {
  source = await makeBackup(rig, temp.dir)
})
afterAll(async () => {
  await source?.drop()
  temp.cleanup()
})

describe(`MariaDB: kill -9 at ${FULL ? 10 : 4} points leaves the state before or after`, () => {
  for (const scenario of ['restore-empty', 'restore-drop', 'merge'] as const) {
    it(scenario, async () => {
      const report = await runScenario(rig, scenario, source.file)
      console.log(`mysql ${scenario}: ${report.statements} statements, commit at ${report.commitAt}; ${report.outcomes.join('; ')}`)
      if (scenario !== 'merge') expect(report.outcomes.some((o) => /before \+ \d+ staging/.test(o)), report.outcomes.join('; ')).toBe(true)
    }, 300_000)
  }
})
