/** Statistics of the server's database: engine, size, tables with their row counts. */
import { useEffect, useState } from 'preact/hooks'
import { databaseStats, type DatabaseStats } from '../api/api'
import { Card, ErrorNote, formatBytes, formatCount, sum } from './base/ui'

export function useDatabaseStats(): { stats: DatabaseStats | null; error: string | null; reload: () => void } {
  const [stats, setStats] = useState<DatabaseStats | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [n, setN] = useState(0)
  useEffect(() => {
    databaseStats()
      .then((s) => {
        setStats(s)
        setError(null)
      })
      .catch((e: Error) => setError(e.message))
  }, [n])
  return { stats, error, reload: () => setN((x) => x + 1) }
}

export function DatabaseStatsCard(props: { stats: DatabaseStats | null; error: string | null }) {
  const { stats, error } = props
  return (
    <Card title="Database" id="stats">
      {error && <ErrorNote>The database statistics could not be read: {error}</ErrorNote>}
      {!stats && !error && <p class="muted">Reading statistics…</p>}
      {stats && (
        <>
          <div class="stats">
            <div class="stat">
              <div class="stat-label">Database</div>
              <div class="stat-value">{stats.database}</div>
            </div>
            <div class="stat">
              <div class="stat-label">Engine</div>
              <div class="stat-value">
                {stats.engine}
                {stats.version && <span class="muted small"> {stats.version}</span>}
              </div>
            </div>
            <div class="stat">
              <div class="stat-label">Size</div>
              <div class="stat-value">{formatBytes(stats.sizeBytes ?? undefined)}</div>
            </div>
            <div class="stat">
              <div class="stat-label">Rows in {stats.tables.length} tables</div>
              <div class="stat-value">{formatCount(sum(stats.tables.map((t) => t.rows)))}</div>
            </div>
          </div>
          <details>
            <summary>Tables and row counts</summary>
            <div class="table-wrap" style={{ marginTop: '0.6rem' }}>
              <table class="data">
                <thead>
                  <tr>
                    <th scope="col">Table</th>
                    <th scope="col" class="num">Rows</th>
                    <th scope="col" class="num">Size</th>
                  </tr>
                </thead>
                <tbody>
                  {stats.tables.map((t) => (
                    <tr key={t.name}>
                      <td>{t.name}</td>
                      <td class="num">{formatCount(t.rows)}</td>
                      <td class="num">{formatBytes(t.sizeBytes ?? undefined)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
        </>
      )}
    </Card>
  )
}
