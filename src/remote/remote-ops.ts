/**
 * What the catalog does locally, done on a remote: prune with the same retention rules, and
 * "straight from the remote" verify and restore.
 *
 * Verify and restore read a backup several times (a scan, then the write pass), and S3 serves one
 * GET per read; so the object is first downloaded (streamed, with its sidecar) into a private
 * temporary directory, checked and used there, and removed afterwards, whatever happened.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { applyRetention, checkPolicy, type PrunePlanEntry, type PruneReport, type RetentionPolicy } from '../storage/retention.js'
import { parseBackupFileName } from '../storage/naming.js'
import type { RemoteEntry, S3Remote } from './s3-remote.js'

function planEntry(entry: RemoteEntry, reasons: readonly string[]): PrunePlanEntry {
  return { file: entry.file, name: entry.name, createdAt: entry.createdAt, sizeBytes: entry.sizeBytes, reasons }
}

/**
 * Applies `policy` to the backups under the remote's prefix (restic semantics, per backup name
 * unless `groupBy: 'none'`; `only` narrows it to some backup names, as a schedule does for its
 * own). Files not named by the naming rule are never removed. Throws UsageError for an empty
 * policy before listing anything. With `dryRun` nothing is removed.
 */
export async function pruneRemote(
  remote: S3Remote,
  policy: RetentionPolicy,
  options: { dryRun?: boolean; now?: Date; only?: (entry: RemoteEntry) => boolean } = {},
): Promise<PruneReport> {
  checkPolicy(policy)
  const backups = await remote.list()
  const managed = backups.filter((b) => parseBackupFileName(b.file) !== undefined && (options.only?.(b) ?? true))
  const decisions = applyRetention(managed, policy)
  const report: PruneReport = {
    dryRun: options.dryRun ?? false,
    at: (options.now ?? new Date()).toISOString(),
    policy,
    keep: decisions.filter((d) => d.keep).map((d) => planEntry(d.backup, d.reasons)),
    remove: decisions.filter((d) => !d.keep).map((d) => planEntry(d.backup, [])),
    ignored: backups.filter((b) => parseBackupFileName(b.file) === undefined).map((b) => b.file),
  }
  if (!options.dryRun) for (const entry of report.remove) await remote.delete(entry.file)
  return report
}

/**
 * Downloads backup `ref` into a fresh private temporary directory, runs `work` on the local copy
 * (its sidecar beside it, so checksums are checked against the catalog), and removes the copy.
 */
export async function withDownloaded<T>(remote: S3Remote, ref: string, work: (file: string, entry: RemoteEntry) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mergeback-remote-'))
  try {
    const { path: file, entry } = await remote.download(ref, dir)
    return await work(file, entry)
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}
