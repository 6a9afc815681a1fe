/**
 * inspect / verify / stats: reading a backup or a database without changing anything.
 */
import type { DatabaseStats, TableSchema } from '../adapters/adapter.js'
import { loadAdapter, parseDatabaseUrl } from '../adapters/registry.js'
import { scanBackup } from './backup-input.js'
import { readerLimits, type ReaderLimits } from '../format/reader.js'
import { chainOf } from './chain.js'
import type { BackupLayout } from '../format/types.js'
import { verifyBackupFile } from '../storage/backup-file.js'
import { IntegrityError, MergebackError } from '../errors.js'
import { isFullBackup, verifyFullBackup } from '../native/full-restore.js'

export interface InspectReport {
  readonly file: string
  readonly layout: BackupLayout
  readonly metadata: Record<string, unknown>
  /** 'here' when the file carries this installation's origin seal (docs/security.md), else 'foreign'. */
  readonly origin: 'here' | 'foreign'
  readonly tables: readonly { readonly name: string; readonly records: number; readonly checksum: string; readonly schema: TableSchema }[]
}

/** Reads a backup (verifying it as it goes) and describes it: metadata, tables, counts, schema. */
export async function inspect(file: string, options: { passphrase?: string; limits?: Partial<ReaderLimits> } = {}): Promise<InspectReport> {
  const scan = await scanBackup(file, { ...options, unsafeDefinitions: 'drop' })
  return {
    file,
    layout: scan.layout,
    metadata: scan.metadata,
    origin: scan.origin,
    tables: scan.tables.map((t) => ({ name: t.schema.name, records: t.records, checksum: t.checksum, schema: t.schema })),
  }
}

export interface VerifyReport {
  readonly file: string
  readonly ok: boolean
  /** What was checked: file hash against the catalog, authentication tags, JSON structure, per-table checksums and counts. */
  readonly checks: readonly { readonly check: string; readonly ok: boolean; readonly detail?: string }[]
  readonly tables: Record<string, number>
}

/**
 * Verifies a backup end to end. Never throws for damage: the report says what is damaged
 * (`ok: false`); throws only when the file cannot be opened at all (NotFoundError, UsageError).
 */
export async function verify(file: string, options: { passphrase?: string; dropUnsafeDefinitions?: boolean; limits?: Partial<ReaderLimits> } = {}): Promise<VerifyReport> {
  if (await isFullBackup(file)) return verifyFullBackup(file, options)
  const checks: { check: string; ok: boolean; detail?: string }[] = []
  const maxDecompressedBytes = readerLimits(options.limits).maxDecompressedBytes
  const limit = Number.isFinite(maxDecompressedBytes) ? { maxDecompressedBytes } : {}
  let links: Awaited<ReturnType<typeof chainOf>>
  try {
    links = await chainOf(file)
  } catch (error) {
    if (!(error instanceof IntegrityError)) throw error
    return { file, ok: false, checks: [{ check: 'chain (every link present, with the SHA-256 its child names)', ok: false, detail: error.message }], tables: {} }
  }
  if (links === undefined) {
    const container = await verifyBackupFile(file, { passphrase: options.passphrase, ...limit })
    checks.push(...container.checks)
  } else {
    // An increment: every link of its chain, each file checked whole, then the chain's content.
    checks.push({ check: 'chain (every link present, with the SHA-256 its child names)', ok: true, detail: `${links.length} links` })
    for (const link of links) {
      const container = await verifyBackupFile(link.path, { passphrase: options.passphrase, ...limit })
      const failed = container.checks.filter((c) => !c.ok)
      checks.push({
        check: `link ${link.file} (${link.depth === 0 ? 'full backup' : `increment ${link.depth}`})`,
        ok: failed.length === 0,
        ...(failed.length > 0 ? { detail: failed.map((c) => `${c.check}: ${c.detail ?? 'failed'}`).join('; ') } : {}),
      })
    }
  }
  const tables: Record<string, number> = {}
  try {
    // The same checks a restore makes, schema guard included: a file that verifies restores.
    const scan = await scanBackup(file, { passphrase: options.passphrase, unsafeDefinitions: options.dropUnsafeDefinitions ? 'drop' : 'refuse', limits: options.limits })
    for (const t of scan.tables) tables[t.schema.name] = t.records
    checks.push({ check: 'content (JSON structure, per-table checksums and record counts)', ok: true, detail: `${scan.tables.length} tables` })
  } catch (error) {
    if (!(error instanceof MergebackError) || error.code === 'NOT_FOUND' || error.code === 'USAGE' || error.code === 'NO_PASSPHRASE') throw error
    checks.push({ check: 'content (JSON structure, per-table checksums and record counts)', ok: false, detail: error.message })
  }
  return { file, ok: checks.every((c) => c.ok), checks, tables }
}

/** Throws IntegrityError when the report is not ok (for callers that want an exception). */
export function assertVerified(report: VerifyReport): void {
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail ?? 'failed'}`)
    throw new IntegrityError(`${report.file} is damaged: ${failed.join('; ')}`, 'checksum')
  }
}

/** Engine, size and per-table row counts of a database. */
export async function stats(db: string, options: { schema?: string } = {}): Promise<DatabaseStats> {
  const config = parseDatabaseUrl(db, options)
  const adapter = await loadAdapter(config.engine)
  const source = await adapter.openSource(config)
  try {
    return await source.stats()
  } finally {
    await source.close()
  }
}
