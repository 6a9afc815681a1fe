/**
 * The server's configuration: where it listens, the backup and state directories, limits, and
 * the databases it may touch (docs/api.md §Starting the server, §Databases the server may touch).
 *
 * Databases come from the configuration only: `--db` (alias `default`) and the `databases` of a
 * config file, whose values may be `env:NAME`. A request names an alias, or — as the seeds'
 * `targetDatabase` — a database name on the same server as the default database. A client never
 * sends a URL, so the server never connects to a host a client chose.
 */
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { parseDatabaseUrl, redactUrl } from '../adapters/registry.js'
import type { Engine } from '../adapters/adapter.js'
import { UsageError } from '../errors.js'
import type { ReaderLimits } from '../format/reader.js'

export const GiB = 1024 ** 3

export interface DatabaseConfig {
  readonly alias: string
  readonly url: string
  readonly engine: Engine
  /** The URL with its password replaced by `***`: the only form that is shown or logged. */
  readonly redacted: string
}

export interface ServerConfig {
  readonly host: string
  readonly port: number
  /** Absolute backup directory. */
  readonly dir: string
  /** Absolute state directory (tokens), outside `dir`. */
  readonly stateDir: string
  /** Alias → database; the default one is `defaultDatabase`. */
  readonly databases: ReadonlyMap<string, DatabaseConfig>
  readonly defaultDatabase: string | undefined
  readonly maxUploadBytes: number
  readonly maxDecompressedBytes: number
  /** The reader's limits for every file a job reads (docs/security.md §Limits); unset ones from the environment, else the defaults. */
  readonly limits: Partial<ReaderLimits>
  readonly shutdownTimeoutMs: number
  /** The built admin page (Vite output). */
  readonly webDir: string
  /** Passphrase of encrypted backups (MERGEBACK_PASSPHRASE / --passphrase-file), handed to jobs. */
  readonly passphrase?: string
}

const configFileSchema = z.object({
  databases: z.record(z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$/, 'aliases are letters, digits, _ and -'), z.string().min(1)).optional(),
  default: z.string().optional(),
})

/** `env:NAME` → the environment variable's value (UsageError when unset); anything else as is. */
export function resolveEnvReference(value: string, where: string): string {
  if (!value.startsWith('env:')) return value
  const name = value.slice(4)
  const resolved = process.env[name]
  if (!resolved) throw new UsageError(`${where} refers to the environment variable ${name}, which is not set.`, { code: 'BAD_CONFIG' })
  return resolved
}

function databaseConfig(alias: string, url: string): DatabaseConfig {
  const parsed = parseDatabaseUrl(url)
  return { alias, url, engine: parsed.engine, redacted: redactUrl(url) }
}

/** Reads the `databases` of a config file (JSON). Throws UsageError naming the file for anything wrong. */
export function readConfigFile(file: string): { databases: Map<string, DatabaseConfig>; default?: string } {
  let raw: unknown
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (cause) {
    throw new UsageError(`Cannot read the config file ${file}: ${(cause as Error).message}.`, { code: 'BAD_CONFIG', cause })
  }
  const parsed = configFileSchema.safeParse(raw)
  if (!parsed.success) {
    throw new UsageError(`The config file ${file} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`, {
      code: 'BAD_CONFIG',
    })
  }
  const databases = new Map<string, DatabaseConfig>()
  for (const [alias, value] of Object.entries(parsed.data.databases ?? {})) {
    databases.set(alias, databaseConfig(alias, resolveEnvReference(value, `${file}: databases.${alias}`)))
  }
  return { databases, default: parsed.data.default }
}

/** The default state directory: `.mergeback` beside the backup directory (never inside it). */
export function defaultStateDir(dir: string): string {
  return path.join(path.dirname(path.resolve(dir)), '.mergeback')
}

/** The state directory from a flag, MERGEBACK_STATE_DIR, or beside the backup directory. Refuses one inside the backup directory. */
export function stateDirFrom(flag: string | undefined, dir: string): string {
  const stateDir = path.resolve(flag ?? process.env.MERGEBACK_STATE_DIR ?? defaultStateDir(dir))
  const relative = path.relative(path.resolve(dir), stateDir)
  if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) {
    throw new UsageError(`The state directory ${stateDir} is inside the backup directory ${path.resolve(dir)}: choose one outside it (--state DIR).`, {
      code: 'BAD_CONFIG',
    })
  }
  return stateDir
}

export interface ServerConfigInput {
  readonly host?: string
  readonly port?: number
  readonly db?: string
  readonly dir: string
  readonly config?: string
  readonly state?: string
  readonly maxUploadBytes?: number
  readonly maxDecompressedBytes?: number
  readonly limits?: Partial<ReaderLimits>
  readonly shutdownTimeoutMs?: number
  readonly webDir: string
  readonly passphrase?: string
}

/** Builds the configuration; throws UsageError for an unreadable config file, a bad URL or a state directory inside `dir`. */
export function buildServerConfig(input: ServerConfigInput): ServerConfig {
  const databases = new Map<string, DatabaseConfig>()
  let defaultDatabase: string | undefined
  if (input.db) {
    databases.set('default', databaseConfig('default', input.db))
    defaultDatabase = 'default'
  }
  if (input.config) {
    const file = readConfigFile(input.config)
    for (const [alias, db] of file.databases) {
      if (databases.has(alias)) throw new UsageError(`The config file ${input.config} defines "${alias}", which --db already is.`, { code: 'BAD_CONFIG' })
      databases.set(alias, db)
    }
    if (!defaultDatabase) defaultDatabase = file.default ?? file.databases.keys().next().value
    if (defaultDatabase && !databases.has(defaultDatabase)) {
      throw new UsageError(`The config file ${input.config} names default "${defaultDatabase}", which is not one of its databases.`, { code: 'BAD_CONFIG' })
    }
  }
  const maxUploadBytes = input.maxUploadBytes ?? 2 * GiB
  return {
    host: input.host ?? '127.0.0.1',
    port: input.port ?? 8080,
    dir: path.resolve(input.dir),
    stateDir: stateDirFrom(input.state, input.dir),
    databases,
    defaultDatabase,
    maxUploadBytes,
    maxDecompressedBytes: input.maxDecompressedBytes ?? 8 * maxUploadBytes,
    limits: input.limits ?? {},
    shutdownTimeoutMs: input.shutdownTimeoutMs ?? 30_000,
    webDir: path.resolve(input.webDir),
    passphrase: input.passphrase,
  }
}

const DATABASE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_$-]{0,62}$/

/**
 * The database a request means: `alias` (default: the default database), or for `targetDatabase`
 * an alias or a database name on the default database's server. Throws UsageError for anything
 * else — in particular for anything that looks like a URL or a path.
 */
export function resolveDatabase(config: ServerConfig, request: { database?: string; targetDatabase?: string }): DatabaseConfig & { name: string } {
  const alias = request.database ?? config.defaultDatabase
  if (alias === undefined) {
    throw new UsageError('The server has no database configured: start it with --db URL or a config file with "databases".', { code: 'NO_DATABASE' })
  }
  const base = config.databases.get(alias)
  if (!base) {
    throw new UsageError(`Unknown database "${alias}": the configured ones are ${[...config.databases.keys()].join(', ') || 'none'}.`, {
      code: 'UNKNOWN_DATABASE',
      details: { databases: [...config.databases.keys()] },
    })
  }
  const target = request.targetDatabase
  if (target === undefined || target === '') return { ...base, name: alias }
  const named = config.databases.get(target)
  if (named) return { ...named, name: target }
  if (!DATABASE_NAME.test(target)) {
    throw new UsageError(
      `targetDatabase must be a configured alias (${[...config.databases.keys()].join(', ')}) or a database name on the same server (letters, digits, _, $, -); URLs and paths are not accepted.`,
      { code: 'BAD_TARGET_DATABASE' },
    )
  }
  if (base.engine === 'sqlite') {
    throw new UsageError(`targetDatabase "${target}" is not a configured alias, and a SQLite database can only be named by its alias.`, {
      code: 'BAD_TARGET_DATABASE',
    })
  }
  const url = new URL(base.url)
  url.pathname = `/${target}`
  const text = url.toString()
  return { alias: `${alias}/${target}`, url: text, engine: base.engine, redacted: redactUrl(text), name: `${alias}/${target}` }
}
