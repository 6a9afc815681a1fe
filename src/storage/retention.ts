/**
 * Retention: which backups `prune` keeps, with restic's `forget --keep-*` semantics.
 *
 * Algorithm (per group; by default a group is one backup name, as restic groups by host and paths):
 *   walk the backups newest first; for each rule with a count left, compute the backup's bucket
 *   (last: the backup itself; daily: its UTC date; weekly: its ISO week; monthly: its UTC month).
 *   If the bucket differs from the last bucket that rule kept, the rule keeps this backup, records
 *   the bucket and uses up one of its count. A backup kept by ANY rule stays; the others go.
 * So `--keep-daily 7` keeps the newest backup of each of the last 7 days that have backups
 * (days without backups do not count), and the newest backup of a group is always kept.
 *
 * Only backups named by the naming rule take part; other files in the directory are never
 * removed by prune, and temporary files of backups being written are never even seen.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { UsageError } from '../errors.js'
import { appendAudit } from '../audit/audit-log.js'
import { fsyncDirectory } from './atomic-file.js'
import { listBackups, readSidecar, type BackupEntry } from './catalog.js'
import { parseBackupFileName, sidecarPathFor } from './naming.js'

export interface RetentionPolicy {
  readonly keepLast?: number
  readonly keepDaily?: number
  readonly keepWeekly?: number
  readonly keepMonthly?: number
  /** 'name' (default): each backup name is pruned on its own; 'none': all backups as one group. */
  readonly groupBy?: 'name' | 'none'
}

/** What retention needs to know about a backup. */
export interface RetentionCandidate {
  readonly file: string
  readonly name: string
  /** ISO-8601 or a Date. */
  readonly createdAt: string | Date
}

export interface RetentionDecision<T extends RetentionCandidate> {
  readonly backup: T
  readonly keep: boolean
  /** Why it is kept, one per rule that keeps it: "last", "daily 2026-11-22", "weekly 2026-W47", "monthly 2026-11". Empty when removed. */
  readonly reasons: readonly string[]
}

type Rule = { readonly kind: 'last' | 'daily' | 'weekly' | 'monthly'; readonly count: number; readonly bucket: (date: Date, index: number) => string }

const RULES: readonly { kind: Rule['kind']; key: keyof RetentionPolicy; bucket: Rule['bucket'] }[] = [
  { kind: 'last', key: 'keepLast', bucket: (_date, index) => String(index) },
  { kind: 'daily', key: 'keepDaily', bucket: (date) => date.toISOString().slice(0, 10) },
  { kind: 'weekly', key: 'keepWeekly', bucket: (date) => isoWeek(date) },
  { kind: 'monthly', key: 'keepMonthly', bucket: (date) => date.toISOString().slice(0, 7) },
]

/** ISO-8601 week of a UTC date, e.g. "2026-W47" (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()))
  const weekday = day.getUTCDay() || 7
  day.setUTCDate(day.getUTCDate() + 4 - weekday) // the Thursday of this week decides its year
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1)
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7)
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`
}

/** Throws UsageError for a negative or fractional count, or a policy that keeps nothing (it would remove every backup). */
export function checkPolicy(policy: RetentionPolicy): void {
  let any = false
  for (const { key } of RULES) {
    const value = policy[key]
    if (value === undefined) continue
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new UsageError(`${key} must be a whole number ≥ 0, got ${JSON.stringify(value)}.`, { code: 'BAD_POLICY' })
    }
    if (value > 0) any = true
  }
  if (policy.groupBy !== undefined && policy.groupBy !== 'name' && policy.groupBy !== 'none') {
    throw new UsageError(`groupBy must be "name" or "none", got ${JSON.stringify(policy.groupBy)}.`, { code: 'BAD_POLICY' })
  }
  if (!any) {
    throw new UsageError('Refusing to prune with an empty policy (it would remove every backup): give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly.', {
      code: 'EMPTY_POLICY',
    })
  }
}

/**
 * Decides, for every backup given, whether the policy keeps it and why (see the module header).
 * Pure: no filesystem. Throws UsageError for an invalid or empty policy. Decisions come back in
 * the order of the input.
 */
export function applyRetention<T extends RetentionCandidate>(backups: readonly T[], policy: RetentionPolicy): RetentionDecision<T>[] {
  checkPolicy(policy)
  const groups = new Map<string, T[]>()
  for (const backup of backups) {
    const key = policy.groupBy === 'none' ? '' : backup.name
    groups.set(key, [...(groups.get(key) ?? []), backup])
  }
  const reasons = new Map<T, string[]>()
  for (const group of groups.values()) {
    const newestFirst = [...group].sort((a, b) => time(b) - time(a) || (a.file < b.file ? 1 : a.file > b.file ? -1 : 0))
    const state = RULES.map((rule) => ({ ...rule, left: policy[rule.key] as number | undefined, last: undefined as string | undefined }))
    newestFirst.forEach((backup, index) => {
      const kept: string[] = []
      const date = new Date(time(backup))
      for (const rule of state) {
        if (!rule.left) continue
        const bucket = rule.bucket(date, index)
        if (bucket === rule.last) continue
        rule.last = bucket
        rule.left -= 1
        kept.push(rule.kind === 'last' ? 'last' : `${rule.kind} ${bucket}`)
      }
      reasons.set(backup, kept)
    })
  }
  return backups.map((backup) => {
    const why = reasons.get(backup) ?? []
    return { backup, keep: why.length > 0, reasons: why }
  })
}

function time(backup: RetentionCandidate): number {
  const value = typeof backup.createdAt === 'string' ? Date.parse(backup.createdAt) : backup.createdAt.getTime()
  if (Number.isNaN(value)) throw new UsageError(`Backup ${backup.file} has no valid creation time.`)
  return value
}

export interface PrunePlanEntry {
  readonly file: string
  readonly name: string
  readonly createdAt: string
  readonly sizeBytes: number
  readonly reasons: readonly string[]
}

export interface PruneReport {
  readonly dryRun: boolean
  /** When the plan was made (ISO-8601). */
  readonly at: string
  readonly policy: RetentionPolicy
  readonly keep: readonly PrunePlanEntry[]
  readonly remove: readonly PrunePlanEntry[]
  /** Files that look like backups but are not named by the naming rule: never pruned. */
  readonly ignored: readonly string[]
}

function planEntry(entry: BackupEntry, reasons: readonly string[]): PrunePlanEntry {
  return { file: entry.file, name: entry.name, createdAt: entry.createdAt, sizeBytes: entry.sizeBytes, reasons }
}

/**
 * An incremental backup needs every link of its chain down to its full backup (issue #18): a
 * backup that a kept increment needs is kept too, with the reason `needed by <increment>`.
 */
async function keepChainLinks(
  dir: string,
  decided: readonly { readonly backup: BackupEntry; readonly keep: boolean; readonly reasons: readonly string[] }[],
): Promise<{ backup: BackupEntry; keep: boolean; reasons: string[] }[]> {
  const decisions = decided.map((d) => ({ backup: d.backup, keep: d.keep, reasons: [...d.reasons] }))
  const byFile = new Map(decisions.map((d) => [d.backup.file, d]))
  const parents = new Map<string, string>()
  for (const d of decisions) {
    const sidecar = await readSidecar(path.join(dir, d.backup.file))
    if (sidecar?.incremental) parents.set(d.backup.file, sidecar.incremental.parent)
  }
  for (const kept of decisions.filter((d) => d.keep && parents.has(d.backup.file))) {
    let child = kept.backup.file
    for (let parent = parents.get(child); parent !== undefined; parent = parents.get(child)) {
      const decision = byFile.get(parent)
      if (decision === undefined) break
      decision.keep = true
      if (!decision.reasons.includes(`needed by ${kept.backup.file}`)) decision.reasons.push(`needed by ${kept.backup.file}`)
      child = parent
    }
  }
  return decisions
}

/** What `prune` would do now, without changing anything or writing to the audit log. */
export async function planPrune(dir: string, policy: RetentionPolicy, options: { now?: Date; only?: (entry: BackupEntry) => boolean } = {}): Promise<PruneReport> {
  checkPolicy(policy)
  const backups = await listBackups(dir)
  // `only` narrows the plan to some backups (a schedule prunes its own); the others are not even considered.
  const managed = backups.filter((b) => parseBackupFileName(b.file) !== undefined && (options.only?.(b) ?? true))
  const decisions = await keepChainLinks(dir, applyRetention(managed, policy))
  return {
    dryRun: true,
    at: (options.now ?? new Date()).toISOString(),
    policy,
    keep: decisions.filter((d) => d.keep).map((d) => planEntry(d.backup, d.reasons)),
    remove: decisions.filter((d) => !d.keep).map((d) => planEntry(d.backup, [])),
    ignored: backups.filter((b) => parseBackupFileName(b.file) === undefined).map((b) => b.file),
  }
}

/**
 * Applies `policy` to the backups in `dir`: removes each backup no rule keeps (data file first,
 * then its sidecar), fsyncs the directory, and appends one `prune` entry to the audit log (with
 * outcome `dry-run` when `dryRun`, which changes nothing else). Throws UsageError for an empty or
 * invalid policy before looking at anything. If a removal fails, the others are still attempted,
 * the audit entry says `failure`, and the first error is thrown.
 */
export async function prune(dir: string, policy: RetentionPolicy, options: { dryRun?: boolean; now?: Date; actor?: string; client?: string; only?: (entry: BackupEntry) => boolean } = {}): Promise<PruneReport> {
  const started = Date.now()
  const plan = await planPrune(dir, policy, options)
  const report: PruneReport = { ...plan, dryRun: options.dryRun ?? false }
  const counts = { kept: plan.keep.length, removed: options.dryRun ? 0 : plan.remove.length, wouldRemove: plan.remove.length }
  const audit = (outcome: 'success' | 'failure' | 'dry-run', error?: string) =>
    appendAudit(dir, {
      action: 'prune',
      actor: options.actor,
      client: options.client,
      target: path.resolve(dir),
      options: policy,
      outcome,
      counts,
      files: plan.remove.map((r) => r.file),
      durationMs: Date.now() - started,
      error,
    })
  if (options.dryRun) {
    await audit('dry-run')
    return report
  }
  let firstError: unknown
  for (const entry of plan.remove) {
    const file = path.join(dir, entry.file)
    try {
      await fs.unlink(file)
      await fs.rm(sidecarPathFor(file), { force: true })
      await fs.rm(`${file}.digests`, { force: true })
      await fs.rm(`${file}.stamps`, { force: true })
      await fs.rm(`${file}.blocks`, { force: true })
    } catch (error) {
      // A backup a concurrent delete already removed is gone, as wanted.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') firstError ??= error
    }
  }
  if (plan.remove.length > 0) await fsyncDirectory(dir)
  if (firstError !== undefined) {
    await audit('failure', (firstError as Error).message)
    throw firstError
  }
  await audit('success')
  return report
}
