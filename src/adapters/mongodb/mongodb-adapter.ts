/**
 * The MongoDB adapter (`mongodb://…/db` and `mongodb+srv://…/db` URLs), built on the official
 * driver and `bson`'s types. docs/mongodb.md is the user's guide; in short:
 *
 * - Values (mongodb-values.ts): a row is the document in canonical Extended JSON, exact for every
 *   BSON type. Relaxed Extended JSON and plain JSON (files of other tools) are read too.
 * - Schema (mongodb-introspector.ts, mongodb-indexes.ts): one pseudo-column `_id`, primary key
 *   `_id`; indexes with all their options; collection options and view definitions in
 *   `TableSchema.options`. System collections are left out.
 * - Source (mongodb-source.ts): collections streamed in `_id` order; a snapshot session on replica
 *   sets and sharded clusters ≥ 5.0, so `consistentSnapshot` is true only on the source object of
 *   such a session (the adapter-level flag is the guarantee for every server: false).
 * - Destination (mongodb-destination.ts): all or nothing by a multi-document transaction where
 *   the server has them, else by the undo journal (mongodb-journal.ts), which also undoes the
 *   collections, views and indexes a restore creates, and survives a crash: the next session
 *   against the database completes the rollback first. The destination object's `capabilities`
 *   and `atomicity` say which one a session got.
 *
 * MERGEBACK_MONGODB_WRITE_MODE picks the write mode: `auto` (default), `transaction` (refuse a
 * server without transactions), `journal` (use the undo journal even on a replica set, e.g. for a
 * restore that would outlive the server's 60 s transaction limit).
 */
import type { Adapter, Capabilities, ConnectionConfig, Destination, Source } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { MongodbDestination, type WriteMode } from './mongodb-destination.js'
import { processOwner, type JournalOwner } from './mongodb-journal.js'
import { MongodbSource } from './mongodb-source.js'

/** What every MongoDB server guarantees. A session's own `capabilities` may promise more. */
const capabilities: Capabilities = {
  consistentSnapshot: false,
  transactionalWrite: false,
  transactionalDdl: false,
  bulkLoad: 'insert-many',
}

const WRITE_MODES: readonly WriteMode[] = ['auto', 'transaction', 'journal']

/** The write mode from MERGEBACK_MONGODB_WRITE_MODE (default `auto`); UsageError for anything else. */
export function writeModeFromEnv(env: NodeJS.ProcessEnv = process.env): WriteMode {
  const value = (env.MERGEBACK_MONGODB_WRITE_MODE ?? 'auto').trim().toLowerCase() || 'auto'
  if (!WRITE_MODES.includes(value as WriteMode)) {
    throw new UsageError(`MERGEBACK_MONGODB_WRITE_MODE must be auto, transaction or journal, not ${JSON.stringify(env.MERGEBACK_MONGODB_WRITE_MODE)}.`, {
      code: 'BAD_CONFIG',
    })
  }
  return value as WriteMode
}

function checkEngine(config: ConnectionConfig): void {
  if (config.engine !== 'mongodb') {
    throw new UsageError(`The MongoDB adapter was given a ${config.engine} URL (${config.redacted}).`, { code: 'BAD_URL' })
  }
}

/**
 * A MongoDB adapter. `writeMode` defaults to MERGEBACK_MONGODB_WRITE_MODE (read at each open);
 * `owner` (who holds the undo journal's lock, and how to tell whether another holder is alive)
 * defaults to this process. Tests pass both.
 */
export function createMongodbAdapter(options: { readonly writeMode?: WriteMode; readonly owner?: () => JournalOwner } = {}): Adapter {
  const owner = options.owner ?? processOwner
  return {
    engine: 'mongodb',
    capabilities,
    async openSource(config: ConnectionConfig): Promise<Source> {
      checkEngine(config)
      return MongodbSource.open(config, owner())
    },
    async openDestination(config: ConnectionConfig): Promise<Destination> {
      checkEngine(config)
      return MongodbDestination.open(config, { owner: owner(), writeMode: options.writeMode ?? writeModeFromEnv() })
    },
  }
}

/** The MongoDB adapter. Loaded lazily by `loadAdapter('mongodb')`. */
export const mongodbAdapter: Adapter = createMongodbAdapter()
