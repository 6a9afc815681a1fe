/**
 * `mergeback list [--dir D] [--json]` — the backups in the backup directory, newest first, from
 * the catalog sidecars (nothing is decompressed or decrypted, so it is fast at any size).
 */
import path from 'node:path'
import type { Command } from 'commander'
import { listBackups, listUnfinished, type BackupEntry } from '../../storage/catalog.js'
import { backupDirFrom, outputFor, withJson, type Flags } from '../common.js'
import { formatBytes, textTable } from '../format-text.js'
import { remoteFrom, withRemote } from '../remote.js'

function records(entry: BackupEntry): string {
  if (entry.kind === 'full') return '-'
  if (!entry.recordCounts) return '?'
  return String(Object.values(entry.recordCounts).reduce((sum, n) => sum + n, 0))
}

function flagsOf(entry: BackupEntry): string {
  const flags = [entry.kind === 'full' ? 'full' : '', entry.compression !== 'none' ? entry.compression : '', entry.encrypted ? 'encrypted' : '', entry.catalogued ? '' : 'uncatalogued'].filter(Boolean)
  return flags.join(',') || '-'
}

export function register(program: Command): void {
  const command = program
    .command('list')
    .description('list the backups in the backup directory, newest first')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
  withRemote(command, 'list the backups in this S3 location')
  withJson(command)
  command.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const remote = await remoteFrom(flags)
    if (remote) {
      try {
        const backups = await remote.list()
        output.result({ remote: remote.url, backups }, () =>
          backups.length === 0
            ? `No backups in ${remote.url}.`
            : [
                textTable(
                  ['file', 'name', 'created (UTC)', 'size', 'records', 'database', 'flags'],
                  backups.map((b) => [b.file, b.name, b.createdAt.slice(0, 19).replace('T', ' '), formatBytes(b.sizeBytes), records(b), b.engine ? `${b.engine}:${b.database ?? '?'}` : (b.database ?? '?'), flagsOf(b)]),
                ),
                '',
                `${backups.length} backup${backups.length === 1 ? '' : 's'} in ${remote.url}`,
              ].join('\n'),
        )
      } finally {
        remote.close()
      }
      return
    }
    const dir = backupDirFrom(flags)
    const [backups, unfinished] = await Promise.all([listBackups(dir), listUnfinished(dir)])
    output.result({ dir: path.resolve(dir), backups, unfinished }, () => {
      if (backups.length === 0 && unfinished.length === 0) return `No backups in ${dir}.`
      const lines = [
        textTable(
          ['file', 'name', 'created (UTC)', 'size', 'records', 'database', 'flags'],
          backups.map((b) => [
            b.file,
            b.name,
            b.createdAt.slice(0, 19).replace('T', ' '),
            formatBytes(b.sizeBytes),
            records(b),
            b.engine ? `${b.engine}:${b.database ?? '?'}` : (b.database ?? '?'),
            flagsOf(b),
          ]),
        ),
        '',
        `${backups.length} backup${backups.length === 1 ? '' : 's'} in ${dir}`,
      ]
      for (const b of backups) {
        if (b.description) lines.push(`  ${b.file}: ${b.description}`)
      }
      for (const b of backups) {
        if (b.problem) lines.push(`  ${b.file}: ${b.problem} (run mergeback verify ${b.file})`)
      }
      if (unfinished.length > 0) {
        lines.push(
          `${unfinished.length} unfinished temporary file${unfinished.length === 1 ? '' : 's'} (a backup being written, or left by one that was interrupted; safe to remove when no backup is running):`,
          ...unfinished.map((u) => `  ${u.file} (${formatBytes(u.sizeBytes)}, last written ${u.modifiedAt})`),
        )
      }
      return lines.join('\n')
    })
  })
}
