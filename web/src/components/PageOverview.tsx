/** The overview: the database's statistics and the backups list with its per-row actions. */
import { href } from '../router'
import { DatabaseStatsCard, useDatabaseStats } from './DatabaseStatsCard'
import { BackupsList } from './BackupsList'

export function PageOverview() {
  const { stats, error } = useDatabaseStats()
  return (
    <>
      <div class="page-head">
        <div>
          <h1>Backups</h1>
          <p class="muted">Create, download, verify, restore and smart-merge backups of this application's database.</p>
        </div>
        <div class="card-actions">
          <a class="btn btn-primary" href={href('/create')}>
            Create Smart Backup
          </a>
          <a class="btn" href={href('/upload')}>
            Upload a backup
          </a>
        </div>
      </div>
      <DatabaseStatsCard stats={stats} error={error} />
      <BackupsList />
    </>
  )
}
