/**
 * A write session that gets killed: run by test/integration/adapters/mongodb.test.ts in a child
 * process (`node --import tsx mongodb-crash-writer.ts`), which SIGKILLs it once it prints "ready".
 *
 * Arguments: <database URL> <write mode: journal|transaction> <plan JSON>. The plan is
 * `{ schema: DatabaseSchema, drop: boolean, writes: { table, rows }[], updates: { table, rows }[], openOnly?: boolean }`:
 * the session prepares a restore of `schema`, writes and updates the rows, prints "ready" and
 * waits to be killed without committing or rolling back. With `openOnly` it prints "ready" right
 * after opening (it then holds the journal's lock while the parent tries to open another session).
 */
import type { DatabaseSchema, Row } from '../../../src/adapters/adapter.js'
import { createMongodbAdapter } from '../../../src/adapters/mongodb/mongodb-adapter.js'
import type { WriteMode } from '../../../src/adapters/mongodb/mongodb-destination.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'

interface CrashPlan {
  readonly schema: DatabaseSchema
  readonly drop: boolean
  readonly writes: readonly { readonly table: string; readonly rows: Row[] }[]
  readonly updates: readonly { readonly table: string; readonly rows: Row[] }[]
  readonly openOnly?: boolean
}

async function* once(rows: Row[]): AsyncGenerator<Row[]> {
  yield rows
}

const [url, mode, planText] = process.argv.slice(2)
const plan = JSON.parse(planText) as CrashPlan
const destination = await createMongodbAdapter({ writeMode: mode as WriteMode }).openDestination(parseDatabaseUrl(url))
if (!plan.openOnly) {
  await destination.prepare(plan.schema, { mode: 'restore', drop: plan.drop })
  for (const { table, rows } of plan.writes) {
    const schema = plan.schema.tables.find((t) => t.name === table)!
    await destination.writeRows(schema, once(rows))
  }
  for (const { table, rows } of plan.updates) await destination.updateRows(table, ['_id'], rows)
}
process.stdout.write('ready\n')
// Keep the process (and, in transaction mode, its open transaction) alive until the parent kills it.
setInterval(() => undefined, 60_000)
