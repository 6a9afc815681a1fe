/**
 * What every engine's staged writes share (issue #13 finding 2, issue #17): a restore that builds
 * its tables where nobody sees them and swaps them in at the end names them after a per-run id,
 * and holds a server lock named after that id while it runs. Leftovers of a run whose lock is
 * free belong to a run that died: the next run and `mergeback recover` remove them.
 *
 * MySQL/MariaDB stage tables (`_mb_stage_<run id>_<table>`, mysql-staging.ts); PostgreSQL stages
 * a whole schema (`_mb_stage_<run id>`, postgres-staged-restore.ts).
 */
import { randomBytes } from 'node:crypto'

export const STAGE_PREFIX = '_mb_stage_'
export const OLD_PREFIX = '_mb_old_'
export const RUN_ID_LENGTH = 8

/** A fresh run id: 8 lowercase base-36 characters (about 41 bits). */
export function newRunId(): string {
  let id = ''
  for (const byte of randomBytes(RUN_ID_LENGTH)) id += (byte % 36).toString(36)
  return id
}

/** The server lock a run holds while its staging tables may be in use. */
export function runLockName(runId: string): string {
  return `mergeback_stage_${runId}`
}
