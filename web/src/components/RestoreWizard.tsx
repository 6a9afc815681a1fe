/**
 * The restore wizard (seed 002's flow): source (a server file or an upload) → tables → target
 * database (a configured alias, or a database name on the same server) → drop existing (type the
 * database name to confirm) → dry run → confirm → progress → a report with per-table counts,
 * checked against the target's statistics afterwards.
 */
import { useEffect, useState } from 'preact/hooks'
import { databaseStats, followJob, listDatabases, resultOf, startRestore, type DatabaseAlias, type DatabaseStats, type JobProgress, type RestoreReport } from '../api/api'
import type { ApiError } from '../api/client'
import { href } from '../router'
import { Button, Card, Checkbox, ErrorNote, Field, Notice, formatCount } from './base/ui'
import { ConfirmDialog } from './base/confirm-dialog'
import { BackupPicker, useBackups } from './BackupPicker'
import { JobProgressView } from './JobProgressView'
import { announceJob } from './JobBanner'
import { ChosenBackup, WizardHeader } from './Steps'
import { useSession } from './App'

const STEPS = ['Source', 'Tables & target', 'Dry run', 'Restore']
const OTHER = '\u0000other'

export function RestoreWizard(props: { params: URLSearchParams }) {
  const session = useSession()
  const [file, setFile] = useState<string | null>(props.params.get('file'))
  const [step, setStep] = useState(file ? 1 : 0)
  const { backups } = useBackups()
  const backup = backups?.find((b) => b.file === file)
  const tables = backup?.tables ?? []
  const [picked, setPicked] = useState<ReadonlySet<string> | null>(null)
  const [databases, setDatabases] = useState<readonly DatabaseAlias[] | null>(null)
  const [target, setTarget] = useState<string>('')
  const [otherName, setOtherName] = useState('')
  const [drop, setDrop] = useState(false)
  const [progress, setProgress] = useState<JobProgress | null>(null)
  const [running, setRunning] = useState<null | 'dry' | 'real'>(null)
  const [dry, setDry] = useState<RestoreReport | null>(null)
  const [report, setReport] = useState<RestoreReport | null>(null)
  const [after, setAfter] = useState<DatabaseStats | null>(null)
  const [afterError, setAfterError] = useState<string | null>(null)
  const [errors, setErrors] = useState<{ tables?: string; target?: string; form?: string; drop?: string }>({})
  const [confirming, setConfirming] = useState(false)

  useEffect(() => {
    listDatabases()
      .then((d) => {
        setDatabases(d)
        setTarget((t) => t || (d.find((x) => x.default) ?? d[0])?.alias || '')
      })
      .catch((e: Error) => setErrors((x) => ({ ...x, target: e.message })))
  }, [])
  useEffect(() => setPicked(null), [file])

  const chosen = picked ?? new Set(tables)
  const targetName = target === OTHER ? otherName.trim() : target
  const targetEngine = databases?.find((d) => d.alias === target)?.engine ?? databases?.find((d) => d.default)?.engine

  const reset = () => {
    setDry(null)
    setReport(null)
    setAfter(null)
    setAfterError(null)
    setErrors({})
  }

  const body = (dryRun: boolean) => ({
    targetDatabase: targetName || undefined,
    drop,
    dryRun,
    tables: chosen.size < tables.length ? [...chosen] : undefined,
  })

  const check = (): boolean => {
    const e: typeof errors = {}
    if (tables.length > 0 && chosen.size === 0) e.tables = 'Pick at least one table to restore.'
    if (!targetName) e.target = target === OTHER ? 'Type the name of the database to restore into.' : 'Choose the database to restore into.'
    setErrors(e)
    return Object.keys(e).length === 0
  }

  const run = async (dryRun: boolean): Promise<RestoreReport | null> => {
    if (!file) return null
    setRunning(dryRun ? 'dry' : 'real')
    setProgress(null)
    setErrors({})
    try {
      const job = await startRestore(file, body(dryRun))
      announceJob()
      return resultOf(await followJob<RestoreReport>(job.id, setProgress))
    } catch (e) {
      const err = e as ApiError
      if (err.status === 403) setErrors({ drop: err.message })
      else if (err.code === 'UNKNOWN_DATABASE') setErrors({ target: err.message })
      else if (err.code === 'UNKNOWN_TABLE') setErrors({ tables: err.message })
      else setErrors({ form: err.message })
      return null
    } finally {
      setRunning(null)
    }
  }

  const dryRun = async () => {
    if (!check()) return
    reset()
    const r = await run(true)
    if (r) {
      setDry(r)
      setStep(2)
    }
  }

  const restore = async () => {
    const r = await run(false)
    if (r) {
      // Checked against the database afterwards: its own row counts, as the server reads them now.
      setAfterError(null)
      try {
        if (target === OTHER) {
          // A database named on the same server: the answer counts only if it is about that database.
          const stats = await databaseStats(undefined, targetName)
          if (stats.database !== targetName) throw new Error(`the server answered with the statistics of ${stats.database}, not of ${targetName}`)
          setAfter(stats)
        } else setAfter(await databaseStats(target))
      } catch (e) {
        setAfter(null)
        setAfterError((e as Error).message)
      }
      setReport(r)
      setStep(3)
    }
  }

  return (
    <>
      <WizardHeader
        title="Restore"
        intro="Put a backup's data into a database — this one, or another. Missing tables are created; existing rows are left as they are unless you drop the tables first."
        steps={STEPS}
        current={step}
        busy={!!running}
        onGo={setStep}
      />

      {step === 0 && (
        <Card title="1. Source">
          <BackupPicker legend="Backup to restore" selected={file} onSelect={(f) => { setFile(f); reset() }} />
          <div class="form-actions">
            <Button kind="primary" disabled={!file} onClick={() => setStep(1)}>
              Next: tables and target
            </Button>
          </div>
        </Card>
      )}

      {step === 1 && file && (
        <Card title="2. Tables and target">
          <ChosenBackup file={file} onChange={() => setStep(0)} />
          {tables.length > 0 && (
            <fieldset>
              <legend>Tables to restore</legend>
              <div class="table-picks">
                {tables.map((t) => (
                  <Checkbox
                    key={t}
                    label={t}
                    hint={backup?.recordCounts?.[t] !== undefined ? `${formatCount(backup.recordCounts[t])} records` : undefined}
                    checked={chosen.has(t)}
                    onChange={(on) => {
                      const n = new Set(chosen)
                      if (on) n.add(t)
                      else n.delete(t)
                      setPicked(n)
                      reset()
                    }}
                  />
                ))}
              </div>
              {errors.tables && <ErrorNote>{errors.tables}</ErrorNote>}
            </fieldset>
          )}
          <Field label="Target database" error={target !== OTHER ? errors.target : null} hint="A database the server is configured for, or another database on the same server.">
            {(id, d) => (
              <select id={id} class="input" style={{ maxWidth: '26rem' }} value={target} aria-describedby={d} onChange={(e) => { setTarget((e.currentTarget as HTMLSelectElement).value); reset() }}>
                {databases?.map((db) => (
                  <option key={db.alias} value={db.alias}>
                    {db.alias} — {db.engine}
                    {db.default ? ' (this app’s database)' : ''}
                  </option>
                ))}
                {targetEngine !== 'sqlite' && <option value={OTHER}>Another database on the same server…</option>}
              </select>
            )}
          </Field>
          {target === OTHER && (
            <Field label="Database name" error={errors.target} hint="Letters, digits, _ $ -; it is created by the server if your engine allows, else it must exist.">
              {(id, d) => <input id={id} class="input mono" style={{ maxWidth: '26rem' }} value={otherName} aria-describedby={d} onInput={(e) => { setOtherName((e.currentTarget as HTMLInputElement).value); reset() }} />}
            </Field>
          )}
          <fieldset>
            <legend>Existing data</legend>
            <Checkbox
              label="Drop existing: empty the selected tables first"
              hint={session.can.dropOnRestore ? 'Only the tables you selected are emptied — never others. You will type the database name to confirm.' : 'Needs the super_admin role. Without it, rows whose key already exists are left as they are.'}
              checked={drop}
              disabled={!session.can.dropOnRestore}
              onChange={(v) => {
                setDrop(v)
                reset()
              }}
            />
            {errors.drop && <ErrorNote>{errors.drop}</ErrorNote>}
          </fieldset>
          {running && <JobProgressView progress={progress} label="Dry run" />}
          {errors.form && <ErrorNote>{errors.form}</ErrorNote>}
          <div class="form-actions">
            <Button kind="primary" onClick={dryRun} busy={running === 'dry'}>
              Dry run
            </Button>
            <span class="muted small">The whole restore in a transaction that is rolled back: nothing is written.</span>
          </div>
        </Card>
      )}

      {step === 2 && dry && (
        <Card title="3. Dry run result" id="restore-dry-run">
          <Notice kind="success">The dry run went through; nothing was written. The restore will do this into <strong>{targetName}</strong>:</Notice>
          <RestoreTable report={dry} />
          {drop && (
            <Notice kind="warning">
              <strong>Drop existing is on:</strong> {[...chosen].join(', ')} will be emptied in <strong>{targetName}</strong> before the backup's rows go in.
            </Notice>
          )}
          {running && <JobProgressView progress={progress} label="Restoring" />}
          {errors.form && <ErrorNote>{errors.form}</ErrorNote>}
          {errors.drop && <ErrorNote>{errors.drop}</ErrorNote>}
          <div class="form-actions">
            <Button kind={drop ? 'danger' : 'primary'} onClick={() => setConfirming(true)} busy={running === 'real'}>
              Restore now…
            </Button>
            <Button onClick={() => setStep(1)} disabled={!!running}>
              Back
            </Button>
          </div>
        </Card>
      )}

      {step === 3 && report && (
        <Card title="4. Restore report" id="restore-report">
          <Notice kind="success">
            <strong>Restored into {targetName}.</strong> {formatCount(report.totals.inserted)} rows inserted, {formatCount(report.totals.skipped)} already there (skipped).
          </Notice>
          <RestoreTable report={report} after={after} />
          {afterError && <p class="muted small table-note">The row counts of {targetName} could not be read afterwards: {afterError}</p>}
          {after && <p class="muted small table-note">“Rows now” is what {targetName} holds after the restore, read back from the database.</p>}
          {report.warnings?.map((w) => (
            <Notice kind="warning" key={w}>
              {w}
            </Notice>
          ))}
          <div class="form-actions">
            <a class="btn" href={href('/')}>
              Back to the overview
            </a>
          </div>
        </Card>
      )}

      {confirming && (
        <ConfirmDialog
          title={drop ? `Drop and restore into ${targetName}?` : `Restore into ${targetName}?`}
          confirmLabel={drop ? 'Drop and restore' : 'Restore'}
          danger={drop}
          typeToConfirm={drop ? targetName : undefined}
          onClose={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false)
            void restore()
          }}
        >
          <p>
            From <strong class="mono">{file}</strong>: {[...chosen].join(', ') || 'all tables'}.
          </p>
          {drop ? (
            <p>
              <strong>The selected tables in {targetName} are emptied first.</strong> Their current rows are gone afterwards unless you have a backup of them.
            </p>
          ) : (
            <p>Rows whose key already exists are left as they are.</p>
          )}
          <p class="muted small">One transaction: on any error nothing is changed.</p>
        </ConfirmDialog>
      )}
    </>
  )
}

function RestoreTable(props: { report: RestoreReport; after?: DatabaseStats | null }) {
  const rowsAfter = new Map(props.after?.tables.map((t) => [t.name, t.rows]) ?? [])
  return (
    <div class="table-wrap">
      <table class="data">
        <thead>
          <tr>
            <th scope="col">Table</th>
            <th scope="col" class="num">Inserted</th>
            <th scope="col" class="num">Skipped (already there)</th>
            <th scope="col">Notes</th>
            {props.after && (
              <th scope="col" class="num">
                Rows now
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {Object.entries(props.report.tables).map(([t, c]) => (
            <tr key={t} data-table={t}>
              <th scope="row">{t}</th>
              <td class="num">{formatCount(c.inserted)}</td>
              <td class="num">{formatCount(c.skipped)}</td>
              <td class="small">{[c.created && 'table created', c.emptied && 'emptied first'].filter(Boolean).join(', ') || '—'}</td>
              {props.after && <td class="num">{formatCount(rowsAfter.get(t))}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
