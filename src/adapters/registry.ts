/**
 * `--db URL` → engine, redacted URL and adapter (DESIGN.md §2).
 *
 * Adapters are loaded lazily so that a SQLite-only user never loads `pg`, `mysql2` or `mongodb`.
 */
import path from 'node:path'
import type { Adapter, ConnectionConfig, Engine } from './adapter.js'
import { UsageError } from '../errors.js'

const SQLITE_SUFFIXES = ['.db', '.sqlite', '.sqlite3']

/** Replaces the password of a URL with `***`. Safe on anything (returns non-URLs unchanged). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):([^@/?#]*)@/i, '$1:***@')
}

/** Parses a database URL. Throws UsageError (exit 2) for anything it does not recognise. */
export function parseDatabaseUrl(url: string, options: { schema?: string; connectTimeoutMs?: number } = {}): ConnectionConfig {
  if (!url) throw new UsageError('No database given: pass --db URL or set DATABASE_URL.', { code: 'NO_DATABASE' })
  const redacted = redactUrl(url)
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()

  if (scheme === 'sqlite' || scheme === 'file' || (!scheme && SQLITE_SUFFIXES.some((s) => url.toLowerCase().endsWith(s)))) {
    let file = scheme ? url.slice(scheme.length + 1) : url
    if (file.startsWith('//')) file = file.slice(2)
    if (!file) throw new UsageError(`SQLite URL ${redacted} names no file: use sqlite:path/to/file.db`, { code: 'BAD_URL' })
    return { engine: 'sqlite', url: file, redacted, database: path.basename(file), connectTimeoutMs }
  }

  const engines: Record<string, Engine> = {
    postgres: 'postgres',
    postgresql: 'postgres',
    mysql: 'mysql',
    mariadb: 'mysql',
    mongodb: 'mongodb',
    'mongodb+srv': 'mongodb',
  }
  const engine = scheme ? engines[scheme] : undefined
  if (!engine) {
    throw new UsageError(
      `Unknown database URL ${redacted}: expected postgres://, postgresql://, mysql://, mariadb://, mongodb://, mongodb+srv://, sqlite:, file: or a path ending in .db/.sqlite/.sqlite3.`,
      { code: 'BAD_URL' },
    )
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    throw new UsageError(`Malformed database URL ${redacted}.`, { code: 'BAD_URL', cause })
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''))
  if (!database) throw new UsageError(`Database URL ${redacted} names no database: add /dbname to it.`, { code: 'BAD_URL' })
  const schema = engine === 'postgres' ? (options.schema ?? parsed.searchParams.get('schema') ?? 'public') : undefined
  return { engine, url, redacted, database, schema, connectTimeoutMs }
}

/** Loads the adapter for an engine. */
export async function loadAdapter(engine: Engine): Promise<Adapter> {
  switch (engine) {
    case 'postgres':
      return (await import('./postgres/postgres-adapter.js')).postgresAdapter
    case 'mysql':
      return (await import('./mysql/mysql-adapter.js')).mysqlAdapter
    case 'sqlite':
      return (await import('./sqlite/sqlite-adapter.js')).sqliteAdapter
    case 'mongodb':
      return (await import('./mongodb/mongodb-adapter.js')).mongodbAdapter
  }
}
