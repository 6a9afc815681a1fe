/**
 * `mergeback merge FILE --db URL [--strategy S] [--no-preserve-newer] [--timestamp-field F]
 *  [--resolutions F] [--plan F] [--dry-run] [--skip-unresolved] [--tables …] [--exclude …] [--yes] [--json]`
 * (DESIGN.md §4, §6).
 *
 * Merge changes data, so it asks first on a terminal (unless --yes or --dry-run). It prints the §4
 * report: with --json exactly `{ tables, totals, conflicts }`, else a table per table. Refusals
 * (unresolved conflicts, stale plan) exit 3 with nothing changed. Also holds what `analyze`
 * shares with it: the options and how they are read.
 */
import fs from 'node:fs'
import type { Command } from 'commander'
import { merge, type AnalyzeOptions, type MergeOptions } from '../../engine/merge.js'
import { MergeRefusedError, UsageError } from '../../errors.js'
import { parseResolutionsText } from '../../merge/resolutions.js'
import { renderReport } from '../../merge/report.js'
import { STRATEGIES, parseStrategy } from '../../merge/strategies.js'
import { readPassphrase } from '../../storage/passphrase.js'
import { redactUrl } from '../../adapters/registry.js'
import { recordAudit } from '../audit-trail.js'
import type { Output } from '../output.js'
import {
  backupDirFrom,
  dbUrlFrom,
  locateBackup,
  outputFor,
  parseList,
  progressDrawer,
  withDb,
  withJson,
  withStorage,
  withTableSelection,
  withLimits,
  limitsFrom,
  type Flags,
} from '../common.js'

/** Adds the options analyze and merge share. */
export function withMergeOptions(command: Command): Command {
  command
    .option('--strategy <strategy>', `conflict strategy: ${STRATEGIES.join(', ')} (default backup_wins)`)
    .option('--no-preserve-newer', 'treat differing records as conflicts even when a timestamp says which is newer')
    .option('--timestamp-field <name>', 'the modification timestamp column (default: updatedAt, updated_at, modifiedAt, modified_at)')
    .option('--resolutions <file>', 'JSON file of conflict resolutions: [{ "table", "key", "resolution" }]')
    .option('--allow-triggers', "MariaDB: let the target's triggers run instead of refusing (PostgreSQL and SQLite always switch them off)")
    .option('--base <file>', 'three-way merge: the base backup both the backup and the database started from (file or backup name)')
    .option('--apply-deletions', 'three-way merge: delete the records deleted in the backup and unchanged here (needs --base)')
  withDb(command)
  withTableSelection(command)
  withStorage(command)
  withLimits(command)
  withJson(command)
  return command
}

/**
 * The library options from the flags. Only options the user actually gave are set, so that a
 * plan (which fixes them) can tell "not given" from a default.
 */
export function mergeOptionsFrom(flags: Flags, command: Command, output: Output): AnalyzeOptions {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli'
  return {
    strategy: flags.strategy === undefined ? undefined : parseStrategy(flags.strategy),
    preserveNewer: given('preserveNewer') ? Boolean(flags.preserveNewer) : undefined,
    timestampField: flags.timestampField as string | undefined,
    tables: parseList(flags.tables),
    exclude: parseList(flags.exclude),
    resolutions: flags.resolutions === undefined ? undefined : readResolutionsFile(String(flags.resolutions)),
    schema: flags.schema as string | undefined,
    allowTriggers: Boolean(flags.allowTriggers),
    limits: limitsFrom(flags),
    passphrase: readPassphrase({ passphraseFile: flags.passphraseFile as string | undefined }),
    onProgress: progressDrawer(output),
    // Warnings go to stderr even with --json: stdout carries only the report.
    onWarning: (message) => process.stderr.write(`mergeback: warning: ${message}\n`),
  }
}

/** The three-way options (`--base`, `--apply-deletions`); the base is found like the backup (file or name). */
export async function threeWayOptionsFrom(flags: Flags): Promise<Pick<AnalyzeOptions, 'base' | 'applyDeletions'>> {
  return {
    base: flags.base === undefined ? undefined : await locateBackup(flags, String(flags.base)),
    applyDeletions: flags.applyDeletions ? true : undefined,
  }
}

function readResolutionsFile(file: string) {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (cause as Error).message
    throw new UsageError(`Cannot read the resolutions file ${file}: ${reason}.`, { code: 'BAD_RESOLUTIONS', cause })
  }
  return parseResolutionsText(text, `resolutions file ${file}`)
}

/** The human heading above a report. */
export function reportHeading(what: 'analyze' | 'merge' | 'dry-run', file: string, db: string, base?: string): string {
  const target = redactUrl(db)
  if (base !== undefined) file = `${file} (three-way, base ${base})`
  switch (what) {
    case 'analyze':
      return `Analysis of merging ${file} into ${target} (nothing was changed):`
    case 'dry-run':
      return `Dry run of merging ${file} into ${target} (rolled back: nothing was changed):`
    case 'merge':
      return base === undefined ? `Merged ${file} into ${target} (nothing was deleted):` : `Merged ${file} into ${target}:`
  }
}

/** Adds `merge` to the program (called once by cli/main.ts through commands/index.ts). */
export function register(program: Command): void {
  const command = program
    .command('merge')
    .description('merge a backup into a database: add missing records, update changed ones, resolve conflicts; never deletes')
    .argument('<file>', 'backup file, or a backup name in the backup directory')
    .option('--plan <file>', 'apply exactly this plan from analyze --plan (refused if a record it depends on changed)')
    .option('--dry-run', 'do the whole merge in a transaction, then roll it back')
    .option('--skip-unresolved', 'with --strategy manual: leave unresolved conflicts as they are instead of refusing')
    .option('--yes', 'do not ask for confirmation')
  withMergeOptions(command)
  command.action(async (fileArg: string, flags: Flags, self: Command) => {
    const output = outputFor(flags)
    const db = dbUrlFrom(flags)
    const file = await locateBackup(flags, fileArg)
    const options: MergeOptions = {
      ...mergeOptionsFrom(flags, self, output),
      ...(await threeWayOptionsFrom(flags)),
      plan: flags.plan as string | undefined,
      dryRun: Boolean(flags.dryRun),
      skipUnresolved: Boolean(flags.skipUnresolved),
    }
    if (!options.dryRun) {
      const how = options.plan ? `the plan ${options.plan}` : `strategy ${options.strategy ?? 'backup_wins'}`
      const what = options.applyDeletions
        ? 'Records are added and updated, and records deleted in the backup and unchanged here are DELETED.'
        : 'Records are added and updated, never deleted.'
      await output.confirm(`Merge ${file} into ${redactUrl(db)} with ${how}? ${what}`, Boolean(flags.yes))
    }
    const started = Date.now()
    const dir = backupDirFrom(flags)
    const audited = {
      strategy: options.strategy ?? 'backup_wins',
      preserveNewer: options.preserveNewer ?? true,
      timestampField: options.timestampField,
      tables: options.tables,
      exclude: options.exclude,
      plan: options.plan,
      dryRun: options.dryRun,
      skipUnresolved: options.skipUnresolved,
      resolutions: Array.isArray(options.resolutions) ? options.resolutions.length : undefined,
      ...(options.base === undefined ? {} : { base: options.base, applyDeletions: Boolean(options.applyDeletions) }),
    }
    try {
      const report = await merge(file, db, options)
      await recordAudit(dir, { action: 'merge', db, options: audited, outcome: options.dryRun ? 'dry-run' : 'success', counts: report.totals, started, file })
      output.result(report, () => renderReport(report, { heading: reportHeading(options.dryRun ? 'dry-run' : 'merge', file, db, options.base) }))
    } catch (error) {
      const outcome = error instanceof MergeRefusedError ? 'refused' : 'failure'
      await recordAudit(dir, { action: 'merge', db, options: audited, outcome, started, file, error })
      throw error
    }
  })
}
