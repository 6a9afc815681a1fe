/**
 * `mergeback recover --db URL [--yes] [--json]` — removes what a restore killed with -9 left in
 * the database (MySQL/MariaDB: staging tables `_mb_stage_…` of a restore that never reached its
 * swap). Lists first and asks unless --yes; tables of a restore still running are left alone.
 * The removal is recorded in the audit log. The next restore or merge on the database does the
 * same by itself; this is for doing it now, or for seeing what is there (`--dry-run`).
 */
import type { Command } from 'commander'
import { redactUrl } from '../../adapters/registry.js'
import { recover } from '../../engine/recover.js'
import { recordAudit } from '../audit-trail.js'
import { backupDirFrom, dbUrlFrom, outputFor, withDb, withJson, type Flags } from '../common.js'

export function register(program: Command): void {
  const command = program
    .command('recover')
    .description('remove what a killed restore left in a database (MariaDB/MySQL staging tables)')
    .option('--dry-run', 'only list what would be removed')
    .option('--yes', 'do not ask for confirmation')
    .option('--dir <path>', 'backup directory whose audit log records the removal (default: env MERGEBACK_DIR or ./backups)')
  withDb(command)
  withJson(command)
  command.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const db = dbUrlFrom(flags)
    const dir = backupDirFrom(flags)
    const schema = flags.schema as string | undefined
    const started = Date.now()
    const listed = await recover({ db, schema, dryRun: true })
    if (flags.dryRun || listed.found.length === 0) {
      output.result({ ...listed, dryRun: Boolean(flags.dryRun) }, () =>
        listed.found.length === 0
          ? `Nothing to recover in ${redactUrl(db)}: no staging tables left by an interrupted restore.`
          : `Would remove ${listed.found.length} staging table(s) from ${redactUrl(db)}: ${listed.found.join(', ')}.`,
      )
      return
    }
    await output.confirm(`Drop ${listed.found.length} staging table(s) left by interrupted restores from ${redactUrl(db)} (${listed.found.join(', ')})?`, Boolean(flags.yes))
    try {
      const report = await recover({ db, schema })
      await recordAudit(dir, { action: 'recover', db, options: {}, outcome: 'success', started, counts: { removed: report.removed.length, busy: report.busy.length } })
      output.result(report, () =>
        [
          `Removed ${report.removed.length} staging table(s) from ${redactUrl(db)}${report.removed.length > 0 ? `: ${report.removed.join(', ')}` : ''}.`,
          ...(report.busy.length > 0 ? [`Left ${report.busy.length} table(s) of a restore still running: ${report.busy.join(', ')}.`] : []),
        ].join('\n'),
      )
    } catch (error) {
      await recordAudit(dir, { action: 'recover', db, options: {}, outcome: 'failure', started, error })
      throw error
    }
  })
}
