/**
 * The zod schemas the API shares between routes: request bodies, and the response shapes the
 * OpenAPI document shows. Response schemas describe; they are not used to filter output.
 */
import { z } from 'zod'
import { STRATEGIES } from '../merge/strategies.js'

const tableList = z.array(z.string().min(1)).max(10_000)
const alias = z.string().min(1).max(200)

export const BackupSchema = z
  .object({
    file: z.string(),
    name: z.string(),
    description: z.string().optional(),
    engine: z.string().optional(),
    database: z.string().optional(),
    createdAt: z.string(),
    sizeBytes: z.number(),
    tables: z.array(z.string()).optional(),
    recordCounts: z.record(z.string(), z.number()).optional(),
    compression: z.enum(['none', 'gzip', 'zstd']),
    encrypted: z.boolean(),
    sha256: z.string().optional(),
    catalogued: z.boolean(),
    problem: z.string().optional(),
    kind: z.enum(['smart', 'full']),
    /** here: sealed by this installation; foreign: uploaded, copied in, or no sidecar. */
    origin: z.enum(['here', 'foreign']),
    /** How it came to be: made on request, by a schedule, or uploaded (absent for older sidecars and files without one). */
    originKind: z.enum(['manual', 'scheduled', 'uploaded']).optional(),
    /** The last recorded verification (null: none, or the file changed since). */
    verified: z.object({ ok: z.boolean(), at: z.string(), detail: z.string().optional() }).nullable(),
    /** An incremental backup (issue #18): the file it applies on top of, and its place in the chain (1 = right after the full backup). */
    incremental: z.object({ parent: z.string(), depth: z.number().int() }).optional(),
  })
  .meta({ id: 'Backup' })

export const ProgressSchema = z
  .object({
    phase: z.string().nullable(),
    table: z.string().nullable(),
    tableRowsDone: z.number(),
    tableRowsTotal: z.number().nullable(),
    rowsDone: z.number(),
    bytes: z.number().nullable(),
    rate: z.number(),
    elapsedMs: z.number(),
  })
  .meta({ id: 'JobProgress' })

export const JobSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['backup', 'restore', 'analyze', 'merge', 'verify', 'inspect', 'stats', 'upload-check', 'schedule']),
    state: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
    database: z.string().nullable(),
    file: z.string().nullable(),
    actor: z.object({ name: z.string(), role: z.string() }).nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
    progress: ProgressSchema,
    result: z.unknown(),
    error: z.object({ status: z.number(), error: z.string(), code: z.string(), details: z.record(z.string(), z.unknown()) }).nullable(),
  })
  .meta({ id: 'Job' })

export const JobStartedSchema = z.object({ success: z.literal(true), jobId: z.string(), job: JobSchema })

/** analyze's answer: with `savePlan`, the id of the saved plan (for merge's `plan`). */
export const AnalyzeStartedSchema = JobStartedSchema.extend({ planId: z.string().optional() })

const counts = z.object({
  new: z.number(),
  unchanged: z.number(),
  updated: z.number(),
  kept: z.number(),
  conflicts: z.number(),
  resolved: z.object({ backup: z.number(), current: z.number(), merged: z.number() }),
  unresolved: z.number(),
  currentOnly: z.number(),
  /** Three-way merge only (a `base` was given): in the base and here, gone from the backup, unchanged here. */
  deletedInBackup: z.number().optional(),
  /** Three-way only: in the base and the backup, unchanged there, gone from here (stays deleted). */
  deletedHere: z.number().optional(),
  /** Three-way only: records the merge deletes (non-zero only with applyDeletions). */
  deleted: z.number().optional(),
})

export const MergeReportSchema = z
  .object({
    tables: z.record(z.string(), counts),
    totals: counts,
    conflicts: z.array(
      z.object({
        table: z.string(),
        key: z.unknown(),
        fields: z.array(z.object({ name: z.string(), base: z.unknown().optional(), backup: z.unknown(), current: z.unknown() })),
        /** Three-way only: which sides changed the record (delete = that side deleted it). */
        kind: z.enum(['modify/modify', 'delete/modify', 'modify/delete']).optional(),
        resolution: z.enum(['backup', 'current', 'merged', 'unresolved']),
      }),
    ),
    // Per table, the keys of new, updated and kept records: at most 100 each, `more` counts the rest.
    records: z.record(
      z.string(),
      z.object({
        new: z.object({ keys: z.array(z.unknown()), more: z.number() }),
        updated: z.object({ keys: z.array(z.unknown()), more: z.number() }),
        kept: z.object({ keys: z.array(z.unknown()), more: z.number() }),
      }),
    ),
  })
  .meta({ id: 'MergeReport' })

export const RestoreReportSchema = z
  .object({
    file: z.string(),
    target: z.string(),
    dryRun: z.boolean(),
    tables: z.record(z.string(), z.object({ inserted: z.number(), skipped: z.number(), created: z.boolean(), emptied: z.boolean() })),
    totals: z.object({ inserted: z.number(), skipped: z.number() }),
    warnings: z.array(z.string()),
    durationMs: z.number(),
    /** Database sessions that loaded the data: more than 1 for a staged restore on PostgreSQL (docs/adapters.md). */
    sessions: z.number().int(),
  })
  .meta({ id: 'RestoreReport' })

export const StrategySchema = z.enum(STRATEGIES)

export const ResolutionSchema = z.object({
  table: z.string(),
  key: z.unknown(),
  resolution: z.union([z.enum(['backup', 'current', 'merge']), z.object({ fields: z.record(z.string(), z.unknown()) })]),
})

export const CreateBackupBody = z
  .object({
    database: alias.optional(),
    name: z.string().min(1).max(100).optional(),
    description: z.string().max(10_000).optional(),
    gzip: z.boolean().optional(),
    /** zstd instead of gzip (`.json.zst`): smaller and faster; not both (400 BAD_COMPRESSION). */
    zstd: z.boolean().optional(),
    /** Encrypt with the server's passphrase (default: the server's default, on when it has one); 400 NO_PASSPHRASE when it has none. */
    encrypt: z.boolean().optional(),
    tables: tableList.optional(),
    exclude: tableList.optional(),
    includeIndexes: z.boolean().optional(),
    /** Issue #18: only the changes since the newest backup of the same name (or since `since`). */
    incremental: z.boolean().optional(),
    since: z.string().min(1).max(300).optional(),
    changedSinceColumn: z.string().min(1).max(200).optional(),
  })
  .strict()

export const RestoreBody = z
  .object({
    database: alias.optional(),
    targetDatabase: alias.optional(),
    drop: z.boolean().optional(),
    dryRun: z.boolean().optional(),
    tables: tableList.optional(),
    exclude: tableList.optional(),
    /** As the CLI's --drop-unsafe-definitions: leave out, with a warning, what the schema guard cannot rebuild (docs/security.md). */
    dropUnsafeDefinitions: z.boolean().optional(),
  })
  .strict()

export const AnalyzeBody = z
  .object({
    database: alias.optional(),
    targetDatabase: alias.optional(),
    conflictResolution: StrategySchema.optional(),
    preserveNewer: z.boolean().optional(),
    timestampField: z.string().min(1).max(200).optional(),
    tables: tableList.optional(),
    exclude: tableList.optional(),
    resolutions: z.array(ResolutionSchema).max(1_000_000).optional(),
    /** Accepted as restore's; a merge creates no table and always leaves such definitions out (docs/security.md). */
    dropUnsafeDefinitions: z.boolean().optional(),
    /** Save the analysis as a plan; the answer's `planId` names it for a merge's `plan`. */
    savePlan: z.boolean().optional(),
    /** Three-way merge (issue #18): a backup in the backup directory that both sides started from. */
    base: z.string().min(1).max(1000).optional(),
    /** Three-way merge: delete records deleted in the backup and unchanged here (merge: super_admin). */
    applyDeletions: z.boolean().optional(),
  })
  .strict()

/** A plan id as `analyze` with `savePlan` answers it. */
export const PlanIdSchema = z.string().regex(/^p_[A-Za-z0-9_-]{16,64}$/, 'a plan id as analyze answered it (p_…)')

export const MergeBody = AnalyzeBody.omit({ savePlan: true })
  .extend({
    dryRun: z.boolean().optional(),
    skipUnresolved: z.boolean().optional(),
    /** Apply exactly this saved plan (its options win), or refuse with 409 stale-plan if the database changed since. */
    plan: PlanIdSchema.optional(),
  })
  .strict()

export const PruneBody = z
  .object({
    keepLast: z.number().int().min(0).optional(),
    keepDaily: z.number().int().min(0).optional(),
    keepWeekly: z.number().int().min(0).optional(),
    keepMonthly: z.number().int().min(0).optional(),
    dryRun: z.boolean().optional(),
  })
  .strict()

export const SuccessSchema = z.object({ success: z.literal(true) }).passthrough()
