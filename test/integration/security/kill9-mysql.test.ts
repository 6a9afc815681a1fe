/**
 * kill -9 during restores and merges into MariaDB (issue #13 finding 2): see kill9-harness.ts.
 * Tables a restore creates are made under staging names and swapped in by one RENAME TABLE, so a
 * kill leaves the database as it was (plus staging tables, which recover or the next run remove)
 * or as an uninterrupted run leaves it.
 */
import { expect } from 'vitest'
import mysql from 'mysql2/promise'
import { createMysqlDatabase } from '../../helpers/databases.js'
import { describeKill9, type Kill9Rig } from './kill9-harness.js'

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

describeKill9('MariaDB', rig, (scenario, report) => {
  if (scenario !== 'merge') expect(report.outcomes.some((o) => /before \+ \d+ staging/.test(o)), report.outcomes.join('; ')).toBe(true)
})
