/**
 * Create a backup (the seed's form): name, description, compression (gzip, zstd or none), only what
 * changed since the last backup of that name (incremental), encrypt, include indexes,
 * tables to include or exclude (from the statistics); "Create Backup" and "Create & Download"; a
 * progress bar fed by the job's events. Encryption uses the server's passphrase, which the page
 * never asks for: without one the checkbox is disabled and says why.
 */
import { useState } from 'preact/hooks'
import { createBackup, downloadBackup, followJob, resultOf, type Compression, type JobProgress } from '../api/api'
import { ApiError } from '../api/client'
import { href } from '../router'
import { Button, Card, Checkbox, ErrorNote, Field, Notice, formatBytes, formatCount, formatDuration } from './base/ui'
import { useDatabaseStats } from './DatabaseStatsCard'
import { JobProgressView } from './JobProgressView'
import { announceJob } from './JobBanner'
import { useSession } from './App'

interface BackupResult {
  readonly file: string
  readonly sizeBytes: number
  readonly durationMs: number
  readonly metadata?: { readonly recordCounts?: Record<string, number> }
  readonly warnings?: readonly string[]
}

const COMPRESSION_HINT: Readonly<Record<Compression, string>> = {
  gzip: 'Smaller files that any gzip tool reads.',
  zstd: 'Smaller and faster than gzip; read with zstd -d.',
  none: 'Plain JSON, readable in any editor; the largest file.',
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/

export function BackupCreatePanel() {
  const { stats, error: statsError } = useDatabaseStats()
  const encryption = useSession().who.encryption ?? { available: false, default: false }
  const [encrypt, setEncrypt] = useState(encryption.default && encryption.available)
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const [compression, setCompression] = useState<Compression>('gzip')
  const [incremental, setIncremental] = useState(false)
  const [includeIndexes, setIncludeIndexes] = useState(true)
  const [mode, setMode] = useState<'all' | 'include' | 'exclude'>('all')
  const [picked, setPicked] = useState<ReadonlySet<string>>(new Set())
  const [running, setRunning] = useState<null | 'create' | 'download'>(null)
  const [progress, setProgress] = useState<JobProgress | null>(null)
  const [result, setResult] = useState<BackupResult | null>(null)
  const [errors, setErrors] = useState<{ name?: string; tables?: string; encrypt?: string; form?: string }>({})

  const start = async (then: 'create' | 'download') => {
    const next: typeof errors = {}
    if (name && !NAME_PATTERN.test(name)) next.name = 'Use 1–100 letters, digits, dots, dashes or underscores, starting with a letter or digit.'
    if (mode !== 'all' && picked.size === 0) next.tables = mode === 'include' ? 'Pick at least one table to back up.' : 'Pick the tables to leave out, or choose "All tables".'
    setErrors(next)
    if (Object.keys(next).length > 0) return
    setRunning(then)
    setResult(null)
    setProgress(null)
    try {
      const job = await createBackup({
        name: name || undefined,
        description: description || undefined,
        gzip: compression === 'gzip',
        zstd: compression === 'zstd',
        incremental: incremental || undefined,
        encrypt,
        includeIndexes,
        tables: mode === 'include' ? [...picked] : undefined,
        exclude: mode === 'exclude' ? [...picked] : undefined,
      })
      announceJob()
      const r = resultOf(await followJob<BackupResult>(job.id, setProgress))
      setResult(r)
      if (then === 'download') await downloadBackup(r.file)
    } catch (e) {
      const err = e as ApiError
      const detailsField = typeof err.details?.field === 'string' ? err.details.field : undefined
      if (detailsField === 'name') setErrors({ name: err.message })
      else if (detailsField === 'encrypt' || err.code === 'NO_PASSPHRASE') setErrors({ encrypt: err.message })
      else if (err.code === 'UNKNOWN_TABLE' || detailsField === 'tables') setErrors({ tables: err.message })
      else setErrors({ form: err.message })
    } finally {
      setRunning(null)
    }
  }

  const toggle = (t: string, on: boolean) =>
    setPicked((s) => {
      const n = new Set(s)
      if (on) n.add(t)
      else n.delete(t)
      return n
    })

  return (
    <>
      <div class="page-head">
        <div>
          <h1>Create a backup</h1>
          <p class="muted">A Smart Backup: one readable JSON file that can be restored or smart-merged back.</p>
        </div>
      </div>
      <form
        onSubmit={(e) => {
          e.preventDefault()
          void start('create')
        }}
        noValidate
      >
        <div class="grid-2">
          <Card title="What to call it">
            <Field label="Name" error={errors.name} hint="Leave empty for “backup”. The file name gets the date and time: name-YYYY-MM-DDTHH-mm-ss.json">
              {(id, d) => <input id={id} class="input" name="name" value={name} placeholder="daily-backup" aria-describedby={d} aria-invalid={errors.name ? 'true' : undefined} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} disabled={!!running} />}
            </Field>
            <Field label="Description" hint="Optional: why this backup was made (e.g. “before the migration”).">
              {(id, d) => <textarea id={id} class="input" name="description" value={description} aria-describedby={d} onInput={(e) => setDescription((e.currentTarget as HTMLTextAreaElement).value)} disabled={!!running} />}
            </Field>
            <fieldset>
              <legend>Options</legend>
              <Field label="Compression" hint={COMPRESSION_HINT[compression]}>
                {(id, d) => (
                  <select id={id} class="input" name="compression" value={compression} aria-describedby={d} disabled={!!running} onChange={(e) => setCompression((e.currentTarget as HTMLSelectElement).value as Compression)}>
                    <option value="gzip">gzip (.json.gz)</option>
                    <option value="zstd">zstd (.json.zst)</option>
                    <option value="none">none (plain JSON)</option>
                  </select>
                )}
              </Field>
              <Checkbox
                label="Only what changed (incremental)"
                hint={`Records added, changed or deleted since the newest backup named “${name || 'backup'}”, which must be here. Restoring it replays that chain.`}
                checked={incremental}
                onChange={setIncremental}
                disabled={!!running}
                name="incremental"
              />
              <Checkbox
                label="Encrypt with the server's passphrase"
                hint={
                  encryption.available
                    ? 'AES-256-GCM (.enc): only this server, or someone with its passphrase, can read the file. The page never asks for the passphrase.'
                    : 'Not available: this server runs without a passphrase (MERGEBACK_PASSPHRASE or --passphrase-file). Whoever runs the server can set one; the page never asks for it.'
                }
                checked={encrypt}
                onChange={setEncrypt}
                disabled={!!running || !encryption.available}
                name="encrypt"
              />
              {errors.encrypt && <ErrorNote>{errors.encrypt}</ErrorNote>}
              <Checkbox label="Include indexes" hint="Recreate indexes when the backup is restored into an empty database." checked={includeIndexes} onChange={setIncludeIndexes} disabled={!!running} name="includeIndexes" />
            </fieldset>
          </Card>
          <Card title="Tables">
            <fieldset>
              <legend>Which tables</legend>
              <div class="radio-cards">
                {(
                  [
                    ['all', 'All tables', 'Everything in the database.'],
                    ['include', 'Only these', 'Back up the tables you tick.'],
                    ['exclude', 'All except', 'Leave out the tables you tick.'],
                  ] as const
                ).map(([v, label, hint]) => (
                  <label class="radio-card" key={v}>
                    <input type="radio" name="tableMode" value={v} checked={mode === v} onChange={() => setMode(v)} disabled={!!running} />
                    <span>
                      <strong>{label}</strong>
                      <span class="hint">{hint}</span>
                    </span>
                  </label>
                ))}
              </div>
            </fieldset>
            {mode !== 'all' && (
              <fieldset>
                <legend>{mode === 'include' ? 'Tables to back up' : 'Tables to leave out'}</legend>
                {statsError && <ErrorNote>{statsError}</ErrorNote>}
                {!stats && !statsError && <p class="muted">Reading the tables…</p>}
                <div class="table-picks">
                  {stats?.tables.map((t) => (
                    <Checkbox key={t.name} label={t.name} hint={`${formatCount(t.rows)} rows`} checked={picked.has(t.name)} onChange={(on) => toggle(t.name, on)} disabled={!!running} />
                  ))}
                </div>
                {errors.tables && <ErrorNote>{errors.tables}</ErrorNote>}
              </fieldset>
            )}
          </Card>
        </div>
        <Card>
          {running && <JobProgressView progress={progress} label="Backing up" />}
          {errors.form && <ErrorNote>{errors.form}</ErrorNote>}
          {result && (
            <Notice kind="success">
              <p>
                <strong>Backup created:</strong> <span class="mono">{result.file}</span> — {formatBytes(result.sizeBytes)},{' '}
                {formatCount(result.metadata?.recordCounts ? Object.values(result.metadata.recordCounts).reduce((a, b) => a + b, 0) : undefined)} records, in {formatDuration(result.durationMs)}.
              </p>
              {result.warnings?.map((w) => (
                <p key={w}>⚠ {w}</p>
              ))}
              <p>
                <a href={href('/')}>See it in the backups list</a>
              </p>
            </Notice>
          )}
          <div class="form-actions">
            <Button type="submit" kind="primary" busy={running === 'create'} disabled={!!running}>
              Create Backup
            </Button>
            <Button onClick={() => start('download')} busy={running === 'download'} disabled={!!running}>
              Create &amp; Download
            </Button>
          </div>
        </Card>
      </form>
    </>
  )
}
