/**
 * The Schedules screen in a real browser against `mergeback serve` on SQLite (issue #16): bad
 * input refused next to its field with nothing saved, a schedule created through the page with
 * its next runs shown in its time zone, "Run now" followed to its result and the backup listed,
 * a failing run's banner on every screen until acknowledged, edit, delete, and what an admin
 * token may do.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { launchBrowser, newPage, screenshot, signIn, sqliteDemo, startServer, type Server } from './harness.js'

let browser: Browser
let server: Server
let fixture: Awaited<ReturnType<typeof sqliteDemo>>

beforeAll(async () => {
  browser = await launchBrowser()
  fixture = await sqliteDemo('mergeback-web-schedules-')
  server = await startServer({ db: fixture.db, dir: fixture.dir, stateDir: fixture.stateDir })
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  fixture?.cleanup()
})

const schedulesFile = () => path.join(server.stateDir, 'schedules.json')
const field = (page: Page, label: string) => page.locator('.field').filter({ has: page.getByLabel(label, { exact: true }) })
const card = (page: Page, name: string) => page.locator(`section.schedule-card[data-schedule="${name}"]`)
const banner = (page: Page) => page.getByRole('alert', { name: 'Failed scheduled backups' })

async function openSchedules(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Schedules', exact: true }).click()
  await page.getByRole('heading', { name: 'Schedules', level: 1 }).waitFor()
}

describe('the Schedules screen', () => {
  test('bad input is refused next to its field and nothing is saved; a schedule made with the form shows its next runs; run now shows its result and the backup is listed', async () => {
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.superAdmin)
    await openSchedules(page)
    await page.getByText('No schedules yet.').waitFor()

    await page.getByRole('button', { name: 'New schedule' }).click()
    const form = page.getByRole('form', { name: 'New schedule' })
    await form.getByLabel('Name', { exact: true }).fill('nightly')
    await form.getByLabel('Cron expression').fill('0 3 * *')
    await form.getByLabel('Time zone').fill('Europe/Berlin')
    await form.getByRole('button', { name: 'Create schedule' }).click()
    await expect.poll(() => field(page, 'Cron expression').textContent(), { timeout: 15_000 }).toContain('Malformed cron expression')
    expect(await field(page, 'Cron expression').getByLabel('Cron expression').getAttribute('aria-invalid')).toBe('true')
    expect(fs.existsSync(schedulesFile())).toBe(false)

    await form.getByLabel('Cron expression').fill('0 3 * * *')
    await form.getByLabel('Time zone').fill('Mars/Olympus_Mons')
    await form.getByRole('button', { name: 'Create schedule' }).click()
    await expect.poll(() => field(page, 'Time zone').textContent(), { timeout: 15_000 }).toContain('Unknown time zone')
    expect(await field(page, 'Cron expression').locator('.error-note').count()).toBe(0)
    expect(fs.existsSync(schedulesFile())).toBe(false)

    await form.getByLabel('Time zone').fill('Europe/Berlin')
    await form.getByLabel('Webhook for failure alerts').fill('ftp://hooks.example.com/backups')
    await form.getByRole('button', { name: 'Create schedule' }).click()
    await expect.poll(() => field(page, 'Webhook for failure alerts').textContent(), { timeout: 15_000 }).toMatch(/http:\/\/ or https:\/\//)
    expect(fs.existsSync(schedulesFile())).toBe(false)

    await form.getByLabel('Webhook for failure alerts').fill('')
    await form.locator('input[name="keepLast"]').fill('3')
    await form.getByRole('button', { name: 'Create schedule' }).click()
    await page.getByText('Schedule “nightly” created.').waitFor()
    const nightly = card(page, 'nightly')
    await nightly.waitFor()
    const next = nightly.getByRole('list', { name: 'Next runs of nightly' }).locator('time')
    expect(await next.count()).toBe(5)
    for (const text of await next.allTextContents()) expect(text).toMatch(/, 03:00$/)
    // The times are the server's, in the schedule's zone: 03:00 in Berlin is 01:00 or 02:00 UTC.
    for (const iso of await next.evaluateAll((els) => els.map((e) => e.getAttribute('datetime')!))) expect([1, 2]).toContain(new Date(iso).getUTCHours())
    expect(await nightly.textContent()).toContain('Keeps last 3')
    expect(JSON.parse(fs.readFileSync(schedulesFile(), 'utf8')).schedules).toHaveLength(1)

    await nightly.getByRole('button', { name: 'Run nightly now' }).click()
    const result = nightly.getByLabel('Last result of nightly')
    await expect.poll(() => result.textContent(), { timeout: 60_000 }).toContain('succeeded')
    const made = (await result.locator('.run-files a').first().textContent())!.trim()
    expect(made).toMatch(/^nightly-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.json\.gz$/)
    expect(fs.existsSync(path.join(server.dir, made))).toBe(true)

    await page.getByRole('link', { name: 'Overview', exact: true }).click()
    await page.locator(`tr[data-file="${made}"]`).waitFor()
    await context.close()
  })

  test('a failing run shows a banner on every screen until it is acknowledged', async () => {
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.superAdmin)
    await openSchedules(page)
    await page.getByRole('button', { name: 'New schedule' }).click()
    const form = page.getByRole('form', { name: 'New schedule' })
    await form.getByLabel('Name', { exact: true }).fill('weekly-full')
    await form.getByLabel('Cron expression').fill('0 4 * * 0')
    await form.getByLabel('Time zone').fill('UTC')
    await form.getByLabel('Full backup').check()
    // The server has no passphrase: an encrypting schedule is accepted, and its run fails.
    await form.getByLabel('Encrypt').check()
    await form.locator('input[name="keepWeekly"]').fill('8')
    await form.getByRole('button', { name: 'Create schedule' }).click()
    const weekly = card(page, 'weekly-full')
    await weekly.waitFor()
    for (const text of await weekly.getByRole('list', { name: 'Next runs of weekly-full' }).locator('time').allTextContents()) expect(text).toMatch(/^Sun, .*, 04:00$/)

    await weekly.getByRole('button', { name: 'Run weekly-full now' }).click()
    await expect.poll(() => weekly.getByLabel('Last result of weekly-full').textContent(), { timeout: 60_000 }).toContain('failed')
    expect(await weekly.getByLabel('Last result of weekly-full').textContent()).toContain('no passphrase is set')
    await banner(page).waitFor({ timeout: 20_000 })
    expect(await banner(page).textContent()).toContain('Scheduled backup “weekly-full” failed')
    await screenshot(page, 'schedules')

    // Every screen shows it, and it survives a reload (the flag is the server's).
    for (const screen of ['Overview', 'Create', 'Restore', 'Audit log']) {
      await page.getByRole('link', { name: screen, exact: true }).click()
      await banner(page).waitFor()
    }
    await page.reload()
    await banner(page).waitFor({ timeout: 20_000 })

    await banner(page).getByRole('button', { name: 'Acknowledge the failure of weekly-full' }).click()
    await expect.poll(() => banner(page).count(), { timeout: 15_000 }).toBe(0)
    await page.reload()
    await page.getByLabel('Signed in').waitFor()
    await openSchedules(page)
    await expect.poll(() => weekly.getByLabel('Last result of weekly-full').textContent(), { timeout: 15_000 }).toContain('acknowledged')
    expect(await banner(page).count()).toBe(0)
    await context.close()
  })

  test('edit changes the next runs; delete asks first; an admin may run and acknowledge but not change', async () => {
    const root = await newPage(browser)
    await signIn(root.page, server, server.tokens.superAdmin)
    await openSchedules(root.page)
    const nightly = card(root.page, 'nightly')
    await nightly.getByRole('button', { name: 'Edit nightly' }).click()
    const form = root.page.getByRole('form', { name: 'Edit schedule nightly' })
    await form.getByLabel('Cron expression').fill('30 2 * * 1')
    await form.getByRole('button', { name: 'Save schedule' }).click()
    await root.page.getByText('Schedule “nightly” saved.').waitFor()
    await expect
      .poll(async () => (await nightly.getByRole('list', { name: 'Next runs of nightly' }).locator('time').allTextContents()).every((t) => /^Mon, .*, 02:30$/.test(t)), { timeout: 15_000 })
      .toBe(true)

    await card(root.page, 'weekly-full').getByRole('button', { name: 'Delete weekly-full' }).click()
    await root.page.getByRole('dialog').getByRole('button', { name: 'Delete schedule' }).click()
    await root.page.getByText('Schedule “weekly-full” deleted. Its backups stay.').waitFor()
    await expect.poll(() => card(root.page, 'weekly-full').count(), { timeout: 15_000 }).toBe(0)
    expect(JSON.parse(fs.readFileSync(schedulesFile(), 'utf8')).schedules.map((s: { name: string }) => s.name)).toEqual(['nightly'])
    await root.context.close()

    const admin = await newPage(browser)
    await signIn(admin.page, server, server.tokens.admin)
    await openSchedules(admin.page)
    await card(admin.page, 'nightly').waitFor()
    expect(await admin.page.getByRole('button', { name: 'New schedule' }).count()).toBe(0)
    expect(await admin.page.getByRole('button', { name: 'Edit nightly' }).count()).toBe(0)
    expect(await admin.page.getByRole('button', { name: 'Delete nightly' }).count()).toBe(0)
    expect(await admin.page.getByRole('button', { name: 'Run nightly now' }).isEnabled()).toBe(true)
    await admin.context.close()
  })
})
