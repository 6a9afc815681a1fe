/**
 * Runs the built CLI (`node bin/mergeback.js`) as a user would: a child process, no terminal.
 * `npm test` builds first; running a single file needs `npm run build` once.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { inject } from 'vitest'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = path.join(REPO_ROOT, 'bin/mergeback.js')

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly durationMs: number
  /** stdout parsed as the one JSON document `--json` promises. */
  json<T = any>(): T
}

/**
 * The backup directory of a CLI run given no `cwd`: a temporary one for this test process, never
 * the repository's `./backups` (a test must not write the audit log or backups of the working
 * directory it runs in). A run given `cwd` (a temporary directory) keeps `./backups` under it.
 */
let scratchBackups: string | undefined
export function scratchBackupDir(): string {
  if (scratchBackups === undefined) {
    // Under the run's scratch root (working-directory-guard.ts removes it at teardown).
    scratchBackups = fs.mkdtempSync(path.join(inject('scratchRoot'), 'cli-backups-'))
  }
  return scratchBackups
}

export function runCli(args: readonly string[], options: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {}): Promise<CliResult> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = {
      ...process.env,
      MERGEBACK_PASSPHRASE: undefined,
      DATABASE_URL: undefined,
      MERGEBACK_DIR: options.cwd === undefined ? scratchBackupDir() : undefined,
      ...options.env,
    }
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key]
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? REPO_ROOT, env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.stdin.end(options.input ?? '')
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout,
        stderr,
        durationMs: Date.now() - started,
        json() {
          try {
            return JSON.parse(stdout)
          } catch {
            throw new Error(`stdout is not one JSON document:\n${stdout}\nstderr:\n${stderr}`)
          }
        },
      }),
    )
  })
}

/** Names of the entries of a directory (sorted), or [] when it does not exist: to assert "nothing written". */
export async function listDir(dir: string): Promise<string[]> {
  const fs = await import('node:fs')
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []
}
