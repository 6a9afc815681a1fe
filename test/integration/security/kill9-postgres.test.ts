/**
 * kill -9 during restores and merges into PostgreSQL (issue #13 finding 2): see kill9-harness.ts.
 * A restore into an empty database is staged (postgres-staged-restore.ts): its tables are built
 * in a schema `_mb_stage_<run id>` on several sessions and moved into place by one transaction,
 * so a kill before that transaction's COMMIT leaves the staging schema, which recover or the next
 * run removes. `--drop` into existing tables and the merge run in one transaction, which the
 * server rolls back when the killed client's connection closes. These tests prove it rather
 * than assume it.
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
      // A restore into new tables stages them in a schema of their own (postgres-staged-restore.ts).
      const staged = await client.query<{ name: string }>(
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_schema LIKE '\\_mb\\_stage\\_%' AND table_type = 'BASE TABLE' ORDER BY 1",
      )
      const names = [...tables.rows.map((t) => t.name), ...staged.rows.map((t) => t.name)]
      const rows: Record<string, string[]> = {}
      for (const name of tables.rows.map((t) => t.name)) {
        const result = await client.query({ text: `SELECT * FROM "${name.replace(/"/g, '""')}"`, rowMode: 'array' })
        rows[name] = result.rows.map((r) => JSON.stringify(r)).sort()
      }
      return { tables: names, rows }
    }),
}

describeKill9('PostgreSQL', rig)
