/**
 * kill -9 during restores and merges into PostgreSQL (issue #13 finding 2): see kill9-harness.ts.
 * PostgreSQL's DDL is transactional, so nothing is staged: the tables a restore creates are
 * created in its one transaction, which the server rolls back when the killed client's
 * connection closes. These tests prove it rather than assume it.
 */
import pg from 'pg'
import { createPostgresDatabase } from '../../helpers/databases.js'
import { describeKill9, type Kill9Rig } from './kill9-harness.js'

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

const rig: Kill9Rig = {
  engine: 'postgres',
  async create() {
    const db = await createPostgresDatabase('seccrash_k9')
    return { url: db.url, drop: () => db.drop() }
  },
  exec: (url, statements) =>
    withClient(url, async (client) => {
      for (const sql of statements) await client.query(sql)
    }),
  snapshot: (url) =>
    withClient(url, async (client) => {
      const tables = await client.query<{ name: string }>(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name COLLATE \"C\"",
      )
      const names = tables.rows.map((t) => t.name)
      const rows: Record<string, string[]> = {}
      for (const name of names) {
        const result = await client.query({ text: `SELECT * FROM "${name.replace(/"/g, '""')}"`, rowMode: 'array' })
        rows[name] = result.rows.map((r) => JSON.stringify(r)).sort()
      }
      return { tables: names, rows }
    }),
}

describeKill9('PostgreSQL', rig)
