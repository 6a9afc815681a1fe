/**
 * Step one of both wizards: choose a backup on the server, or upload one (which is then chosen).
 */
import { useEffect, useState } from 'preact/hooks'
import { listBackups, type Backup } from '../api/api'
import { Button, ErrorNote, formatBytes, formatCount, formatTime, sum } from './base/ui'
import { BackupUploadPanel } from './BackupUploadPanel'

export function useBackups(): { backups: readonly Backup[] | null; error: string | null; reload: () => void } {
  const [backups, setBackups] = useState<readonly Backup[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [n, setN] = useState(0)
  useEffect(() => {
    listBackups()
      .then(setBackups)
      .catch((e: Error) => setError(e.message))
  }, [n])
  return { backups, error, reload: () => setN((x) => x + 1) }
}

export function BackupPicker(props: { selected: string | null; onSelect: (file: string) => void; legend: string }) {
  const { backups, error, reload } = useBackups()
  const [uploading, setUploading] = useState(false)
  return (
    <>
      {error && <ErrorNote>The backups could not be listed: {error}</ErrorNote>}
      {!backups && !error && <p class="muted">Loading the backups…</p>}
      {backups && (
        <fieldset>
          <legend>{props.legend}</legend>
          {backups.length === 0 && <p class="muted">No backups on the server yet: upload one below.</p>}
          <div class="pick-list">
            {backups.map((b) => (
              <label class="radio-card" key={b.file}>
                <input type="radio" name="backup" value={b.file} checked={props.selected === b.file} onChange={() => props.onSelect(b.file)} />
                <span>
                  <strong class="mono">{b.file}</strong>
                  <span class="hint">
                    {formatTime(b.createdAt)} · {formatBytes(b.sizeBytes)} · {b.tables ? `${b.tables.length} tables` : 'tables unknown'}
                    {b.recordCounts ? ` · ${formatCount(sum(Object.values(b.recordCounts)))} records` : ''}
                    {b.database ? ` · from ${b.engine ?? ''} ${b.database}` : ''}
                    {b.description ? ` · ${b.description}` : ''}
                  </span>
                </span>
              </label>
            ))}
          </div>
        </fieldset>
      )}
      {!uploading ? (
        <Button kind="ghost" onClick={() => setUploading(true)}>
          Or upload a backup file…
        </Button>
      ) : (
        <BackupUploadPanel
          embedded
          params={new URLSearchParams()}
          onUploaded={(b) => {
            reload()
            props.onSelect(b.file)
          }}
        />
      )}
    </>
  )
}
