/**
 * The scheduler on a clock driven by hand: due times in a time zone, no overlapping runs, a
 * missed due time logged and run at the next one, failures recorded and alerted without
 * blocking; the store refusing bad schedules with nothing written; webhook retries with back-off
 * against a real HTTP receiver on loopback.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { UsageError } from '../errors.js'
import { ScheduleStore, SCHEDULES_FILE, type Schedule } from './schedule-store.js'
import { Scheduler, type Clock } from './scheduler.js'
import { alertFailure } from './run-schedule.js'
import { postAlert } from './webhook.js'

/** A clock whose time moves only when the test says so; timers fire in due order. */
class ManualClock implements Clock {
  #now: number
  #timers: { at: number; callback: () => void; id: number }[] = []
  #nextId = 1
  constructor(start: string) {
    this.#now = Date.parse(start)
  }
  now(): Date {
    return new Date(this.#now)
  }
  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++
    this.#timers.push({ at: this.#now + ms, callback, id })
    return id
  }
  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle)
  }
  /** Moves time to `iso`, firing each timer at its time, letting the runs it starts make progress. */
  async advanceTo(iso: string): Promise<void> {
    const target = Date.parse(iso)
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at)
      const next = this.#timers[0]
      if (!next || next.at > target) break
      this.#timers.shift()
      this.#now = Math.max(this.#now, next.at)
      next.callback()
      await settle()
    }
    this.#now = target
    await settle()
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

function deferred<T = void>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)))
  return { promise, resolve, reject }
}

let stateDir: string
beforeEach(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-schedule-'))
})
afterEach(() => fs.rmSync(stateDir, { recursive: true, force: true }))

describe('schedule store', () => {
  it('refuses a malformed cron expression, an unknown time zone, a non-http(s) webhook, a remote destination without remote — nothing written', async () => {
    const store = new ScheduleStore(stateDir)
    const base = { name: 'daily', cron: '0 3 * * *' }
    const cases: [unknown, RegExp][] = [
      [{ ...base, cron: '61 * * * *' }, /Malformed cron expression "61 \* \* \* \*"/],
      [{ ...base, cron: 'every day' }, /Malformed cron expression/],
      [{ ...base, timezone: 'Mars/Olympus' }, /Unknown time zone "Mars\/Olympus"/],
      [{ ...base, webhook: 'ftp://alerts.example/hook' }, /webhook must be an http:\/\/ or https:\/\/ URL/],
      [{ ...base, webhook: 'not a url' }, /is not a URL/],
      [{ ...base, destination: 'remote' }, /needs a remote/],
      [{ ...base, remote: 'https://bucket', destination: 'both' }, /use s3:\/\/bucket\/prefix/],
      [{ ...base, retention: { keepLast: 0 } }, /empty policy/],
      [{ ...base, name: '../etc' }, /Invalid backup name/],
      [{ ...base, kind: 'full', tables: ['a'] }, /tables and exclude are for smart backups/],
      [{ ...base, surprise: true }, /Invalid schedule/],
    ]
    for (const [input, message] of cases) {
      await expect(store.create(input), JSON.stringify(input)).rejects.toThrow(message)
      await expect(store.create(input)).rejects.toBeInstanceOf(UsageError)
    }
    expect(fs.existsSync(path.join(stateDir, SCHEDULES_FILE))).toBe(false)
    const ok = await store.create({ ...base, timezone: 'Europe/Berlin', webhook: 'https://alerts.example/hook' })
    await expect(store.update(ok.id, { ...base, cron: 'nope' })).rejects.toThrow(/Malformed cron/)
    expect((await store.get(ok.id)).cron).toBe('0 3 * * *')
    await expect(store.create(base)).rejects.toThrow(/exists already/)
  })
})

describe('scheduler', () => {
  it('runs at the due times of the cron expression in its time zone, across a DST change', async () => {
    const clock = new ManualClock('2026-03-27T12:00:00Z')
    const store = new ScheduleStore(stateDir)
    await store.create({ name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Berlin' })
    const ran: string[] = []
    const scheduler = new Scheduler({ store, clock, work: async () => (ran.push(clock.now().toISOString()), { files: [], pruned: [] }) })
    await scheduler.start()
    await clock.advanceTo('2026-03-30T12:00:00Z')
    // 03:00 CET is 02:00 UTC; from 29 March (CEST) it is 01:00 UTC.
    expect(ran).toEqual(['2026-03-28T02:00:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T01:00:00.000Z'])
    const [status] = await scheduler.status()
    expect(status!.lastRun).toMatchObject({ outcome: 'success', trigger: 'schedule', dueAt: '2026-03-30T01:00:00.000Z' })
    expect(status!.nextRunAt).toBe('2026-03-31T01:00:00.000Z')
    await scheduler.stop()
  })

  it('never starts a run while the previous one is going: that due time is skipped and logged', async () => {
    const clock = new ManualClock('2026-01-01T00:00:30Z')
    const store = new ScheduleStore(stateDir)
    await store.create({ name: 'minutely', cron: '* * * * *' })
    const gates = [deferred(), deferred()]
    let started = 0
    const logs: string[] = []
    const scheduler = new Scheduler({
      store,
      clock,
      log: (level, message) => logs.push(`${level} ${message}`),
      work: async () => {
        await gates[started++]!.promise
        return { files: [], pruned: [] }
      },
    })
    await scheduler.start()
    await clock.advanceTo('2026-01-01T00:03:30Z') // due 00:01, 00:02, 00:03: the first is still running
    expect(started).toBe(1)
    expect(logs.filter((l) => l.includes('skipped'))).toHaveLength(2)
    await expect(scheduler.runNow((await store.list())[0]!.id)).rejects.toThrow(/is running now/)
    gates[0]!.resolve()
    await settle()
    await clock.advanceTo('2026-01-01T00:04:30Z')
    expect(started).toBe(2)
    gates[1]!.resolve()
    await scheduler.stop()
  })

  it('a due time missed while no scheduler ran is logged and not run late; the next due time runs', async () => {
    const store = new ScheduleStore(stateDir)
    const schedule = await store.create({ name: 'daily', cron: '0 3 * * *' }, new Date('2026-01-01T00:00:00Z'))
    await store.recordRun(schedule.id, { dueAt: '2026-01-01T03:00:00.000Z', startedAt: '2026-01-01T03:00:00.000Z', finishedAt: '2026-01-01T03:00:05.000Z', outcome: 'success', trigger: 'schedule' })
    const clock = new ManualClock('2026-01-02T10:00:00Z') // down at 2026-01-02T03:00
    const logs: string[] = []
    const ran: string[] = []
    const scheduler = new Scheduler({ store, clock, log: (level, message) => logs.push(`${level} ${message}`), work: async () => (ran.push(clock.now().toISOString()), { files: [], pruned: [] }) })
    await scheduler.start()
    await settle()
    expect(logs).toEqual([expect.stringMatching(/^warn schedule "daily" missed its run due at 2026-01-02T03:00:00.000Z .*next due time 2026-01-03T03:00:00.000Z/)])
    expect(ran).toEqual([])
    await clock.advanceTo('2026-01-03T04:00:00Z')
    expect(ran).toEqual(['2026-01-03T03:00:00.000Z'])
    await scheduler.stop()
  })

  it('a failed run is recorded (unacknowledged) and alerted; a hanging webhook does not delay the next run', async () => {
    const clock = new ManualClock('2026-01-01T00:00:30Z')
    const store = new ScheduleStore(stateDir)
    const receiver = http.createServer(() => undefined) // never answers
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
    const schedule = await store.create({ name: 'flaky', cron: '* * * * *', webhook: url })
    let calls = 0
    const alerts: Promise<unknown>[] = []
    const controller = new AbortController()
    const scheduler = new Scheduler({
      store,
      clock,
      work: async () => {
        calls++
        throw new Error('the database is gone')
      },
      onFailure: (s, run) => void alerts.push(alertFailure(s, run, { timeoutMs: 60_000, attempts: 1, signal: controller.signal })!),
    })
    await scheduler.start()
    await clock.advanceTo('2026-01-01T00:02:30Z')
    expect(calls).toBe(2)
    await vi.waitFor(() => expect(alerts).toHaveLength(2))
    const [status] = await scheduler.status()
    expect(status!.lastRun).toMatchObject({ outcome: 'failure', error: 'the database is gone', acknowledged: false })
    await store.acknowledge(schedule.id)
    expect((await store.runs())[schedule.id]!.acknowledged).toBe(true)
    await scheduler.stop()
    receiver.closeAllConnections()
    await new Promise((resolve) => receiver.close(resolve))
  })
})

describe('webhook alerts', () => {
  it('retries with back-off until the receiver accepts, posting the failure as JSON', async () => {
    const bodies: unknown[] = []
    let answers = [500, 503, 204]
    const receiver = http.createServer((req, res) => {
      let text = ''
      req.on('data', (d) => (text += d))
      req.on('end', () => {
        bodies.push({ method: req.method, type: req.headers['content-type'], body: JSON.parse(text) })
        res.statusCode = answers.shift() ?? 204
        res.end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
    const delays: number[] = []
    const schedule = { id: 'sch_1', name: 'daily', webhook: url } as Schedule
    const delivery = await alertFailure(schedule, { startedAt: '2026-01-01T03:00:00Z', finishedAt: '2026-01-01T03:00:01Z', outcome: 'failure', trigger: 'schedule', error: 'boom' }, {
      baseDelayMs: 100,
      sleep: async (ms) => void delays.push(ms),
    })
    expect(delivery).toEqual({ delivered: true, attempts: 3 })
    expect(delays).toEqual([100, 200])
    expect(bodies).toHaveLength(3)
    expect(bodies[0]).toMatchObject({ method: 'POST', type: 'application/json', body: { event: 'schedule.failed', schedule: { id: 'sch_1', name: 'daily' }, error: 'boom' } })
    answers = []
    await new Promise((resolve) => receiver.close(resolve))
  })

  it('an unreachable receiver: not delivered after the attempts, never throws', async () => {
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const result = await postAlert(`http://127.0.0.1:${port}/hook`, { event: 'schedule.failed', schedule: { id: 'x', name: 'x' }, startedAt: '', finishedAt: '', error: 'e', host: 'h' }, { attempts: 3, sleep: async () => undefined })
    expect(result).toMatchObject({ delivered: false, attempts: 3, lastError: 'ECONNREFUSED' })
  })
})
