/**
 * `mergeback backup --db URL [--out DIR|FILE] …` (DESIGN.md §6).
 */
import type { Command } from 'commander'
import { backup, isBackupFilePath } from '../../engine/backup.js'
import { backupDirFrom, dbUrlFrom, jobsFrom, outputFor, parseList, progressDrawer, withDb, withJson, withStorage, withTableSelection, type Flags } from '../common.js'
import { readPassphrase } from '../../storage/passphrase.js'
import { recordAudit } from '../audit-trail.js'
import { UsageError } from '../../errors.js'
import { formatBytes } from '../format-text.js'
import { remoteFrom, withRemote } from '../remote.js'
import type { S3Remote } from '../../remote/s3-remote.js'

export function register(program: Command): void {
  const command = program
    .command('backup')
    .description('back up a database into one JSON file')
    .option('--out <path>', 'a file (ending .json, .json.gz, .json.zst or .enc) or a directory (default: the backup directory)')
    .option('--name <name>', 'backup name, used in the file name', 'backup')
    .option('--description <text>', 'free text stored in the metadata')
    .option('--gzip', 'compress with gzip')
    .option('--gzip-level <n>', 'gzip level 1 (fastest) to 9 (smallest)')
    .option('--zstd', 'compress with Zstandard (faster than gzip and smaller; .json.zst)')
    .option('--zstd-level <n>', 'zstd level 1 (fastest, the default) to 19 (smallest)')
    .option('--encrypt', 'encrypt (AES-256-GCM); passphrase from MERGEBACK_PASSPHRASE or --passphrase-file')
    .option('--no-indexes', 'do not save index definitions')
    .option('--full', "the engine's own complete dump (pg_dump, mariadb-dump, SQLite's backup API) instead of JSON")
    .option('--keep-local', 'with --remote: write the backup into the backup directory too, then copy it up')
    .option('--no-digest-index', 'do not write the digest index an incremental backup needs of its parent (faster; this backup cannot start a chain)')
    .option('--incremental', 'only the rows inserted, updated or deleted since the newest backup of the same --name in the backup directory')
    .option('--since <backup>', 'incremental, since this backup of the backup directory (a file name, or the newest backup of that name)')
    .option('--jobs <n>', 'PostgreSQL: 2 reads a big table on two sessions of one snapshot (default 1: no gain measured on a 2-core machine); SQLite: 2 reads the record lines on a second thread of the same snapshot (default 1: it costs 17-30 MB of peak RSS); MariaDB: 1 reads an increment\'s row digests on one session instead of two')
    .option('--changed-since-column <column>', 'with --incremental/--since: compare only rows whose timestamp column is at or after the parent\'s time (older rows are taken as unchanged)')
  withDb(command)
  withTableSelection(command)
  withStorage(command)
  withRemote(command, 'stream the backup into this S3 location (no local file unless --keep-local)')
  withJson(command)
  command.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const dir = backupDirFrom(flags)
    const out = (flags.out as string | undefined) ?? dir
    if (flags.keepLocal && flags.remote === undefined) throw new UsageError('--keep-local only goes with --remote.', { code: 'BAD_OPTION' })
    if (flags.remote !== undefined && flags.out !== undefined) throw new UsageError('--out and --remote cannot be used together: --remote names where the backup goes (with --keep-local, the backup directory --dir gets a copy).', { code: 'BAD_OPTION' })
    const remote = await remoteFrom(flags)
    try {
      await run(flags, { output, dir, out, remote })
    } finally {
      remote?.close()
    }
  })
}

async function run(flags: Flags, context: { output: ReturnType<typeof outputFor>; dir: string; out: string; remote?: S3Remote }): Promise<void> {
  {
    const { output, dir, out } = context
    // Straight to the remote, or (--keep-local) into the directory and then copied up.
    const streamTo = context.remote && !flags.keepLocal ? context.remote : undefined
    const copyTo = context.remote && flags.keepLocal ? context.remote : undefined
    const passphrase = readPassphrase({ passphraseFile: flags.passphraseFile as string | undefined })
    const encrypt = Boolean(flags.encrypt) || /\.enc$/i.test(out)
    if (encrypt && !passphrase) {
      throw new UsageError('--encrypt needs a passphrase: set MERGEBACK_PASSPHRASE or pass --passphrase-file FILE.', { code: 'NO_PASSPHRASE' })
    }
    let gzip: boolean | number = Boolean(flags.gzip)
    if (flags.gzipLevel !== undefined) {
      const level = Number(flags.gzipLevel)
      if (!Number.isInteger(level) || level < 1 || level > 9) throw new UsageError(`--gzip-level must be 1 to 9, got ${String(flags.gzipLevel)}.`)
      gzip = level
    }
    let zstd: boolean | number = Boolean(flags.zstd)
    if (flags.zstdLevel !== undefined) {
      const level = Number(flags.zstdLevel)
      if (!Number.isInteger(level) || level < 1 || level > 19) throw new UsageError(`--zstd-level must be 1 to 19, got ${String(flags.zstdLevel)}.`, { code: 'BAD_OPTION' })
      zstd = level
    }
    if (gzip !== false && zstd !== false) throw new UsageError('Choose one compression: --gzip or --zstd, not both.', { code: 'BAD_OPTION' })
    const db = dbUrlFrom(flags)
    if (flags.full && zstd !== false) {
      throw new UsageError('--zstd is for JSON backups; a full backup takes --gzip (pg_dump -Fc compresses by itself).', { code: 'BAD_OPTION' })
    }
    if (flags.full) {
      await fullBackupCommand(flags, { db, out, dir, gzip, passphrase: encrypt ? passphrase : undefined, output, streamTo, copyTo })
      return
    }
    if (flags.changedSinceColumn !== undefined && !flags.incremental && flags.since === undefined) {
      throw new UsageError('--changed-since-column only goes with --incremental or --since.', { code: 'BAD_OPTION' })
    }
    const chain = { incremental: Boolean(flags.incremental) || undefined, since: flags.since as string | undefined, changedSinceColumn: flags.changedSinceColumn as string | undefined }
    const options = { name: flags.name, tables: parseList(flags.tables), exclude: parseList(flags.exclude), gzip: Boolean(gzip), zstd: Boolean(zstd), encrypt, indexes: flags.indexes !== false, ...chain }
    const started = Date.now()
    try {
      const result = await backup({
        db,
        schema: flags.schema as string | undefined,
        out,
        name: flags.name as string,
        description: flags.description as string | undefined,
        tables: parseList(flags.tables),
        exclude: parseList(flags.exclude),
        gzip: gzip === false ? undefined : gzip,
        zstd: zstd === false ? undefined : zstd,
        passphrase: encrypt ? passphrase : undefined,
        includeIndexes: flags.indexes !== false,
        ...chain,
        onProgress: progressDrawer(output),
        // Totals cost a count per table: only worth it when a terminal shows the bar.
        progressTotals: process.stderr.isTTY === true && !flags.json,
        digestIndex: flags.digestIndex !== false,
        // Not given: each engine's default (MariaDB increments read on two sessions).
        jobs: flags.jobs === undefined ? undefined : jobsFrom(flags, 1),
        remote: streamTo,
      })
      const copied = copyTo ? await copyTo.uploadFile(result.file) : undefined
      await recordAudit(isBackupFilePath(out) ? undefined : out, { action: 'backup', db, options: { ...options, remote: context.remote?.url }, outcome: 'success', counts: result.metadata.recordCounts, started, file: result.file })
      output.result({ success: true, ...result, ...(copied ? { remoteCopy: copied.url } : {}) }, () => {
        const count = result.metadata.tables.length
        const increment = result.metadata.incremental
        const lines = [`Backed up ${count} ${count === 1 ? 'table' : 'tables'} of ${result.metadata.engine} database "${result.metadata.database}" to ${result.file}`]
        if (increment) lines.push(`incremental (link ${increment.depth} of the chain of ${increment.base.file}), since ${increment.parent.file}: changed rows below, deleted keys: ${Object.values(increment.deleted).reduce((n, keys) => n + keys.length, 0)}`)
        for (const table of result.metadata.tables) lines.push(`  ${table}: ${result.metadata.recordCounts[table]} rows`)
        lines.push(`${formatBytes(result.sizeBytes)} in ${(result.durationMs / 1000).toFixed(1)} s, sha256 ${result.sha256}`)
        for (const w of result.warnings) lines.push(`warning: ${w}`)
        if (copied) lines.push(`copied to ${copied.url}`)
        return lines.join('\n')
      })
    } catch (error) {
      await recordAudit(isBackupFilePath(out) ? undefined : out, { action: 'backup', db, options: { ...options, remote: context.remote?.url }, outcome: 'failure', started, error })
      throw error
    }
  }
}

async function fullBackupCommand(
  flags: Flags,
  context: { db: string; out: string; dir: string; gzip: boolean | number; passphrase?: string; output: ReturnType<typeof outputFor>; streamTo?: S3Remote; copyTo?: S3Remote },
): Promise<void> {
  const misplaced = [flags.tables ? '--tables' : '', flags.exclude ? '--exclude' : '', flags.indexes === false ? '--no-indexes' : ''].filter(Boolean)
  if (misplaced.length > 0) {
    throw new UsageError(`${misplaced.join(', ')} cannot be used with --full: a full backup is the whole database, as the engine dumps it.`, { code: 'BAD_OPTION' })
  }
  const { fullBackup } = await import('../../native/full-backup.js')
  const { dataFormatOf } = await import('../../storage/naming.js')
  const auditDir = dataFormatOf(context.out) === undefined ? context.out : undefined
  const name = flags.name === 'backup' ? 'full' : (flags.name as string)
  const options = { kind: 'full', name, gzip: Boolean(context.gzip), encrypt: context.passphrase !== undefined, remote: (context.streamTo ?? context.copyTo)?.url }
  const started = Date.now()
  try {
    const result = await fullBackup({
      db: context.db,
      out: context.out,
      name,
      description: flags.description as string | undefined,
      gzip: context.gzip === false ? undefined : context.gzip,
      passphrase: context.passphrase,
      remote: context.streamTo,
    })
    const copied = context.copyTo ? await context.copyTo.uploadFile(result.file) : undefined
    await recordAudit(auditDir, { action: 'backup', db: context.db, options, outcome: 'success', started, file: result.file })
    context.output.result({ success: true, ...result, ...(copied ? { remoteCopy: copied.url } : {}) }, () =>
      [
        `Full backup of ${result.engine} database "${result.database}" (${result.native.tool}) to ${result.file}`,
        `${formatBytes(result.sizeBytes)} in ${(result.durationMs / 1000).toFixed(1)} s, sha256 ${result.sha256}`,
        ...(copied ? [`copied to ${copied.url}`] : []),
      ].join('\n'),
    )
  } catch (error) {
    await recordAudit(auditDir, { action: 'backup', db: context.db, options, outcome: 'failure', started, error })
    throw error
  }
}
