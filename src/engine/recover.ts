/**
 * `recover`: removes what a write killed with -9 may have left in a database (issue #13
 * finding 2). On MySQL/MariaDB that is the staging tables of a restore killed before its swap
 * (adapters/mysql/mysql-staging.ts); PostgreSQL and SQLite undo everything themselves (their DDL
 * is transactional: the server, or SQLite's journal on the next open, rolls the write back);
 * MongoDB's undo journal is completed by any session that opens the database, which this one does.
 */
import type { RecoverReport } from '../adapters/adapter.js'
import { loadAdapter, parseDatabaseUrl } from '../adapters/registry.js'

export interface RecoverOptions {
  readonly db: string
  readonly schema?: string
  /** Only list what would be removed. */
  readonly dryRun?: boolean
  /** How long to wait for a run that still holds its lock (it may be dying): default 10 s. */
  readonly waitSeconds?: number
}

export interface RecoverResult extends RecoverReport {
  readonly engine: string
  readonly database: string
}

export async function recover(options: RecoverOptions): Promise<RecoverResult> {
  const config = parseDatabaseUrl(options.db, { schema: options.schema })
  const adapter = await loadAdapter(config.engine)
  const where = { engine: config.engine, database: config.database }
  if (adapter.recover) return { ...where, ...(await adapter.recover(config, { dryRun: options.dryRun ?? false, waitSeconds: options.waitSeconds ?? 10 })) }
  // Nothing of ours can be left; opening a session completes any engine-side recovery.
  const source = await adapter.openSource(config)
  await source.close()
  return { ...where, found: [], removed: [], busy: [] }
}
