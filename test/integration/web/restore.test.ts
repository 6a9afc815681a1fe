/**
 * The restore wizard in a real browser, against `mergeback serve` on SQLite and PostgreSQL:
 * restore two selected tables into ANOTHER database with "drop existing" (typing the database
 * name to confirm), after a dry run that writes nothing; then the target's rows are exactly the
 * backup's in those tables, and its other tables are untouched. An admin cannot tick "drop".
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { cliBackup, demoDatabase, useBrowser, newPage, screenshot, signIn, startServer, type AppDatabase, type Server } from './harness.js'

const browser = useBrowser()

const ROOMS = `SELECT * FROM "Room" ORDER BY "id"`
const ALLOCATIONS = `SELECT * FROM "RoomAllocation" ORDER BY "roomId", "registrationId"`

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`restore through the page on ${engine}`, () => {
    let root: string
    let source: AppDatabase
    let target: AppDatabase
    let server: Server
    let backup: string
    let targetName: string

    beforeAll(async () => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), `mergeback-web-restore-${engine}-`))
      source = await demoDatabase(engine, path.join(root, 'source'))
      target = await demoDatabase(engine, path.join(root, 'target'))
      const dir = path.join(root, 'backups')
      backup = await cliBackup(source.url, dir, 'rooms')
      // The target has drifted: a room renamed, one added, allocations gone, a user renamed.
      await target.exec(`
        UPDATE "Room" SET "name" = 'Renamed in staging' WHERE "id" = 1;
        INSERT INTO "Room" ("id","name","building","floor","capacity","pricePerNight","accessible","photo","createdAt","updatedAt")
          VALUES (99,'Staging only','Z',1,2,10.00,${engine === 'postgres' ? 'false' : '0'},NULL,'2026-03-01T00:00:00.000Z','2026-03-01T00:00:00.000Z');
        DELETE FROM "RoomAllocation" WHERE "roomId" IN (2, 3);
        UPDATE "User" SET "name" = 'Staging Ana' WHERE "id" = 'u01';
      `)
      let config: string | undefined
      if (engine === 'sqlite') {
        // SQLite targets are named by alias in the server's configuration.
        config = path.join(root, 'mergeback.json')
        fs.writeFileSync(config, JSON.stringify({ databases: { staging: target.url } }))
        targetName = 'staging'
      } else {
        targetName = new URL(target.url).pathname.slice(1)
      }
      server = await startServer({ db: source.url, dir, stateDir: path.join(root, 'state'), config })
    })

    afterAll(async () => {
      await server?.stop()
      await source?.drop()
      await target?.drop()
      fs.rmSync(root, { recursive: true, force: true })
    })

    test('selected tables into another database, with drop confirmed by typing its name; rows checked', async () => {
      const { context, page } = await newPage(browser())
      await signIn(page, server, server.tokens.superAdmin)
      await page.locator(`tr[data-file="${backup}"]`).getByRole('link', { name: `Restore ${backup}` }).click()
      await page.getByRole('heading', { name: '2. Tables and target' }).waitFor()
      for (const t of ['User', 'Registration', 'Message']) await page.getByRole('checkbox', { name: new RegExp(`^${t}\\b`) }).uncheck()
      if (engine === 'sqlite') {
        await page.getByLabel('Target database').selectOption('staging')
      } else {
        await page.getByLabel('Target database').selectOption({ label: 'Another database on the same server…' })
        await page.getByLabel('Database name').fill(targetName)
      }
      await page.getByRole('checkbox', { name: /Drop existing/ }).check()
      if (engine === 'sqlite') await screenshot(page, 'restore-options')

      const roomsBefore = await target.query(ROOMS)
      await page.getByRole('button', { name: 'Dry run' }).click()
      await page.getByRole('heading', { name: '3. Dry run result' }).waitFor({ timeout: 60_000 })
      expect(await page.locator('#restore-dry-run').textContent()).toContain('Room, RoomAllocation will be emptied')
      expect(await target.query(ROOMS)).toEqual(roomsBefore) // the dry run wrote nothing

      await page.getByRole('button', { name: 'Restore now…' }).click()
      const dialog = page.getByRole('dialog')
      const confirm = dialog.getByRole('button', { name: 'Drop and restore' })
      expect(await confirm.isDisabled()).toBe(true)
      await dialog.getByLabel(/Type .* to confirm/).fill(targetName)
      if (engine === 'sqlite') await screenshot(page, 'restore-confirm', { fullPage: false })
      await confirm.click()
      await page.getByRole('heading', { name: '4. Restore report' }).waitFor({ timeout: 60_000 })
      if (engine === 'sqlite') await screenshot(page, 'restore-report')
      const report = page.locator('#restore-report')
      expect(await report.locator('tr[data-table="Room"] td').first().textContent()).toBe('12')
      expect(await report.locator('tr[data-table="RoomAllocation"] td').first().textContent()).toBe('35')
      // The report is checked against the target afterwards: its row counts as read back now
      // (a database named on the same server too: /api/stats takes targetDatabase).
      expect(await report.locator('tr[data-table="Room"] td').last().textContent()).toBe('12')
      expect(await report.locator('tr[data-table="RoomAllocation"] td').last().textContent()).toBe('35')

      // Exactly the backup's rows in the two tables; the others are as the target had them.
      expect(await target.query(ROOMS)).toEqual(await source.query(ROOMS))
      expect(await target.query(ALLOCATIONS)).toEqual(await source.query(ALLOCATIONS))
      expect(await target.query(`SELECT "name" FROM "User" WHERE "id" = 'u01'`)).toEqual([{ name: 'Staging Ana' }])
      await context.close()
    })

    test('an admin cannot tick "drop existing"', async () => {
      const { context, page } = await newPage(browser())
      await signIn(page, server, server.tokens.admin)
      await page.locator(`tr[data-file="${backup}"]`).getByRole('link', { name: `Restore ${backup}` }).click()
      const drop = page.getByRole('checkbox', { name: /Drop existing/ })
      await drop.waitFor()
      expect(await drop.isDisabled()).toBe(true)
      expect(await page.getByText('Needs the super_admin role').count()).toBe(1)
      await context.close()
    })
  })
}
