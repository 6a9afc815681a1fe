/**
 * Restoring and verifying full backups (full-backup.ts writes them).
 *
 * Restore algorithm:
 *   1. What the file is: the catalog sidecar's `native.format`, else the file name's extension.
 *      A full backup of one engine into a database of another is a UsageError before anything
 *      is opened; so are the options a full restore cannot honour (--tables, --exclude, --dry-run).
 *   2. Verify the whole file first (size and SHA-256 against the catalog, every authentication
 *      tag, the gzip CRC, the dump's own start and end markers): a damaged file changes nothing.
 *   3. Connect to the target with the project's driver (clear connection errors), check that it
 *      is empty unless `drop`, find the restore program and check its version.
 *   4. Stream the decoded dump into the engine:
 *        PostgreSQL  pg_restore --single-transaction --exit-on-error (with drop: --clean --if-exists):
 *                    all or nothing — any error rolls the whole restore back.
 *        MariaDB     the mariadb client reading the SQL: NOT all or nothing, MariaDB commits every
 *                    CREATE/DROP on its own. Step 2 rules out a damaged file; a failure of the
 *                    server midway (disk full, a DEFINER user missing) leaves the database partly
 *                    restored, and running the same restore again with --drop finishes it (the
 *                    dump drops and recreates each object it has).
 *        SQLite      the database file is decoded into a temporary file beside the target,
 *                    checked with PRAGMA integrity_check, and renamed over the target: all or
 *                    nothing (no process may hold the target open meanwhile).
 */
import fs from 'node:fs/promises'
import fsSync from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import type { Engine } from '../adapters/adapter.js'
import { parseDatabaseUrl, redactUrl } from '../adapters/registry.js'
import { IntegrityError, UsageError } from '../errors.js'
import { openBackupStream, verifyBackupFile } from '../storage/backup-file.js'
import { FileSink, fsyncDirectory, temporaryPathFor } from '../storage/atomic-file.js'
import { madeHere, readSidecar, type NativeFacts } from '../storage/catalog.js'
import { dataFormatOf } from '../storage/naming.js'
import { engineOfFullFormat, FULL_FORMAT } from './full-backup.js'
import { MYSQL_CLIENT, PG_RESTORE, findTool, parsePostgresToolVersion, runTool } from './native-tools.js'
import { mysqlConnectionArgs, postgresToolConnection } from './native-connection.js'

/** What a full backup file is, from its catalog entry or, without one, its name. Undefined for a smart backup. */
export async function describeFullBackup(file: string): Promise<{ engine: Engine; native?: NativeFacts } | undefined> {
  const sidecar = await readSidecar(file)
  if (sidecar?.native) {
    const engine = (Object.entries(FULL_FORMAT).find(([, f]) => f.native === sidecar.native!.format)?.[0] ?? sidecar.engine) as Engine
    return { engine, native: sidecar.native }
  }
  if (sidecar?.kind === 'smart') return undefined
  const format = dataFormatOf(path.basename(file))
  const engine = format === undefined ? undefined : engineOfFullFormat(format)
  return engine === undefined ? undefined : { engine }
}

/** Whether `file` is a full backup (by catalog or name). */
export async function isFullBackup(file: string): Promise<boolean> {
  return (await describeFullBackup(file)) !== undefined
}

export interface FullRestoreOptions {
  readonly file: string
  readonly db: string
  /** Replace what is there: pg_restore --clean --if-exists; MariaDB: allowed into a non-empty database (the dump drops each object it recreates); SQLite: replace the file. */
  readonly drop?: boolean
  readonly passphrase?: string
  readonly signal?: AbortSignal
  /**
   * Restore a full backup this installation did not make and seal (CLI --trust-full-backup; never
   * offered by the API). Its dump's SQL runs as written, with the rights of the target's user.
   */
  readonly trustForeign?: boolean
}

export interface FullRestoreReport {
  readonly kind: 'full'
  readonly file: string
  readonly target: string
  readonly engine: Engine
  /** The program that restored (pg_restore 15.20, mariadb 10.11.19-MariaDB, SQLite file swap). */
  readonly tool: string
  /** Whether a failure would have rolled everything back (PostgreSQL, SQLite) or not (MariaDB). */
  readonly atomic: boolean
  readonly durationMs: number
}

/** Checks a full restore's options before anything is read. Throws UsageError. */
export function checkFullRestoreOptions(options: { tables?: readonly string[]; exclude?: readonly string[]; dryRun?: boolean }): void {
  const bad = [options.tables ? '--tables' : '', options.exclude ? '--exclude' : '', options.dryRun ? '--dry-run' : ''].filter(Boolean)
  if (bad.length > 0) {
    throw new UsageError(
      `${bad.join(', ')} cannot be used with a full backup: it is restored whole by the engine's own tools. Use a smart backup to restore some tables or to preview.`,
      { code: 'BAD_OPTION' },
    )
  }
}

/** Restores a full backup (see the module header). */
export async function fullRestore(options: FullRestoreOptions): Promise<FullRestoreReport> {
  const started = Date.now()
  const described = await describeFullBackup(options.file)
  if (!described) throw new UsageError(`${options.file} is not a full backup.`, { code: 'NOT_FULL' })
  const config = parseDatabaseUrl(options.db)
  if (config.engine !== described.engine) {
    throw new UsageError(
      `${path.basename(options.file)} is a full backup of a ${described.engine} database; it cannot be restored into ${config.engine} (${config.redacted}). A smart backup (JSON) can move data between engines.`,
      { code: 'ENGINE_MISMATCH', details: { backupEngine: described.engine, targetEngine: config.engine } },
    )
  }
  // Damage first (its message is the more useful), then origin: either way nothing has run.
  await assertVerified(options.file, options.passphrase, described.engine)
  if (!options.trustForeign) await assertMadeHere(options.file)
  const decoded = () => openBackupStream(options.file, { passphrase: options.passphrase }) as Promise<Readable>
  let tool: string
  switch (config.engine) {
    case 'postgres': {
      const { openSession } = await import('../adapters/postgres/postgres-connection.js')
      ;(await openSession(config)).end().catch(() => undefined)
      const dumpedWith = described.native ? parsePostgresToolVersion(described.native.tool.replace(/^pg_dump /, '(PostgreSQL) ')) : undefined
      const restorer = await findTool(PG_RESTORE, dumpedWith ? [dumpedWith.major, 0] : undefined, dumpedWith ? `to read an archive written by pg_dump ${dumpedWith.version}` : undefined)
      const connection = postgresToolConnection(config)
      await runTool(restorer, {
        args: ['--single-transaction', '--exit-on-error', '--no-password', ...(options.drop ? ['--clean', '--if-exists'] : []), `--dbname=${connection.url}`],
        env: connection.env,
        stdin: await decoded(),
        secrets: connection.secrets,
        doing: `restoring into database "${config.database}" (nothing was changed: the restore ran in one transaction)`,
        signal: options.signal,
      })
      tool = `pg_restore ${restorer.version}`
      break
    }
    case 'mysql': {
      const { openSession, endSession } = await import('../adapters/mysql/mysql-config.js')
      const session = await openSession(config)
      try {
        if (!options.drop) {
          const [rows] = await session.connection.query<import('mysql2').RowDataPacket[]>(
            'SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()) + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()) AS n',
          )
          if (Number(rows[0]!.n) > 0) throw notEmpty(config.redacted)
        }
      } finally {
        await endSession(session)
      }
      const client = await findTool(MYSQL_CLIENT)
      const connection = mysqlConnectionArgs(config)
      await runTool(client, {
        args: [...connection.args, '--default-character-set=utf8mb4', '--binary-mode', `--database=${config.database}`],
        env: connection.env,
        stdin: await decoded(),
        secrets: connection.secrets,
        doing: `restoring into database "${config.database}" (MariaDB commits DDL as it goes: the database may be partly restored; run the restore again with --drop)`,
        signal: options.signal,
      })
      tool = `${client.name} ${client.version}`
      break
    }
    case 'sqlite':
      await swapSqliteFile(config.url, decoded, Boolean(options.drop))
      tool = 'SQLite file swap'
      break
    case 'mongodb':
      throw new UsageError('MongoDB has no full native backup in mergeback.', { code: 'FULL_NOT_SUPPORTED' })
  }
  return { kind: 'full', file: options.file, target: redactUrl(options.db), engine: config.engine, tool, atomic: config.engine !== 'mysql', durationMs: Date.now() - started }
}

function notEmpty(where: string): UsageError {
  return new UsageError(`${where} is not empty: a full restore recreates the whole database. Restore into an empty database, or pass --drop to replace what the backup contains.`, {
    code: 'TARGET_NOT_EMPTY',
  })
}

async function swapSqliteFile(target: string, decoded: () => Promise<Readable>, drop: boolean): Promise<void> {
  const Database = (await import('better-sqlite3')).default
  const resolved = path.resolve(target)
  const dir = path.dirname(resolved)
  if (!fsSync.existsSync(dir)) throw new UsageError(`Cannot restore into ${target}: directory ${dir} does not exist.`, { code: 'NO_DIRECTORY' })
  const exists = fsSync.existsSync(resolved)
  if (exists) {
    const current = new Database(resolved, { fileMustExist: true })
    try {
      const objects = (current.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").get() as { n: number }).n
      if (objects > 0 && !drop) throw notEmpty(target)
      // Fold a write-ahead log into the file, so that no WAL of the old database outlives it
      // and is replayed into the new one.
      current.pragma('wal_checkpoint(TRUNCATE)')
    } finally {
      current.close()
    }
  }
  const temp = temporaryPathFor(resolved)
  try {
    const handle = await fs.open(temp, 'wx', 0o600)
    try {
      await pipeline(await decoded(), new FileSink(handle))
      await handle.sync()
    } finally {
      await handle.close()
    }
    const check = new Database(temp, { readonly: true, fileMustExist: true })
    try {
      const result = check.pragma('integrity_check', { simple: true })
      if (result !== 'ok') throw new IntegrityError(`The SQLite database in the backup fails PRAGMA integrity_check: ${String(result)}`, 'checksum')
    } finally {
      check.close()
      // A database in WAL mode gets an (empty) -wal and -shm even when opened to read.
      await removeSqliteSidecars(temp)
    }
    await fs.rename(temp, resolved)
    await removeSqliteSidecars(resolved)
    await fsyncDirectory(dir)
  } catch (error) {
    await fs.rm(temp, { force: true })
    await removeSqliteSidecars(temp)
    throw error
  }
}

async function removeSqliteSidecars(file: string): Promise<void> {
  for (const extra of [`${file}-wal`, `${file}-shm`, `${file}-journal`]) await fs.rm(extra, { force: true })
}

/** Content markers: what the decoded dump must start (and, for SQL text, end) with. */
const CONTENT: Record<Exclude<Engine, 'mongodb'>, { head: (b: Buffer) => boolean; tail?: (b: Buffer) => boolean; what: string }> = {
  postgres: { head: (b) => b.subarray(0, 5).toString('latin1') === 'PGDMP', what: 'a pg_dump custom-format archive (starts with "PGDMP")' },
  mysql: {
    head: (b) => /-- (MariaDB|MySQL) dump/.test(b.toString('latin1')),
    tail: (b) => /-- Dump completed/.test(b.toString('latin1')),
    what: 'a complete mariadb-dump/mysqldump file (its header, and "-- Dump completed" at the end)',
  },
  sqlite: { head: (b) => b.subarray(0, 16).toString('latin1') === 'SQLite format 3\0', what: 'a SQLite database file (starts with "SQLite format 3")' },
}

export interface FullVerifyReport {
  readonly file: string
  readonly ok: boolean
  readonly kind: 'full'
  readonly engine: Engine
  readonly checks: readonly { readonly check: string; readonly ok: boolean; readonly detail?: string }[]
  /** Kept for the shape of smart verify reports: a full backup has no per-table counts. */
  readonly tables: Record<string, number>
}

/**
 * Verifies a full backup end to end: the container (size and SHA-256 against the catalog, every
 * authentication tag, gzip), then the decoded dump's start and end markers. Never throws for
 * damage (the report says `ok: false`); throws NotFoundError / UsageError when it cannot read the file.
 */
export async function verifyFullBackup(file: string, options: { passphrase?: string } = {}): Promise<FullVerifyReport> {
  const described = await describeFullBackup(file)
  if (!described || described.engine === 'mongodb') throw new UsageError(`${file} is not a full backup.`, { code: 'NOT_FULL' })
  const container = await verifyBackupFile(file, { passphrase: options.passphrase })
  const checks = [...container.checks]
  const content = CONTENT[described.engine]
  if (container.ok) {
    const stream = (await openBackupStream(file, { passphrase: options.passphrase })) as Readable
    let head = Buffer.alloc(0)
    let tail = Buffer.alloc(0)
    for await (const part of stream) {
      const chunk = part as Buffer
      if (head.length < 4096) head = Buffer.concat([head, chunk.subarray(0, 4096 - head.length)])
      tail = Buffer.concat([tail, chunk]).subarray(-512)
    }
    const ok = content.head(head) && (content.tail?.(tail) ?? true)
    checks.push({ check: 'content (the engine\'s dump markers)', ok, detail: ok ? content.what : `not ${content.what}` })
  }
  return { file, ok: checks.every((c) => c.ok), kind: 'full', engine: described.engine, checks, tables: {} }
}

/**
 * A full backup is the engine's own dump: restoring it runs its SQL (functions, triggers, grants,
 * DEFINERs) as written. Only a file this installation made is restored without being asked: its
 * catalog entry carries the installation's seal of its SHA-256 (crypto/origin-seal.ts), and
 * assertVerified then proves the file is the one sealed. Anything else — a file copied in, one
 * whose sidecar was lost or written elsewhere — is a UsageError naming why (exit 2).
 */
async function assertMadeHere(file: string): Promise<void> {
  const sidecar = await readSidecar(file)
  if (sidecar !== undefined && madeHere(sidecar)) return
  const why =
    sidecar === undefined
      ? 'it has no catalog entry (.meta.json) sealed by this installation'
      : typeof sidecar.originSeal === 'string'
        ? "its catalog entry is sealed with another installation's key"
        : 'its catalog entry carries no seal of this installation'
  throw new UsageError(
    `${path.basename(file)} is a full backup that this installation did not make (${why}). Restoring it runs the SQL of its dump as written, with the rights of the database user: restore only full backups you made. If you trust this file, pass --trust-full-backup (docs/security.md).`,
    { code: 'FOREIGN_FULL_BACKUP', details: { file: path.basename(file) } },
  )
}

async function assertVerified(file: string, passphrase: string | undefined, engine: Engine): Promise<void> {
  const report = await verifyFullBackup(file, { passphrase })
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail ?? 'failed'}`)
    throw new IntegrityError(`${file} is damaged, nothing was restored into the ${engine} database: ${failed.join('; ')}`, 'checksum')
  }
}
