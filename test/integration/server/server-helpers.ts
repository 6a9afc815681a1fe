/**
 * A real `mergeback serve` for tests: the built CLI in a child process, on a random port
 * (`--port 0`; the port is read from the `listening` log line), with its own backup and state
 * directories and tokens made by `mergeback token create`. Requests go over real HTTP (fetch).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { REPO_ROOT, runCli } from '../../helpers/cli.js'

const BIN = path.join(REPO_ROOT, 'bin/mergeback.js')

export interface TestServer {
  readonly url: string
  readonly root: string
  readonly dir: string
  readonly stateDir: string
  readonly child: ChildProcess
  /** Every log line so far (stderr), parsed. */
  readonly logs: Record<string, unknown>[]
  /** fetch relative to the server, with `token` as bearer when given. */
  request(pathname: string, init?: RequestInit & { token?: string; json?: unknown }): Promise<Response>
  /** SIGTERM and wait for the exit; removes the directories unless `keep`. */
  stop(options?: { keep?: boolean }): Promise<number | null>
}

export interface StartOptions {
  readonly db?: string
  readonly config?: unknown
  readonly args?: readonly string[]
  readonly env?: Record<string, string>
  /** Reuse directories (a restarted server). */
  readonly root?: string
}

export async function createToken(root: string, name: string, role: string): Promise<string> {
  const result = await runCli(['token', 'create', '--name', name, '--role', role, '--state', path.join(root, 'state'), '--json'])
  if (result.code !== 0) throw new Error(`token create failed: ${result.stderr}${result.stdout}`)
  return result.json<{ token: string }>().token
}

export async function revokeToken(root: string, name: string): Promise<void> {
  const result = await runCli(['token', 'revoke', name, '--state', path.join(root, 'state'), '--json'])
  if (result.code !== 0) throw new Error(`token revoke failed: ${result.stderr}${result.stdout}`)
}

export async function startTestServer(options: StartOptions = {}): Promise<TestServer> {
  const root = options.root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-server-'))
  const dir = path.join(root, 'backups')
  const stateDir = path.join(root, 'state')
  const args = ['serve', '--port', '0', '--dir', dir, '--state', stateDir, '--web', path.join(root, 'web'), '--shutdown-timeout', '5']
  if (options.db) args.push('--db', options.db)
  if (options.config) {
    const file = path.join(root, 'config.json')
    fs.writeFileSync(file, JSON.stringify(options.config))
    args.push('--config', file)
  }
  args.push(...(options.args ?? []))
  const env: Record<string, string | undefined> = { ...process.env, DATABASE_URL: undefined, MERGEBACK_DIR: undefined, MERGEBACK_PASSPHRASE: undefined, MERGEBACK_STATE_DIR: undefined, ...options.env }
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key]
  const child = spawn(process.execPath, [BIN, ...args], { cwd: root, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'pipe'] })
  const logs: Record<string, unknown>[] = []
  let pending = ''
  let stderr = ''
  const url = await new Promise<string>((resolve, reject) => {
    // Generous: the server starts in about a second, but a loaded 2-core machine has taken over 15 s.
    const timer = setTimeout(() => reject(new Error(`the server did not start in 60 s:\n${stderr}`)), 60_000)
    child.stderr!.on('data', (data: Buffer) => {
      stderr += data.toString()
      pending += data.toString()
      let at: number
      while ((at = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, at)
        pending = pending.slice(at + 1)
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>
          logs.push(parsed)
          if (parsed.msg === 'listening') {
            clearTimeout(timer)
            resolve(parsed.url as string)
          }
        } catch {
          logs.push({ raw: line })
        }
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the server exited with ${code} before listening:\n${stderr}`))
    })
  })
  return {
    url,
    root,
    dir,
    stateDir,
    child,
    logs,
    request(pathname, init = {}) {
      const headers = new Headers(init.headers)
      if (init.token !== undefined) headers.set('authorization', `Bearer ${init.token}`)
      let body = init.body
      if (init.json !== undefined) {
        headers.set('content-type', 'application/json')
        body = JSON.stringify(init.json)
      }
      return fetch(`${url}${pathname}`, { ...init, headers, body })
    },
    async stop(stopOptions = {}) {
      let code: number | null = child.exitCode
      if (code === null && child.signalCode === null) {
        code = await new Promise<number | null>((resolve) => {
          child.once('exit', (c) => resolve(c))
          child.kill('SIGTERM')
        })
      }
      if (!stopOptions.keep) fs.rmSync(root, { recursive: true, force: true })
      return code
    },
  }
}

/** Reads a job's SSE stream to its end: the events in order. */
export async function readEvents(server: TestServer, jobId: string, token: string): Promise<{ event: string; id: string; data: any }[]> {
  const response = await server.request(`/api/jobs/${jobId}/events`, { token })
  if (response.status !== 200) throw new Error(`events: ${response.status} ${await response.text()}`)
  const text = await response.text()
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const fields: Record<string, string> = {}
      for (const line of block.split('\n')) {
        const at = line.indexOf(':')
        fields[line.slice(0, at)] = (fields[line.slice(0, at)] ?? '') + line.slice(at + 1).trimStart()
      }
      return { event: fields.event ?? 'message', id: fields.id ?? '', data: JSON.parse(fields.data ?? 'null') }
    })
}

/** Waits for a job to end (through its events) and returns it. */
export async function waitForJob(server: TestServer, jobId: string, token: string): Promise<any> {
  const events = await readEvents(server, jobId, token)
  const end = events.at(-1)
  if (end?.event !== 'end') throw new Error(`the event stream of ${jobId} did not end with "end"`)
  return end.data
}

/** A sorted listing of a directory (names and sizes), to show that a refusal changed nothing. */
export function listing(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir)
    // The audit trail (the log, its lock, its head and the head's temporary file) changes with
    // every request that is audited, refusals included: it is not what these listings compare.
    .filter((f) => !f.startsWith('audit.'))
    .sort()
    .map((f) => `${f}:${fs.statSync(path.join(dir, f)).size}`)
}
