/**
 * The SQLite adapter (adapter.ts): a database is one file, `config.url` is its path (the
 * registry strips `sqlite:` / `file:`). Reads take one snapshot (sqlite-source.ts); writes are
 * one `BEGIN IMMEDIATE` transaction, DDL included, that a failure undoes completely — a file the
 * restore created is removed again (sqlite-destination.ts). Value encoding and the rules for
 * SQLite's dynamic typing are in sqlite-values.ts; docs/adapters.md explains them for users.
 */
import type { Adapter, ConnectionConfig, Destination, DestinationOptions, Source, SourceOptions } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { SQLITE_CAPABILITIES } from './sqlite-connection.js'
import { SqliteDestination } from './sqlite-destination.js'
import { SqliteSource } from './sqlite-source.js'

function checkConfig(config: ConnectionConfig): void {
  if (config.engine !== 'sqlite') throw new UsageError(`The SQLite adapter cannot open a ${config.engine} database (${config.redacted}).`)
  if (!config.url) throw new UsageError(`SQLite URL ${config.redacted} names no file: use sqlite:path/to/file.db`, { code: 'BAD_URL' })
}

/** SQLite through better-sqlite3. Registered in registry.ts `loadAdapter`. */
export const sqliteAdapter: Adapter = {
  engine: 'sqlite',
  capabilities: SQLITE_CAPABILITIES,
  async openSource(config: ConnectionConfig, options?: SourceOptions): Promise<Source> {
    checkConfig(config)
    // `--jobs 2` or more: the record lines on a second thread in the same snapshot. Not the default:
    // it cost 17-30 MB of peak RSS, over the 150 MB line at scale 5 (docs/performance.md §Round ten:
    // SQLite backup on two threads).
    if (options?.sessions !== undefined && options.sessions >= 2) return SqliteSource.openWithReader(config)
    return SqliteSource.open(config)
  },
  async openDestination(config: ConnectionConfig, options?: DestinationOptions): Promise<Destination> {
    checkConfig(config)
    return SqliteDestination.open(config, options)
  },
}
