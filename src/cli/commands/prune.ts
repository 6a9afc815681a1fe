/**
 * `mergeback prune --keep-last N --keep-daily N --keep-weekly N --keep-monthly N [--group-by name|none]
 * [--dry-run] [--yes] [--dir D] [--json]` — removes the backups no retention rule keeps, with
 * restic's semantics (src/storage/retention.ts). Shows the plan and asks first unless `--yes`;
 * `--dry-run` only shows it. An empty policy is refused (exit 2).
 */
import type { Command } from 'commander'
import { checkPolicy, planPrune, prune, type PrunePlanEntry, type PruneReport, type RetentionPolicy } from '../../storage/retention.js'
import { UsageError } from '../../errors.js'
import { backupDirFrom, outputFor, parseNonNegativeInt, withJson, type Flags } from '../common.js'
import { formatBytes, textTable } from '../format-text.js'
import fs from 'node:fs'
import { appendAudit } from '../../audit/audit-log.js'
import { pruneRemote } from '../../remote/remote-ops.js'
import { remoteFrom, withRemote } from '../remote.js'

function policyFrom(flags: Flags): RetentionPolicy {
  const groupBy = flags.groupBy as string | undefined
  if (groupBy !== undefined && groupBy !== 'name' && groupBy !== 'none') {
    throw new UsageError(`--group-by must be "name" or "none", got "${groupBy}".`, { code: 'BAD_POLICY' })
  }
  return {
    keepLast: parseNonNegativeInt('--keep-last', flags.keepLast),
    keepDaily: parseNonNegativeInt('--keep-daily', flags.keepDaily),
    keepWeekly: parseNonNegativeInt('--keep-weekly', flags.keepWeekly),
    keepMonthly: parseNonNegativeInt('--keep-monthly', flags.keepMonthly),
    ...(groupBy ? { groupBy } : {}),
  }
}

function describe(report: PruneReport, done: boolean): string {
  const rows = (entries: readonly PrunePlanEntry[], action: string) =>
    entries.map((e) => [action, e.file, e.createdAt.slice(0, 19).replace('T', ' '), formatBytes(e.sizeBytes), e.reasons.join(', ')])
  const table = textTable(['', 'file', 'created (UTC)', 'size', 'kept because'], [...rows(report.keep, 'keep'), ...rows(report.remove, done ? 'removed' : 'remove')])
  const freed = report.remove.reduce((sum, e) => sum + e.sizeBytes, 0)
  const summary = done
    ? `Removed ${report.remove.length} backup${report.remove.length === 1 ? '' : 's'} (${formatBytes(freed)}), kept ${report.keep.length}.`
    : `Would remove ${report.remove.length} backup${report.remove.length === 1 ? '' : 's'} (${formatBytes(freed)}), keep ${report.keep.length}${report.dryRun ? ' (dry run: nothing was changed)' : ''}.`
  const ignored = report.ignored.length ? [`Not managed by prune (not named <name>-<time>.json…): ${report.ignored.join(', ')}`] : []
  return [report.keep.length + report.remove.length ? table : 'No backups.', '', summary, ...ignored].join('\n')
}

export function register(program: Command): void {
  const command = program
    .command('prune')
    .description('remove the backups that no retention rule keeps (restic semantics)')
    .option('--keep-last <n>', 'keep the n newest backups')
    .option('--keep-daily <n>', 'keep the newest backup of each of the last n days that have backups')
    .option('--keep-weekly <n>', 'keep the newest backup of each of the last n ISO weeks that have backups')
    .option('--keep-monthly <n>', 'keep the newest backup of each of the last n months that have backups')
    .option('--group-by <how>', '"name" (default): apply the rules to each backup name separately; "none": to all backups together')
    .option('--dry-run', 'only show what would be removed and why')
    .option('--yes', 'do not ask for confirmation')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
  withRemote(command, 'prune the backups in this S3 location')
  withJson(command)
  command.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const dir = backupDirFrom(flags)
    const policy = policyFrom(flags)
    checkPolicy(policy)
    const remote = await remoteFrom(flags)
    if (remote) {
      const started = Date.now()
      try {
        const plan = await pruneRemote(remote, policy, { dryRun: true })
        if (flags.dryRun) {
          output.result(plan, () => describe(plan, false))
          return
        }
        if (plan.remove.length > 0) {
          if (!output.json && !flags.yes) output.info(describe(plan, false))
          await output.confirm(`Remove ${plan.remove.length} backup${plan.remove.length === 1 ? '' : 's'} from ${remote.url}?`, Boolean(flags.yes))
        }
        const report = await pruneRemote(remote, policy)
        if (fs.existsSync(dir)) {
          await appendAudit(dir, {
            action: 'prune',
            target: remote.url,
            options: policy,
            outcome: 'success',
            counts: { kept: report.keep.length, removed: report.remove.length },
            files: report.remove.map((r) => r.file),
            durationMs: Date.now() - started,
          })
        }
        output.result(report, () => describe(report, true))
      } finally {
        remote.close()
      }
      return
    }
    if (flags.dryRun) {
      const report = await prune(dir, policy, { dryRun: true })
      output.result(report, () => describe(report, false))
      return
    }
    const plan = await planPrune(dir, policy)
    if (plan.remove.length > 0) {
      if (!output.json && !flags.yes) output.info(describe(plan, false))
      await output.confirm(`Remove ${plan.remove.length} backup${plan.remove.length === 1 ? '' : 's'}?`, Boolean(flags.yes))
    }
    const report = await prune(dir, policy)
    output.result(report, () => describe(report, true))
  })
}
