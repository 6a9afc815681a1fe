/**
 * The catalog: what `mergeback list` shows, read from small sidecar files instead of the backups.
 *
 * Each backup `X` has a sidecar `X.meta.json` (docs/storage.md §Catalog) holding the backup's
 * name, description, engine, database, creation time, size, SHA-256, tables and record counts,
 * compression and encryption. It is written atomically right after `X` is in place, so listing
 * costs one readdir, one stat and one small read per backup, whatever the backups' sizes and
 * whether they are encrypted.
 *
 * A backup file without a (valid) sidecar — copied in by hand, or left by a crash between the
 * two renames — is still complete (only finished files get a backup name), and is listed with
 * `catalogued: false` and what its name and first bytes tell. A sidecar without its backup is
 * ignored. Temporary files (`.tmp-*.partial`) are never listed.
 */
import { fileSeal, originKey } from '../crypto/origin-seal.js'
import fs from 'node:fs/promises'
import type { Dirent } from 'node:fs'
import path from 'node:path'
import { NotFoundError, UsageError } from '../errors.js'
import type { BackupMetadata } from '../format/types.js'
import { FLAG_GZIP_PAYLOAD, FLAG_ZSTD_PAYLOAD, HEADER_LENGTH, OFFSET_FLAGS, hasContainerMagic } from '../crypto/container.js'
import { sniffCompression, type Compression } from './compression.js'
import { appendAudit, readAuditHead, type AuditHead } from '../audit/audit-log.js'
import { fsyncDirectory, writeFileAtomic } from './atomic-file.js'
import { dataFormatOf, isBackupDataFileName, isTemporaryFileName, parseBackupFileName, sidecarPathFor } from './naming.js'
import { checkPlainFileName, confineToDirectory } from './path-safety.js'
import { peekMetadata } from './peek-metadata.js'

export const CATALOG_VERSION = 1

/** The sidecar's content (`<backup file>.meta.json`). */
export interface Sidecar {
  readonly catalogVersion: typeof CATALOG_VERSION
  /** The backup's file name (no directory), so a sidecar renamed away from its backup is not trusted. */
  readonly file: string
  readonly name: string
  readonly description?: string
  readonly engine?: string
  readonly database?: string
  readonly schema?: string
  /** ISO-8601 UTC: the backup's time, the one its file name carries (to the millisecond). */
  readonly createdAt: string
  /** The metadata's `exportedAt`, when the writer gave one. */
  readonly exportedAt?: string
  /** When the file was committed. */
  readonly committedAt: string
  readonly sizeBytes: number
  /** Hex SHA-256 of the file's bytes as stored (after gzip and encryption). */
  readonly sha256: string
  readonly compression: Compression
  readonly encrypted: boolean
  readonly tables: readonly string[]
  readonly recordCounts: Readonly<Record<string, number>>
  /** The backup format version inside (`metadata.version`) and the mergeback that wrote it. */
  readonly formatVersion?: string
  readonly tool?: string
  /** 'smart' (mergeback's JSON, the default when absent) or 'full' (the engine's own dump). */
  readonly kind?: BackupKind
  /** Full backups: what is inside ('pg-custom', 'mysql-sql', 'sqlite-file') and the dump tool's version. */
  readonly native?: NativeFacts
  /** This installation's seal of `sha256` (crypto/origin-seal.ts `fileSeal`): the file was made here. */
  readonly originSeal?: string
  /** How the backup came to be here: made on request (CLI, API, page), by a schedule, or uploaded. Absent in older sidecars. */
  readonly originKind?: OriginKind
  /** The last verification (`recordVerification`): its outcome, when, and the first failed check. */
  readonly lastVerify?: VerifyRecord
  /**
   * An incremental backup (a link of a chain, issue #18): the file names and SHA-256 of its parent
   * and of the chain's full backup, and its depth (1 = first increment). Copied from its metadata
   * so that chains are resolved, checked and protected from prune without reading any backup.
   */
  readonly incremental?: { readonly parent: string; readonly parentSha256: string; readonly base: string; readonly baseSha256: string; readonly depth: number }
  /** The audit log's head when the sidecar was written: `audit verify` detects entries cut off after it. */
  readonly auditHead?: AuditHead
}

export type OriginKind = 'manual' | 'scheduled' | 'uploaded'

/** A verification's outcome as the catalog keeps it. */
export interface VerifyRecord {
  readonly ok: boolean
  /** ISO-8601 UTC. */
  readonly at: string
  /** The first failed check, in words, when not ok. */
  readonly detail?: string
}

export type BackupKind = 'smart' | 'full'

/** What a full backup holds and what made it (restore checks the tool it needs against these). */
export interface NativeFacts {
  readonly format: 'pg-custom' | 'mysql-sql' | 'sqlite-file'
  /** The dump tool and its version, e.g. "pg_dump 15.20", "mariadb-dump 10.11.19-MariaDB", "better-sqlite3 (SQLite 3.46.1)". */
  readonly tool: string
  /** The server's version at dump time, when there is a server. */
  readonly serverVersion?: string
}

/** One backup as `listBackups` reports it. Fields a missing sidecar cannot tell are absent. */
export interface BackupEntry {
  /** File name inside the directory. */
  readonly file: string
  /** Absolute path. */
  readonly path: string
  readonly name: string
  readonly description?: string
  readonly engine?: string
  readonly database?: string
  /** ISO-8601 UTC. From the sidecar, else the file name, else the file's modification time. */
  readonly createdAt: string
  readonly sizeBytes: number
  readonly tables?: readonly string[]
  readonly recordCounts?: Readonly<Record<string, number>>
  readonly compression: Compression
  readonly encrypted: boolean
  readonly sha256?: string
  /** True when a valid sidecar describes the file (so `verify` can check its SHA-256). */
  readonly catalogued: boolean
  /** Set when something is visibly wrong without reading the file (e.g. its size differs from the catalog). */
  readonly problem?: string
  /** 'full' for the engine's own dump (restored with the engine's tools), else 'smart'. */
  readonly kind: BackupKind
  /**
   * 'here': its sidecar carries this installation's seal of its SHA-256 (it was made here);
   * 'foreign': an upload, a copy, a file without a sidecar. Only files made here may use the
   * engine's own full definitions on restore (docs/security.md).
   */
  readonly origin: 'here' | 'foreign'
  /** manual / scheduled / uploaded, from the sidecar; absent when it does not say (older or no sidecar). */
  readonly originKind?: OriginKind
  /** The last recorded verification, or null when none is recorded (or the file changed since). Local listings always set it. */
  readonly verified?: VerifyRecord | null
  /** Set for an incremental backup: the file it applies on top of, and its place in the chain (1 = right after the full backup). */
  readonly incremental?: { readonly parent: string; readonly depth: number }
}

/** A temporary file: a backup being written now, or left by one that was killed. */
export interface UnfinishedFile {
  readonly file: string
  readonly sizeBytes: number
  readonly modifiedAt: string
}

/** 'full' for a file named like a full backup (`.pgdump`, `.sql`, `.sqlite`), else 'smart'. */
export function kindOfFileName(file: string): BackupKind {
  const format = dataFormatOf(path.basename(file))
  return format === undefined || format === 'json' ? 'smart' : 'full'
}

/** Builds the sidecar for a freshly written file from the metadata the backup writer produced. */
export function sidecarFor(
  file: string,
  facts: {
    sizeBytes: number
    sha256: string
    gzip: boolean
    zstd?: boolean
    encrypted: boolean
    name: string
    createdAt: Date
    committedAt: Date
    native?: NativeFacts
    originKey?: Buffer
    /** Default 'manual'. */
    originKind?: OriginKind
  },
  metadata: Partial<BackupMetadata>,
): Sidecar {
  return {
    catalogVersion: CATALOG_VERSION,
    file: path.basename(file),
    name: metadata.backupName ?? facts.name,
    description: metadata.description,
    engine: metadata.engine,
    database: metadata.database,
    schema: metadata.schema,
    createdAt: facts.createdAt.toISOString(),
    exportedAt: metadata.exportedAt,
    committedAt: facts.committedAt.toISOString(),
    sizeBytes: facts.sizeBytes,
    sha256: facts.sha256,
    compression: facts.gzip ? 'gzip' : facts.zstd ? 'zstd' : 'none',
    encrypted: facts.encrypted,
    tables: [...(metadata.tables ?? [])],
    recordCounts: { ...(metadata.recordCounts ?? {}) },
    formatVersion: metadata.version,
    tool: metadata.tool,
    kind: facts.native ? 'full' : 'smart',
    ...(facts.native ? { native: facts.native } : {}),
    ...(facts.originKey ? { originSeal: fileSeal(facts.originKey, facts.sha256) } : {}),
    originKind: facts.originKind ?? 'manual',
    ...(metadata.incremental
      ? {
          incremental: {
            parent: metadata.incremental.parent.file,
            parentSha256: metadata.incremental.parent.sha256,
            base: metadata.incremental.base.file,
            baseSha256: metadata.incremental.base.sha256,
            depth: metadata.incremental.depth,
          },
        }
      : {}),
  }
}

/** A verify report (engine/inspect.ts `verify`) as the catalog records it: ok, or the first failed check. */
export function verifyOutcome(report: { ok: boolean; checks?: readonly { check: string; ok: boolean; detail?: string }[] }): { ok: boolean; detail?: string } {
  const failed = report.checks?.find((c) => !c.ok)
  return { ok: report.ok, ...(report.ok || !failed ? {} : { detail: `${failed.check}: ${failed.detail ?? 'failed'}` }) }
}

/**
 * Records a verification's outcome in the backup's sidecar (rewritten atomically), so the list
 * shows the verified state without reading the file again. Returns false, recording nothing,
 * when the backup has no valid sidecar or its size differs from the catalog's (the outcome would
 * describe another file).
 */
export async function recordVerification(file: string, outcome: { ok: boolean; detail?: string; at?: Date }): Promise<boolean> {
  const sidecar = await readSidecar(file)
  if (!sidecar) return false
  const stat = await fs.stat(file).catch(() => undefined)
  if (!stat || stat.size !== sidecar.sizeBytes) return false
  const lastVerify: VerifyRecord = { ok: outcome.ok, at: (outcome.at ?? new Date()).toISOString(), ...(outcome.detail ? { detail: outcome.detail } : {}) }
  await writeSidecar(file, { ...sidecar, lastVerify })
  return true
}

/** Writes `<file>.meta.json` atomically. */
export async function writeSidecar(file: string, sidecar: Sidecar): Promise<void> {
  // The head of the audit log beside it, as a second record of where the log ended.
  const head = await readAuditHead(path.dirname(file)).catch(() => undefined)
  // A sidecar copied from elsewhere (a download) carries the other directory's head: never kept.
  const { auditHead: _elsewhere, ...own } = sidecar
  const recorded = head && head !== 'damaged' ? { ...own, auditHead: head } : own
  await writeFileAtomic(sidecarPathFor(file), `${JSON.stringify(recorded, null, 2)}\n`)
}

function isSidecar(value: unknown, file: string): value is Sidecar {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return (
    v.catalogVersion === CATALOG_VERSION &&
    v.file === path.basename(file) &&
    typeof v.name === 'string' &&
    typeof v.createdAt === 'string' &&
    !Number.isNaN(Date.parse(v.createdAt)) &&
    Number.isSafeInteger(v.sizeBytes) &&
    typeof v.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(v.sha256) &&
    (v.compression === 'none' || v.compression === 'gzip' || v.compression === 'zstd') &&
    typeof v.encrypted === 'boolean' &&
    Array.isArray(v.tables) &&
    typeof v.recordCounts === 'object' &&
    v.recordCounts !== null
  )
}

/**
 * Reads the sidecar of backup `file`. Undefined when there is none, or when it is not a valid
 * sidecar for this file (unparsable, another version, or naming another file): such a backup is
 * treated as uncatalogued rather than trusted.
 */
export async function readSidecar(file: string): Promise<Sidecar | undefined> {
  let text: string
  try {
    text = await fs.readFile(sidecarPathFor(file), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    const parsed: unknown = JSON.parse(text)
    return isSidecar(parsed, file) ? parsed : undefined
  } catch {
    return undefined
  }
}

/** What the first bytes of a file say: encrypted (and the compression inside), gzip, zstd, or neither. */
export async function sniffFile(file: string): Promise<{ encrypted: boolean; gzip: boolean; compression: Compression }> {
  const handle = await fs.open(file, 'r')
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(HEADER_LENGTH), 0, HEADER_LENGTH, 0)
    const head = buffer.subarray(0, bytesRead)
    if (hasContainerMagic(head)) {
      const flags = head.length > OFFSET_FLAGS ? head[OFFSET_FLAGS] : 0
      const compression: Compression = (flags & FLAG_GZIP_PAYLOAD) !== 0 ? 'gzip' : (flags & FLAG_ZSTD_PAYLOAD) !== 0 ? 'zstd' : 'none'
      return { encrypted: true, gzip: compression === 'gzip', compression }
    }
    const compression = sniffCompression(head)
    return { encrypted: false, gzip: compression === 'gzip', compression }
  } finally {
    await handle.close()
  }
}

async function entryFor(dir: string, file: string): Promise<BackupEntry | undefined> {
  const full = path.join(dir, file)
  let stat
  try {
    stat = await fs.stat(full)
  } catch (error) {
    // Deleted between readdir and stat (a concurrent delete or prune): simply not there any more.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  const sidecar = await readSidecar(full)
  if (sidecar) {
    const problem =
      stat.size < sidecar.sizeBytes
        ? `truncated: ${stat.size} bytes, the catalog records ${sidecar.sizeBytes}`
        : stat.size > sidecar.sizeBytes
          ? `size changed: ${stat.size} bytes, the catalog records ${sidecar.sizeBytes}`
          : undefined
    return {
      file,
      path: full,
      name: sidecar.name,
      description: sidecar.description,
      engine: sidecar.engine,
      database: sidecar.database,
      createdAt: sidecar.createdAt,
      sizeBytes: stat.size,
      tables: sidecar.tables,
      recordCounts: sidecar.recordCounts,
      compression: sidecar.compression,
      encrypted: sidecar.encrypted,
      sha256: sidecar.sha256,
      catalogued: true,
      kind: sidecar.kind ?? kindOfFileName(file),
      origin: madeHere(sidecar) ? 'here' : 'foreign',
      ...(sidecar.originKind ? { originKind: sidecar.originKind } : {}),
      ...(sidecar.incremental ? { incremental: { parent: sidecar.incremental.parent, depth: sidecar.incremental.depth } } : {}),
      // A file whose size changed is no longer the file that was verified.
      verified: problem ? null : (sidecar.lastVerify ?? null),
      ...(problem ? { problem } : {}),
    }
  }
  const parsed = parseBackupFileName(file)
  const sniffed = await sniffFile(full)
  // A hand-made or copied-in file: its own metadata's name and time before its file name and mtime.
  const own = sniffed.compression === 'none' && !sniffed.encrypted && kindOfFileName(file) === 'smart' ? await peekMetadata(full, stat.size) : undefined
  return {
    file,
    path: full,
    name: own?.name ?? parsed?.name ?? file.replace(/\.json(\.gz|\.zst)?(\.enc)?$/, ''),
    ...(own?.description ? { description: own.description } : {}),
    ...(own?.engine ? { engine: own.engine } : {}),
    ...(own?.database ? { database: own.database } : {}),
    ...(own?.tables ? { tables: own.tables } : {}),
    ...(own?.recordCounts ? { recordCounts: own.recordCounts } : {}),
    kind: kindOfFileName(file),
    createdAt: own?.createdAt ?? (parsed?.createdAt ?? stat.mtime).toISOString(),
    sizeBytes: stat.size,
    compression: sniffed.compression,
    encrypted: sniffed.encrypted,
    catalogued: false,
    origin: 'foreign',
    verified: null,
  }
}

/** Whether the sidecar carries this installation's seal of the file's SHA-256. */
export function madeHere(sidecar: Sidecar): boolean {
  const key = originKey()
  return key !== undefined && typeof sidecar.originSeal === 'string' && sidecar.originSeal === fileSeal(key, sidecar.sha256)
}

async function readDirectory(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') throw new UsageError(`${dir} is not a directory.`, { code: 'NOT_A_DIRECTORY' })
    throw error
  }
}

/** Newest first; ties broken by file name so the order is stable. */
function byNewest(a: BackupEntry, b: BackupEntry): number {
  return Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.file < b.file ? 1 : a.file > b.file ? -1 : 0)
}

/**
 * Every backup in `dir`, newest first, from the sidecars (no backup is decompressed or decrypted).
 * Only regular files named like backups are considered: symbolic links, dot files, sidecars and
 * temporary files never appear. A missing directory has no backups (returns []).
 */
export async function listBackups(dir: string): Promise<BackupEntry[]> {
  const entries = await readDirectory(dir)
  const found = await Promise.all(entries.filter((e) => e.isFile() && isBackupDataFileName(e.name)).map((e) => entryFor(dir, e.name)))
  return found.filter((e): e is BackupEntry => e !== undefined).sort(byNewest)
}

/** Temporary files in `dir`: writes in progress and leftovers of killed ones (docs/storage.md). */
export async function listUnfinished(dir: string): Promise<UnfinishedFile[]> {
  const entries = await readDirectory(dir)
  const out: UnfinishedFile[] = []
  for (const entry of entries) {
    if (!entry.isFile() || !isTemporaryFileName(entry.name)) continue
    try {
      const stat = await fs.stat(path.join(dir, entry.name))
      out.push({ file: entry.name, sizeBytes: stat.size, modifiedAt: stat.mtime.toISOString() })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
  return out
}

/**
 * The one backup `ref` names: its file name in `dir`, or a backup name that exactly one backup
 * has. Throws UsageError for unsafe text (see path-safety.ts), for a file that is not a backup
 * (the audit log, a sidecar, a temporary file) and for a name several backups share (listing
 * them); NotFoundError when nothing matches.
 */
export async function findBackup(dir: string, ref: string): Promise<BackupEntry> {
  checkPlainFileName(ref)
  const root = path.resolve(dir)
  const backups = await listBackups(root)
  const byFile = backups.find((b) => b.file === ref)
  if (byFile) {
    confineToDirectory(root, byFile.path)
    return byFile
  }
  const byName = backups.filter((b) => b.name === ref)
  if (byName.length === 1) return byName[0] as BackupEntry
  if (byName.length > 1) {
    throw new UsageError(`${byName.length} backups are named "${ref}": give the file name of one of them (${byName.map((b) => b.file).join(', ')}).`, {
      code: 'AMBIGUOUS_NAME',
      details: { candidates: byName.map((b) => b.file) },
    })
  }
  let exists = false
  try {
    await fs.lstat(path.join(root, ref))
    exists = true
  } catch {
    exists = false
  }
  if (exists) throw new UsageError(`${ref} is not a backup file (see mergeback list).`, { code: 'NOT_A_BACKUP' })
  throw new NotFoundError(`No backup "${ref}" in ${dir} (see mergeback list).`)
}

/**
 * The increments in `dir` whose chain runs through `file` (issue #18): its children, their
 * children and so on, deepest first (the order they can be deleted in). Reads only sidecars.
 */
export async function dependentIncrements(dir: string, file: string): Promise<BackupEntry[]> {
  const backups = await listBackups(dir)
  const parentOf = new Map<string, string>()
  for (const b of backups) {
    const sidecar = await readSidecar(b.path).catch(() => undefined)
    if (sidecar?.incremental !== undefined) parentOf.set(b.file, sidecar.incremental.parent)
  }
  const depthBelow = (child: string): number => {
    let depth = 0
    for (let at: string | undefined = child; at !== undefined && at !== file; at = parentOf.get(at)) depth++
    return depth
  }
  const needs = (child: string): boolean => {
    const seen = new Set<string>()
    for (let at = parentOf.get(child); at !== undefined && !seen.has(at); at = parentOf.get(at)) {
      if (at === file) return true
      seen.add(at)
    }
    return false
  }
  return backups.filter((b) => needs(b.file)).sort((a, b) => depthBelow(b.file) - depthBelow(a.file))
}

/** Throws UsageError `CHAIN_LINK_NEEDED` naming the increments that need `entry`; none: returns []. */
export async function refuseChainLink(dir: string, entry: BackupEntry): Promise<BackupEntry[]> {
  const dependents = await dependentIncrements(dir, entry.file)
  if (dependents.length === 0) return []
  const names = dependents.map((d) => d.file)
  const them = names.length === 1 ? 'that increment' : 'them'
  throw new UsageError(
    `${entry.file} is a link of the chain of ${names.length === 1 ? 'the incremental backup' : `${names.length} incremental backups`} ${names.join(', ')}: deleting it would make ${them} unrestorable. Nothing was deleted. Delete ${them} first, or the backup and every increment that needs it with --with-increments (API: ?withIncrements=true).`,
    { code: 'CHAIN_LINK_NEEDED', details: { file: entry.file, increments: names } },
  )
}

/**
 * Deletes one backup (see `findBackup` for what `ref` may be) and its sidecar, fsyncs the
 * directory and appends a `delete` entry to the audit log (also when the unlink fails). The data
 * file goes first: a crash in between leaves an orphan sidecar, which nothing lists.
 * A backup that increments need (a link of their chain) is refused with a UsageError
 * `CHAIN_LINK_NEEDED` naming them (HTTP 409), unless `withIncrements`, which deletes those
 * increments first, deepest first, each with its own audit entry.
 * Returns the entry that was deleted (`ref`'s; the increments deleted with it in `alsoDeleted`).
 */
export async function deleteBackup(
  dir: string,
  ref: string,
  options: { actor?: string; client?: string; withIncrements?: boolean; alsoDeleted?: BackupEntry[] } = {},
): Promise<BackupEntry> {
  const target = await findBackup(dir, ref)
  const dependents = options.withIncrements === true ? await dependentIncrements(dir, target.file) : await refuseChainLink(dir, target)
  for (const dependent of dependents) {
    await deleteOne(dir, dependent, options)
    options.alsoDeleted?.push(dependent)
  }
  return deleteOne(dir, target, options)
}

async function deleteOne(dir: string, entry: BackupEntry, options: { actor?: string; client?: string }): Promise<BackupEntry> {
  const started = Date.now()
  try {
    await fs.unlink(entry.path)
    await fs.rm(sidecarPathFor(entry.path), { force: true })
    await fs.rm(`${entry.path}.digests`, { force: true })
    await fs.rm(`${entry.path}.stamps`, { force: true })
    await fs.rm(`${entry.path}.blocks`, { force: true })
    await fsyncDirectory(path.resolve(dir))
  } catch (error) {
    await appendAudit(dir, {
      action: 'delete',
      actor: options.actor,
      client: options.client,
      target: entry.file,
      file: entry.file,
      outcome: 'failure',
      durationMs: Date.now() - started,
      error: (error as Error).message,
    })
    throw error
  }
  await appendAudit(dir, { action: 'delete', actor: options.actor, client: options.client, target: entry.file, file: entry.file, outcome: 'success', durationMs: Date.now() - started })
  return entry
}
