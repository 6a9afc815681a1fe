/**
 * mergeback's library API. `src/index.test.ts` pins this list.
 */
export * from './errors.js'
export type * from './adapters/adapter.js'
export type { BackupMetadata, BackupEvent, BackupLayout } from './format/types.js'
export { parseDatabaseUrl, redactUrl, loadAdapter } from './adapters/registry.js'
export { backup, type BackupOptions, type BackupResult } from './engine/backup.js'
export { restore, type RestoreOptions, type RestoreReport } from './engine/restore.js'
export {
  analyze,
  merge,
  type AnalyzeOptions,
  type MergeOptions,
  type MergeReport,
  type MergeCounts,
  type MergeConflict,
  type Strategy,
  type Resolution,
} from './engine/merge.js'
export { inspect, verify, stats, type InspectReport, type VerifyReport } from './engine/inspect.js'
export type { ProgressEvent, ProgressListener } from './engine/progress.js'
export { BackupWriter } from './format/writer.js'
export { readBackup } from './format/reader.js'
export {
  createBackupFile,
  openBackupStream,
  verifyBackupFile,
  resolveBackupPath,
  type CreateBackupFileOptions,
  type PendingBackupFile,
  type OpenBackupOptions,
  type FileVerification,
} from './storage/backup-file.js'
export { listBackups, findBackup, deleteBackup, type BackupEntry } from './storage/catalog.js'
export { prune, planPrune, applyRetention, type RetentionPolicy, type PruneReport } from './storage/retention.js'
export { appendAudit, readAudit, verifyAudit, type AuditEntry, type AuditEntryInput, type AuditVerification } from './audit/audit-log.js'
export { readPassphrase } from './storage/passphrase.js'
export { fullBackup, type FullBackupOptions, type FullBackupResult } from './native/full-backup.js'
export { fullRestore, verifyFullBackup, type FullRestoreOptions, type FullRestoreReport, type FullVerifyReport } from './native/full-restore.js'
