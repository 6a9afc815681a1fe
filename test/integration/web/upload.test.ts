/**
 * Uploads through the page (file picker and drag and drop) against `mergeback serve` on SQLite:
 * each seed layout and mergeback's own gzip file are accepted and verified; a damaged file, a
 * file that is not a backup and a file over the server's limit are refused in words, and leave
 * nothing in the backup directory.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { REPO_ROOT } from '../../helpers/cli.js'
import { cliBackup, launchBrowser, newPage, screenshot, signIn, sqliteDemo, startServer, type Server } from './harness.js'

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/format-v1')
let browser: Browser
let server: Server
let fixture: Awaited<ReturnType<typeof sqliteDemo>>
let files: string

beforeAll(async () => {
  browser = await launchBrowser()
  fixture = await sqliteDemo()
  files = path.join(fixture.root, 'to-upload')
  fs.mkdirSync(files)
  server = await startServer({ db: fixture.db, dir: fixture.dir, stateDir: fixture.stateDir })
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  fixture?.cleanup()
})

const backupFiles = () => fs.readdirSync(fixture.dir).filter((f) => /\.json(\.gz)?(\.enc)?$/.test(f))

async function pick(page: Page, file: string): Promise<void> {
  await page.locator('#upload-file').setInputFiles(file)
}

/** Drops a file on the drop zone the way a browser does: a drop event carrying a DataTransfer. */
async function drop(page: Page, file: string): Promise<void> {
  const bytes = fs.readFileSync(file).toString('base64')
  const transfer = await page.evaluateHandle(
    ([b64, name]) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
      // The test's TypeScript has no DOM types; these are the page's own classes.
      const { DataTransfer, File } = globalThis as unknown as { DataTransfer: new () => { items: { add(f: unknown): void } }; File: new (parts: unknown[], name: string, o: object) => unknown }
      const dt = new DataTransfer()
      dt.items.add(new File([data], name, { type: 'application/json' }))
      return dt
    },
    [bytes, path.basename(file)] as const,
  )
  await page.locator('.dropzone').dispatchEvent('dragover', { dataTransfer: transfer })
  await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: transfer })
}

describe('upload', () => {
  test('the Smart Backup layout (seed 000), the native MongoDB layout (seed 002) and a mergeback .json.gz are accepted and verified', async () => {
    const own = await cliBackup(fixture.db, path.join(fixture.root, 'elsewhere'), 'other-server')
    const gz = path.join(files, 'from-other-server.json.gz')
    // A gzip file made elsewhere, under a new name (the catalog entry does not travel with it).
    fs.copyFileSync(path.join(fixture.root, 'elsewhere', own), path.join(files, 'plain.json'))
    fs.writeFileSync(gz, zlib.gzipSync(fs.readFileSync(path.join(files, 'plain.json'))))

    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.admin)
    await page.getByRole('link', { name: 'Upload', exact: true }).click()

    const cases = [
      { file: path.join(FIXTURES, 'incremental-backup-2024-01-15T12-00-00.json'), how: pick, tables: 'User' },
      { file: path.join(FIXTURES, 'crm-backup_2025-10-09.json'), how: drop, tables: 'users' },
      { file: gz, how: pick, tables: 'Registration' },
    ]
    for (const c of cases) {
      const name = path.basename(c.file)
      await c.how(page, c.file)
      const result = page.locator('.notice').filter({ hasText: name })
      await result.waitFor({ timeout: 60_000 })
      expect(await result.textContent()).toContain('Uploaded and verified')
      expect(await result.textContent()).toContain(c.tables)
      expect(backupFiles()).toContain(name)
      expect(Buffer.compare(fs.readFileSync(path.join(fixture.dir, name)), fs.readFileSync(c.file))).toBe(0)
      if (c.how === drop) await screenshot(page, 'upload-verified')
    }
    await page.getByRole('link', { name: 'Overview', exact: true }).click()
    for (const c of cases) await page.locator(`tr[data-file="${path.basename(c.file)}"]`).waitFor()
    await context.close()
  })

  test('a damaged backup and a file that is not a backup are refused with a readable message, and nothing is kept', async () => {
    const good = await cliBackup(fixture.db, path.join(fixture.root, 'elsewhere2'), 'damaged')
    const bytes = fs.readFileSync(path.join(fixture.root, 'elsewhere2', good))
    // Change one character inside a record of the Registration table: its checksum no longer matches.
    const text = bytes.toString('utf8')
    const at = text.indexOf('"CONFIRMED"')
    expect(at).toBeGreaterThan(0)
    const damaged = path.join(files, 'damaged.json')
    fs.writeFileSync(damaged, text.slice(0, at) + '"CONFIRMEd"' + text.slice(at + '"CONFIRMED"'.length))
    const notBackup = path.join(files, 'notes.json')
    fs.writeFileSync(notBackup, JSON.stringify({ hello: 'this is not a backup', items: [1, 2, 3] }))

    const { context, page } = await newPage(browser)
    await signIn(page, server, server.tokens.admin)
    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    const before = backupFiles()

    await pick(page, damaged)
    const refusal = page.locator('.refusal')
    await refusal.waitFor({ timeout: 60_000 })
    const words = (await refusal.textContent())!
    // The server says what is wrong and where: the table whose checksum failed.
    expect(words).toMatch(/not a usable backup|is damaged/)
    expect(words).toMatch(/table "Registration" does not match its checksum/)
    await screenshot(page, 'upload-damaged')

    await pick(page, notBackup)
    await expect.poll(() => refusal.textContent(), { timeout: 60_000 }).toContain('is not a mergeback backup')
    expect(backupFiles()).toEqual(before)
    expect(fs.readdirSync(fixture.dir).filter((f) => f.endsWith('.partial'))).toEqual([])
    await context.close()
  })

  test('a file over the server’s upload limit is refused as too large', async () => {
    const small = await startServer({ db: fixture.db, dir: path.join(fixture.root, 'small-limit'), stateDir: path.join(fixture.root, 'small-state'), args: ['--max-upload', '4KiB'] })
    try {
      const big = path.join(files, 'big.json')
      fs.copyFileSync(path.join(FIXTURES, 'native-small.json'), big)
      expect(fs.statSync(big).size).toBeGreaterThan(4096)
      const { context, page } = await newPage(browser)
      await signIn(page, small, small.tokens.admin)
      await page.getByRole('link', { name: 'Upload', exact: true }).click()
      await pick(page, big)
      const refusal = page.locator('.refusal')
      await refusal.waitFor({ timeout: 60_000 })
      expect(await refusal.textContent()).toContain('too large')
      expect(fs.readdirSync(small.dir).filter((f) => f.endsWith('.json'))).toEqual([])
      await context.close()
    } finally {
      await small.stop()
    }
  })
})
