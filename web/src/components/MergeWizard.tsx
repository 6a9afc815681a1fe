/**
 * The smart-merge wizard (seed 000's six steps, made safer):
 *   1 Backup   choose one on the server or upload one
 *   2 Options  strategy (with the seed's "best for"), preserve newer, tables, timestamp field
 *   3 Analyze  the per-table summary, then the conflict review (choices per record)
 *   4 Dry run  the whole merge with the choices, rolled back: constraint problems show here
 *   5 Merge    after a final confirmation; the report
 * Changing an option after the analysis discards it (the preview must be of what will run).
 * A stale plan — the database changed since the analysis — is explained, with "Analyze again".
 */
import { useEffect, useMemo, useState } from 'preact/hooks'
import {
  followJob,
  resultOf,
  startAnalyze,
  startMerge,
  type JobProgress,
  type MergeConflict,
  type MergeOptions,
  type MergeReport,
  type Resolution,
  type ResolutionEntry,
  type Strategy,
} from '../api/api'
import type { ApiError } from '../api/client'
import { href, navigate } from '../router'
import { Button, Card, Checkbox, ErrorNote, Field, Notice, formatCount, plural } from './base/ui'
import { ConfirmDialog } from './base/confirm-dialog'
import { BackupPicker, useBackups } from './BackupPicker'
import { ConflictReview, conflictId } from './ConflictReview'
import { JobProgressView } from './JobProgressView'
import { MergeReportTable } from './MergeReportTable'
import { announceJob } from './JobBanner'
import { ChosenBackup, WizardHeader } from './Steps'
import { useSession } from './App'

export const STRATEGY_CHOICES: readonly { value: Strategy; label: string; what: string; bestFor: string }[] = [
  { value: 'backup_wins', label: 'Backup wins', what: 'Uses the backup’s data for all conflicts.', bestFor: 'Restoring from an authoritative source' },
  { value: 'current_wins', label: 'Current wins', what: 'Keeps current data, skips conflicting updates.', bestFor: 'Preserving recent local changes' },
  { value: 'merge_fields', label: 'Merge fields', what: 'Combines non-conflicting fields; where both changed, the newer record’s value.', bestFor: 'Getting the best of both datasets' },
  { value: 'manual', label: 'Manual resolution', what: 'You review each conflict; none is written until you choose.', bestFor: 'Critical data requiring careful review' },
]

const STEPS = ['Backup', 'Options', 'Analyze & review', 'Dry run', 'Merge']

type Phase = { kind: 'idle' } | { kind: 'running'; what: 'analyze' | 'dryRun' | 'merge'; progress: JobProgress | null }

export function MergeWizard(props: { params: URLSearchParams }) {
  const [file, setFile] = useState<string | null>(props.params.get('file'))
  const [step, setStep] = useState(file ? 1 : 0)
  const [strategy, setStrategy] = useState<Strategy>('backup_wins')
  const [preserveNewer, setPreserveNewer] = useState(true)
  const [timestampField, setTimestampField] = useState('')
  const [base, setBase] = useState('')
  const [applyDeletions, setApplyDeletions] = useState(false)
  const session = useSession()
  const superAdmin = session.who.role === 'super_admin'
  /** Deletions are offered to a super_admin with a base only; the API has the last word. */
  const deletions = Boolean(base) && superAdmin && applyDeletions
  const [excluded, setExcluded] = useState<ReadonlySet<string>>(new Set())
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' })
  const [analysis, setAnalysis] = useState<MergeReport | null>(null)
  const [choices, setChoices] = useState<ReadonlyMap<string, Resolution>>(new Map())
  const [dryRun, setDryRun] = useState<MergeReport | null>(null)
  const [planId, setPlanId] = useState<string | null>(null)
  const [done, setDone] = useState<MergeReport | null>(null)
  const [error, setError] = useState<ApiError | null>(null)
  const [stale, setStale] = useState<string | null>(null)
  const [confirming, setConfirming] = useState(false)
  const { backups } = useBackups()
  const backup = backups?.find((b) => b.file === file)
  const tables = backup?.tables ?? []

  useEffect(() => {
    const f = props.params.get('file')
    if (f && f !== file) {
      setFile(f)
      setStep(1)
    }
  }, [props.params.get('file')])

  /** Anything that changes what the merge would do discards the analysis and what followed. */
  const invalidate = () => {
    setAnalysis(null)
    setDryRun(null)
    setPlanId(null)
    setDone(null)
    setError(null)
    setStale(null)
  }
  /** A setter for an option that changes what the merge would do: it also discards the analysis. */
  const changing =
    <T,>(set: (value: T) => void) =>
    (value: T) => {
      set(value)
      invalidate()
    }

  const options = (extra: Partial<MergeOptions> = {}): MergeOptions => {
    const selected = tables.filter((t) => !excluded.has(t))
    return {
      conflictResolution: strategy,
      preserveNewer,
      timestampField: timestampField.trim() || undefined,
      tables: excluded.size > 0 ? selected : undefined,
      base: base || undefined,
      applyDeletions: deletions || undefined,
      ...extra,
    }
  }

  const resolutions = (conflicts: readonly MergeConflict[]): ResolutionEntry[] =>
    conflicts.flatMap((c) => {
      const r = choices.get(conflictId(c))
      return r === undefined ? [] : [{ table: c.table, key: c.key, resolution: r }]
    })

  /** Runs one job to its end; a refusal is shown where it belongs (a stale plan has its own card). */
  const run = async (what: 'analyze' | 'dryRun' | 'merge', start: () => Promise<{ job: { id: string }; planId?: string }>): Promise<{ report: MergeReport; planId?: string } | null> => {
    setError(null)
    setStale(null)
    setPhase({ kind: 'running', what, progress: null })
    try {
      const { job, planId } = await start()
      announceJob()
      const report = resultOf(await followJob<MergeReport>(job.id, (progress) => setPhase({ kind: 'running', what, progress })))
      return { report, planId }
    } catch (e) {
      const err = e as ApiError
      if (err.code === 'MERGE_REFUSED' && err.details?.reason === 'stale-plan') {
        setStale(err.message)
        setDryRun(null)
        setPlanId(null)
      } else setError(err)
      return null
    } finally {
      setPhase({ kind: 'idle' })
    }
  }

  const analyze = async () => {
    if (!file) return
    const keep = choices
    invalidate()
    const r = await run('analyze', () => startAnalyze(file, options()))
    if (r) {
      // Choices made before an "analyze again" stay for the conflicts that are still there.
      const still = new Set(r.report.conflicts.map(conflictId))
      setChoices(new Map([...keep].filter(([id]) => still.has(id))))
      setAnalysis(r.report)
      setStep(2)
    }
  }

  /**
   * The dry run rehearses the whole merge with the person's choices in a transaction that is
   * rolled back (constraint problems show here), and saves it as a plan: "Perform merge" then
   * applies exactly this plan, or is refused if the database changed in between.
   */
  const doDryRun = async () => {
    if (!file || !analysis) return
    setDryRun(null)
    setPlanId(null)
    const r = await run('dryRun', () => startAnalyze(file, options({ resolutions: resolutions(analysis.conflicts), savePlan: true })))
    if (r) {
      setDryRun(r.report)
      setPlanId(r.planId ?? null)
      setStep(3)
    }
  }

  const doMerge = async () => {
    if (!file || !analysis) return
    const r = await run('merge', () => startMerge(file, planId ? { plan: planId, base: base || undefined } : options({ resolutions: resolutions(analysis.conflicts) })))
    if (r) {
      setDone(r.report)
      setStep(4)
    }
  }

  const unresolved = useMemo(() => (analysis && strategy === 'manual' ? analysis.conflicts.filter((c) => !choices.has(conflictId(c))).length : 0), [analysis, choices, strategy])
  const busy = phase.kind === 'running'

  return (
    <>
      <WizardHeader
        title="Smart merge"
        intro={deletions ? "Adds what is missing, updates what changed, lets you settle conflicts, and deletes the records the backup deleted since the base (you asked for it: the analysis lists them). Nothing is written before the last step." : "Adds what is missing, updates what changed, lets you settle conflicts — and never deletes current data. Nothing is written before the last step."}
        steps={STEPS}
        current={step}
        busy={busy}
        onGo={setStep}
      />

      {step === 0 && (
        <Card title="1. Choose a backup">
          <BackupPicker
            legend="Backup to merge into the database"
            selected={file}
            onSelect={(f) => {
              setFile(f)
              invalidate()
              setExcluded(new Set())
            }}
          />
          <div class="form-actions">
            <Button kind="primary" disabled={!file} onClick={() => setStep(1)}>
              Next: options
            </Button>
          </div>
        </Card>
      )}

      {step === 1 && file && (
        <Card title="2. Options">
          <ChosenBackup file={file} onChange={() => setStep(0)} />
          <fieldset>
            <legend>When both sides changed a record (conflict strategy)</legend>
            <div class="radio-cards">
              {STRATEGY_CHOICES.map((s) => (
                <label class="radio-card" key={s.value}>
                  <input
                    type="radio"
                    name="strategy"
                    value={s.value}
                    checked={strategy === s.value}
                    onChange={() => changing(setStrategy)(s.value)}
                  />
                  <span>
                    <strong>{s.label}</strong>
                    <span class="hint">{s.what}</span>
                    <span class="hint best-for">
                      <strong>Best for:</strong> {s.bestFor}
                    </span>
                  </span>
                </label>
              ))}
            </div>
          </fieldset>
          <Checkbox
            label="Preserve newer"
            hint="When both records carry a timestamp, the newer one wins and it is not a conflict (recommended)."
            checked={preserveNewer}
            onChange={changing(setPreserveNewer)}
          />
          <Field label="Base backup (three-way merge, optional)" hint="The backup both this backup and the database started from: then the side that changed a field wins, and records deleted on one side are reported (deleted here only with “Apply deletions”).">
            {(id, d) => (
              <select
                id={id}
                class="input"
                style={{ maxWidth: '30rem' }}
                value={base}
                aria-describedby={d}
                onChange={(e) => changing(setBase)((e.currentTarget as HTMLSelectElement).value)}
              >
                <option value="">None (two-way merge)</option>
                {(backups ?? [])
                  .filter((b) => b.file !== file)
                  .map((b) => (
                    <option key={b.file} value={b.file}>
                      {b.file}
                    </option>
                  ))}
              </select>
            )}
          </Field>
          {base && superAdmin && (
            <div class="apply-deletions">
              <Checkbox
                label="Apply deletions"
                hint="Delete the records the backup deleted and this database did not change since the base. Previewed in the analysis and the dry run like everything else."
                checked={applyDeletions}
                onChange={changing(setApplyDeletions)}
              />
              {deletions && error && <ErrorNote>{error.message}</ErrorNote>}
            </div>
          )}
          <Field label="Timestamp field" hint="Leave empty to use the first of updatedAt, updated_at, modifiedAt, modified_at a table has.">
            {(id, d) => (
              <input
                id={id}
                class="input"
                style={{ maxWidth: '20rem' }}
                value={timestampField}
                aria-describedby={d}
                placeholder="updatedAt"
                onInput={(e) => changing(setTimestampField)((e.currentTarget as HTMLInputElement).value)}
              />
            )}
          </Field>
          {tables.length > 0 && (
            <fieldset>
              <legend>Tables to merge</legend>
              <div class="table-picks">
                {tables.map((t) => (
                  <Checkbox
                    key={t}
                    label={t}
                    hint={backup?.recordCounts?.[t] !== undefined ? `${formatCount(backup.recordCounts[t])} records in the backup` : undefined}
                    checked={!excluded.has(t)}
                    onChange={(on) => {
                      const n = new Set(excluded)
                      if (on) n.delete(t)
                      else n.add(t)
                      setExcluded(n)
                      invalidate()
                    }}
                  />
                ))}
              </div>
              {excluded.size === tables.length && <ErrorNote>Pick at least one table.</ErrorNote>}
            </fieldset>
          )}
          {phase.kind === 'running' && <JobProgressView progress={phase.progress} label="Analyzing" />}
          {error && !deletions && <ErrorNote>{error.message}</ErrorNote>}
          <div class="form-actions">
            <Button kind="primary" onClick={analyze} busy={busy} disabled={excluded.size > 0 && excluded.size === tables.length}>
              Analyze for Merge
            </Button>
            <span class="muted small">Read-only: the merge is rehearsed in a transaction that is always rolled back.</span>
          </div>
        </Card>
      )}

      {analysis && (step === 2 || (step === 3 && !dryRun)) && (
        <Card title="3. What the merge will do" id="analysis">
          <MergeReportTable report={analysis} caption="Analysis per table" deletions={deletions} />
          {analysis.conflicts.length > 0 && <p class="muted small table-note">Conflicts are counted as the strategy leaves them; your choices below are applied from the dry run on.</p>}
          {analysis.totals.new + analysis.totals.updated + analysis.totals.conflicts + (analysis.totals.deleted ?? 0) === 0 && <Notice kind="info">The database already has everything in this backup: a merge would change nothing.</Notice>}
        </Card>
      )}

      {step === 2 && analysis && (
        <>
          {analysis.conflicts.length > 0 && (
            <Card title="Review conflicts" id="conflicts">
              <ConflictReview
                conflicts={analysis.conflicts}
                strategy={strategy}
                choices={choices}
                onChoose={(updates) => {
                  const next = new Map(choices)
                  for (const [id, r] of updates) {
                    if (r === undefined) next.delete(id)
                    else next.set(id, r)
                  }
                  setChoices(next)
                  setDryRun(null)
                  setPlanId(null)
                }}
              />
            </Card>
          )}
          <Card>
            {unresolved > 0 && (
              <Notice kind="warning">
                {formatCount(unresolved)} conflict{unresolved === 1 ? ' is' : 's are'} not resolved yet. With “Manual resolution” the merge refuses to run until each has a choice.
              </Notice>
            )}
            {phase.kind === 'running' && <JobProgressView progress={phase.progress} label="Dry run" />}
            {error && <ErrorNote>{error.message}</ErrorNote>}
            <div class="form-actions">
              <Button kind="primary" onClick={doDryRun} busy={busy}>
                Dry run
              </Button>
              <Button onClick={() => setStep(1)} disabled={busy}>
                Back to options
              </Button>
              <span class="muted small">Runs the whole merge with your choices and rolls it back: constraint problems show up here, before anything is written.</span>
            </div>
          </Card>
        </>
      )}

      {step === 3 && dryRun && (
        <Card title="4. Dry run result" id="dry-run">
          {dryRun.totals.unresolved > 0 && strategy === 'manual' ? (
            <Notice kind="warning" role="alert">
              {plural(dryRun.totals.unresolved, 'conflict')} still {dryRun.totals.unresolved === 1 ? 'has' : 'have'} no choice: with “Manual resolution” the merge would be refused. Go back to the review and choose for {dryRun.totals.unresolved === 1 ? 'it' : 'them'}.
            </Notice>
          ) : (
            <Notice kind="success">The dry run went through: nothing was written. This is exactly what “Perform merge” will do — or, if the database changes meanwhile, it will refuse and ask you to analyze again:</Notice>
          )}
          <MergeReportTable report={dryRun} caption="Dry run per table" deletions={deletions} />
          {phase.kind === 'running' && <JobProgressView progress={phase.progress} label="Merging" />}
          {error && <ErrorNote>{error.message}</ErrorNote>}
          <div class="form-actions">
            <Button kind="primary" onClick={() => setConfirming(true)} busy={busy} disabled={dryRun.totals.unresolved > 0 && strategy === 'manual'}>
              Perform Incremental Merge
            </Button>
            <Button onClick={() => setStep(2)} disabled={busy}>
              Back to the review
            </Button>
          </div>
        </Card>
      )}

      {stale && (
        <Card title="The database changed since the analysis" id="stale">
          <Notice kind="warning" role="alert">
            <p>
              Records this merge depends on were changed after it was analyzed, so it was <strong>refused and nothing was written</strong>. Merging now could overwrite those changes without you having seen them.
            </p>
            <p class="small muted">{stale}</p>
          </Notice>
          <Button kind="primary" onClick={analyze} busy={busy}>
            Analyze again
          </Button>
          <span class="muted small inline-note">Your choices are kept for the conflicts that are still there.</span>
        </Card>
      )}

      {step === 4 && done && (
        <Card title="5. Merge report" id="report">
          <Notice kind="success">
            <strong>Merge complete.</strong> {plural(done.totals.new, 'record')} added, {formatCount(done.totals.updated)} updated, {plural(done.totals.resolved.backup + done.totals.resolved.merged, 'conflict')} written from the backup or merged,{' '}
            {formatCount(done.totals.resolved.current)} kept as they were; {plural(done.totals.currentOnly, 'record')} only in the database left untouched
            {deletions ? <>; {plural(done.totals.deleted ?? 0, 'record')} deleted (deleted in the backup, unchanged here)</> : null}.
          </Notice>
          <MergeReportTable report={done} caption="Merge report per table" applied deletions={deletions} />
          <div class="form-actions">
            <a class="btn" href={href('/')}>
              Back to the overview
            </a>
            <a class="btn" href={href('/audit')}>
              See the audit log
            </a>
            <Button
              onClick={() => {
                invalidate()
                setChoices(new Map())
                setStep(0)
                navigate('/merge')
              }}
            >
              Start another merge
            </Button>
          </div>
        </Card>
      )}

      {confirming && dryRun && file && (
        <ConfirmDialog title="Perform the merge?" confirmLabel="Merge now" onClose={() => setConfirming(false)} onConfirm={() => { setConfirming(false); void doMerge() }}>
          <p>
            Into the database, from <strong class="mono">{file}</strong>:
          </p>
          <ul>
            <li>{formatCount(dryRun.totals.new)} new records inserted</li>
            <li>{formatCount(dryRun.totals.updated)} records updated (the backup’s are newer)</li>
            <li>
              {formatCount(dryRun.totals.conflicts)} conflicts: {formatCount(dryRun.totals.resolved.backup)} from the backup, {formatCount(dryRun.totals.resolved.current)} kept, {formatCount(dryRun.totals.resolved.merged)} merged
            </li>
          </ul>
          {deletions && <p>{plural(dryRun.totals.deleted ?? 0, 'record')} deleted (deleted in the backup, unchanged here).</p>}
          <p class="muted small">One transaction: on any error nothing is changed.{deletions ? '' : ' Nothing is deleted.'}</p>
        </ConfirmDialog>
      )}
    </>
  )
}
