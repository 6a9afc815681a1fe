/** Inspect a backup: its metadata, tables with record counts, and each table's schema. */
import { useEffect, useState } from 'preact/hooks'
import { COMPRESSION_LABEL, inspectBackup, type Backup, type InspectReport } from '../api/api'
import { href } from '../router'
import { Badge, Card, ErrorNote, formatBytes, formatCount, formatTime, plural } from './base/ui'

interface Column {
  readonly name: string
  readonly type?: string
  readonly nullable?: boolean
}
interface Schema {
  readonly columns?: readonly Column[]
  readonly primaryKey?: readonly string[]
  readonly indexes?: readonly unknown[]
  readonly foreignKeys?: readonly { columns?: readonly string[]; referencedTable?: string; references?: { table?: string } }[]
}

export function BackupInspectPanel(props: { params: URLSearchParams }) {
  const file = props.params.get('file') ?? ''
  const [data, setData] = useState<{ backup: Backup; inspect: InspectReport } | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    setData(null)
    inspectBackup(file)
      .then(setData)
      .catch((e: Error) => setError(e.message))
  }, [file])
  return (
    <>
      <div class="page-head">
        <div>
          <h1>Inspect</h1>
          <p class="mono">{file}</p>
        </div>
        <div class="card-actions">
          <a class="btn btn-primary" href={href('/merge', { file })}>
            Smart merge
          </a>
          <a class="btn" href={href('/restore', { file })}>
            Restore
          </a>
        </div>
      </div>
      {error && <ErrorNote>{error}</ErrorNote>}
      {!data && !error && <p class="muted">Reading the backup (its checksums are verified on the way)…</p>}
      {data && (
        <>
          <Card title="Backup">
            <dl class="kv">
              <dt>Created</dt>
              <dd>{formatTime(data.backup.createdAt)}</dd>
              <dt>Size</dt>
              <dd>{formatBytes(data.backup.sizeBytes)}</dd>
              <dt>Layout</dt>
              <dd>{data.inspect.layout}</dd>
              <dt>From</dt>
              <dd>{[data.inspect.metadata.engine, data.inspect.metadata.database].filter(Boolean).join(' · ') || '—'}</dd>
              {typeof data.inspect.metadata.description === 'string' && (
                <>
                  <dt>Description</dt>
                  <dd>{data.inspect.metadata.description}</dd>
                </>
              )}
              <dt>Kind</dt>
              <dd class="badges">
                <Badge kind="info">{COMPRESSION_LABEL[data.backup.compression]}</Badge>
                {data.backup.encrypted && <Badge kind="warn">encrypted</Badge>}
              </dd>
              {data.backup.sha256 && (
                <>
                  <dt>SHA-256</dt>
                  <dd class="mono small">{data.backup.sha256}</dd>
                </>
              )}
            </dl>
          </Card>
          <Card title={`Tables (${data.inspect.tables.length})`}>
            {data.inspect.tables.map((t) => {
              const schema = (t.schema ?? {}) as Schema
              return (
                <details key={t.name} class="schema">
                  <summary>
                    <strong>{t.name}</strong> <span class="muted">— {formatCount(t.records)} records{schema.primaryKey?.length ? `, key ${schema.primaryKey.join(', ')}` : ''}</span>
                  </summary>
                  {schema.columns && (
                    <div class="table-wrap">
                      <table class="data">
                        <thead>
                          <tr>
                            <th scope="col">Column</th>
                            <th scope="col">Type</th>
                            <th scope="col">Null</th>
                          </tr>
                        </thead>
                        <tbody>
                          {schema.columns.map((c) => (
                            <tr key={c.name}>
                              <td class="mono">
                                {c.name}{' '}
                                {schema.primaryKey?.includes(c.name) && <Badge kind="info">key</Badge>}
                              </td>
                              <td class="mono">{c.type ?? '—'}</td>
                              <td>{c.nullable ? 'yes' : 'no'}</td>
                            </tr>
                          ))}
                        </tbody>
                      </table>
                    </div>
                  )}
                  <p class="muted small">
                    {plural(schema.indexes?.length ?? 0, 'index', 'indexes')}, {plural(schema.foreignKeys?.length ?? 0, 'foreign key')}{t.checksum ? ` · checksum ${t.checksum.slice(0, 19)}…` : ''}
                  </p>
                </details>
              )
            })}
          </Card>
        </>
      )}
    </>
  )
}
