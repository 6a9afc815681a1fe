/**
 * Scheduled runs inside `mergeback serve` are jobs (issue #16, ops item 2): a run shows in
 * /api/jobs as kind `schedule` with its progress and result, its events stream like any job's,
 * it can be cancelled (the run is then recorded as failed, audited and flagged), and one schedule
 * still never has two runs at once (a second "run now" while its job runs is a 409).
 *
 * The run to cancel is held up deterministically: its remote is an "S3 endpoint" on loopback that
 * accepts connections and never answers, so the job stays in its first request until cancelled.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { ScheduleStore } from '../../../src/schedule/schedule-store.js'
import pg from 'pg'
import { createPostgresDatabase, makeSqlitePath, pgQuery } from '../../helpers/databases.js'
import { createToken, readEvents, startTestServer, type TestServer } from './server-helpers.js'

describe('mergeback serve: scheduled runs are jobs', () => {
  let server: TestServer
  let sqlite: ReturnType<typeof makeSqlitePath>
  let silent: net.Server
  const sockets = new Set<net.Socket>()
  let admin: string
  let superAdmin: string

  beforeAll(async () => {
    sqlite = makeSqlitePath()
    const made = await runCli(['demo', '--file', sqlite.file, '--dir', path.join(path.dirname(sqlite.file), 'demo-backups'), '--json'])
    expect(made.code, made.stderr).toBe(0)
    silent = net.createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as net.AddressInfo).port
    server = await startTestServer({
      db: sqlite.url,
      env: { MERGEBACK_S3_ENDPOINT: `http://127.0.0.1:${port}`, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'never-printed-secret' },
    })
    admin = await createToken(server.root, 'ada', 'admin')
    superAdmin = await createToken(server.root, 'root', 'super_admin')
  })

  afterAll(async () => {
    await server?.stop()
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()))
    sqlite?.cleanup()
  })

  const create = async (json: unknown): Promise<string> => {
    const response = await server.request('/api/schedules', { method: 'POST', token: superAdmin, json })
    expect(response.status, await response.clone().text()).toBe(201)
    return ((await response.json()) as { schedule: { id: string } }).schedule.id
  }
  const scheduleRow = async (id: string): Promise<any> => {
    const body = (await (await server.request('/api/schedules', { token: admin })).json()) as any
    return { ...body.schedules.find((s: any) => s.schedule.id === id), failed: body.failed }
  }

  it('"run now" starts a job of kind schedule: listed in /api/jobs, its events end with the result, progress counts the rows', async () => {
    const id = await create({ name: 'jobbed', cron: '0 3 * * *', gzip: true })
    const run = await server.request(`/api/schedules/${id}/run`, { method: 'POST', token: admin })
    expect(run.status).toBe(200)
    const { jobId } = (await run.json()) as { jobId?: string }
    expect(jobId).toMatch(/^j_/)

    const events = await readEvents(server, jobId!, admin)
    const end = events.at(-1)!
    expect(end.event).toBe('end')
    expect(end.data).toMatchObject({ id: jobId, kind: 'schedule', state: 'succeeded', database: 'default', file: 'jobbed', actor: { name: 'ada', role: 'admin' } })
    expect(end.data.result.files).toHaveLength(1)
    expect(path.basename(end.data.result.files[0])).toMatch(/^jobbed-.*\.json\.gz$/)
    expect(end.data.progress.rowsDone).toBeGreaterThan(0)

    const listed = (await (await server.request('/api/jobs', { token: admin })).json()) as { jobs: { id: string; kind: string }[] }
    expect(listed.jobs.find((j) => j.id === jobId)).toMatchObject({ kind: 'schedule' })
    await vi.waitFor(async () => expect((await scheduleRow(id)).lastRun).toMatchObject({ outcome: 'success', trigger: 'manual' }), { timeout: 10_000, interval: 100 })
    expect(fs.readdirSync(server.dir).filter((f) => /^jobbed-.*\.json\.gz$/.test(f))).toHaveLength(1)
    // The list shows the next few due times, the first being nextRunAt.
    const row = await scheduleRow(id)
    expect(row.nextRuns).toHaveLength(5)
    expect(row.nextRuns[0]).toBe(row.nextRunAt)
    expect(row.nextRuns.map((t: string) => new Date(t).getUTCHours())).toEqual([3, 3, 3, 3, 3])
  })

  it('a running scheduled job blocks a second run of its schedule (409); cancelling it records a failed, audited, flagged run', async () => {
    // Written straight into the state directory: the API checks a remote when it is given, and
    // this one never answers (that is the point here).
    const id = (await new ScheduleStore(server.stateDir).create({ name: 'stuck', cron: '0 4 * * *', destination: 'remote', remote: 's3://never-answers/prefix' })).id
    const run = await server.request(`/api/schedules/${id}/run`, { method: 'POST', token: admin })
    expect(run.status).toBe(200)
    const { jobId } = (await run.json()) as { jobId: string }
    const job = (await (await server.request(`/api/jobs/${jobId}`, { token: admin })).json()) as any
    expect(job.job).toMatchObject({ kind: 'schedule', state: 'running' })
    expect((await scheduleRow(id)).running).toBe(true)

    const again = await server.request(`/api/schedules/${id}/run`, { method: 'POST', token: admin })
    expect(again.status).toBe(409)
    expect(((await again.json()) as { error: string }).error).toMatch(/is running now/)
    expect((await (await server.request('/api/jobs', { token: admin })).json() as any).jobs.filter((j: any) => j.kind === 'schedule' && j.state === 'running')).toHaveLength(1)

    // Its starter may cancel it, as any job.
    const cancelled = await server.request(`/api/jobs/${jobId}`, { method: 'DELETE', token: admin })
    expect(cancelled.status).toBe(200)
    expect(((await cancelled.json()) as any).job.state).toBe('cancelled')
    await vi.waitFor(
      async () => {
        const row = await scheduleRow(id)
        expect(row.lastRun).toMatchObject({ outcome: 'failure', acknowledged: false })
        expect(row.lastRun.error).toMatch(/Cancelled/)
        expect(row.running).toBe(false)
        expect(row.failed).toContain(id)
      },
      { timeout: 10_000, interval: 100 },
    )
    const audit = fs.readFileSync(path.join(server.dir, 'audit.jsonl'), 'utf8')
    expect(audit).toMatch(/"actor":"schedule:stuck".*"outcome":"failure"/)
    expect(audit).not.toContain('never-printed-secret')
    expect(fs.readdirSync(server.dir).filter((f) => f.startsWith('stuck-'))).toEqual([])

    // Acknowledged, the flag goes; another run may start.
    expect((await server.request(`/api/schedules/${id}/acknowledge`, { method: 'POST', token: admin })).status).toBe(200)
    expect((await scheduleRow(id)).failed).not.toContain(id)
    const third = await server.request(`/api/schedules/${id}/run`, { method: 'POST', token: admin })
    expect(third.status).toBe(200)
    const thirdJob = ((await third.json()) as { jobId: string }).jobId
    expect((await server.request(`/api/jobs/${thirdJob}`, { method: 'DELETE', token: superAdmin })).status).toBe(200)
  })
})

/** The pids of pg_dump processes whose command line names `database` (from /proc). */
function dumpProcesses(database: string): number[] {
  const found: number[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (path.basename(args[0] ?? '') === 'pg_dump' && args.some((a) => a.includes(database))) found.push(Number(entry))
    } catch {
      // Gone meanwhile.
    }
  }
  return found
}

describe('mergeback serve: cancelling a scheduled full backup (PostgreSQL)', () => {
  let server: TestServer
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>
  let blocker: pg.Client

  beforeAll(async () => {
    database = await createPostgresDatabase('mbopsjob')
    await pgQuery(database.url, 'CREATE TABLE item (id int PRIMARY KEY, name text); INSERT INTO item VALUES (1, \'a\')')
    server = await startTestServer({ db: database.url })
  })

  afterAll(async () => {
    await blocker?.end().catch(() => undefined)
    await server?.stop()
    await database?.drop()
  })

  it('removes the partial file and leaves no pg_dump behind', async () => {
    const superAdmin = await createToken(server.root, 'root', 'super_admin')
    // pg_dump waits for this lock: the job has opened its file and is stuck in the dump.
    blocker = new pg.Client({ connectionString: database.url })
    await blocker.connect()
    await blocker.query('BEGIN')
    await blocker.query('LOCK TABLE item IN ACCESS EXCLUSIVE MODE')
    const created = await server.request('/api/schedules', { method: 'POST', token: superAdmin, json: { name: 'locked', cron: '0 5 * * *', kind: 'full' } })
    expect(created.status).toBe(201)
    const id = ((await created.json()) as { schedule: { id: string } }).schedule.id
    const { jobId } = (await (await server.request(`/api/schedules/${id}/run`, { method: 'POST', token: superAdmin })).json()) as { jobId: string }
    const partial = () => fs.readdirSync(server.dir).filter((f) => f.startsWith('.tmp-'))
    const dumping = async () =>
      (await pgQuery<{ n: string }>(database.url, "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_dump'"))[0]!.n
    await vi.waitFor(async () => {
      expect(partial()).toHaveLength(1)
      expect(await dumping()).toBe('1')
    }, { timeout: 30_000, interval: 200 })
    expect(dumpProcesses(database.name)).toHaveLength(1)

    const cancelled = await server.request(`/api/jobs/${jobId}`, { method: 'DELETE', token: superAdmin })
    expect(((await cancelled.json()) as any).job.state).toBe('cancelled')
    expect(partial()).toEqual([])
    // The dump program went with its job, while the lock it waits for is still held (its server
    // backend stays until then: PostgreSQL notices a lost client only when it can send again).
    expect(dumpProcesses(database.name)).toEqual([])
    await blocker.query('ROLLBACK')
    const row = (await (await server.request('/api/schedules', { token: superAdmin })).json()) as any
    await vi.waitFor(async () => {
      const now = (await (await server.request('/api/schedules', { token: superAdmin })).json()) as any
      expect(now.schedules[0].lastRun).toMatchObject({ outcome: 'failure' })
    }, { timeout: 10_000, interval: 100 })
    expect(row.schedules[0].schedule.name).toBe('locked')
    expect(fs.readdirSync(server.dir).filter((f) => f.startsWith('locked-'))).toEqual([])
  })
})
