/**
 * The admin page's browser tests: Debian's Chromium driven by playwright-core, against a real
 * `mergeback serve` (a child process on a free port) on a real database.
 *
 * A missing browser FAILS the suite (launch throws with how to install it); it is never skipped.
 * Screenshots go to .tmp/screenshots/ (the good ones are copied to docs/images/ by hand).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'
import { REPO_ROOT, runCli } from '../../helpers/cli.js'

export const CHROMIUM = process.env.MERGEBACK_TEST_CHROMIUM ?? '/usr/bin/chromium'
export const SCREENSHOTS = path.join(REPO_ROOT, '.tmp/screenshots')

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: the admin page's browser tests need it. Install it with: apt-get install -y chromium`)
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  })
}

/** One browser for the test file that calls this at its top level: launched before its tests, closed after them. */
export function useBrowser(): () => Browser {
  let browser: Browser | undefined
  beforeAll(async () => {
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
  })
  return () => {
    if (!browser) throw new Error('the browser is not launched yet: use it inside a test or a beforeAll hook')
    return browser
  }
}

/** The review card of one conflict in the merge wizard. */
export const conflictCard = (page: Page, table: string, key: string) => page.locator(`article.conflict[data-table="${table}"][data-key="${key}"]`)

export interface Server {
  readonly url: string
  readonly dir: string
  readonly stateDir: string
  readonly tokens: { readonly superAdmin: string; readonly admin: string }
  /** What the server wrote on stderr so far (its JSON log), for failure messages. */
  log(): string
  stop(): Promise<void>
}

/**
 * Makes a super_admin token ("root") and an admin token ("alice") with the CLI, then starts
 * `mergeback serve` on a free port and waits until it listens.
 */
export async function startServer(options: { db: string; dir: string; stateDir: string; config?: string; args?: readonly string[]; env?: Record<string, string> }): Promise<Server> {
  fs.mkdirSync(options.dir, { recursive: true })
  const superAdmin = await createToken('root', 'super_admin', options.stateDir)
  const admin = await createToken('alice', 'admin', options.stateDir)
  const args = [path.join(REPO_ROOT, 'bin/mergeback.js'), 'serve', '--db', options.db, '--dir', options.dir, '--state', options.stateDir, '--port', '0']
  if (options.config) args.push('--config', options.config)
  args.push(...(options.args ?? []))
  const env = { ...process.env, DATABASE_URL: undefined, MERGEBACK_DIR: undefined, ...options.env }
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  let stdout = ''
  child.stdout!.on('data', (d) => (stdout += d))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mergeback serve did not start within 30 s:\n${stderr}\n${stdout}`)), 30_000)
    child.stderr!.on('data', (d) => {
      stderr += d
      const found = listeningUrl(stderr + stdout)
      if (found) {
        clearTimeout(timer)
        resolve(found)
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`mergeback serve exited with ${code} before listening:\n${stderr}\n${stdout}`))
    })
  })
  return {
    url,
    dir: options.dir,
    stateDir: options.stateDir,
    tokens: { superAdmin, admin },
    log: () => stderr,
    stop: () => stopChild(child),
  }
}

function listeningUrl(log: string): string | undefined {
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string; port?: number; host?: string }
      if (entry.msg !== 'listening') continue
      if (entry.url) return entry.url.replace(/\/$/, '')
      if (entry.port) return `http://${entry.host ?? '127.0.0.1'}:${entry.port}`
    } catch {
      // Not a log line.
    }
  }
  return undefined
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

async function createToken(name: string, role: 'admin' | 'super_admin', stateDir: string): Promise<string> {
  const r = await runCli(['token', 'create', '--name', name, '--role', role, '--state', stateDir, '--json'])
  if (r.code !== 0) throw new Error(`mergeback token create failed (${r.code}): ${r.stderr}`)
  const token = r.json<{ token?: string }>().token
  if (!token) throw new Error(`mergeback token create --json printed no token: ${r.stdout}`)
  return token
}

/** A page at laptop width (1280×800) that accepts downloads. */
export async function newPage(browser: Browser, viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true })
  const page = await context.newPage()
  return { context, page }
}

/** Signs in through the form, as a person would, and waits for the overview. */
export async function signIn(page: Page, server: Server, token: string): Promise<void> {
  await page.goto(`${server.url}/`)
  await page.getByLabel('Access token').fill(token)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Backups', level: 1 }).waitFor()
}

export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true })
  const file = path.join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path: file, fullPage: options.fullPage ?? true })
  return file
}

/** A temporary directory with the demo SQLite database, a backup directory and a state directory. */
export async function sqliteDemo(prefix = 'mergeback-web-'): Promise<{ root: string; dbFile: string; db: string; dir: string; stateDir: string; cleanup: () => void }> {
  const { createDemoDatabase } = await import('../../../src/demo/demo-database.js')
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  const dbFile = path.join(root, 'app.db')
  createDemoDatabase(dbFile)
  return { root, dbFile, db: `sqlite:${dbFile}`, dir: path.join(root, 'backups'), stateDir: path.join(root, 'state'), cleanup: () => fs.rmSync(root, { recursive: true, force: true }) }
}

/** Makes a backup with the CLI (not through the page) and returns its file name in `dir`. */
export async function cliBackup(db: string, dir: string, name = 'base', extra: readonly string[] = []): Promise<string> {
  const r = await runCli(['backup', '--db', db, '--out', dir, '--name', name, '--json', ...extra])
  if (r.code !== 0) throw new Error(`mergeback backup failed (${r.code}): ${r.stderr}`)
  return path.basename(r.json<{ file: string }>().file)
}

/** The app database of a test, on SQLite or PostgreSQL, with the demo data, and SQL to read or change it. */
export interface AppDatabase {
  readonly engine: 'sqlite' | 'postgres'
  readonly url: string
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  exec(sql: string): Promise<void>
  drop(): Promise<void>
}

/**
 * The demo database on `engine`: SQLite directly; PostgreSQL by restoring a backup of the SQLite
 * demo into a fresh database with the CLI (the same data, in PostgreSQL's types).
 */
export async function demoDatabase(engine: 'sqlite' | 'postgres', root: string): Promise<AppDatabase> {
  const { createDemoDatabase } = await import('../../../src/demo/demo-database.js')
  fs.mkdirSync(root, { recursive: true })
  const file = path.join(root, `demo-${engine}.db`)
  createDemoDatabase(file)
  if (engine === 'sqlite') {
    const Database = (await import('better-sqlite3')).default
    const open = () => new Database(file)
    return {
      engine,
      url: `sqlite:${file}`,
      async query(sql, params = []) {
        const db = open()
        try {
          return db.prepare(sql).all(...(params as unknown[])) as never
        } finally {
          db.close()
        }
      },
      async exec(sql) {
        const db = open()
        try {
          db.exec(sql)
        } finally {
          db.close()
        }
      },
      async drop() {},
    }
  }
  const { createPostgresDatabase, pgQuery } = await import('../../helpers/databases.js')
  const pg = await createPostgresDatabase('mbweb')
  const seed = path.join(root, 'seed-backups')
  const file0 = await cliBackup(`sqlite:${file}`, seed, 'seed')
  const r = await runCli(['restore', path.join(seed, file0), '--db', pg.url, '--json'])
  if (r.code !== 0) throw new Error(`restoring the demo into PostgreSQL failed (${r.code}): ${r.stderr}`)
  return {
    engine,
    url: pg.url,
    query: (sql, params = []) => pgQuery(pg.url, sql, params) as never,
    exec: async (sql) => void (await pgQuery(pg.url, sql)),
    drop: () => pg.drop(),
  }
}
