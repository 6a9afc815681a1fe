/**
 * `mergeback upload FILE --remote s3://bucket/prefix` copies a local backup (and its catalog
 * entry) up; `mergeback download NAME --remote s3://… [--dir D]` copies a remote one down into
 * the backup directory. Both stream (no whole file in memory), both are audited.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Command } from 'commander'
import { appendAudit } from '../../audit/audit-log.js'
import { UsageError } from '../../errors.js'
import { backupDirFrom, locateBackup, outputFor, withJson, type Flags } from '../common.js'
import { formatBytes } from '../format-text.js'
import { remoteFrom, withRemote } from '../remote.js'

function requireRemote(flags: Flags, verb: string): void {
  if (flags.remote === undefined) throw new UsageError(`${verb} needs --remote s3://bucket/prefix.`, { code: 'NO_REMOTE' })
}

export function register(program: Command): void {
  const upload = program
    .command('upload')
    .description('copy a local backup (with its catalog entry) to S3-compatible storage')
    .argument('<file>', 'backup file, or a backup name in the backup directory')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
  withRemote(upload, 'where to copy it')
  withJson(upload)
  upload.action(async (fileArg: string, flags: Flags) => {
    requireRemote(flags, 'upload')
    const output = outputFor(flags)
    const file = await locateBackup(flags, fileArg)
    const remote = (await remoteFrom(flags))!
    const started = Date.now()
    const dir = backupDirFrom(flags)
    try {
      if (await remote.exists(path.basename(file))) {
        throw new UsageError(`${remote.urlOf(path.basename(file))} already exists; it was left as it is.`, { code: 'FILE_EXISTS' })
      }
      const copied = await remote.uploadFile(file)
      if (fs.existsSync(dir)) await appendAudit(dir, { action: 'upload', target: remote.url, file: path.basename(file), outcome: 'success', durationMs: Date.now() - started })
      output.result({ success: true, file, remote: copied.url, sizeBytes: copied.sizeBytes }, () => `Copied ${file} to ${copied.url} (${formatBytes(copied.sizeBytes)}).`)
    } catch (error) {
      if (fs.existsSync(dir)) {
        await appendAudit(dir, { action: 'upload', target: remote.url, file: path.basename(file), outcome: 'failure', durationMs: Date.now() - started, error: (error as Error).message })
      }
      throw error
    } finally {
      remote.close()
    }
  })

  const download = program
    .command('download')
    .description('copy a backup (with its catalog entry) from S3-compatible storage into the backup directory')
    .argument('<name>', 'file name of the remote backup, or a name only one remote backup has')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
  withRemote(download, 'where to copy it from')
  withJson(download)
  download.action(async (name: string, flags: Flags) => {
    requireRemote(flags, 'download')
    const output = outputFor(flags)
    const dir = backupDirFrom(flags)
    const remote = (await remoteFrom(flags))!
    const started = Date.now()
    try {
      const { path: file, entry } = await remote.download(name, dir)
      await appendAudit(dir, { action: 'download', target: remote.url, file: entry.file, outcome: 'success', durationMs: Date.now() - started })
      output.result({ success: true, file, remote: entry.path, sizeBytes: entry.sizeBytes }, () => `Copied ${entry.path} to ${file} (${formatBytes(entry.sizeBytes)}).`)
    } finally {
      remote.close()
    }
  })
}
