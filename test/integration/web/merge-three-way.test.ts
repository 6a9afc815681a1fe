/**
 * The three-way merge in the smart-merge wizard, in a real browser against `mergeback serve` on
 * the SQLite demo: a base backup, then the backup side and the database each change things from
 * it; the analysis with the base shows the three-way counts and each conflict's kind with its
 * base / backup / current values; "Apply deletions" (super_admin only, with a base) is previewed
 * and then deletes exactly the record the backup deleted and this database left alone.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Page } from 'playwright-core'
import { cliBackup, conflictCard, demoDatabase, useBrowser, newPage, screenshot, signIn, startServer, type AppDatabase, type Server } from './harness.js'

const browser = useBrowser()

/** The text of one three-way column (deleted-in-backup, deleted-here, deleted) of a table's row in a report card. */
async function threeWayCell(page: Page, card: string, table: string, col: string): Promise<string> {
  return ((await page.locator(`${card} tr[data-table="${table}"] td[data-col="${col}"]`).textContent()) ?? '').trim()
}

async function openOptions(page: Page, file: string, base: string): Promise<void> {
  await page.locator(`tr[data-file="${file}"]`).getByRole('link', { name: `Smart merge ${file}` }).click()
  await page.getByRole('heading', { name: '2. Options' }).waitFor()
  await page.getByLabel('Base backup (three-way merge, optional)').selectOption(base)
}

describe('three-way merge through the page (SQLite)', () => {
  let root: string
  let db: AppDatabase
  let server: Server
  let base: string
  let backup: string
  let m: string[]
  let baseRows: Record<string, Record<string, unknown>>
  let foreign: string

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-web-three-way-'))
    db = await demoDatabase('sqlite', root)
    const dbFile = db.url.slice('sqlite:'.length)
    const dir = path.join(root, 'backups')
    base = await cliBackup(db.url, dir, 'base')
    const rows = await db.query<Record<string, unknown>>(`SELECT * FROM "Message" ORDER BY "id" LIMIT 4`)
    m = rows.map((r) => r.id as string)
    baseRows = Object.fromEntries(rows.map((r) => [r.id as string, r]))
    baseRows.u01 = (await db.query<Record<string, unknown>>(`SELECT * FROM "User" WHERE "id" = 'u01'`))[0]!
    const atBase = path.join(root, 'at-base.db')
    fs.copyFileSync(dbFile, atBase)

    // The backup side: u01 renamed, u02's phone changed, m0 and m1 deleted, m2's subject changed.
    await db.exec(`
      UPDATE "User" SET "name" = 'Ana (backup)' WHERE "id" = 'u01';
      UPDATE "User" SET "phone" = '+11 111 1111111' WHERE "id" = 'u02';
      DELETE FROM "Message" WHERE "id" IN ('${m[0]}', '${m[1]}');
      UPDATE "Message" SET "subject" = 'Subject (backup)' WHERE "id" = '${m[2]}';
    `)
    backup = await cliBackup(db.url, dir, 'backup-side')

    // The database starts again from the base and goes its own way: u01 renamed differently,
    // m1 changed (the backup deleted it), m2 and m3 deleted here.
    fs.copyFileSync(atBase, dbFile)
    await db.exec(`
      UPDATE "User" SET "name" = 'Ana (here)' WHERE "id" = 'u01';
      UPDATE "Message" SET "subject" = 'Subject (here)' WHERE "id" = '${m[1]}';
      DELETE FROM "Message" WHERE "id" IN ('${m[2]}', '${m[3]}');
    `)
    // A backup of another database (one unrelated table), to offer as a wrong base.
    const Database = (await import('better-sqlite3')).default
    const otherFile = path.join(root, 'other.db')
    const other = new Database(otherFile)
    other.exec(`CREATE TABLE "Other" ("id" TEXT NOT NULL PRIMARY KEY, "v" TEXT); INSERT INTO "Other" VALUES ('x', 'y');`)
    other.close()
    foreign = await cliBackup(`sqlite:${otherFile}`, dir, 'other-db')
    server = await startServer({ db: db.url, dir, stateDir: path.join(root, 'state') })
  })

  afterAll(async () => {
    await server?.stop()
    await db?.drop()
    fs.rmSync(root, { recursive: true, force: true })
  })

  test('an admin sees the three-way counts and conflicts, and is not offered "Apply deletions"', async () => {
    const { context, page } = await newPage(browser())
    await signIn(page, server, server.tokens.admin)
    await openOptions(page, backup, base)
    expect(await page.getByLabel('Apply deletions').count()).toBe(0)
    await page.getByRole('button', { name: 'Analyze for Merge' }).click()
    await page.getByRole('heading', { name: '3. What the merge will do' }).waitFor({ timeout: 60_000 })
    expect(await threeWayCell(page, '#analysis', 'Message', 'deleted-in-backup')).toBe('1')
    expect(await threeWayCell(page, '#analysis', 'Message', 'deleted-here')).toBe('1')
    expect(await page.locator('#analysis td[data-col="deleted"]').count()).toBe(0)
    await context.close()
  })

  test('a base from another database: the refusal shows next to "Apply deletions", and nothing is analyzed', async () => {
    const { context, page } = await newPage(browser())
    await signIn(page, server, server.tokens.superAdmin)
    await openOptions(page, backup, foreign)
    await page.getByLabel('Apply deletions').check()
    await page.getByRole('button', { name: 'Analyze for Merge' }).click()
    const refusal = page.locator('.apply-deletions .error-note')
    await refusal.waitFor({ timeout: 60_000 })
    expect(await refusal.textContent()).toContain('cannot be the common ancestor')
    // File names only: the server's directories are not shown on the page.
    expect(await refusal.textContent()).not.toContain(server.dir)
    expect(await page.locator('.error-note').count()).toBe(1) // shown once, next to the control
    expect(await page.locator('#analysis').count()).toBe(0)
    await screenshot(page, 'three-way-refused', { fullPage: false })
    await context.close()
  })

  test('a two-way analysis of the same backup shows no three-way columns nor kinds', async () => {
    const { context, page } = await newPage(browser())
    await signIn(page, server, server.tokens.admin)
    await openOptions(page, backup, '')
    await page.getByRole('button', { name: 'Analyze for Merge' }).click()
    await page.getByRole('heading', { name: '3. What the merge will do' }).waitFor({ timeout: 60_000 })
    expect(await page.locator('#analysis td[data-col="deleted-in-backup"]').count()).toBe(0)
    expect(await page.locator('#analysis th', { hasText: 'Deleted here' }).count()).toBe(0)
    expect(await page.locator('.conflict-kind').count()).toBe(0)
    expect(await page.locator('td.side-base').count()).toBe(0)
    await context.close()
  })

  test('super_admin: analysis with the base and "Apply deletions", conflicts with base / backup / current, dry run, merge', async () => {
    const { context, page } = await newPage(browser())
    await signIn(page, server, server.tokens.superAdmin)
    await openOptions(page, backup, base)
    await page.getByLabel('Apply deletions').check()
    await page.getByRole('button', { name: 'Analyze for Merge' }).click()
    await page.getByRole('heading', { name: '3. What the merge will do' }).waitFor({ timeout: 60_000 })

    // m0: deleted in the backup, unchanged here → will be deleted; m3: deleted here only → stays
    // deleted; m1 (delete/modify) is deleted too, as "backup wins" leaves it.
    expect(await threeWayCell(page, '#analysis', 'Message', 'deleted-in-backup')).toBe('1')
    expect(await threeWayCell(page, '#analysis', 'Message', 'deleted-here')).toBe('1')
    expect(await threeWayCell(page, '#analysis', 'Message', 'deleted')).toBe('2')
    expect(await page.locator('#analysis th', { hasText: 'Will be deleted' }).count()).toBe(1)
    expect(await threeWayCell(page, '#analysis', 'User', 'deleted')).toBe('0')

    // u01 changed on both sides: modify/modify, with the three values of its name.
    const u01 = conflictCard(page, 'User', 'u01')
    expect(await u01.locator('.conflict-kind').textContent()).toContain('modify/modify')
    const nameRow = u01.locator('tr', { has: page.locator('th', { hasText: /^name$/ }) })
    expect(await nameRow.locator('.side-base').textContent()).toBe(baseRows.u01!.name)
    expect(await nameRow.locator('.side-backup').textContent()).toBe('Ana (backup)')
    expect(await nameRow.locator('.side-current').textContent()).toBe('Ana (here)')
    // m1 deleted in the backup and changed here: delete/modify, the backup side shown as deleted.
    const m1 = conflictCard(page, 'Message', m[1]!)
    expect(await m1.locator('.conflict-kind').textContent()).toContain('delete/modify')
    const m1Subject = m1.locator('tr', { has: page.locator('th', { hasText: /^subject$/ }) })
    expect(await m1Subject.locator('.side-base').textContent()).toBe(baseRows[m[1]!]!.subject)
    expect(await m1Subject.locator('.side-backup').textContent()).toBe('(deleted)')
    expect(await m1Subject.locator('.side-current').textContent()).toBe('Subject (here)')
    // m2 changed in the backup and deleted here: modify/delete, the current side shown as deleted.
    const m2 = conflictCard(page, 'Message', m[2]!)
    expect(await m2.locator('.conflict-kind').textContent()).toContain('modify/delete')
    const m2Subject = m2.locator('tr', { has: page.locator('th', { hasText: /^subject$/ }) })
    expect(await m2Subject.locator('.side-base').textContent()).toBe(baseRows[m[2]!]!.subject)
    expect(await m2Subject.locator('.side-backup').textContent()).toBe('Subject (backup)')
    expect(await m2Subject.locator('.side-current').textContent()).toBe('(deleted)')

    // The resolution controls still work on three-way conflicts: keep the current name of u01,
    // and keep m1 (changed here) rather than let the backup's deletion win.
    await u01.getByRole('radio', { name: 'Current' }).check()
    expect(await nameRow.locator('.side-current').getAttribute('class')).toContain('chosen')
    await m1.getByRole('radio', { name: 'Current' }).check()
    await screenshot(page, 'three-way')

    await page.getByRole('button', { name: 'Dry run' }).click()
    await page.getByRole('heading', { name: '4. Dry run result' }).waitFor({ timeout: 60_000 })
    expect(await threeWayCell(page, '#dry-run', 'Message', 'deleted')).toBe('1')
    // A dry run writes nothing: m0 is still here, u01 keeps its name.
    expect(await db.query(`SELECT "id" FROM "Message" WHERE "id" = '${m[0]}'`)).toHaveLength(1)

    await page.getByRole('button', { name: 'Perform Incremental Merge' }).click()
    const dialog = page.getByRole('dialog')
    expect(await dialog.textContent()).toContain('1 record deleted')
    await dialog.getByRole('button', { name: 'Merge now' }).click()
    const outcome = page.locator('#report, #stale, .error-note').first()
    await outcome.waitFor({ timeout: 60_000 })
    expect(await outcome.getAttribute('id'), (await outcome.textContent()) ?? '').toBe('report')
    expect(await threeWayCell(page, '#report', 'Message', 'deleted')).toBe('1')
    expect(await page.locator('#report th', { hasText: /^Deleted$/ }).count()).toBe(1)

    // The rows: m0 deleted (deleted in the backup, unchanged here); m1 kept with its change (the
    // choice); m2 back from the backup (backup wins over the deletion here); m3 stays deleted;
    // u01 kept as chosen; u02 took the backup's phone (changed there only).
    expect(await db.query(`SELECT "id" FROM "Message" WHERE "id" = '${m[0]}'`)).toHaveLength(0)
    expect((await db.query(`SELECT "subject" FROM "Message" WHERE "id" = '${m[1]}'`))[0]).toEqual({ subject: 'Subject (here)' })
    expect((await db.query(`SELECT "subject" FROM "Message" WHERE "id" = '${m[2]}'`))[0]).toEqual({ subject: 'Subject (backup)' })
    expect(await db.query(`SELECT "id" FROM "Message" WHERE "id" = '${m[3]}'`)).toHaveLength(0)
    expect((await db.query(`SELECT "name" FROM "User" WHERE "id" = 'u01'`))[0]).toEqual({ name: 'Ana (here)' })
    expect((await db.query(`SELECT "phone" FROM "User" WHERE "id" = 'u02'`))[0]).toEqual({ phone: '+11 111 1111111' })
    await context.close()
  })
})
