/**
 * The Schedules screen (issue #16): each schedule with its cron expression and time zone, kind,
 * destination, retention, its next runs (in its own time zone) and its last result; "Run now"
 * (followed as the job it is); create, edit and delete for a super_admin (the API's rule: a
 * schedule's retention removes backups), acknowledge a failed run for any signed-in role.
 *
 * Validation is the server's (cron, time zone, webhook, remote, retention): its message is shown
 * next to the field it is about, and nothing is saved. The page only checks that the required
 * fields are filled in.
 */
import { useCallback, useEffect, useState } from 'preact/hooks'
import { followJob, listDatabases, type DatabaseAlias, type JobProgress } from '../api/api'
import {
  acknowledgeSchedule,
  createSchedule,
  deleteSchedule,
  fieldOfError,
  listSchedules,
  runSchedule,
  schedulesChanged,
  updateSchedule,
  type Retention,
  type Schedule,
  type ScheduleDestination,
  type ScheduleField,
  type ScheduleInput,
  type ScheduleKind,
  type ScheduleStatus,
} from '../api/schedules'
import { href } from '../router'
import { Badge, Button, Card, Checkbox, ErrorNote, Field, Notice, formatTime, plural } from './base/ui'
import { ConfirmDialog } from './base/confirm-dialog'
import { useSession } from './App'
import { announceJob } from './JobBanner'
import { JobProgressView } from './JobProgressView'
import './schedules.css'

const RETENTION_KEYS: readonly (readonly [keyof Retention, string, string])[] = [
  ['keepLast', 'Keep last', 'the newest N'],
  ['keepDaily', 'Keep daily', 'one per day, N days'],
  ['keepWeekly', 'Keep weekly', 'one per week, N weeks'],
  ['keepMonthly', 'Keep monthly', 'one per month, N months'],
]

/** A due time in the schedule's own time zone: "Sat 5 Dec 2026, 03:00". */
function formatIn(iso: string, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso))
  } catch {
    return iso
  }
}

function describeRetention(r: Retention | undefined): string {
  if (!r) return 'Keeps every backup'
  const parts = RETENTION_KEYS.filter(([k]) => (r[k] ?? 0) > 0).map(([k]) => {
    const n = r[k]!
    return k === 'keepLast' ? `last ${n}` : k === 'keepDaily' ? `${n} daily` : k === 'keepWeekly' ? `${n} weekly` : `${n} monthly`
  })
  return parts.length > 0 ? `Keeps ${parts.join(', ')}` : 'Keeps every backup'
}

const baseName = (file: string) => (file.startsWith('s3://') ? file : file.split(/[\\/]/).pop() ?? file)

interface RunState {
  readonly jobId?: string
  readonly progress: JobProgress | null
  readonly error?: string
}

export function SchedulesPage() {
  const session = useSession()
  const canChange = session.who.role === 'super_admin'
  const [list, setList] = useState<readonly ScheduleStatus[] | null>(null)
  const [loadError, setLoadError] = useState<string | null>(null)
  const [noScheduler, setNoScheduler] = useState(false)
  const [editing, setEditing] = useState<Schedule | 'new' | null>(null)
  const [deleting, setDeleting] = useState<Schedule | null>(null)
  const [runs, setRuns] = useState<Record<string, RunState>>({})
  const [message, setMessage] = useState<string | null>(null)

  const reload = useCallback(async () => {
    try {
      const r = await listSchedules()
      setList(r.schedules)
      setLoadError(null)
    } catch (e) {
      const err = e as Error & { status?: number }
      if (err.status === 404) setNoScheduler(true)
      else setLoadError(err.message)
    }
  }, [])

  useEffect(() => {
    void reload()
    const onChange = () => void reload()
    window.addEventListener('mergeback:schedules-changed', onChange)
    // Due runs happen on the server's clock: keep the last results and next runs current.
    const timer = setInterval(() => void reload(), 10_000)
    return () => {
      clearInterval(timer)
      window.removeEventListener('mergeback:schedules-changed', onChange)
    }
  }, [reload])

  const runNow = async (s: Schedule) => {
    setMessage(null)
    setRuns((r) => ({ ...r, [s.id]: { progress: null } }))
    try {
      const jobId = await runSchedule(s.id)
      announceJob()
      setRuns((r) => ({ ...r, [s.id]: { jobId, progress: null } }))
      await reload()
      if (jobId) await followJob(jobId, (progress) => setRuns((r) => ({ ...r, [s.id]: { jobId, progress } })))
      setRuns((r) => {
        const { [s.id]: _done, ...rest } = r
        return rest
      })
    } catch (e) {
      setRuns((r) => ({ ...r, [s.id]: { progress: null, error: (e as Error).message } }))
    }
    // The run's record is written just after its job ends.
    await reload()
    schedulesChanged()
    setTimeout(() => void reload(), 1000)
  }

  if (noScheduler) {
    return (
      <>
        <PageHead canChange={false} onNew={() => undefined} />
        <Notice kind="info">This server runs no scheduler, so there are no schedules to show.</Notice>
      </>
    )
  }

  return (
    <>
      <PageHead canChange={canChange && editing === null} onNew={() => setEditing('new')} />
      {!canChange && (
        <Notice kind="info">
          <p>You may run a schedule now and acknowledge a failed run. Creating, changing or deleting a schedule needs a super admin token: a schedule's retention removes backups.</p>
        </Notice>
      )}
      {message && (
        <p class="notice notice-success" role="status">
          {message}
        </p>
      )}
      {editing !== null && (
        <ScheduleForm
          schedule={editing === 'new' ? undefined : editing}
          onCancel={() => setEditing(null)}
          onSaved={(saved, created) => {
            setEditing(null)
            setMessage(created ? `Schedule “${saved.name}” created.` : `Schedule “${saved.name}” saved.`)
            void reload()
            schedulesChanged()
          }}
        />
      )}
      {loadError && <ErrorNote>The schedules could not be listed: {loadError}</ErrorNote>}
      {list === null && !loadError && <p class="muted">Loading the schedules…</p>}
      {list && list.length === 0 && (
        <Card>
          <p class="empty">
            No schedules yet.{' '}
            {canChange ? (
              <button type="button" class="btn-link" onClick={() => setEditing('new')}>
                Create the first one
              </button>
            ) : (
              'A super admin can create them.'
            )}
          </p>
        </Card>
      )}
      {list?.map((row) => (
        <ScheduleCard
          key={row.schedule.id}
          row={row}
          run={runs[row.schedule.id]}
          canChange={canChange}
          onRun={() => runNow(row.schedule)}
          onEdit={() => {
            setMessage(null)
            setEditing(row.schedule)
          }}
          onDelete={() => setDeleting(row.schedule)}
          onAcknowledge={async () => {
            await acknowledgeSchedule(row.schedule.id)
            await reload()
            schedulesChanged()
          }}
        />
      ))}
      {deleting && (
        <ConfirmDialog
          title={`Delete the schedule “${deleting.name}”?`}
          confirmLabel="Delete schedule"
          danger
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await deleteSchedule(deleting.id)
            setMessage(`Schedule “${deleting.name}” deleted. Its backups stay.`)
            await reload()
            schedulesChanged()
          }}
        >
          <p>It will not run again. The backups it made stay where they are; its retention no longer applies to them.</p>
        </ConfirmDialog>
      )}
    </>
  )
}

function PageHead(props: { canChange: boolean; onNew: () => void }) {
  return (
    <div class="page-head">
      <div>
        <h1>Schedules</h1>
        <p class="muted">Backups the server makes at cron times, each with its own retention and failure alerts.</p>
      </div>
      {props.canChange && (
        <div class="card-actions">
          <Button kind="primary" onClick={props.onNew}>
            New schedule
          </Button>
        </div>
      )}
    </div>
  )
}

function ScheduleCard(props: {
  row: ScheduleStatus
  run?: RunState
  canChange: boolean
  onRun: () => void
  onEdit: () => void
  onDelete: () => void
  onAcknowledge: () => Promise<void>
}) {
  const { schedule: s, lastRun } = props.row
  const [ackError, setAckError] = useState<string | null>(null)
  const running = props.row.running || (props.run !== undefined && !props.run.error)
  const nextRuns = props.row.nextRuns ?? (props.row.nextRunAt ? [props.row.nextRunAt] : [])
  const titleId = `schedule-${s.id}-title`
  return (
    <section class="card schedule-card" data-schedule={s.name} aria-labelledby={titleId}>
      <header class="card-head">
        <div class="schedule-title">
          <h2 id={titleId}>{s.name}</h2>
          <div class="badges">
            <Badge kind={s.kind === 'full' ? 'info' : 'neutral'} title={s.kind === 'full' ? "The engine's own complete dump" : 'A Smart Backup (JSON)'}>
              {s.kind === 'full' ? 'full' : 'smart'}
            </Badge>
            {s.gzip && <Badge>gzip</Badge>}
            {s.encrypt && <Badge>encrypted</Badge>}
            {!s.enabled && <Badge kind="warn">paused</Badge>}
          </div>
        </div>
        <div class="card-actions">
          <Button kind="primary" class="btn-small" onClick={props.onRun} busy={running} disabled={running} aria-label={`Run ${s.name} now`}>
            Run now
          </Button>
          {props.canChange && (
            <>
              <Button class="btn-small" onClick={props.onEdit} disabled={running} aria-label={`Edit ${s.name}`}>
                Edit
              </Button>
              <Button kind="danger" class="btn-small" onClick={props.onDelete} disabled={running} aria-label={`Delete ${s.name}`}>
                Delete
              </Button>
            </>
          )}
        </div>
      </header>
      <div class="schedule-grid">
        <div>
          <h3>When</h3>
          <dl class="kv">
            <dt>Cron</dt>
            <dd>
              <code class="mono">{s.cron}</code>
            </dd>
            <dt>Time zone</dt>
            <dd>{s.timezone}</dd>
            {s.database && (
              <>
                <dt>Database</dt>
                <dd>{s.database}</dd>
              </>
            )}
          </dl>
          <h4 class="schedule-sub">Next runs ({s.timezone})</h4>
          {nextRuns.length > 0 ? (
            <ol class="next-runs" aria-label={`Next runs of ${s.name}`}>
              {nextRuns.map((t) => (
                <li key={t}>
                  <time dateTime={t} title={`Your time: ${formatTime(t)}`}>
                    {formatIn(t, s.timezone)}
                  </time>
                </li>
              ))}
            </ol>
          ) : (
            <p class="muted">{s.enabled ? 'The expression has no more due times.' : 'Paused: no runs.'}</p>
          )}
        </div>
        <div>
          <h3>What and where</h3>
          <dl class="kv">
            <dt>Kind</dt>
            <dd>{s.kind === 'full' ? 'Full (native dump)' : 'Smart Backup'}</dd>
            {s.tables && s.tables.length > 0 && (
              <>
                <dt>Tables</dt>
                <dd>{s.tables.join(', ')}</dd>
              </>
            )}
            {s.exclude && s.exclude.length > 0 && (
              <>
                <dt>Leaves out</dt>
                <dd>{s.exclude.join(', ')}</dd>
              </>
            )}
            <dt>Destination</dt>
            <dd>
              {s.destination === 'local' ? 'Backup directory' : s.destination === 'remote' ? 'Remote only' : 'Backup directory and remote'}
              {s.remote && (
                <>
                  {' '}
                  <code class="mono">{s.remote}</code>
                </>
              )}
            </dd>
            <dt>Retention</dt>
            <dd>{describeRetention(s.retention)}</dd>
            <dt>Alerts</dt>
            <dd>{s.webhook ? <span class="mono wrap">{s.webhook}</span> : 'Banner and audit log only (no webhook)'}</dd>
          </dl>
        </div>
        <div class="last-result" aria-label={`Last result of ${s.name}`}>
          <h3>Last result</h3>
          {props.run && !props.run.error && (
            <>
              <JobProgressView progress={props.run.progress} label={`Running ${s.name}`} />
              {props.run.jobId && (
                <p class="small">
                  <a href={href('/job', { id: props.run.jobId })}>See the job</a>
                </p>
              )}
            </>
          )}
          {props.run?.error && <ErrorNote>{props.run.error}</ErrorNote>}
          {!props.run && lastRun && <LastRun run={lastRun} name={s.name} onAcknowledge={() => props.onAcknowledge().catch((e: Error) => setAckError(e.message))} />}
          {!props.run && !lastRun && <p class="muted">Not run yet.</p>}
          {ackError && <ErrorNote>{ackError}</ErrorNote>}
        </div>
      </div>
    </section>
  )
}

function LastRun(props: { run: NonNullable<ScheduleStatus['lastRun']>; name: string; onAcknowledge: () => void }) {
  const r = props.run
  const how = r.trigger === 'manual' ? 'run by hand' : 'due run'
  if (r.outcome === 'running') {
    return (
      <p>
        <Badge kind="info">running</Badge> <span class="muted">since {formatTime(r.startedAt)} ({how})</span>
      </p>
    )
  }
  if (r.outcome === 'success') {
    return (
      <div class="run-result" data-outcome="success">
        <p>
          <Badge kind="good">succeeded</Badge> <span class="muted">{formatTime(r.finishedAt ?? r.startedAt)} ({how})</span>
        </p>
        <ul class="run-files">
          {r.files?.map((f) =>
            f.startsWith('s3://') ? (
              <li key={f} class="mono wrap">
                {f}
              </li>
            ) : (
              <li key={f}>
                <a class="mono wrap" href={href('/backup', { file: baseName(f) })}>
                  {baseName(f)}
                </a>
              </li>
            ),
          )}
        </ul>
        {r.pruned && r.pruned.length > 0 && <p class="small muted">Retention removed {plural(r.pruned.length, 'older backup')}.</p>}
      </div>
    )
  }
  return (
    <div class="run-result" data-outcome="failure">
      <p>
        <Badge kind="bad">failed</Badge> <span class="muted">{formatTime(r.finishedAt ?? r.startedAt)} ({how})</span>
        {r.acknowledged && (
          <>
            {' '}
            <Badge>acknowledged</Badge>
          </>
        )}
      </p>
      <p class="run-error">{r.error}</p>
      {!r.acknowledged && (
        <Button class="btn-small" onClick={props.onAcknowledge} aria-label={`Acknowledge ${props.name}`}>
          Acknowledge
        </Button>
      )}
    </div>
  )
}

/** What the form holds: text as typed, so that a half-typed number is not lost. */
interface FormState {
  name: string
  cron: string
  timezone: string
  database: string
  kind: ScheduleKind
  gzip: boolean
  encrypt: boolean
  destination: ScheduleDestination
  remote: string
  retention: Record<keyof Retention, string>
  webhook: string
  enabled: boolean
}

function initialState(s: Schedule | undefined): FormState {
  return {
    name: s?.name ?? '',
    cron: s?.cron ?? '0 3 * * *',
    timezone: s?.timezone ?? (Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'),
    database: s?.database ?? '',
    kind: s?.kind ?? 'smart',
    gzip: s?.gzip ?? true,
    encrypt: s?.encrypt ?? false,
    destination: s?.destination ?? 'local',
    remote: s?.remote ?? '',
    retention: {
      keepLast: s?.retention?.keepLast?.toString() ?? '',
      keepDaily: s?.retention?.keepDaily?.toString() ?? '',
      keepWeekly: s?.retention?.keepWeekly?.toString() ?? '',
      keepMonthly: s?.retention?.keepMonthly?.toString() ?? '',
    },
    webhook: s?.webhook ?? '',
    enabled: s?.enabled ?? true,
  }
}

const TIME_ZONES: readonly string[] = (() => {
  try {
    return (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? []
  } catch {
    return []
  }
})()

function ScheduleForm(props: { schedule?: Schedule; onCancel: () => void; onSaved: (s: Schedule, created: boolean) => void }) {
  const [f, setF] = useState<FormState>(() => initialState(props.schedule))
  const [errors, setErrors] = useState<Partial<Record<ScheduleField, string>>>({})
  const [saving, setSaving] = useState(false)
  const [databases, setDatabases] = useState<readonly DatabaseAlias[]>([])
  useEffect(() => {
    listDatabases()
      .then(setDatabases)
      .catch(() => setDatabases([]))
  }, [])
  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => setF((s) => ({ ...s, [key]: value }))
  const text = (key: 'name' | 'cron' | 'timezone' | 'remote' | 'webhook') => (e: Event) => set(key, (e.currentTarget as HTMLInputElement).value)

  const submit = async (e: Event) => {
    e.preventDefault()
    const next: typeof errors = {}
    if (!f.name.trim()) next.name = 'Give the schedule a name: its backups are called <name>-<time>, and its retention applies to that name only.'
    if (!f.cron.trim()) next.cron = 'Give a cron expression, for example “0 3 * * *” (03:00 every day).'
    if (f.destination !== 'local' && !f.remote.trim()) next.remote = 'A remote destination needs an s3://bucket/prefix location.'
    const retention: Record<string, number> = {}
    for (const [key, label] of RETENTION_KEYS) {
      const raw = f.retention[key].trim()
      if (raw === '') continue
      if (!/^\d+$/.test(raw)) next.retention = `${label} must be a whole number (0 or more), got “${raw}”.`
      else retention[key] = Number(raw)
    }
    setErrors(next)
    if (Object.keys(next).length > 0) return
    const input: ScheduleInput = {
      name: f.name.trim(),
      cron: f.cron.trim(),
      timezone: f.timezone.trim() || 'UTC',
      ...(f.database ? { database: f.database } : {}),
      kind: f.kind,
      gzip: f.gzip,
      encrypt: f.encrypt,
      // Kept as they were: the page does not edit a schedule's table selection.
      ...(f.kind === 'smart' && props.schedule?.tables ? { tables: props.schedule.tables } : {}),
      ...(f.kind === 'smart' && props.schedule?.exclude ? { exclude: props.schedule.exclude } : {}),
      destination: f.destination,
      ...(f.destination !== 'local' ? { remote: f.remote.trim() } : {}),
      ...(Object.keys(retention).length > 0 ? { retention } : {}),
      ...(f.webhook.trim() ? { webhook: f.webhook.trim() } : {}),
      enabled: f.enabled,
    }
    setSaving(true)
    try {
      const saved = props.schedule ? await updateSchedule(props.schedule.id, input) : await createSchedule(input)
      props.onSaved(saved, !props.schedule)
    } catch (err) {
      setErrors({ [fieldOfError(err)]: (err as Error).message })
    } finally {
      setSaving(false)
    }
  }

  const describedInput = (key: 'name' | 'cron' | 'timezone' | 'remote' | 'webhook', props2: { placeholder?: string; list?: string; mono?: boolean }) => (id: string, d: string | undefined) => (
    <input
      id={id}
      class={`input ${props2.mono ? 'mono' : ''}`}
      name={key}
      value={f[key]}
      placeholder={props2.placeholder}
      list={props2.list}
      aria-describedby={d}
      aria-invalid={errors[key] ? 'true' : undefined}
      onInput={text(key)}
      disabled={saving}
      autoComplete="off"
      spellcheck={false}
    />
  )

  return (
    <form onSubmit={submit} noValidate aria-label={props.schedule ? `Edit schedule ${props.schedule.name}` : 'New schedule'}>
      <Card title={props.schedule ? `Edit “${props.schedule.name}”` : 'New schedule'} id="schedule-form">
        <div class="grid-2">
          <div>
            <Field label="Name" error={errors.name} hint="Its backups are named name-YYYY-MM-DDTHH-mm-ss; retention applies to this name only.">
              {describedInput('name', { placeholder: 'nightly' })}
            </Field>
            <Field label="Cron expression" error={errors.cron} hint="Minute hour day-of-month month day-of-week: “0 3 * * *” every day at 03:00, “0 4 * * 0” Sundays at 04:00.">
              {describedInput('cron', { placeholder: '0 3 * * *', mono: true })}
            </Field>
            <Field label="Time zone" error={errors.timezone} hint="An IANA name (UTC, Europe/Berlin, America/New_York); daylight saving is handled.">
              {describedInput('timezone', { placeholder: 'UTC', list: 'schedule-time-zones' })}
            </Field>
            <datalist id="schedule-time-zones">
              {TIME_ZONES.map((z) => (
                <option key={z} value={z} />
              ))}
            </datalist>
            {databases.length > 1 && (
              <Field label="Database" error={errors.database}>
                {(id, d) => (
                  <select id={id} class="input" value={f.database} aria-describedby={d} onChange={(e) => set('database', (e.currentTarget as HTMLSelectElement).value)} disabled={saving}>
                    <option value="">The default database</option>
                    {databases.map((db) => (
                      <option key={db.alias} value={db.alias}>
                        {db.alias} ({db.engine})
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            )}
            {errors.database && databases.length <= 1 && <ErrorNote>{errors.database}</ErrorNote>}
            <Checkbox label="Enabled" hint="A paused schedule keeps its settings and does not run." checked={f.enabled} onChange={(v) => set('enabled', v)} disabled={saving} name="enabled" />
          </div>
          <div>
            <fieldset>
              <legend>Kind</legend>
              <div class="radio-cards">
                {(
                  [
                    ['smart', 'Smart Backup', 'JSON: restore or smart-merge back.'],
                    ['full', 'Full backup', "The engine's own dump: functions, triggers, grants."],
                  ] as const
                ).map(([v, label, hint]) => (
                  <label class="radio-card" key={v}>
                    <input type="radio" name="kind" value={v} checked={f.kind === v} onChange={() => set('kind', v)} disabled={saving} />
                    <span>
                      <strong>{label}</strong>
                      <span class="hint">{hint}</span>
                    </span>
                  </label>
                ))}
              </div>
            </fieldset>
            <fieldset>
              <legend>Options</legend>
              <Checkbox label="Compress with gzip" checked={f.gzip} onChange={(v) => set('gzip', v)} disabled={saving} name="gzip" />
              <Checkbox label="Encrypt" hint="With the server's passphrase (MERGEBACK_PASSPHRASE); a run fails if the server has none." checked={f.encrypt} onChange={(v) => set('encrypt', v)} disabled={saving} name="encrypt" />
            </fieldset>
            <fieldset>
              <legend>Destination</legend>
              <div class="radio-row">
                {(
                  [
                    ['local', 'Backup directory'],
                    ['remote', 'Remote only'],
                    ['both', 'Both'],
                  ] as const
                ).map(([v, label]) => (
                  <label class="radio-inline" key={v}>
                    <input type="radio" name="destination" value={v} checked={f.destination === v} onChange={() => set('destination', v)} disabled={saving} /> {label}
                  </label>
                ))}
              </div>
            </fieldset>
            {f.destination !== 'local' && (
              <Field label="Remote" error={errors.remote} hint="s3://bucket/prefix; endpoint and credentials come from the server's environment.">
                {describedInput('remote', { placeholder: 's3://backups/app', mono: true })}
              </Field>
            )}
            {f.destination === 'local' && errors.remote && <ErrorNote>{errors.remote}</ErrorNote>}
            <fieldset class={errors.retention ? 'has-error' : ''}>
              <legend>Retention, after each successful run</legend>
              <div class="retention-grid">
                {RETENTION_KEYS.map(([key, label, hint]) => (
                  <label key={key} class="retention-field">
                    <span>{label}</span>
                    <input
                      class="input"
                      inputMode="numeric"
                      name={key}
                      value={f.retention[key]}
                      placeholder="—"
                      title={hint}
                      aria-invalid={errors.retention ? 'true' : undefined}
                      onInput={(e) => set('retention', { ...f.retention, [key]: (e.currentTarget as HTMLInputElement).value })}
                      disabled={saving}
                    />
                    <span class="hint">{hint}</span>
                  </label>
                ))}
              </div>
              <p class="hint">Leave all empty to keep every backup. Only this schedule's own backups are ever removed.</p>
              {errors.retention && <ErrorNote>{errors.retention}</ErrorNote>}
            </fieldset>
            <Field label="Webhook for failure alerts" error={errors.webhook} hint="Optional. An http:// or https:// URL that gets a JSON POST when a run fails (retried with back-off).">
              {describedInput('webhook', { placeholder: 'https://hooks.example.com/backups' })}
            </Field>
          </div>
        </div>
        {errors.form && <ErrorNote>{errors.form}</ErrorNote>}
        <div class="form-actions">
          <Button type="submit" kind="primary" busy={saving}>
            {props.schedule ? 'Save schedule' : 'Create schedule'}
          </Button>
          <Button onClick={props.onCancel} disabled={saving}>
            Cancel
          </Button>
        </div>
      </Card>
    </form>
  )
}
