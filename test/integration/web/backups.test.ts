/**
 * The admin page in a real browser against `mergeback serve` on SQLite: sign in, create a gzip
 * backup and see it listed, download it and compare the bytes, what an admin token may not do,
 * delete with the typed confirmation, sign out.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { cliBackup, launchBrowser, newPage, screenshot, signIn, sqliteDemo, startServer, type Server } from './harness.js'

let browser: Browser

/** The token the page keeps in its tab (sessionStorage). */
const storedToken = (page: Page) => page.evaluate<string | null>("sessionStorage.getItem('mergeback.token')")
let server: Server
let fixture: Awaited<ReturnType<typeof sqliteDemo>>
let zstdFile: string
let nightlyFile: string

beforeAll(async () => {
  browser = await launchBrowser()
  fixture = await sqliteDemo()
  nightlyFile = await cliBackup(fixture.db, fixture.dir, 'nightly')
  zstdFile = await cliBackup(fixture.db, fixture.dir, 'compact', ['--zstd'])
  server = await startServer({ db: fixture.db, dir: fixture.dir, stateDir: fixture.stateDir })
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  fixture?.cleanup()
})

describe('sign-in', () => {
  test('a wrong token is refused under the field; the right one shows the name and role; sign out forgets it', async () => {
    const { context, page } = await newPage(browser)
    await page.goto(`${server.url}/`)
    expect(new URL(page.url()).pathname).toBe('/admin/backup/')
    await screenshot(page, 'sign-in', { fullPage: false })

    await page.getByLabel('Access token').fill('mbk_not-a-real-token')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 15_000 }).toContain('not accepted by the server')
    expect(await storedToken(page)).toBeNull()

    await page.getByLabel('Access token').fill(server.tokens.superAdmin)
    await page.getByRole('button', { name: 'Sign in' }).click()
    const who = page.getByLabel('Signed in')
    await who.waitFor()
    expect(await who.textContent()).toContain('root')
    expect(await who.textContent()).toContain('super admin')
    expect(await storedToken(page)).toBe(server.tokens.superAdmin)

    // A reload keeps the session (same tab); sign out forgets the token.
    await page.reload()
    await page.getByLabel('Signed in').waitFor()
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('heading', { name: 'Sign in to Backups' }).waitFor()
    expect(await storedToken(page)).toBeNull()
    await context.close()
  })
})

describe('keyboard', () => {
  test('sign in and reach a screen with the keyboard alone', async () => {
    const { context, page } = await newPage(browser)
    await page.goto(`${server.url}/`)
    // The token field has the focus; Enter submits. Typing before it has the focus (a page still
    // loading on a busy machine) would lose the first characters.
    await page.waitForFunction("document.activeElement?.getAttribute('name') === 'token'")
    await page.keyboard.type(server.tokens.admin)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Backups', level: 1 }).waitFor()
    // Signed in, the focus is on the content region; Shift+Tab walks back through the section
    // tabs (last first) to Upload.
    await page.waitForFunction("document.activeElement?.id === 'main'")
    let reached = false
    for (let i = 0; i < 8 && !reached; i++) {
      await page.keyboard.press('Shift+Tab')
      reached = (await page.evaluate<string>('document.activeElement?.textContent ?? ""')).trim() === 'Upload'
    }
    expect(reached).toBe(true)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Upload a backup' }).waitFor()
    await context.close()
  })
})

describe('create, list, download', () => {
  test('the form makes a zstd incremental backup on top of the last one of its name; the list says both', async () => {
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.admin)
    await page.getByRole('link', { name: 'Create', exact: true }).click()
    await page.getByLabel('Name').fill('nightly')
    await page.getByLabel('Compression').selectOption('zstd')
    await page.getByLabel('Only what changed (incremental)').check()
    await screenshot(page, 'create-incremental')
    await page.getByRole('button', { name: 'Create Backup' }).click()
    await page.getByText('Backup created:').waitFor()
    const created = (await page.locator('.notice-success .mono').first().textContent())!.trim()
    expect(created).toMatch(/^nightly-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.json\.zst$/)
    await page.getByRole('link', { name: 'See it in the backups list' }).click()
    const kind = page.locator(`tr[data-file="${created}"] td[data-label="Kind"]`)
    await kind.waitFor()
    expect(await kind.textContent()).toContain('zstd')
    expect(await kind.textContent()).toContain('incremental')
    expect(await kind.getByText('incremental').getAttribute('title')).toContain(nightlyFile)
    await context.close()
  })

  test('a zstd backup is listed as zstd, not as plain JSON', async () => {
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.admin)
    const row = page.locator(`tr[data-file="${zstdFile}"]`)
    await row.waitFor()
    expect(await row.locator('td[data-label="Kind"]').textContent()).toContain('zstd')
    expect(await row.locator('td[data-label="Kind"]').textContent()).not.toContain('plain JSON')
    await context.close()
  })

  test('a gzip backup made with the form is listed; its download has exactly the server file’s bytes', async () => {
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.superAdmin)
    await screenshot(page, 'overview-signed-in')

    await page.getByRole('link', { name: 'Create', exact: true }).click()
    await page.getByLabel('Name').fill('before-migration')
    await page.getByLabel('Description').fill('made from the browser test')
    await page.getByLabel('Compression').selectOption('gzip')
    await screenshot(page, 'create')
    await page.getByRole('button', { name: 'Create Backup' }).click()
    const done = page.getByText('Backup created:')
    await done.waitFor()
    const created = (await page.locator('.notice-success .mono').first().textContent())!.trim()
    expect(created).toMatch(/^before-migration-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.json\.gz$/)
    expect(fs.existsSync(path.join(server.dir, created))).toBe(true)
    await screenshot(page, 'create-done')

    await page.getByRole('link', { name: 'See it in the backups list' }).click()
    const row = page.locator(`tr[data-file="${created}"]`)
    await row.waitFor()
    expect(await row.textContent()).toContain('gzip')
    expect(await row.textContent()).toContain('made from the browser test')

    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: `Download ${created}` }).click()])
    expect(download.suggestedFilename()).toBe(created)
    const saved = await download.path()
    expect(Buffer.compare(fs.readFileSync(saved!), fs.readFileSync(path.join(server.dir, created)))).toBe(0)

    // "Create & Download": a second backup, made and downloaded in one click.
    await page.getByRole('link', { name: 'Create', exact: true }).click()
    await page.getByLabel('Name').fill('one-click')
    const [second] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Create & Download' }).click()])
    expect(second.suggestedFilename()).toMatch(/^one-click-.*\.json\.gz$/)
    expect(Buffer.compare(fs.readFileSync((await second.path())!), fs.readFileSync(path.join(server.dir, second.suggestedFilename())))).toBe(0)
    await page.getByRole('link', { name: 'Overview', exact: true }).click()
    await row.waitFor()

    // Verify from the row: the server's verification shows as "intact".
    await row.getByRole('button', { name: `Verify ${created}` }).click()
    await expect.poll(() => row.textContent(), { timeout: 30_000 }).toContain('intact')
    await context.close()
  })
})

describe('roles', () => {
  test('an admin token sees no delete button, and the API refuses its delete; a super_admin deletes after typing the name', async () => {
    const name = await cliBackup(fixture.db, fixture.dir, 'to-delete')
    const admin = await newPage(browser)
    await signIn(admin.page, server, server.tokens.admin)
    expect(await admin.page.getByLabel('Signed in').textContent()).toContain('alice')
    const row = admin.page.locator(`tr[data-file="${name}"]`)
    await row.waitFor()
    expect(await admin.page.getByRole('button', { name: /^Delete / }).count()).toBe(0)
    // Even a hand-made request from the admin's page is refused by the server.
    const status = await admin.page.evaluate(async (file) => {
      const token = (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('mergeback.token')
      return (await fetch(`/api/backups/${encodeURIComponent(file)}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status
    }, name)
    expect(status).toBe(403)
    expect(fs.existsSync(path.join(server.dir, name))).toBe(true)
    await admin.context.close()

    const root = await newPage(browser)
    await signIn(root.page, server, server.tokens.superAdmin)
    await root.page.getByRole('button', { name: `Delete ${name}` }).click()
    const dialog = root.page.getByRole('dialog')
    const confirm = dialog.getByRole('button', { name: 'Delete backup' })
    expect(await confirm.isDisabled()).toBe(true)
    await dialog.getByLabel(/Type .* to confirm/).fill(name.slice(0, -1))
    expect(await confirm.isDisabled()).toBe(true)
    await dialog.getByLabel(/Type .* to confirm/).fill(name)
    await screenshot(root.page, 'delete-confirm', { fullPage: false })
    expect(await confirm.isDisabled()).toBe(false)
    await confirm.click()
    await root.page.getByText(`Deleted ${name}.`).waitFor()
    expect(fs.existsSync(path.join(server.dir, name))).toBe(false)
    // The list reloads after the delete: the row goes away.
    await expect.poll(() => root.page.locator(`tr[data-file="${name}"]`).count(), { timeout: 15_000 }).toBe(0)
    await root.context.close()
  })
})

describe('inspect and audit', () => {
  test('inspect shows a backup’s tables, counts and schema; the audit log shows the page’s actions with their actor and an intact chain', async () => {
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.superAdmin)
    // The full backup made before the server started (an incremental "nightly-" one may be listed too).
    const file = nightlyFile
    await page.locator(`tr[data-file="${file}"]`).waitFor()
    await page.getByRole('link', { name: `Inspect ${file}` }).click()
    await page.getByRole('heading', { name: 'Tables (5)' }).waitFor({ timeout: 30_000 })
    const user = page.locator('details.schema').filter({ hasText: 'User' }).first()
    expect(await user.textContent()).toContain('40 records')
    await user.locator('summary').click()
    expect((await user.locator('td.mono').allTextContents()).map((t) => t.trim())).toContain('email')
    await screenshot(page, 'inspect')

    await page.getByRole('link', { name: 'Audit log', exact: true }).click()
    const chain = page.locator('#chain')
    await expect.poll(() => chain.textContent(), { timeout: 15_000 }).toContain('Intact')
    const entries = page.locator('#entries tbody tr')
    await entries.first().waitFor()
    const text = (await entries.allTextContents()).join('\n')
    // Earlier tests in this file: a backup and a delete from the page, the admin's refused delete.
    expect(text).toMatch(/root \(super_admin\).*backup.*success/s)
    expect(text).toMatch(/delete/)
    expect(text).toMatch(/alice \(admin\)/)
    await screenshot(page, 'audit')
    await context.close()
  })
})
