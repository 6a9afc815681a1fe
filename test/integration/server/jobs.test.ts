/**
 * Jobs over real HTTP on PostgreSQL: progress events in order ending with the result, a
 * cancelled restore rolled back, one writer per database (409 naming the running job), and a
 * server killed with SIGKILL during a restore leaving the database as it was.
 */
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { createPostgresDatabase, makeTempDir, pgQuery, type TestDatabase } from '../../helpers/databases.js'
import { createToken, readEvents, startTestServer, waitForJob, type TestServer } from './server-helpers.js'
import { digest } from './data-helpers.js'

const ROWS = 300_000

/** Waits until the job reports rows written (it is inside its transaction) and returns its state. */
async function untilWriting(server: TestServer, jobId: string, token: string): Promise<any> {
  // A deadline, not a count of polls: on a loaded machine each request alone can take a second.
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    const { job }: any = await (await server.request(`/api/jobs/${jobId}`, { token })).json()
    if (job.state !== 'running') throw new Error(`the job ended before it wrote: ${JSON.stringify(job.error ?? job.result).slice(0, 500)}`)
    if (job.progress.rowsDone > 0) return job
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('the job did not start writing in 90 s')
}

async function connectionsTo(name: string): Promise<number> {
  const rows = await pgQuery('postgres://postgres@127.0.0.1:5432/postgres', 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name])
  return rows[0]!.n as number
}

describe('jobs', () => {
  let source: TestDatabase
  let target: TestDatabase
  let work: ReturnType<typeof makeTempDir>
  let server: TestServer
  let token: string
  const file = 'big.json'

  beforeAll(async () => {
    source = await createPostgresDatabase('mbjobs')
    target = await createPostgresDatabase('mbjobs')
    const schema = 'CREATE TABLE big (id integer PRIMARY KEY, payload text NOT NULL, amount numeric(12,2) NOT NULL, "updatedAt" timestamptz NOT NULL)'
    await pgQuery(source.url, schema)
    await pgQuery(source.url, `INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text), g / 100.0, timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, ${ROWS}) g`)
    // The target has the table and a few rows of its own: a restore adds the rest.
    await pgQuery(target.url, schema)
    await pgQuery(target.url, `INSERT INTO big SELECT g, 'mine', 1, now() FROM generate_series(1, 10) g`)
    work = makeTempDir('mergeback-jobs-')
    server = await startTestServer({ config: { databases: { app: target.url } } })
    token = await createToken(server.root, 'ada', 'super_admin')
    const made = await runCli(['backup', '--db', source.url, '--out', path.join(server.dir, file), '--json'])
    expect(made.code, made.stderr).toBe(0)
  }, 120_000)

  afterAll(async () => {
    await server?.stop()
    await source?.drop()
    await target?.drop()
    work?.cleanup()
  })

  it('streams progress events in order and ends with the result', async () => {
    const started: any = await (await server.request(`/api/backups/${file}/restore`, { method: 'POST', token, json: { dryRun: true } })).json()
    expect(started).toMatchObject({ success: true, jobId: expect.stringMatching(/^j_/), job: { kind: 'restore', state: 'running', database: 'app', file } })
    const events = await readEvents(server, started.jobId, token)
    const ids = events.map((e) => Number(e.id))
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    expect(events.at(-1)!.event).toBe('end')
    expect(events.slice(0, -1).every((e) => e.event === 'progress')).toBe(true)
    const rows = events.filter((e) => e.event === 'progress').map((e) => e.data.rowsDone as number)
    expect(rows).toEqual([...rows].sort((a, b) => a - b))
    expect(events.some((e) => e.event === 'progress' && e.data.table === 'big')).toBe(true)
    const end = events.at(-1)!.data
    expect(end).toMatchObject({ state: 'succeeded', result: { dryRun: true, totals: { inserted: ROWS - 10, skipped: 10 } } })
    expect(end.progress.rowsDone).toBe(ROWS)
  }, 120_000)

  it('a backup job tells each table\'s total, so the page can show how far along it is and the time left', async () => {
    const response = await server.request('/api/backups', { method: 'POST', token, json: { database: 'app', name: 'totals' } })
    const started: any = await response.json()
    expect(response.status, JSON.stringify(started)).toBe(202)
    const events = await readEvents(server, started.jobId, token)
    const end = events.at(-1)!.data
    expect(end.state, JSON.stringify(end)).toBe('succeeded')
    const onBig = events.filter((e) => e.event === 'progress' && e.data.table === 'big')
    expect(onBig.length).toBeGreaterThan(0)
    const rows = await pgQuery(target.url, 'SELECT count(*)::int AS n FROM big')
    for (const e of onBig) expect(e.data.tableRowsTotal).toBe(rows[0]!.n)
  }, 120_000)

  it('cancelling a restore rolls it back', async () => {
    const before = await digest(target.url)
    const started: any = await (await server.request(`/api/backups/${file}/restore`, { method: 'POST', token, json: {} })).json()
    await untilWriting(server, started.jobId, token)
    const cancelled = await server.request(`/api/jobs/${started.jobId}`, { method: 'DELETE', token })
    expect(cancelled.status).toBe(200)
    expect(await cancelled.json()).toMatchObject({ job: { state: 'cancelled', error: { code: 'CANCELLED' } } })
    await expect.poll(() => connectionsTo(target.name), { timeout: 10_000 }).toBe(0)
    expect(await digest(target.url)).toBe(before)
  }, 120_000)

  it('allows one restore or merge per database: the second gets 409 naming the first; a backup may run beside it', async () => {
    const first: any = await (await server.request(`/api/backups/${file}/merge`, { method: 'POST', token, json: { dryRun: true } })).json()
    expect(first.success).toBe(true)
    const second = await server.request(`/api/backups/${file}/merge`, { method: 'POST', token, json: {} })
    expect(second.status).toBe(409)
    expect(await second.json()).toMatchObject({ success: false, code: 'BUSY', details: { jobId: first.jobId, kind: 'merge' } })
    const restore = await server.request(`/api/backups/${file}/restore`, { method: 'POST', token, json: {} })
    expect(restore.status).toBe(409)
    const seed = await server.request('/api/admin/backup/merge', { method: 'POST', token, json: { action: 'merge', filename: file, options: {} } })
    expect(seed.status).toBe(409)
    const analyze = await server.request(`/api/backups/${file}/analyze`, { method: 'POST', token, json: {} })
    expect(analyze.status).toBe(202)
    const backup = await server.request('/api/backups', { method: 'POST', token, json: { name: 'beside' } })
    expect(backup.status).toBe(202)
    await server.request(`/api/jobs/${first.jobId}`, { method: 'DELETE', token })
    await waitForJob(server, ((await analyze.json()) as any).jobId, token)
    const done = await waitForJob(server, ((await backup.json()) as any).jobId, token)
    expect(done.state).toBe('succeeded')
    // Once the first is gone, a merge may start.
    const third = await server.request(`/api/backups/${file}/merge`, { method: 'POST', token, json: { dryRun: true } })
    expect(third.status).toBe(202)
    await server.request(`/api/jobs/${((await third.json()) as any).jobId}`, { method: 'DELETE', token })
  }, 120_000)

  it('on SIGTERM a server stops taking work, cancels what outlives --shutdown-timeout (rolled back) and exits 0', async () => {
    const before = await digest(target.url)
    const own = await startTestServer({ config: { databases: { app: target.url } }, args: ['--shutdown-timeout', '0'] })
    const ownToken = await createToken(own.root, 'ada', 'super_admin')
    const copied = await runCli(['backup', '--db', source.url, '--out', path.join(own.dir, file), '--json'])
    expect(copied.code).toBe(0)
    const started: any = await (await own.request(`/api/backups/${file}/restore`, { method: 'POST', token: ownToken, json: {} })).json()
    await untilWriting(own, started.jobId, ownToken)
    expect(await own.stop()).toBe(0)
    expect(own.logs.some((l) => l.msg === 'shutdown' && l.runningJobs === 1)).toBe(true)
    expect(own.logs.some((l) => l.msg === 'job' && l.state === 'cancelled')).toBe(true)
    await expect.poll(() => connectionsTo(target.name), { timeout: 15_000 }).toBe(0)
    expect(await digest(target.url)).toBe(before)
  }, 180_000)

  it('a server killed with SIGKILL during a restore leaves the database as it was', async () => {
    const before = await digest(target.url)
    const own = await startTestServer({ config: { databases: { app: target.url } }, root: undefined })
    const ownToken = await createToken(own.root, 'ada', 'super_admin')
    const copied = await runCli(['backup', '--db', source.url, '--out', path.join(own.dir, file), '--json'])
    expect(copied.code).toBe(0)
    const started: any = await (await own.request(`/api/backups/${file}/restore`, { method: 'POST', token: ownToken, json: {} })).json()
    await untilWriting(own, started.jobId, ownToken)
    own.child.kill('SIGKILL')
    await own.stop()
    // The job's process notices its server is gone, exits, and PostgreSQL rolls back.
    await expect.poll(() => connectionsTo(target.name), { timeout: 15_000 }).toBe(0)
    expect(await digest(target.url)).toBe(before)
  }, 180_000)
})
