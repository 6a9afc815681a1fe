/** The screens of the page, by hash path; the ones with `nav` appear as tabs, in this order. */
import type { FunctionComponent } from 'preact'
import { PageOverview } from './PageOverview'
import { BackupCreatePanel } from './BackupCreatePanel'
import { BackupUploadPanel } from './BackupUploadPanel'
import { MergeWizard } from './MergeWizard'
import { RestoreWizard } from './RestoreWizard'
import { AuditLogPage } from './AuditLogPage'
import { BackupInspectPanel } from './BackupInspectPanel'
import { JobPage } from './JobPage'
import { SchedulesPage } from './SchedulesPage'

export interface Screen {
  readonly path: string
  readonly nav?: string
  readonly component: FunctionComponent<{ params: URLSearchParams }>
}

export const screens: readonly Screen[] = [
  { path: '/', nav: 'Overview', component: PageOverview },
  { path: '/create', nav: 'Create', component: BackupCreatePanel },
  { path: '/upload', nav: 'Upload', component: BackupUploadPanel },
  { path: '/merge', nav: 'Smart merge', component: MergeWizard },
  { path: '/restore', nav: 'Restore', component: RestoreWizard },
  { path: '/schedules', nav: 'Schedules', component: SchedulesPage },
  { path: '/audit', nav: 'Audit log', component: AuditLogPage },
  { path: '/backup', component: BackupInspectPanel },
  { path: '/job', component: JobPage },
]
