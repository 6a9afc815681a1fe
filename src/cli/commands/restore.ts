/**
 * `mergeback restore FILE --db URL [--tables …] [--exclude …] [--drop] [--dry-run] [--jobs N] [--yes]` (DESIGN.md §5, §6).
 */
import type { Command } from 'commander'
import { restore, type RestoreReport } from '../../engine/restore.js'
import { backupDirFrom, dbUrlFrom, jobsFrom, limitsFrom, locateBackup, outputFor, parseList, progressDrawer, withDb, withJson, withLimits, withStorage, withTableSelection, type Flags } from '../common.js'
import { readPassphrase } from '../../storage/passphrase.js'
import { recordAudit } from '../audit-trail.js'
import { UsageError } from '../../errors.js'
import { redactUrl } from '../../adapters/registry.js'
import { textTable } from '../format-text.js'
import { remoteFrom, withRemote } from '../remote.js'
import { withDownloaded } from '../../remote/remote-ops.js'

function render(report: RestoreReport): string {
  const rows = Object.entries(report.tables).map(([name, t]) => [name, t.inserted, t.skipped, [t.created ? 'created' : '', t.emptied ? 'emptied' : ''].filter(Boolean).join(', ')])
  const head = report.dryRun ? `Dry run: nothing was changed in ${report.target}. The restore would do:` : `Restored ${report.file} into ${report.target}:`
  const lines = [head, textTable(['table', 'inserted', 'skipped', 'note'], rows), `total: ${report.totals.inserted} inserted, ${report.totals.skipped} skipped (already there)`]
  for (const w of report.warnings) lines.push(`warning: ${w}`)
  return lines.join('\n')
}

export function register(program: Command): void {
  const command = program
    .command('restore')
    .description('put a backup into a database (rows already there are skipped)')
    .argument('<file>', 'backup file, or a backup name in the backup directory')
    .option('--drop', 'empty the selected tables first (asks for confirmation)')
    .option('--dry-run', 'do everything in a transaction, then roll it back')
    .option('--yes', 'do not ask for confirmation')
    .option('--allow-triggers', "MariaDB: let the target's triggers run instead of refusing (PostgreSQL and SQLite always switch them off)")
    .option('--trust-full-backup', 'restore a full backup (the engine\'s own dump) that this installation did not make and seal: its SQL runs as written (docs/security.md)')
    .option('--jobs <n>', 'PostgreSQL, MySQL/MariaDB: sessions that load at once when the restore creates every table it writes (default 2; 1 = one session)')
    .option('--drop-unsafe-definitions', 'leave out (with a warning) defaults, CHECKs and index definitions of the file that cannot be parsed and rebuilt, instead of refusing it')
  withDb(command)
  withTableSelection(command)
  withStorage(command)
  withLimits(command)
  withRemote(command, 'restore a backup from this S3 location (downloaded to a temporary file, verified, restored, removed)')
  withJson(command)
  command.action(async (fileArg: string, flags: Flags) => {
    dbUrlFrom(flags)
    limitsFrom(flags)
    jobsFrom(flags)
    const remote = await remoteFrom(flags)
    if (!remote) return restoreFile(await locateBackup(flags, fileArg), flags)
    try {
      await withDownloaded(remote, fileArg, (local) => restoreFile(local, flags))
    } finally {
      remote.close()
    }
  })
}

async function restoreFile(file: string, flags: Flags): Promise<void> {
  {
    const output = outputFor(flags)
    const db = dbUrlFrom(flags)
    const tables = parseList(flags.tables)
    const exclude = parseList(flags.exclude)
    const options = { tables, exclude, drop: Boolean(flags.drop), dryRun: Boolean(flags.dryRun) }
    const { isFullBackup, checkFullRestoreOptions, fullRestore } = await import('../../native/full-restore.js')
    const full = await isFullBackup(file)
    if (full) checkFullRestoreOptions(options)
    if (flags.drop && !flags.dryRun) {
      const which = full ? 'what the full backup contains' : tables ? `tables ${tables.join(', ')}` : 'every table in the backup'
      await output.confirm(`This empties ${which} in ${redactUrl(db)} before restoring.`, Boolean(flags.yes))
    }
    const started = Date.now()
    const dir = backupDirFrom(flags)
    if (full) {
      try {
        const report = await fullRestore({ file, db, drop: Boolean(flags.drop), trustForeign: Boolean(flags.trustFullBackup), passphrase: readPassphrase({ passphraseFile: flags.passphraseFile as string | undefined }) })
        await recordAudit(dir, { action: 'restore', db, options: { ...options, kind: 'full' }, outcome: 'success', started, file })
        output.result({ success: true, ...report }, () => `Restored the full backup ${report.file} into ${report.target} with ${report.tool} in ${(report.durationMs / 1000).toFixed(1)} s.`)
      } catch (error) {
        await recordAudit(dir, { action: 'restore', db, options: { ...options, kind: 'full' }, outcome: 'failure', started, file, error })
        throw error
      }
      return
    }
    try {
      const report = await restore({
        file,
        db,
        schema: flags.schema as string | undefined,
        tables,
        exclude,
        drop: Boolean(flags.drop),
        dryRun: Boolean(flags.dryRun),
        allowTriggers: Boolean(flags.allowTriggers),
        dropUnsafeDefinitions: Boolean(flags.dropUnsafeDefinitions),
        jobs: jobsFrom(flags),
        limits: limitsFrom(flags),
        passphrase: readPassphrase({ passphraseFile: flags.passphraseFile as string | undefined }),
        onProgress: progressDrawer(output),
      })
      await recordAudit(dir, { action: 'restore', db, options, outcome: report.dryRun ? 'dry-run' : 'success', counts: report.totals, started, file })
      output.result({ success: true, ...report }, () => render(report))
    } catch (error) {
      await recordAudit(dir, { action: 'restore', db, options, outcome: 'failure', started, file, error })
      throw error
    }
  }
}
