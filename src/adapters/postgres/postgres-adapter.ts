/**
 * The PostgreSQL adapter (DESIGN.md §2, docs/adapters.md §PostgreSQL): `postgres://` and
 * `postgresql://` URLs, through `pg` and `pg-copy-streams`.
 *
 * - Source (postgres-source.ts): one REPEATABLE READ READ ONLY snapshot; tables streamed with
 *   COPY … TO STDOUT in primary-key order, pull-based.
 * - Destination (postgres-destination.ts): one transaction, DDL included; COPY FROM STDIN,
 *   straight into empty tables or through a staging table with skip-existing semantics.
 * - Staged restore (postgres-staged-restore.ts): a restore into new tables on several sessions,
 *   built in a staging schema and moved into place in one transaction; `recover` removes the
 *   staging schemas of runs that died.
 * - Values (postgres-values.ts) cross in wire encoding, converted from and to PostgreSQL's own
 *   text forms in a session pinned to UTC / ISO / exact floats (postgres-connection.ts).
 *
 * @module
 */
import type { Adapter, ConnectionConfig, Destination, DestinationOptions, RecoverReport, Source, SourceOptions, StagedRestore } from '../adapter.js'
import { openSession } from './postgres-connection.js'
import { PostgresDestination } from './postgres-destination.js'
import { PostgresStagedRestore, removeLeftovers } from './postgres-staged-restore.js'
import { POSTGRES_CAPABILITIES, PostgresSource } from './postgres-source.js'

/** The adapter `loadAdapter('postgres')` returns. Both open methods throw ConnectionError within `connectTimeoutMs`. */
export const postgresAdapter: Adapter = Object.freeze({
  engine: 'postgres' as const,
  capabilities: POSTGRES_CAPABILITIES,
  openSource(config: ConnectionConfig, options?: SourceOptions): Promise<Source> {
    return PostgresSource.open(config, options)
  },
  openDestination(config: ConnectionConfig, options?: DestinationOptions): Promise<Destination> {
    return PostgresDestination.open(config, options)
  },
  openStagedRestore(config: ConnectionConfig, options: { readonly jobs: number }): Promise<StagedRestore> {
    return PostgresStagedRestore.open(config, options.jobs)
  },
  async recover(config: ConnectionConfig, options: { readonly dryRun: boolean; readonly waitSeconds?: number }): Promise<RecoverReport> {
    const client = await openSession(config)
    try {
      return await removeLeftovers(client, options)
    } finally {
      await client.end().catch(() => {})
    }
  },
})
