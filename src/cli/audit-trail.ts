/**
 * What the CLI appends to the audit log (DESIGN.md §7) after backup, restore and merge.
 *
 * Bad input (exit 2: bad usage, a damaged or missing file) is not recorded: such a command
 * changes nothing, and that includes the backup directory. Everything else — success, failure
 * with a rollback, refusal — is. The log lives in the backup directory and is only written when
 * that directory exists (a restore from a file elsewhere does not create one).
 */
import fs from 'node:fs'
import { appendAudit } from '../audit/audit-log.js'
import { redactUrl } from '../adapters/registry.js'
import { asMergebackError } from '../errors.js'
import { exitCodeFor, EXIT_BAD_INPUT } from './exit-codes.js'

export interface AuditFacts {
  readonly action: 'backup' | 'restore' | 'merge' | 'analyze' | 'reseal' | 'recover'
  /** The database (absent for an action on a file only, e.g. reseal). */
  readonly db?: string
  readonly options: unknown
  readonly outcome: 'success' | 'failure' | 'dry-run' | 'refused'
  readonly started: number
  readonly counts?: unknown
  readonly file?: string
  readonly error?: unknown
}

export async function recordAudit(dir: string | undefined, facts: AuditFacts): Promise<void> {
  if (!dir || !fs.existsSync(dir)) return
  if (facts.error !== undefined && exitCodeFor(facts.error) === EXIT_BAD_INPUT) return
  await appendAudit(dir, {
    action: facts.action,
    ...(facts.db === undefined ? {} : { target: redactUrl(facts.db) }),
    options: facts.options,
    outcome: facts.error !== undefined && facts.outcome === 'failure' ? 'failure' : facts.outcome,
    counts: facts.counts,
    durationMs: Date.now() - facts.started,
    file: facts.file,
    error: facts.error === undefined ? undefined : asMergebackError(facts.error).message,
  })
}
