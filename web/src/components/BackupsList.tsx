/**
 * The backups list: name, created, size, tables, records, gzip / encrypted, origin, verified,
 * with per-row actions. Delete is offered to super_admin only and asks for the file name.
 */
import { useCallback, useEffect, useState } from 'preact/hooks'
import { COMPRESSION_LABEL, deleteBackup, downloadBackup, followJob, listBackups, resultOf, verifyBackup, type Backup, type Verification } from '../api/api'
import { href } from '../router'
import { Badge, Button, Card, ErrorNote, formatBytes, formatCount, formatTime, sum } from './base/ui'
import { ConfirmDialog } from './base/confirm-dialog'
import { useSession } from './App'
import { announceJob } from './JobBanner'

type RowState = { verifying?: boolean; verification?: Verification; error?: string; downloading?: boolean }

export function BackupsList() {
  const session = useSession()
  const [backups, setBackups] = useState<readonly Backup[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [rows, setRows] = useState<Record<string, RowState>>({})
  const [deleting, setDeleting] = useState<Backup | null>(null)
  const [message, setMessage] = useState<string | null>(null)

  const reload = useCallback(() => {
    listBackups()
      .then((b) => {
        setBackups(b)
        setError(null)
      })
      .catch((e: Error) => setError(e.message))
  }, [])
  useEffect(reload, [reload])

  const patch = (file: string, p: RowState) => setRows((r) => ({ ...r, [file]: { ...r[file], ...p } }))

  const verify = async (b: Backup) => {
    patch(b.file, { verifying: true, error: undefined, verification: undefined })
    try {
      const job = await verifyBackup(b.file)
      announceJob()
      resultOf(await followJob<Verification>(job.id, () => {}))
      // The server kept the outcome and its time in the catalog: the list shows it from there.
      patch(b.file, { verifying: false })
      reload()
    } catch (e) {
      patch(b.file, { verifying: false, error: (e as Error).message, verification: { ok: false } })
    }
  }

  const download = async (b: Backup) => {
    patch(b.file, { downloading: true, error: undefined })
    try {
      await downloadBackup(b.file)
    } catch (e) {
      patch(b.file, { error: (e as Error).message })
    } finally {
      patch(b.file, { downloading: false })
    }
  }

  return (
    <Card
      title="Backups"
      id="backups"
      actions={
        <Button kind="ghost" class="btn-small" onClick={reload}>
          Refresh
        </Button>
      }
    >
      {message && (
        <p class="notice notice-success" role="status">
          {message}
        </p>
      )}
      {error && <ErrorNote>The backups could not be listed: {error}</ErrorNote>}
      {backups && backups.length === 0 && (
        <p class="empty">
          No backups yet. <a href={href('/create')}>Create the first one</a> or <a href={href('/upload')}>upload a file</a>.
        </p>
      )}
      {backups && backups.length > 0 && (
        <div class="table-wrap">
          <table class="data stack" aria-label="Backups">
            <thead>
              <tr>
                <th scope="col">Backup</th>
                <th scope="col">Created</th>
                <th scope="col" class="num">Size</th>
                <th scope="col" class="num">Tables</th>
                <th scope="col" class="num">Records</th>
                <th scope="col">Kind</th>
                <th scope="col">Verified</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {backups.map((b) => {
                const row = rows[b.file] ?? {}
                const records = b.recordCounts ? sum(Object.values(b.recordCounts)) : undefined
                return (
                  <tr key={b.file} data-file={b.file}>
                    <td data-label="Backup">
                      <div class="file-name">{b.file}</div>
                      {b.description && <div class="muted small">{b.description}</div>}
                      {b.problem && <Badge kind="bad">{b.problem}</Badge>}
                    </td>
                    <td data-label="Created" class="nowrap">
                      {formatTime(b.createdAt)}
                    </td>
                    <td data-label="Size" class="num nowrap">
                      {formatBytes(b.sizeBytes)}
                    </td>
                    <td data-label="Tables" class="num">
                      {b.tables ? b.tables.length : '—'}
                    </td>
                    <td data-label="Records" class="num">
                      {formatCount(records)}
                    </td>
                    <td data-label="Kind">
                      <div class="badges">
                        <Badge kind={b.compression === 'none' ? 'neutral' : 'info'}>{COMPRESSION_LABEL[b.compression]}</Badge>
                        {b.encrypted && <Badge kind="warn">encrypted</Badge>}
                        {b.incremental && (
                          <Badge kind="info" title={`Only the changes since ${b.incremental.parent} (link ${b.incremental.depth} of its chain); restoring it replays the chain`}>
                            incremental
                          </Badge>
                        )}
                        {b.kind === 'full' && <Badge kind="info" title="The engine's own complete dump (restore only, no smart merge)">full dump</Badge>}
                        {b.originKind && <Badge kind="neutral" title={ORIGIN_KIND[b.originKind]}>{b.originKind}</Badge>}
                        {b.origin === 'here' && <Badge kind="good" title="Sealed by this installation: made here">made here</Badge>}
                        {b.origin === 'foreign' && <Badge kind="warn" title="Not sealed by this installation: uploaded or copied in">foreign</Badge>}
                        {!b.catalogued && <Badge title="No catalog entry: copied in by hand, or from another installation">not catalogued</Badge>}
                      </div>
                    </td>
                    <td data-label="Verified">
                      <VerifiedCell backup={b} row={row} />
                    </td>
                    <td data-label="Actions">
                      <div class="row-actions">
                        <Button class="btn-small" onClick={() => download(b)} busy={row.downloading} aria-label={`Download ${b.file}`}>
                          Download
                        </Button>
                        <Button class="btn-small" onClick={() => verify(b)} busy={row.verifying} aria-label={`Verify ${b.file}`}>
                          Verify
                        </Button>
                        <a class="btn btn-small" href={href('/backup', { file: b.file })} aria-label={`Inspect ${b.file}`}>
                          Inspect
                        </a>
                        <a class="btn btn-small" href={href('/merge', { file: b.file })} aria-label={`Smart merge ${b.file}`}>
                          Merge
                        </a>
                        <a class="btn btn-small" href={href('/restore', { file: b.file })} aria-label={`Restore ${b.file}`}>
                          Restore
                        </a>
                        {session.can.delete && (
                          <Button class="btn-small btn-danger-outline" onClick={() => setDeleting(b)} aria-label={`Delete ${b.file}`}>
                            Delete
                          </Button>
                        )}
                      </div>
                      {row.error && <ErrorNote>{row.error}</ErrorNote>}
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete this backup?"
          confirmLabel="Delete backup"
          danger
          typeToConfirm={deleting.file}
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await deleteBackup(deleting.file)
            setMessage(`Deleted ${deleting.file}.`)
            reload()
          }}
        >
          <p>
            <strong class="mono">{deleting.file}</strong> ({formatBytes(deleting.sizeBytes)}, {formatTime(deleting.createdAt)}) will be removed from the backup directory. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </Card>
  )
}

function VerifiedCell(props: { backup: Backup; row: RowState }) {
  const { row, backup } = props
  if (row.verifying) return <Badge kind="info">checking…</Badge>
  if (row.verification) {
    if (row.verification.ok) return <Badge kind="good">✓ intact</Badge>
    const failed = row.verification.checks?.find((c) => !c.ok)
    return (
      <Badge kind="bad" title={failed?.detail ?? row.error}>
        ✗ damaged
      </Badge>
    )
  }
  const v = backup.verified
  if (!v) return <span class="muted small">not checked</span>
  return (
    <>
      <Badge kind={v.ok ? 'good' : 'bad'} title={v.detail}>
        {v.ok ? '✓ intact' : '✗ damaged'}
      </Badge>
      {v.at && <div class="muted small verified-at">{formatTime(v.at)}</div>}
    </>
  )
}

/** What each origin kind means, for the badge's title. */
const ORIGIN_KIND: Record<NonNullable<Backup['originKind']>, string> = {
  manual: 'Made on request (the page, the API or the command line)',
  scheduled: 'Made by a schedule',
  uploaded: 'Uploaded to this server (checked before it was listed)',
}
