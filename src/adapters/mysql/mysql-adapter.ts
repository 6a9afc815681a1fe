/**
 * The MySQL/MariaDB adapter (`mysql://` and `mariadb://` URLs), built on mysql2.
 *
 * - Source (mysql-source.ts): one connection, `START TRANSACTION WITH CONSISTENT SNAPSHOT`,
 *   tables streamed in primary-key order with back-pressure; an increment's row digests on a
 *   second session of the same snapshot, started under a table lock.
 * - Destination (mysql-destination.ts): one transaction with foreign key checks off during the
 *   load and verified before commit; tables it had to create are dropped again on rollback,
 *   because MySQL commits DDL implicitly (hence `transactionalDdl: false`).
 * - Values (mysql-values.ts) and schema (mysql-introspector.ts) are documented in
 *   docs/adapters-mysql.md.
 */
import type { Adapter, Capabilities, ConnectionConfig, Destination, DestinationOptions, RecoverReport, Source, SourceOptions } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { endSession, openSession, toStatementError } from './mysql-config.js'
import { MysqlDestination } from './mysql-destination.js'
import { findStagingTables, removeLeftovers } from './mysql-staging.js'
import { MysqlSource } from './mysql-source.js'

/**
 * bulkLoad 'load-data': rows stream through LOAD DATA LOCAL INFILE, measured faster than
 * multi-row INSERT (docs/adapters-mysql.md); the destination falls back to INSERT statements when
 * the server has local_infile off or the URL says local-infile=0.
 */
const capabilities: Capabilities = {
  consistentSnapshot: true,
  transactionalWrite: true,
  transactionalDdl: false,
  stagesNewTables: true,
  bulkLoad: 'load-data',
}

function checkEngine(config: ConnectionConfig): void {
  if (config.engine !== 'mysql') {
    throw new UsageError(`The MySQL adapter was given a ${config.engine} URL (${config.redacted}).`, { code: 'BAD_URL' })
  }
}

/** The MySQL/MariaDB adapter. Loaded lazily by `loadAdapter('mysql')`. */
export const mysqlAdapter: Adapter = {
  engine: 'mysql',
  capabilities,
  /** An increment's source reads its row digests on two sessions of one snapshot unless `sessions` is 1 (mysql-source.ts). */
  async openSource(config: ConnectionConfig, options?: SourceOptions): Promise<Source> {
    checkEngine(config)
    return MysqlSource.open(config, capabilities, { sessions: options?.sessions ?? (options?.incremental === true ? 2 : 1) })
  },
  async openDestination(config: ConnectionConfig, options?: DestinationOptions): Promise<Destination> {
    checkEngine(config)
    return MysqlDestination.open(config, capabilities, options)
  },
  /** Staging tables of restores killed before their swap (mysql-staging.ts). */
  async recover(config: ConnectionConfig, options: { readonly dryRun: boolean; readonly waitSeconds?: number }): Promise<RecoverReport> {
    checkEngine(config)
    const session = await openSession(config)
    try {
      const found = [...(await findStagingTables(session.connection)).values()].flat()
      if (options.dryRun || found.length === 0) return { found, removed: [], busy: [] }
      await session.connection.query('SET SESSION foreign_key_checks = 0')
      const { removed, busy } = await removeLeftovers(session.connection, { waitSeconds: options.waitSeconds })
      return { found, removed, busy }
    } catch (error) {
      throw toStatementError(error, { action: 'removing staging tables' })
    } finally {
      await endSession(session)
    }
  },
}
