/**
 * `mergeback reseal FILE [--out NEW] [--dir D] [--json]`: new checksums for a backup edited by
 * hand on purpose (engine/reseal.ts). Writes a new file; the edited one is left as it is.
 * Recorded in the audit log of the backup directory, when it exists.
 */
import type { Command } from 'commander'
import { reseal } from '../../engine/reseal.js'
import { recordAudit } from '../audit-trail.js'
import { backupDirFrom, limitsFrom, locateBackup, outputFor, withJson, withLimits, withStorage, type Flags } from '../common.js'

export function register(program: Command): void {
  const command = program
    .command('reseal')
    .description('new checksums for a backup you edited by hand on purpose (writes a new file, after checking the edit still parses)')
    .argument('<file>', 'the edited backup file, or its name in the backup directory')
    .option('--out <file>', 'the new file (default: <name>-resealed.json beside it); never overwritten')
  withStorage(command)
  withLimits(command)
  withJson(command)
  command.action(async (fileArg: string, flags: Flags) => {
    const output = outputFor(flags)
    const file = await locateBackup(flags, fileArg)
    const dir = backupDirFrom(flags)
    const started = Date.now()
    try {
      const report = await reseal(file, { out: flags.out as string | undefined, limits: limitsFrom(flags) })
      await recordAudit(dir, { action: 'reseal', options: { out: report.resealed }, outcome: 'success', counts: report.tables, started, file })
      output.result({ success: true, ...report }, () =>
        [`Resealed ${file} as ${report.resealed} (sha256 ${report.sha256}).`, 'Its metadata says it was edited by hand; the original is unchanged.'].join('\n'),
      )
    } catch (error) {
      await recordAudit(dir, { action: 'reseal', options: {}, outcome: 'failure', started, file, error })
      throw error
    }
  })
}
