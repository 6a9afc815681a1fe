/**
 * What the route modules share: starting a job for a request (with its audit entry when it
 * ends), answering with a job's error, and the audit entry of a request.
 */
import { appendAudit, type AuditAction, type AuditOutcome } from '../../audit/audit-log.js'
import type { AppContext, AppDeps } from '../context.js'
import { actorLabel, clientAddress } from '../context.js'
import type { JobView, StartJob } from '../jobs/job-manager.js'
import type { JobError } from '../jobs/protocol.js'

/** Appends an audit entry for this request; a failing append is logged, never turned into the request's error. */
export async function auditRequest(
  c: AppContext,
  deps: AppDeps,
  entry: { action: AuditAction; outcome: AuditOutcome; target?: string; options?: unknown; counts?: unknown; file?: string; error?: string; durationMs?: number },
): Promise<void> {
  await appendAudit(deps.config.dir, { ...entry, actor: actorLabel(c.var.actor), client: clientAddress(c) }).catch((error: unknown) =>
    deps.logger.error('audit append failed', { requestId: c.var.requestId, error: (error as Error).message }),
  )
}

const AUDITED: Partial<Record<JobView['kind'], AuditAction>> = {
  backup: 'backup',
  restore: 'restore',
  merge: 'merge',
  analyze: 'analyze',
  verify: 'verify',
  'upload-check': 'upload',
}

function outcomeOf(job: JobView, dryRun: boolean): AuditOutcome {
  if (job.state === 'succeeded') return dryRun ? 'dry-run' : 'success'
  if (job.error?.code === 'MERGE_REFUSED') return 'refused'
  return 'failure'
}

function countsOf(result: unknown): unknown {
  if (!result || typeof result !== 'object') return undefined
  const r = result as Record<string, unknown>
  if (r.totals) return r.totals
  if (r.metadata && typeof r.metadata === 'object') return (r.metadata as Record<string, unknown>).recordCounts
  return r.tables
}

/**
 * Starts a job for this request; when it ends, appends its audit entry (actor, client, options,
 * outcome, counts). `target` is what it acted on (a redacted database URL or a file).
 */
export function startJob(c: AppContext, deps: AppDeps, request: StartJob & { target?: string; auditOptions?: unknown; dryRun?: boolean }): JobView {
  const job = deps.jobs.start({ ...request, actor: c.var.actor })
  const action = AUDITED[job.kind]
  if (action) {
    const actor = actorLabel(c.var.actor)
    const client = clientAddress(c)
    const started = Date.parse(job.createdAt)
    void deps.jobs.wait(job.id).then((done) =>
      appendAudit(deps.config.dir, {
        action,
        actor,
        client,
        target: request.target,
        file: request.file,
        options: { jobId: job.id, ...(request.auditOptions as object | undefined) },
        outcome: outcomeOf(done, Boolean(request.dryRun)),
        counts: done.state === 'succeeded' ? countsOf(done.result) : undefined,
        durationMs: Date.now() - started,
        error: done.error?.error,
      }).catch((error: unknown) => deps.logger.error('audit append failed', { jobId: job.id, error: (error as Error).message })),
    )
  }
  return job
}

/** The error document of a failed or cancelled job, with its status. */
export function jobErrorResponse(c: AppContext, error: JobError, extra: Record<string, unknown> = {}): Response {
  const { status, ...document } = error
  return c.json({ ...document, success: false, ...extra }, status as 400)
}

/** 202 with the job. */
export function accepted(c: AppContext, job: JobView): Response {
  return c.json({ success: true, jobId: job.id, job }, 202)
}
