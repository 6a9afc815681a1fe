/**
 * The PostgreSQL adapter (DESIGN.md §2, docs/adapters.md §PostgreSQL): `postgres://` and
 * `postgresql://` URLs, through `pg` and `pg-copy-streams`.
 *
 * - Source (postgres-source.ts): one REPEATABLE READ READ ONLY snapshot; tables streamed with
 *   COPY … TO STDOUT in primary-key order, pull-based.
 * - Destination (postgres-destination.ts): one transaction, DDL included; COPY FROM STDIN,
 *   straight into empty tables or through a staging table with skip-existing semantics.
 * - Values (postgres-values.ts) cross in wire encoding, converted from and to PostgreSQL's own
 *   text forms in a session pinned to UTC / ISO / exact floats (postgres-connection.ts).
 *
 * @module
 */
import type { Adapter, ConnectionConfig, Destination, DestinationOptions, Source } from '../adapter.js'
import { PostgresDestination } from './postgres-destination.js'
import { POSTGRES_CAPABILITIES, PostgresSource } from './postgres-source.js'

/** The adapter `loadAdapter('postgres')` returns. Both open methods throw ConnectionError within `connectTimeoutMs`. */
export const postgresAdapter: Adapter = Object.freeze({
  engine: 'postgres' as const,
  capabilities: POSTGRES_CAPABILITIES,
  openSource(config: ConnectionConfig): Promise<Source> {
    return PostgresSource.open(config)
  },
  openDestination(config: ConnectionConfig, options?: DestinationOptions): Promise<Destination> {
    return PostgresDestination.open(config, options)
  },
})
