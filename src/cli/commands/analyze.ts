/**
 * `mergeback analyze FILE --db URL [--strategy S] [--no-preserve-newer] [--timestamp-field F]
 *  [--resolutions F] [--tables …] [--exclude …] [--plan OUT] [--jobs N] [--json]` (DESIGN.md §4, §6).
 *
 * Prints exactly what `merge` with the same options would do — the §4 report, every conflict
 * with its differing fields — and changes nothing. `--plan OUT` saves the decisions for
 * `merge --plan OUT`.
 */
import type { Command } from 'commander'
import { analyze } from '../../engine/merge.js'
import { renderReport } from '../../merge/report.js'
import { dbUrlFrom, jobsFrom, locateBackup, outputFor, type Flags } from '../common.js'
import { mergeOptionsFrom, reportHeading, threeWayOptionsFrom, withMergeOptions } from './merge.js'

/** Adds `analyze` to the program (called once by cli/main.ts through commands/index.ts). */
export function register(program: Command): void {
  const command = program
    .command('analyze')
    .description('preview a merge: what would be added, updated, kept, and every conflict (changes nothing)')
    .argument('<file>', 'backup file, or a backup name in the backup directory')
    .option('--plan <file>', 'save the plan (decisions and fingerprints of the records they depend on) for merge --plan')
    .option('--jobs <n>', 'database sessions the read may use at once (default 1; 2 on PostgreSQL: a big table on two sessions of one snapshot, for a server with cores to spare)')
  withMergeOptions(command)
  command.action(async (fileArg: string, flags: Flags, self: Command) => {
    const output = outputFor(flags)
    const db = dbUrlFrom(flags)
    const file = await locateBackup(flags, fileArg)
    const plan = flags.plan as string | undefined
    const three = await threeWayOptionsFrom(flags)
    const report = await analyze(file, db, { ...mergeOptionsFrom(flags, self, output), ...three, plan, jobs: jobsFrom(flags, 1) })
    output.result(report, () => {
      const text = renderReport(report, { heading: reportHeading('analyze', file, db, three.base) })
      const baseArg = three.base === undefined ? '' : ` --base ${String(flags.base)}`
      return plan ? `${text}\n\nPlan saved to ${plan}: apply it with mergeback merge ${fileArg}${baseArg} --plan ${plan}` : text
    })
  })
}
