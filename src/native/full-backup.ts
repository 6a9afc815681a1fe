/**
 * Full backups: the engine's own complete dump (functions, triggers, views, grants, row-level
 * security, partitions — everything a JSON backup does not carry), kept in the same catalog and
 * in the same gzip / encryption containers as smart backups (docs/operations.md §Full backups).
 *
 * Algorithm:
 *   1. Parse the URL; MongoDB has no full backup here (UsageError).
 *   2. Connect once with the project's own driver: a wrong password, a missing database or a
 *      server that is down fail here, with the same errors as every other command, and the
 *      server's version is read (pg_dump must be at least as new as the server).
 *   3. Find the dump program and check its version (native-tools.ts); nothing is written before.
 *   4. Open the backup file (`createBackupFile`: temporary file behind [gzip] → [encrypt] →
 *      SHA-256) and stream the dump into it:
 *        PostgreSQL  pg_dump --format=custom (its own compression off when --gzip is asked)
 *        MariaDB     mariadb-dump --single-transaction --routines --triggers --events --hex-blob
 *        SQLite      the online backup API (better-sqlite3 `.backup()`) into a temporary copy
 *                    beside the output, which is then streamed in and removed
 *   5. Commit when the program exited 0 (fsync, rename, catalog sidecar with kind "full"); on
 *      any failure the temporary file is removed, so nothing that looks like a backup is left.
 */
import fs from 'node:fs/promises'
import fsSync from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Writable } from 'node:stream'
import { parseDatabaseUrl } from '../adapters/registry.js'
import type { ConnectionConfig, Engine } from '../adapters/adapter.js'
import { UsageError } from '../errors.js'
import { createBackupFile, type PendingBackupFile, type RemoteBackupTarget } from '../storage/backup-file.js'
import type { NativeFacts } from '../storage/catalog.js'
import { dataFormatOf, TEMP_PREFIX, TEMP_SUFFIX, type BackupDataFormat } from '../storage/naming.js'
import { VERSION } from '../version.js'
import { MYSQL_DUMP, PG_DUMP, findTool, runTool } from './native-tools.js'
import { mysqlConnectionArgs, postgresToolConnection } from './native-connection.js'

export interface FullBackupOptions {
  /** Database URL (DESIGN.md §2). */
  readonly db: string
  /** A directory (the file is named `<name>-<time>.<pgdump|sql|sqlite>[.gz][.enc]`) or a file with the engine's extension. */
  readonly out: string
  readonly name?: string
  readonly description?: string
  /** gzip the dump (true, or a level 1–9). pg_dump's own compression is then turned off. */
  readonly gzip?: boolean | number
  readonly passphrase?: string
  readonly now?: Date
  readonly signal?: AbortSignal
  /** Stream the dump straight to this remote (an S3Remote) instead of `out`. */
  readonly remote?: RemoteBackupTarget
  /** The backup's temporary file is open (a job's server removes it if the job is cancelled). */
  readonly onFileOpened?: (file: { readonly path: string; readonly temporaryPath: string }) => void
  /** The catalog's `originKind`: 'manual' (default) or 'scheduled' (the scheduler). */
  readonly originKind?: 'manual' | 'scheduled'
}

export interface FullBackupResult {
  readonly kind: 'full'
  readonly file: string
  readonly sizeBytes: number
  readonly sha256: string
  readonly engine: Engine
  readonly database: string
  readonly native: NativeFacts
  readonly durationMs: number
}

/** The data format (file extension) of each engine's full backup. */
export const FULL_FORMAT: Readonly<Record<Exclude<Engine, 'mongodb'>, { format: BackupDataFormat; native: NativeFacts['format'] }>> = {
  postgres: { format: 'pgdump', native: 'pg-custom' },
  mysql: { format: 'sql', native: 'mysql-sql' },
  sqlite: { format: 'sqlite', native: 'sqlite-file' },
}

/** The engine a full backup's data format belongs to. */
export function engineOfFullFormat(format: BackupDataFormat): Engine | undefined {
  for (const [engine, f] of Object.entries(FULL_FORMAT)) if (f.format === format) return engine as Engine
  return undefined
}

/** Throws UsageError for MongoDB, which has no full native backup in mergeback. */
export function checkFullBackupEngine(engine: Engine): asserts engine is Exclude<Engine, 'mongodb'> {
  if (engine === 'mongodb') {
    throw new UsageError(
      'MongoDB has no full native backup in mergeback: make a smart backup (mergeback backup without --full), which carries every document as Extended JSON, and use mongodump for a server-level dump.',
      { code: 'FULL_NOT_SUPPORTED' },
    )
  }
}

/**
 * Makes a full backup (see the module header). Resolves once the file is durable and catalogued.
 * Throws UsageError (MongoDB, a missing or too old dump program, bad options), ConnectionError
 * (the database cannot be reached), DatabaseError (the dump program failed, with its message);
 * in every failure no backup file is left behind.
 */
export async function fullBackup(options: FullBackupOptions): Promise<FullBackupResult> {
  const started = Date.now()
  const config = parseDatabaseUrl(options.db)
  checkFullBackupEngine(config.engine)
  const { format } = FULL_FORMAT[config.engine]
  const target = options.remote ? { remote: options.remote } : targetFor(options.out, format, config.engine)
  const gzip = options.gzip ?? ('file' in target && /\.gz(\.enc)?$/i.test(target.file))
  if ('file' in target && /\.enc$/i.test(target.file) && !options.passphrase) {
    throw new UsageError(`${options.out} ends in .enc but no passphrase is set: set MERGEBACK_PASSPHRASE or pass --passphrase-file.`, { code: 'NO_PASSPHRASE' })
  }
  const name = options.name ?? 'full'
  const metadata = {
    engine: config.engine,
    database: config.database,
    backupName: name,
    description: options.description,
    exportedAt: (options.now ?? new Date()).toISOString(),
    tool: `mergeback ${VERSION}`,
  }
  const open = async (native: NativeFacts) => {
    const pending = await createBackupFile(target, { name, gzip, passphrase: options.passphrase, now: options.now, format, native, originKind: options.originKind })
    options.onFileOpened?.({ path: pending.path, temporaryPath: pending.temporaryPath })
    return pending
  }

  let written: { pending: PendingBackupFile; native: NativeFacts }
  switch (config.engine) {
    case 'postgres':
      written = await dumpPostgres(config, open, Boolean(gzip), options.signal)
      break
    case 'mysql':
      written = await dumpMysql(config, open, options.signal)
      break
    case 'sqlite':
      written = await dumpSqlite(config, open, 'dir' in target ? target.dir : 'file' in target ? path.dirname(path.resolve(target.file)) : os.tmpdir())
      break
  }
  const committed = await commitOrAbort(written.pending, () => written.pending.commit(metadata))
  return {
    kind: 'full',
    file: committed.path,
    sizeBytes: committed.sizeBytes,
    sha256: committed.sha256,
    engine: config.engine,
    database: config.database,
    native: written.native,
    durationMs: Date.now() - started,
  }
}

function targetFor(out: string, format: BackupDataFormat, engine: Engine): { dir: string } | { file: string } {
  const claimed = dataFormatOf(path.basename(out))
  if (claimed === undefined) return { dir: out }
  if (claimed !== format) {
    throw new UsageError(`A full backup of ${engine} is a .${format} file, but --out names a .${claimed} file (${out}): name it ….${format}[.gz][.enc], or give a directory.`, {
      code: 'BAD_OUT',
    })
  }
  return { file: out }
}

async function commitOrAbort<T>(pending: PendingBackupFile, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    await pending.abort()
    throw error
  }
}

type Opener = (native: NativeFacts) => Promise<PendingBackupFile>

async function dumpPostgres(config: ConnectionConfig, open: Opener, gzip: boolean, signal?: AbortSignal) {
  const { openSession } = await import('../adapters/postgres/postgres-connection.js')
  const session = await openSession(config)
  let serverVersion: string
  let serverMajor: number
  try {
    const row = (await session.query<{ v: string; n: string }>('SELECT current_setting(\'server_version\') AS v, current_setting(\'server_version_num\') AS n')).rows[0]!
    serverVersion = row.v.split(' ')[0]!
    serverMajor = Math.floor(Number(row.n) / 10000)
  } finally {
    await session.end().catch(() => undefined)
  }
  const tool = await findTool(PG_DUMP, [serverMajor, 0], `to dump this PostgreSQL ${serverVersion} server (pg_dump refuses servers newer than itself)`)
  const native: NativeFacts = { format: 'pg-custom', tool: `pg_dump ${tool.version}`, serverVersion }
  const pending = await open(native)
  const connection = postgresToolConnection(config)
  await commitOrAbort(pending, () =>
    runTool(tool, {
      // --compress=0 when our gzip follows: compressing twice costs time and gains nothing.
      args: ['--format=custom', '--no-password', ...(gzip ? ['--compress=0'] : []), `--dbname=${connection.url}`],
      env: connection.env,
      stdout: pending.stream as Writable,
      secrets: connection.secrets,
      doing: `dumping database "${config.database}"`,
      signal,
    }),
  )
  return { pending, native }
}

async function dumpMysql(config: ConnectionConfig, open: Opener, signal?: AbortSignal) {
  const { openSession, endSession } = await import('../adapters/mysql/mysql-config.js')
  const session = await openSession(config)
  const serverVersion = session.version
  await endSession(session)
  const tool = await findTool(MYSQL_DUMP)
  const native: NativeFacts = { format: 'mysql-sql', tool: `${tool.name} ${tool.version}`, serverVersion }
  const pending = await open(native)
  const connection = mysqlConnectionArgs(config)
  await commitOrAbort(pending, () =>
    runTool(tool, {
      args: [
        ...connection.args,
        '--single-transaction',
        '--routines',
        '--triggers',
        '--events',
        '--hex-blob',
        '--default-character-set=utf8mb4',
        // The dump names no database (no CREATE DATABASE / USE), so it restores into any database.
        '--',
        config.database,
      ],
      env: connection.env,
      stdout: pending.stream as Writable,
      secrets: connection.secrets,
      doing: `dumping database "${config.database}"`,
      signal,
    }),
  )
  return { pending, native }
}

async function dumpSqlite(config: ConnectionConfig, open: Opener, besideDir: string) {
  const { openReadOnly } = await import('../adapters/sqlite/sqlite-connection.js')
  const db = openReadOnly(config.url, config.connectTimeoutMs ?? 5000)
  // The copy goes beside the output (same disk as the backup it becomes), named as a temporary
  // file so that list and prune never see it; the OS temp dir when that directory does not exist yet.
  const dir = await fs
    .stat(besideDir)
    .then((s) => (s.isDirectory() ? besideDir : os.tmpdir()))
    .catch(() => os.tmpdir())
  const copy = path.join(dir, `${TEMP_PREFIX}sqlite-${process.pid}-${Date.now()}${TEMP_SUFFIX}`)
  let native: NativeFacts
  try {
    const version = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v
    native = { format: 'sqlite-file', tool: `SQLite ${version} online backup` }
    // The online backup API copies a consistent snapshot page by page while writers go on.
    await db.backup(copy)
  } catch (error) {
    db.close()
    await fs.rm(copy, { force: true })
    throw error
  }
  db.close()
  try {
    const pending = await open(native)
    await commitOrAbort(pending, () => pipeline(fsSync.createReadStream(copy, { highWaterMark: 1024 * 1024 }), pending.stream as Writable, { end: false }))
    return { pending, native }
  } finally {
    await fs.rm(copy, { force: true })
  }
}
