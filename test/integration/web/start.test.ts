/**
 * `npm start` (= `mergeback demo --serve`): creates the demo database, makes a first backup,
 * creates a super_admin token and serves the admin page; the printed URL and token sign a person
 * in to the page showing the demo data. A second start keeps the backups and revokes the first token.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import type { Browser } from 'playwright-core'
import { REPO_ROOT } from '../../helpers/cli.js'
import { launchBrowser, newPage, screenshot } from './harness.js'

let browser: Browser
let root: string
beforeAll(async () => {
  browser = await launchBrowser()
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-web-start-'))
})
afterAll(async () => {
  await browser?.close()
  fs.rmSync(root, { recursive: true, force: true })
})

/** Runs `mergeback demo --serve` in `root` until it prints the URL and the token. */
async function start(): Promise<{ child: ChildProcess; url: string; token: string; stdout: string }> {
  const env = { ...process.env, DATABASE_URL: undefined, MERGEBACK_DIR: undefined, MERGEBACK_STATE_DIR: undefined }
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/mergeback.js'), 'demo', '--serve', '--port', '0'], { cwd: root, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo --serve printed no URL in 60 s:\n${stdout}\n${stderr}`)), 60_000)
    child.stdout!.on('data', (d) => {
      stdout += d
      const url = /^Open (http:\/\/\S+)$/m.exec(stdout)?.[1]
      const token = /^\s+(mbk_\S+)$/m.exec(stdout)?.[1]
      if (url && token) {
        clearTimeout(timer)
        resolve({ child, url, token, stdout })
      }
    })
    child.on('exit', (code) => reject(new Error(`demo --serve exited with ${code}:\n${stdout}\n${stderr}`)))
  })
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  await exited
}

test('npm start: the printed URL and token open the page on the demo data; a restart revokes the old token and keeps the backups', async () => {
  const first = await start()
  let firstToken: string
  try {
    expect(first.stdout).toContain('Created the demo database demo.db')
    expect(first.stdout).toMatch(/Made a first backup: backups\/demo-.*\.json/)
    expect(fs.existsSync(path.join(root, 'demo.db'))).toBe(true)
    firstToken = first.token

    const { context, page } = await newPage(browser)
    await page.goto(first.url)
    await page.getByLabel('Access token').fill(first.token)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Backups', level: 1 }).waitFor()
    expect(await page.getByLabel('Signed in').textContent()).toContain('super admin')
    const stats = page.locator('#stats')
    await expect.poll(() => stats.textContent(), { timeout: 30_000 }).toContain('demo.db')
    expect(await stats.textContent()).toContain('297') // rows in the demo's five tables
    await page.locator('tr[data-file^="demo-"]').waitFor()
    await screenshot(page, 'overview')

    // The same screen at phone width: the list turns into stacked cards.
    await page.setViewportSize({ width: 390, height: 844 })
    await screenshot(page, 'overview-phone')
    await context.close()
  } finally {
    await stop(first.child)
  }

  const second = await start()
  try {
    expect(second.stdout).toContain('Using the demo database demo.db')
    expect(second.stdout).toContain('The backups in')
    expect(fs.readdirSync(path.join(root, 'backups')).filter((f) => f.endsWith('.json') && !f.endsWith('.meta.json'))).toHaveLength(1)
    const status = async (token: string) => (await fetch(`${second.url.replace('/admin/backup', '')}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status
    expect(await status(firstToken)).toBe(401)
    expect(await status(second.token)).toBe(200)
  } finally {
    await stop(second.child)
  }
})
