/**
 * Upload a backup: drag and drop or a file picker; upload progress; the server's verification
 * result; refusals explained in words (too large, not a backup, damaged at table X).
 * The seeds' two layouts (Smart Backup `tables[]`, native MongoDB `collections{}`) are accepted
 * as they are, as is mergeback's own.
 */
import { useRef, useState } from 'preact/hooks'
import { uploadBackup, type Backup, type Verification } from '../api/api'
import type { ApiError } from '../api/client'
import { href } from '../router'
import { Badge, Button, Card, ErrorNote, Notice, ProgressBar, formatBytes, formatCount } from './base/ui'

const ACCEPT = '.json,.gz,.zst,.enc,application/json,application/gzip,application/zstd'

/**
 * The heading of a refusal in plain words, from the server's `details.reason` (then its status
 * and code); the server's own words follow it.
 */
export function refusalTitle(err: ApiError): string {
  const reason = typeof err.details?.reason === 'string' ? err.details.reason : undefined
  const table = typeof err.details?.table === 'string' ? err.details.table : undefined
  if (reason === 'too-large' || reason === 'decompressed-too-large' || err.status === 413 || err.code === 'TOO_LARGE') return 'The file is too large for this server.'
  if (reason === 'not-a-backup') return 'This file is not a backup.'
  if (reason === 'unsupported-version') return 'This backup was written in a format this server cannot read (a newer or another version).'
  if (reason === 'damaged' || err.code === 'INTEGRITY' || (reason && ['checksum', 'tampered', 'truncated'].includes(reason))) {
    return table ? `The backup is damaged at table ${table}.` : 'The backup is damaged.'
  }
  if (err.code === 'BAD_FORMAT') return 'This file is not a usable backup.'
  if (err.code === 'FILE_EXISTS' || err.status === 409) return 'A backup with this name already exists.'
  if (err.status === 400) return 'The file name is not accepted.'
  if (err.code === 'CANCELLED') return 'Upload cancelled.'
  return 'The upload failed.'
}

export function BackupUploadPanel(props: { params: URLSearchParams; onUploaded?: (backup: Backup) => void; embedded?: boolean }) {
  const input = useRef<HTMLInputElement>(null)
  const [over, setOver] = useState(false)
  const [file, setFile] = useState<File | null>(null)
  const [sent, setSent] = useState(0)
  const [phase, setPhase] = useState<'idle' | 'sending' | 'checking' | 'done'>('idle')
  const [error, setError] = useState<ApiError | null>(null)
  const [result, setResult] = useState<{ backup: Backup; verification: Verification } | null>(null)
  const abort = useRef<AbortController | null>(null)

  const start = async (f: File) => {
    setFile(f)
    setError(null)
    setResult(null)
    setSent(0)
    setPhase('sending')
    const controller = new AbortController()
    abort.current = controller
    try {
      const r = await uploadBackup(
        f,
        (n, total) => {
          setSent(n)
          if (n >= total) setPhase('checking')
        },
        controller.signal,
      )
      setResult(r)
      setPhase('done')
      props.onUploaded?.(r.backup)
    } catch (e) {
      setError(e as ApiError)
      setPhase('idle')
    } finally {
      abort.current = null
    }
  }

  const busy = phase === 'sending' || phase === 'checking'
  return (
    <>
      {!props.embedded && (
        <div class="page-head">
          <div>
            <h1>Upload a backup</h1>
            <p class="muted">A backup file from another server or an older copy: mergeback's own files (.json, .json.gz, .enc) and the two Smart Backup / native MongoDB layouts.</p>
          </div>
        </div>
      )}
      <Card>
        <div
          class={`dropzone ${over ? 'over' : ''}`}
          onDragOver={(e) => {
            e.preventDefault()
            setOver(true)
          }}
          onDragLeave={() => setOver(false)}
          onDrop={(e) => {
            e.preventDefault()
            setOver(false)
            const f = e.dataTransfer?.files[0]
            if (f && !busy) void start(f)
          }}
        >
          <p>
            <strong>Drop a backup file here</strong>
          </p>
          <p class="muted small">or</p>
          <input
            ref={input}
            id="upload-file"
            type="file"
            accept={ACCEPT}
            class="visually-hidden"
            disabled={busy}
            onChange={(e) => {
              const f = (e.currentTarget as HTMLInputElement).files?.[0]
              if (f) void start(f)
              ;(e.currentTarget as HTMLInputElement).value = ''
            }}
          />
          <Button kind="primary" onClick={() => input.current?.click()} disabled={busy} aria-controls="upload-file">
            Choose a file…
          </Button>
          <label for="upload-file" class="visually-hidden">
            Backup file to upload
          </label>
          <p class="muted small">The file is checked (structure, checksums, limits) before it appears in the list; a refused file leaves nothing behind.</p>
        </div>
        {file && busy && (
          <>
            <ProgressBar
              label={phase === 'sending' ? `Uploading ${file.name}` : `Checking ${file.name}`}
              value={phase === 'sending' ? sent : null}
              max={file.size || 1}
              detail={phase === 'sending' ? `${formatBytes(sent)} of ${formatBytes(file.size)}` : 'The server verifies the file before it keeps it.'}
            />
            <Button onClick={() => abort.current?.abort()}>Cancel upload</Button>
          </>
        )}
        {error && (
          <div class="refusal" role="alert">
            <ErrorNote>
              <strong>{refusalTitle(error)}</strong> {error.message}
            </ErrorNote>
          </div>
        )}
        {result && <UploadResult backup={result.backup} verification={result.verification} />}
      </Card>
    </>
  )
}

function UploadResult(props: { backup: Backup; verification: Verification }) {
  const { backup, verification } = props
  const tables = verification.tables ?? backup.recordCounts ?? {}
  return (
    <Notice kind={verification.ok ? 'success' : 'warning'}>
      <p>
        <strong>{verification.ok ? 'Uploaded and verified:' : 'Uploaded, with problems:'}</strong> <span class="mono">{backup.file}</span> ({formatBytes(backup.sizeBytes)})
      </p>
      {verification.checks && (
        <ul class="checks">
          {verification.checks.map((c) => (
            <li key={c.check}>
              <Badge kind={c.ok ? 'good' : 'bad'}>{c.ok ? '✓' : '✗'}</Badge> {c.check}
              {c.detail && <span class="muted"> — {c.detail}</span>}
            </li>
          ))}
        </ul>
      )}
      {Object.keys(tables).length > 0 && (
        <p>
          {Object.entries(tables)
            .map(([t, n]) => `${t}: ${formatCount(n)}`)
            .join(' · ')}
        </p>
      )}
      <div class="form-actions">
        <a class="btn btn-primary" href={href('/merge', { file: backup.file })}>
          Smart merge it
        </a>
        <a class="btn" href={href('/restore', { file: backup.file })}>
          Restore it
        </a>
        <a class="btn" href={href('/backup', { file: backup.file })}>
          Inspect
        </a>
      </div>
    </Notice>
  )
}
