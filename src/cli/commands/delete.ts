/**
 * `mergeback delete NAME [--yes] [--dir D] [--json]` — removes one backup and its catalog entry.
 * NAME is a backup's file name, or a backup name that exactly one backup has. Asks first unless
 * `--yes`; the deletion is recorded in the audit log.
 */
import type { Command } from 'commander'
import { deleteBackup, findBackup } from '../../storage/catalog.js'
import { backupDirFrom, outputFor, withJson, type Flags } from '../common.js'
import { formatBytes } from '../format-text.js'

export function register(program: Command): void {
  const command = program
    .command('delete')
    .description('delete a backup from the backup directory')
    .argument('<name>', 'file name of the backup (see mergeback list), or a name only one backup has')
    .option('--yes', 'do not ask for confirmation')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
  withJson(command)
  command.action(async (name: string, flags: Flags) => {
    const output = outputFor(flags)
    const dir = backupDirFrom(flags)
    const entry = await findBackup(dir, name)
    await output.confirm(`Delete backup ${entry.file} (${formatBytes(entry.sizeBytes)}, created ${entry.createdAt})?`, Boolean(flags.yes))
    const deleted = await deleteBackup(dir, entry.file)
    output.result({ deleted }, () => `Deleted ${deleted.file}.`)
  })
}
