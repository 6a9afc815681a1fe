/**
 * The banner shown on every screen while a scheduled run's failure is not acknowledged
 * ("Scheduled backup “nightly” failed …"), with an Acknowledge button and a link to the
 * Schedules screen. A failure must not go unseen for weeks (issue #16): the server keeps the
 * flag (GET /api/schedules `failed`) until someone acknowledges it, here, on the screen, or with
 * `mergeback schedule ack`. The banner asks every 15 s and whenever the page changed schedules.
 * A server without a scheduler (404) shows nothing.
 */
import { useCallback, useEffect, useState } from 'preact/hooks'
import { ApiError } from '../api/client'
import { acknowledgeSchedule, listSchedules, schedulesChanged, type ScheduleStatus } from '../api/schedules'
import { href } from '../router'
import { Button, formatTime } from './base/ui'

const POLL_MS = 15_000

export function ScheduleAlertBanner() {
  const [failed, setFailed] = useState<readonly ScheduleStatus[]>([])
  const [busy, setBusy] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)

  const refresh = useCallback(async (): Promise<boolean> => {
    try {
      const list = await listSchedules()
      const ids = new Set(list.failed)
      setFailed(list.schedules.filter((s) => ids.has(s.schedule.id)))
      return true
    } catch (e) {
      // No scheduler on this server: nothing to watch.
      if (e instanceof ApiError && e.status === 404) return false
      return true
    }
  }, [])

  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const tick = async () => {
      clearTimeout(timer)
      const again = await refresh()
      if (!stopped && again) timer = setTimeout(tick, POLL_MS)
    }
    void tick()
    const onChange = () => void tick()
    window.addEventListener('mergeback:schedules-changed', onChange)
    return () => {
      stopped = true
      clearTimeout(timer)
      window.removeEventListener('mergeback:schedules-changed', onChange)
    }
  }, [refresh])

  if (failed.length === 0) return null
  const acknowledge = async (id: string) => {
    setBusy(id)
    setError(null)
    try {
      await acknowledgeSchedule(id)
      schedulesChanged()
    } catch (e) {
      setError((e as Error).message)
    } finally {
      setBusy(null)
    }
  }
  return (
    <div class="schedule-alert" role="alert" aria-label="Failed scheduled backups">
      {failed.map(({ schedule, lastRun }) => (
        <div class="schedule-alert-row" key={schedule.id} data-schedule={schedule.name}>
          <span class="schedule-alert-icon" aria-hidden="true">
            !
          </span>
          <span class="schedule-alert-text">
            <strong>Scheduled backup “{schedule.name}” failed</strong> {lastRun?.finishedAt ? `at ${formatTime(lastRun.finishedAt)}` : ''}: {lastRun?.error ?? 'no reason was recorded'}{' '}
            <a href={href('/schedules')}>See the schedules</a>
          </span>
          <Button kind="secondary" class="btn-small" busy={busy === schedule.id} onClick={() => acknowledge(schedule.id)} aria-label={`Acknowledge the failure of ${schedule.name}`}>
            Acknowledge
          </Button>
        </div>
      ))}
      {error && <p class="schedule-alert-error">{error}</p>}
    </div>
  )
}
