/**
 * The admin page in a real browser against `mergeback serve` on SQLite, for what the other files
 * do not cover (issue #12): the progress bar of a large job fed by its events and cancelling it
 * from the page (the database unchanged); "apply to all conflicts of this table"; the encrypt
 * choice on the Create form; the origin kind and the verified state in the list; upload refusals
 * in plain words; a label on every control and no sideways scrolling at phone width.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import Database from 'better-sqlite3'
import type { Browser, Page } from 'playwright-core'
import { cliBackup, launchBrowser, newPage, screenshot, signIn, sqliteDemo, startServer, type Server } from './harness.js'

const BIG_ROWS = 150_000

let browser: Browser
let fixture: Awaited<ReturnType<typeof sqliteDemo>>
let server: Server
let big: string
let scratchFile: string

/** A SQLite database with one table of BIG_ROWS rows. */
function makeBigDatabase(file: string): void {
  const db = new Database(file)
  db.exec('CREATE TABLE "Event" (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, at TEXT NOT NULL)')
  const insert = db.prepare('INSERT INTO "Event" VALUES (?, ?, ?, ?)')
  db.transaction(() => {
    for (let i = 1; i <= BIG_ROWS; i++) insert.run(i, `k${i % 7}`, `payload number ${i}, long enough to be a real row`, '2026-01-01T00:00:00.000Z')
  })()
  db.close()
}

function countEvents(file: string): number {
  const db = new Database(file, { readonly: true })
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM "Event"').get() as { n: number }).n
  } finally {
    db.close()
  }
}

beforeAll(async () => {
  browser = await launchBrowser()
  fixture = await sqliteDemo('mergeback-web-jobs-')
  const bigFile = path.join(fixture.root, 'big.db')
  makeBigDatabase(bigFile)
  big = await cliBackup(`sqlite:${bigFile}`, fixture.dir, 'big')
  // The restore target: the same table with five rows of its own, which must survive a cancel.
  scratchFile = path.join(fixture.root, 'scratch.db')
  const scratch = new Database(scratchFile)
  scratch.exec('CREATE TABLE "Event" (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, at TEXT NOT NULL)')
  for (let i = 1; i <= 5; i++) scratch.prepare('INSERT INTO "Event" VALUES (?, ?, ?, ?)').run(1_000_000 + i, 'own', 'the target’s own row', '2026-02-01T00:00:00.000Z')
  scratch.close()
  const config = path.join(fixture.root, 'mergeback.json')
  fs.writeFileSync(config, JSON.stringify({ databases: { scratch: `sqlite:${scratchFile}` } }))
  server = await startServer({ db: fixture.db, dir: fixture.dir, stateDir: fixture.stateDir, config })
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  fixture?.cleanup()
})

describe('a large job', () => {
  test('its progress bar shows rows done of the total, the rate and the time left; cancelling it from the page leaves the database as it was', async () => {
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.superAdmin)
    await page.locator(`tr[data-file="${big}"]`).getByRole('link', { name: `Restore ${big}` }).click()
    await page.getByRole('heading', { name: '2. Tables and target' }).waitFor()
    await page.getByLabel('Target database').selectOption('scratch')

    // The dry run reads all the rows: the bar follows the job's events.
    await page.getByRole('button', { name: 'Dry run' }).click()
    const detail = page.locator('.progress-detail')
    await expect
      .poll(async () => (await detail.textContent().catch(() => '')) ?? '', { timeout: 60_000, interval: 100 })
      .toMatch(new RegExp(`Event: [\\d,]+ of ${BIG_ROWS.toLocaleString('en-US')} rows · [\\d,]+ rows/s · about .+ left in this table`))
    const bar = page.getByRole('progressbar').first()
    const percent = Number(await bar.getAttribute('aria-valuenow'))
    expect(percent).toBeGreaterThanOrEqual(0)
    expect(percent).toBeLessThanOrEqual(100)
    await screenshot(page, 'progress', { fullPage: false })
    await page.getByRole('heading', { name: '3. Dry run result' }).waitFor({ timeout: 180_000 })
    expect(countEvents(scratchFile)).toBe(5)

    // The real restore: followed from the banner's link, cancelled on the job's page.
    await page.getByRole('button', { name: 'Restore now…' }).click()
    await page.getByRole('dialog').getByRole('button', { name: /^Restore/ }).click()
    const banner = page.locator('.job-banner')
    await banner.getByText('A restore is running on scratch').waitFor({ timeout: 30_000 })
    await banner.getByRole('link', { name: 'See its progress' }).click()
    await page.getByText(/^A restore is running on scratch, started by root\.$/).waitFor()
    await page.getByRole('button', { name: 'Cancel (rolls back)' }).click()
    await page.getByText('Cancelled; what it had done was rolled back.').waitFor({ timeout: 30_000 })
    await screenshot(page, 'job-cancelled', { fullPage: false })
    // Nothing of the restore is left: the target has exactly its own five rows.
    expect(countEvents(scratchFile)).toBe(5)
    await context.close()
  })
})

describe('conflict review', () => {
  test('"apply to all conflicts of this table" settles every conflict of that table, and only of it', async () => {
    const backup = await cliBackup(fixture.db, fixture.dir, 'rooms-before')
    const rooms = new Database(fixture.dbFile)
    rooms.exec(`UPDATE "Room" SET "name" = "name" || ' (renamed here)'; UPDATE "User" SET "name" = 'Ana renamed here' WHERE "id" = 'u01'`)
    rooms.close()
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.admin)
    await page.locator(`tr[data-file="${backup}"]`).getByRole('link', { name: `Smart merge ${backup}` }).click()
    await page.getByRole('radio', { name: /Manual resolution/ }).check()
    await page.getByRole('button', { name: 'Analyze for Merge' }).click()
    await page.getByRole('heading', { name: '3. What the merge will do' }).waitFor({ timeout: 60_000 })
    expect(await page.locator('article.conflict').count()).toBe(13)

    await page.getByLabel('Table', { exact: true }).selectOption('Room')
    await page.getByLabel('For every conflict of Room').selectOption('current')
    await page.getByRole('button', { name: 'Apply to all 12 conflicts of this table' }).click()
    const roomCards = page.locator('article.conflict[data-table="Room"]')
    expect(await roomCards.count()).toBe(12)
    for (const card of await roomCards.all()) expect(await card.getByRole('radio', { name: 'Current' }).isChecked()).toBe(true)
    await screenshot(page, 'merge-apply-to-table')

    // The other table's conflict is still open.
    await page.getByLabel('Table', { exact: true }).selectOption('')
    await page.getByLabel('Show').selectOption('open')
    expect(await page.locator('article.conflict').count()).toBe(1)
    expect(await page.locator('article.conflict').getAttribute('data-table')).toBe('User')
    await context.close()
  })
})

describe('create: the encrypt choice', () => {
  test('without a passphrase the checkbox is disabled and says why; with one it is on by default and the file is encrypted', async () => {
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.admin)
    await page.getByRole('link', { name: 'Create', exact: true }).click()
    const encrypt = page.getByRole('checkbox', { name: "Encrypt with the server's passphrase" })
    expect(await encrypt.isDisabled()).toBe(true)
    expect(await encrypt.isChecked()).toBe(false)
    expect(await page.getByText(/Not available: this server runs without a passphrase/).count()).toBe(1)
    expect(await page.locator('input[type="password"]').count()).toBe(0)
    await context.close()

    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-web-encrypt-'))
    const secret = await startServer({ db: fixture.db, dir: path.join(root, 'backups'), stateDir: path.join(root, 'state'), env: { MERGEBACK_PASSPHRASE: 'a long test passphrase' } })
    try {
      const second = await newPage(browser)
      await signIn(second.page, secret, secret.tokens.admin)
      await second.page.getByRole('link', { name: 'Create', exact: true }).click()
      const on = second.page.getByRole('checkbox', { name: "Encrypt with the server's passphrase" })
      expect(await on.isDisabled()).toBe(false)
      expect(await on.isChecked()).toBe(true)
      expect(await second.page.locator('input[type="password"]').count()).toBe(0)
      await screenshot(second.page, 'create-encrypt')
      await second.page.getByLabel('Name').fill('sealed')
      await second.page.getByRole('button', { name: 'Create Backup' }).click()
      await second.page.getByText('Backup created:').waitFor({ timeout: 60_000 })
      const sealed = (await second.page.locator('.notice-success .mono').first().textContent())!.trim()
      expect(sealed).toMatch(/^sealed-.*\.json\.gz\.enc$/)

      await second.page.getByLabel('Name').fill('open')
      await on.uncheck()
      await second.page.getByRole('button', { name: 'Create Backup' }).click()
      await second.page.getByText(/Backup created: open-/).waitFor({ timeout: 60_000 })
      await second.page.getByRole('link', { name: 'Overview', exact: true }).click()
      const sealedRow = second.page.locator(`tr[data-file="${sealed}"]`)
      await sealedRow.waitFor()
      expect(await sealedRow.textContent()).toContain('encrypted')
      const openRow = second.page.locator('tr[data-file^="open-"]')
      expect(await openRow.getAttribute('data-file')).toMatch(/\.json\.gz$/)
      expect(await openRow.textContent()).not.toContain('encrypted')
      await second.context.close()
    } finally {
      await secret.stop()
      fs.rmSync(root, { recursive: true, force: true })
    }
  })
})

describe('the list: origin kind and verified state', () => {
  test('manual and uploaded backups say so; verifying records the outcome and its time', async () => {
    const made = await cliBackup(fixture.db, fixture.dir, 'by-cli')
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.admin)
    const row = page.locator(`tr[data-file="${made}"]`)
    await row.waitFor()
    expect(await row.locator('td[data-label="Kind"]').textContent()).toContain('manual')
    expect((await row.locator('td[data-label="Verified"]').textContent())!.trim()).toBe('not checked')
    await row.getByRole('button', { name: `Verify ${made}` }).click()
    await expect.poll(() => row.locator('td[data-label="Verified"]').textContent(), { timeout: 60_000 }).toMatch(/✓ intact.*\d/)

    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    await page.locator('#upload-file').setInputFiles({ name: 'carried-over.json', mimeType: 'application/json', buffer: fs.readFileSync(path.join(fixture.dir, made)) })
    await page.getByText('Uploaded and verified:').waitFor({ timeout: 60_000 })
    expect(await page.locator('.notice').textContent()).not.toMatch(/\.tmp-|\.partial/)
    await page.getByRole('link', { name: 'Overview', exact: true }).click()
    const uploaded = page.locator('tr[data-file="carried-over.json"]')
    await uploaded.waitFor()
    expect(await uploaded.locator('td[data-label="Kind"]').textContent()).toContain('uploaded')
    expect(await uploaded.locator('td[data-label="Verified"]').textContent()).toContain('✓ intact')
    await page.getByText('Reading statistics…').waitFor({ state: 'detached', timeout: 60_000 })
    await screenshot(page, 'overview-origin')
    await context.close()
  })
})

describe('upload refusals in plain words', () => {
  test('not a backup, damaged at a table, unsupported version: each said next to the upload control; nothing kept', async () => {
    const backup = fs.readFileSync(path.join(fixture.dir, await cliBackup(fixture.db, fixture.dir, 'to-break')), 'utf8')
    const at = backup.indexOf('"Borealis')
    const meta = backup.lastIndexOf('"metadata"')
    const cases: [string, string, RegExp][] = [
      ['notes.json', 'these are my notes, not a backup', /This file is not a backup\./],
      ['broken.json', `${backup.slice(0, at + 1)}X${backup.slice(at + 2)}`, /The backup is damaged at table Room\./],
      ['future.json', backup.slice(0, meta) + backup.slice(meta).replace(/"version": "1(\.\d+)*"/, '"version": "9.0"'), /a format this server cannot read/],
    ]
    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.admin)
    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    const before = fs.readdirSync(fixture.dir).sort()
    for (const [name, text, words] of cases) {
      await page.locator('#upload-file').setInputFiles({ name, mimeType: 'application/json', buffer: Buffer.from(text) })
      const alert = page.locator('.refusal')
      await expect.poll(() => alert.textContent().catch(() => ''), { timeout: 60_000 }).toMatch(words)
      expect(await alert.textContent()).not.toMatch(/\.tmp-|\.partial/)
      // Next to the control that caused it: in the upload card, right under the drop zone.
      expect(await page.locator('.card:has(.dropzone) .refusal').count()).toBe(1)
      if (name === 'broken.json') await screenshot(page, 'upload-refused', { fullPage: false })
    }
    // The audit entry of the last refusal may still be being appended under audit.jsonl.lock when
    // the page shows the refusal: the directory must come back to exactly what it was.
    await expect.poll(() => fs.readdirSync(fixture.dir).sort(), { timeout: 10_000 }).toEqual(before)
    await context.close()
  })
})

/** The controls on the page without an accessible name (label, aria-label or aria-labelledby, or a button's text). */
async function unlabelledControls(page: Page): Promise<string[]> {
  // A string, run in the page (the tests are type-checked without the DOM's types).
  return page.evaluate<string[]>(`(() => {
    const missing = []
    for (const el of document.querySelectorAll('input, select, textarea, button')) {
      if (el.type === 'hidden') continue
      const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim() !== '')
      if (!named) missing.push(el.outerHTML.slice(0, 120))
    }
    return missing
  })()`)
}

describe('labels and phone width', () => {
  test('every control on each screen has a label; at phone width no screen scrolls sideways', async () => {
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const { context, page } = await newPage(browser, viewport)
      await signIn(page, server, server.tokens.superAdmin)
      const screens: [string, string][] = [
        ['Overview', '#/'],
        ['Create', '#/create'],
        ['Upload', '#/upload'],
        ['Merge', `#/merge?file=${encodeURIComponent(big)}`],
        ['Restore', `#/restore?file=${encodeURIComponent(big)}`],
        ['Audit', '#/audit'],
      ]
      for (const [name, hash] of screens) {
        await page.goto(`${server.url}/admin/backup/${hash}`)
        await page.locator('main h1').first().waitFor()
        await page.waitForLoadState('networkidle')
        expect(await unlabelledControls(page), `${name} at ${viewport.width}px`).toEqual([])
        if (viewport.width < 500) {
          const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
          expect(overflow, `${name} scrolls sideways at ${viewport.width}px`).toBeLessThanOrEqual(0)
          if (name === 'Create' || name === 'Merge') await screenshot(page, `phone-${name.toLowerCase()}`)
        }
      }
      await context.close()
    }
  })
})
