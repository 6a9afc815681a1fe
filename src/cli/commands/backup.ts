/**
 * `mergeback backup --db URL [--out DIR|FILE] …` (DESIGN.md §6).
 */
import type { Command } from 'commander'
import { backup, isBackupFilePath } from '../../engine/backup.js'
import { backupDirFrom, dbUrlFrom, outputFor, parseList, progressDrawer, withDb, withJson, withStorage, withTableSelection, type Flags } from '../common.js'
import { readPassphrase } from '../../storage/passphrase.js'
import { recordAudit } from '../audit-trail.js'
import { UsageError } from '../../errors.js'
import { formatBytes } from '../format-text.js'

export function register(program: Command): void {
  const command = program
    .command('backup')
    .description('back up a database into one JSON file')
    .option('--out <path>', 'a file (ending .json, .json.gz or .enc) or a directory (default: the backup directory)')
    .option('--name <name>', 'backup name, used in the file name', 'backup')
    .option('--description <text>', 'free text stored in the metadata')
    .option('--gzip', 'compress with gzip')
    .option('--gzip-level <n>', 'gzip level 1 (fastest) to 9 (smallest)')
    .option('--encrypt', 'encrypt (AES-256-GCM); passphrase from MERGEBACK_PASSPHRASE or --passphrase-file')
    .option('--no-indexes', 'do not save index definitions')
    .option('--full', "the engine's own complete dump (pg_dump, mariadb-dump, SQLite's backup API) instead of JSON")
  withDb(command)
  withTableSelection(command)
  withStorage(command)
  withJson(command)
  command.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const dir = backupDirFrom(flags)
    const out = (flags.out as string | undefined) ?? dir
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
    const db = dbUrlFrom(flags)
    if (flags.full) {
      await fullBackupCommand(flags, { db, out, dir, gzip, passphrase: encrypt ? passphrase : undefined, output })
      return
    }
    const options = { name: flags.name, tables: parseList(flags.tables), exclude: parseList(flags.exclude), gzip: Boolean(gzip), encrypt, indexes: flags.indexes !== false }
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
        passphrase: encrypt ? passphrase : undefined,
        includeIndexes: flags.indexes !== false,
        onProgress: progressDrawer(output),
      })
      await recordAudit(isBackupFilePath(out) ? undefined : out, { action: 'backup', db, options, outcome: 'success', counts: result.metadata.recordCounts, started, file: result.file })
      output.result({ success: true, ...result }, () => {
        const lines = [`Backed up ${result.metadata.tables.length} tables of ${result.metadata.engine} database "${result.metadata.database}" to ${result.file}`]
        for (const table of result.metadata.tables) lines.push(`  ${table}: ${result.metadata.recordCounts[table]} rows`)
        lines.push(`${formatBytes(result.sizeBytes)} in ${(result.durationMs / 1000).toFixed(1)} s, sha256 ${result.sha256}`)
        for (const w of result.warnings) lines.push(`warning: ${w}`)
        return lines.join('\n')
      })
    } catch (error) {
      await recordAudit(isBackupFilePath(out) ? undefined : out, { action: 'backup', db, options, outcome: 'failure', started, error })
      throw error
    }
  })
}

async function fullBackupCommand(
  flags: Flags,
  context: { db: string; out: string; dir: string; gzip: boolean | number; passphrase?: string; output: ReturnType<typeof outputFor> },
): Promise<void> {
  const misplaced = [flags.tables ? '--tables' : '', flags.exclude ? '--exclude' : '', flags.indexes === false ? '--no-indexes' : ''].filter(Boolean)
  if (misplaced.length > 0) {
    throw new UsageError(`${misplaced.join(', ')} cannot be used with --full: a full backup is the whole database, as the engine dumps it.`, { code: 'BAD_OPTION' })
  }
  const { fullBackup } = await import('../../native/full-backup.js')
  const { dataFormatOf } = await import('../../storage/naming.js')
  const auditDir = dataFormatOf(context.out) === undefined ? context.out : undefined
  const name = flags.name === 'backup' ? 'full' : (flags.name as string)
  const options = { kind: 'full', name, gzip: Boolean(context.gzip), encrypt: context.passphrase !== undefined }
  const started = Date.now()
  try {
    const result = await fullBackup({
      db: context.db,
      out: context.out,
      name,
      description: flags.description as string | undefined,
      gzip: context.gzip === false ? undefined : context.gzip,
      passphrase: context.passphrase,
    })
    await recordAudit(auditDir, { action: 'backup', db: context.db, options, outcome: 'success', started, file: result.file })
    context.output.result({ success: true, ...result }, () =>
      [
        `Full backup of ${result.engine} database "${result.database}" (${result.native.tool}) to ${result.file}`,
        `${formatBytes(result.sizeBytes)} in ${(result.durationMs / 1000).toFixed(1)} s, sha256 ${result.sha256}`,
      ].join('\n'),
    )
  } catch (error) {
    await recordAudit(auditDir, { action: 'backup', db: context.db, options, outcome: 'failure', started, error })
    throw error
  }
}
