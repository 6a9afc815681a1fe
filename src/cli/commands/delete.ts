/**
 * `mergeback delete NAME [--yes] [--with-increments] [--dir D] [--json]` — removes one backup and its
 * catalog entry. NAME is a backup's file name, or a backup name that exactly one backup has. Asks
 * first unless `--yes`; the deletion is recorded in the audit log. A backup that incremental backups
 * need (a link of their chain) is refused, exit 2, naming them; `--with-increments` deletes them too.
 */
import type { Command } from 'commander'
import { deleteBackup, dependentIncrements, findBackup, refuseChainLink, type BackupEntry } from '../../storage/catalog.js'
import { backupDirFrom, outputFor, withJson, type Flags } from '../common.js'
import { formatBytes } from '../format-text.js'
import fs from 'node:fs'
import { appendAudit } from '../../audit/audit-log.js'
import { remoteFrom, withRemote } from '../remote.js'

export function register(program: Command): void {
  const command = program
    .command('delete')
    .description('delete a backup from the backup directory')
    .argument('<name>', 'file name of the backup (see mergeback list), or a name only one backup has')
    .option('--yes', 'do not ask for confirmation')
    .option('--with-increments', 'also delete the incremental backups whose chain needs this backup (refused otherwise)')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
  withRemote(command, 'delete a backup from this S3 location')
  withJson(command)
  command.action(async (name: string, flags: Flags) => {
    const output = outputFor(flags)
    const dir = backupDirFrom(flags)
    const remote = await remoteFrom(flags)
    if (remote) {
      const started = Date.now()
      try {
        const entry = await remote.find(name)
        await output.confirm(`Delete backup ${entry.path} (${formatBytes(entry.sizeBytes)}, created ${entry.createdAt})?`, Boolean(flags.yes))
        const deleted = await remote.delete(entry.file)
        if (fs.existsSync(dir)) await appendAudit(dir, { action: 'delete', target: remote.url, file: deleted.path, outcome: 'success', durationMs: Date.now() - started })
        output.result({ deleted }, () => `Deleted ${deleted.path}.`)
      } finally {
        remote.close()
      }
      return
    }
    const entry = await findBackup(dir, name)
    const withIncrements = Boolean(flags.withIncrements)
    // Refused before asking when increments need it (deleteBackup says which).
    const dependents = withIncrements ? await dependentIncrements(dir, entry.file) : await refuseChainLink(dir, entry)
    const also = dependents.length === 0 ? '' : ` and the ${dependents.length} incremental backup${dependents.length === 1 ? '' : 's'} that need${dependents.length === 1 ? 's' : ''} it (${dependents.map((d) => d.file).join(', ')})`
    await output.confirm(`Delete backup ${entry.file} (${formatBytes(entry.sizeBytes)}, created ${entry.createdAt})${also}?`, Boolean(flags.yes))
    const alsoDeleted: BackupEntry[] = []
    const deleted = await deleteBackup(dir, entry.file, { withIncrements, alsoDeleted })
    output.result({ deleted, increments: alsoDeleted }, () => [...alsoDeleted, deleted].map((d) => `Deleted ${d.file}.`).join('\n'))
  })
}
