/**
 * The smart-merge wizard in a real browser, against `mergeback serve` on SQLite and on
 * PostgreSQL: analyze a backup against a changed database, resolve two conflicts by hand (an
 * edited value, "current") and one by "merge", dry run (nothing written), merge after the final
 * confirmation, then check the database rows exactly.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Page } from 'playwright-core'
import { cliBackup, conflictCard, demoDatabase, useBrowser, newPage, screenshot, signIn, startServer, type AppDatabase, type Server } from './harness.js'

const browser = useBrowser()

async function chooseBackupAndAnalyze(page: Page, file: string, strategy: string): Promise<void> {
  await page.locator(`tr[data-file="${file}"]`).getByRole('link', { name: `Smart merge ${file}` }).click()
  await page.getByRole('heading', { name: '2. Options' }).waitFor()
  await page.getByRole('radio', { name: new RegExp(strategy) }).check()
  await page.getByRole('button', { name: 'Analyze for Merge' }).click()
  await page.getByRole('heading', { name: '3. What the merge will do' }).waitFor({ timeout: 60_000 })
}

/** The cells of a table's row in a report card: new, unchanged, updated, kept, conflicts, resolved as, unresolved, current only. */
async function reportRow(page: Page, card: string, table: string): Promise<string[]> {
  const cells = page.locator(`${card} tr[data-table="${table}"] td`)
  return (await cells.allTextContents()).map((s) => s.trim())
}

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`smart merge through the page on ${engine}`, () => {
    let root: string
    let db: AppDatabase
    let server: Server
    let backup: string
    let originals: Record<string, Record<string, unknown>>
    let deletedMessages: Record<string, unknown>[]

    beforeAll(async () => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), `mergeback-web-merge-${engine}-`))
      db = await demoDatabase(engine, root)
      const dir = path.join(root, 'backups')
      backup = await cliBackup(db.url, dir, 'before-changes')
      server = await startServer({ db: db.url, dir, stateDir: path.join(root, 'state') })
      originals = Object.fromEntries((await db.query<Record<string, unknown>>(`SELECT * FROM "User" WHERE "id" IN ('u01','u02','u03') ORDER BY "id"`)).map((r) => [r.id as string, r]))
      deletedMessages = await db.query(`SELECT * FROM "Message" ORDER BY "id" LIMIT 3`)
      // The database moves on after the backup; updatedAt is left as it was, so these are conflicts.
      await db.exec(`
        UPDATE "User" SET "name" = 'Ana (renamed here)' WHERE "id" = 'u01';
        UPDATE "User" SET "phone" = '+00 000 0000000' WHERE "id" = 'u02';
        UPDATE "User" SET "name" = 'Zoë (renamed here)', "phone" = NULL WHERE "id" = 'u03';
        DELETE FROM "Message" WHERE "id" IN (${deletedMessages.map((m) => `'${m.id}'`).join(',')});
        INSERT INTO "User" ("id","email","name","phone","role","phoneVerified","createdAt","updatedAt")
          VALUES ('u99','new.here@example.com','New Here',NULL,'ATTENDEE',${engine === 'postgres' ? 'false' : '0'},'2026-03-01T00:00:00.000Z','2026-03-01T00:00:00.000Z');
      `)
    })

    afterAll(async () => {
      await server?.stop()
      await db?.drop()
      fs.rmSync(root, { recursive: true, force: true })
    })

    test('analyze, resolve by hand and by merge, dry run, merge; the rows are exactly the chosen ones', async () => {
      const { context, page } = await newPage(browser())
      await signIn(page, server, server.tokens.admin)
      await chooseBackupAndAnalyze(page, backup, 'Manual resolution')
      if (engine === 'sqlite') await screenshot(page, 'merge-options-analyzed')

      // Per-table summary: 3 conflicts in User, 1 current-only user, 3 new messages.
      const user = await reportRow(page, '#analysis', 'User')
      expect(user[4]).toBe('3') // conflicts
      expect(user[7]).toBe('1') // current only
      expect((await reportRow(page, '#analysis', 'Message'))[0]).toBe('3') // new

      // Conflict review: side by side, the changed fields of each record.
      const u01 = conflictCard(page, 'User', 'u01')
      expect(await u01.locator('.side-backup').first().textContent()).toBe(originals.u01!.name)
      expect(await u01.locator('.side-current').first().textContent()).toBe('Ana (renamed here)')
      // By hand: u01 gets an edited name, u02 keeps the current values; u03 by "merge".
      await u01.getByRole('radio', { name: 'Edit' }).check()
      await u01.getByLabel('Value of name for User u01').fill('Ana Edited')
      await conflictCard(page, 'User', 'u02').getByRole('radio', { name: 'Current' }).check()
      await conflictCard(page, 'User', 'u03').getByRole('radio', { name: 'Merge' }).check()
      if (engine === 'sqlite') await screenshot(page, 'merge-conflicts')

      // The search narrows the list; the filter "Not chosen yet" is empty now.
      await page.getByLabel('Search keys and values').fill('u02')
      expect(await page.locator('article.conflict').count()).toBe(1)
      await page.getByLabel('Search keys and values').fill('')
      await page.getByLabel('Show').selectOption('open')
      expect(await page.locator('article.conflict').count()).toBe(0)
      await page.getByLabel('Show').selectOption('all')

      await page.getByRole('button', { name: 'Dry run' }).click()
      await page.getByRole('heading', { name: '4. Dry run result' }).waitFor({ timeout: 60_000 })
      const dry = await reportRow(page, '#dry-run', 'User')
      expect(dry[6]).toBe('0') // unresolved
      expect(dry[5]).toContain('1 current')
      // A dry run writes nothing.
      expect((await db.query(`SELECT "name" FROM "User" WHERE "id" = 'u01'`))[0]).toEqual({ name: 'Ana (renamed here)' })
      expect((await db.query(`SELECT COUNT(*) AS n FROM "Message"`))[0]!.n).toEqual(engine === 'postgres' ? '117' : 117)
      if (engine === 'sqlite') await screenshot(page, 'merge-dry-run')

      await page.getByRole('button', { name: 'Perform Incremental Merge' }).click()
      const dialog = page.getByRole('dialog')
      expect(await dialog.textContent()).toContain('3 new records inserted')
      await dialog.getByRole('button', { name: 'Merge now' }).click()
      await page.getByRole('heading', { name: '5. Merge report' }).waitFor({ timeout: 60_000 })
      if (engine === 'sqlite') await screenshot(page, 'merge-report')

      const users = Object.fromEntries((await db.query<Record<string, unknown>>(`SELECT * FROM "User" WHERE "id" IN ('u01','u02','u03','u99') ORDER BY "id"`)).map((r) => [r.id as string, r]))
      expect(users.u01).toEqual({ ...originals.u01, name: 'Ana Edited' })
      expect(users.u02).toEqual({ ...originals.u02, phone: '+00 000 0000000' })
      // merge_fields: both names set and different, equal timestamps → the current one; the phone only the backup has → the backup's.
      expect(users.u03).toEqual({ ...originals.u03, name: 'Zoë (renamed here)' })
      expect(users.u99).toMatchObject({ name: 'New Here' })
      const back = await db.query(`SELECT * FROM "Message" WHERE "id" IN (${deletedMessages.map((m) => `'${m.id}'`).join(',')}) ORDER BY "id"`)
      expect(back).toEqual(deletedMessages)
      expect((await db.query(`SELECT COUNT(*) AS n FROM "User"`))[0]!.n).toEqual(engine === 'postgres' ? '41' : 41)
      await context.close()
    })

    test('a plan gone stale between the dry run and the merge is refused and explained; "Analyze again" then merges', async () => {
      const fresh = await cliBackup(db.url, server.dir, 'stale-check')
      const original = (await db.query<{ name: string }>(`SELECT "name" FROM "User" WHERE "id" = 'u05'`))[0]!.name
      await db.exec(`UPDATE "User" SET "name" = 'Edited once' WHERE "id" = 'u05'`)
      const { context, page } = await newPage(browser())
      await signIn(page, server, server.tokens.admin)
      await chooseBackupAndAnalyze(page, fresh, 'Manual resolution')
      await conflictCard(page, 'User', 'u05').getByRole('radio', { name: 'Backup' }).check()
      await page.getByRole('button', { name: 'Dry run' }).click()
      await page.getByRole('heading', { name: '4. Dry run result' }).waitFor({ timeout: 60_000 })

      // Someone changes the record after the dry run: the plan no longer describes the database.
      await db.exec(`UPDATE "User" SET "name" = 'Edited twice' WHERE "id" = 'u05'`)
      await page.getByRole('button', { name: 'Perform Incremental Merge' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Merge now' }).click()
      const stale = page.locator('#stale')
      await stale.waitFor({ timeout: 60_000 })
      expect(await stale.textContent()).toContain('nothing was written')
      expect(await stale.textContent()).toContain('u05')
      if (engine === 'sqlite') await screenshot(page, 'merge-stale-plan')
      expect((await db.query(`SELECT "name" FROM "User" WHERE "id" = 'u05'`))[0]).toEqual({ name: 'Edited twice' })

      await stale.getByRole('button', { name: 'Analyze again' }).click()
      await page.getByRole('heading', { name: '3. What the merge will do' }).waitFor({ timeout: 60_000 })
      const card = conflictCard(page, 'User', 'u05')
      expect(await card.locator('.side-current').first().textContent()).toBe('Edited twice')
      expect(await card.getByRole('radio', { name: 'Backup' }).isChecked()).toBe(true) // the choice is kept
      await page.getByRole('button', { name: 'Dry run' }).click()
      await page.getByRole('heading', { name: '4. Dry run result' }).waitFor({ timeout: 60_000 })
      await page.getByRole('button', { name: 'Perform Incremental Merge' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Merge now' }).click()
      await page.getByRole('heading', { name: '5. Merge report' }).waitFor({ timeout: 60_000 })
      expect((await db.query(`SELECT "name" FROM "User" WHERE "id" = 'u05'`))[0]).toEqual({ name: original })
      await context.close()
    })
  })
}
