/**
 * The engines' own dump and restore programs (pg_dump, pg_restore, mariadb-dump, mariadb), as
 * full backups use them: found, version-checked, and run with the password kept off the command
 * line.
 *
 * - Finding: `MERGEBACK_PG_BINDIR` / `MERGEBACK_MYSQL_BINDIR` when set (a directory holding the
 *   programs, e.g. /usr/lib/postgresql/16/bin), else PATH. A missing or too old program is a
 *   UsageError naming it, the version needed and how to get it, before anything is written.
 * - Running: the password goes in the environment (PGPASSWORD, MYSQL_PWD), never in argv, where
 *   any user on the machine could read it from the process list. What the program prints on
 *   stderr is kept (its last 8 KiB) for the error message, with the password removed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable, Writable } from 'node:stream'
import { DatabaseError, UsageError } from '../errors.js'

export interface NativeTool {
  /** The program's name as the user knows it (pg_dump, mariadb-dump…). */
  readonly name: string
  /** What was executed (a name looked up on PATH, or a path). */
  readonly command: string
  /** The version it reports, e.g. "15.20" or "10.11.19-MariaDB". */
  readonly version: string
  readonly major: number
  readonly minor: number
}

/** Which program, how to install it, and the oldest version mergeback accepts. */
export interface ToolRequirement {
  /** Candidate names in order of preference (mariadb-dump before mysqldump). */
  readonly names: readonly string[]
  /** Environment variable naming a directory to look in instead of PATH. */
  readonly binDirEnv: string
  /** Oldest accepted version as [major, minor]. */
  readonly minimum: readonly [number, number]
  /** Parses `--version` output into a version string and [major, minor]; undefined when unrecognised. */
  readonly parse: (output: string) => { version: string; major: number; minor: number } | undefined
  /** How to install it, for the error message. */
  readonly install: string
}

const STDERR_KEEP_BYTES = 8 * 1024

function commandFor(name: string, binDirEnv: string): string {
  const dir = process.env[binDirEnv]
  return dir ? path.join(dir, name) : name
}

/** Runs `command --version`; undefined when the program does not exist. */
function versionOutput(command: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let out = ''
    let child: ChildProcess
    try {
      child = spawn(command, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] })
    } catch {
      resolve(undefined)
      return
    }
    child.stdout?.on('data', (data: Buffer) => (out += data.toString('utf8')))
    child.stderr?.on('data', (data: Buffer) => (out += data.toString('utf8')))
    child.on('error', () => resolve(undefined))
    child.on('close', (code) => resolve(code === 0 ? out : undefined))
  })
}

/**
 * Finds the first of `requirement.names` that runs, and checks its version. Throws UsageError
 * (code TOOL_MISSING or TOOL_TOO_OLD) naming the program, the version needed and how to install it.
 * `atLeast` raises the minimum for this call (pg_dump must be as new as the server it dumps).
 */
export async function findTool(requirement: ToolRequirement, atLeast?: readonly [number, number], why?: string): Promise<NativeTool> {
  const needed = atLeast && compare(atLeast, requirement.minimum) > 0 ? atLeast : requirement.minimum
  const where = process.env[requirement.binDirEnv] ? `in ${process.env[requirement.binDirEnv]} (${requirement.binDirEnv})` : 'on PATH'
  for (const name of requirement.names) {
    const command = commandFor(name, requirement.binDirEnv)
    const output = await versionOutput(command)
    if (output === undefined) continue
    const parsed = requirement.parse(output)
    if (!parsed) {
      throw new UsageError(`${name} ${where} printed a version mergeback does not understand (${output.trim().slice(0, 120)}): ${requirement.install}.`, {
        code: 'TOOL_TOO_OLD',
        details: { tool: name },
      })
    }
    if (compare([parsed.major, parsed.minor], needed) < 0) {
      throw new UsageError(
        `${name} ${parsed.version} ${where} is too old${why ? ` ${why}` : ''}: version ${needed.join('.')} or newer is needed. ${requirement.install}.`,
        { code: 'TOOL_TOO_OLD', details: { tool: name, found: parsed.version, needed: needed.join('.') } },
      )
    }
    return { name, command, ...parsed }
  }
  throw new UsageError(
    `${requirement.names.join(' or ')} was not found ${where}: full backups need it, version ${needed.join('.')} or newer. ${requirement.install}.`,
    { code: 'TOOL_MISSING', details: { tool: requirement.names[0], needed: needed.join('.') } },
  )
}

function compare(a: readonly [number, number], b: readonly [number, number]): number {
  return a[0] - b[0] || a[1] - b[1]
}

/** pg_dump / pg_restore: "pg_dump (PostgreSQL) 15.20 (Debian …)" → 15.20. */
export function parsePostgresToolVersion(output: string): { version: string; major: number; minor: number } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output)
  if (!match) return undefined
  const major = Number(match[1])
  const minor = Number(match[2] ?? 0)
  return { version: `${major}.${minor}`, major, minor }
}

/**
 * mariadb-dump / mysqldump / mariadb / mysql: "… Distrib 10.11.19-MariaDB, …" or
 * "mysqldump  Ver 8.0.36 for Linux" → the server-line version (10.11 / 8.0).
 */
export function parseMysqlToolVersion(output: string): { version: string; major: number; minor: number } | undefined {
  const distrib = /Distrib\s+(\d+)\.(\d+)(\.\d+)?(-\S*?)?[,\s]/.exec(output)
  const plain = /Ver\s+(\d+)\.(\d+)(\.\d+)?(-\S*?)?[\s,]/.exec(output)
  const match = distrib ?? plain
  if (!match) return undefined
  const version = `${match[1]}.${match[2]}${match[3] ?? ''}${match[4] ?? ''}`
  return { version, major: Number(match[1]), minor: Number(match[2]) }
}

const PG_INSTALL = 'Install the PostgreSQL client programs of the server\'s version or newer (Debian/Ubuntu: apt-get install postgresql-client-NN; the PGDG repository has every version), or point MERGEBACK_PG_BINDIR at their directory'
const MYSQL_INSTALL = 'Install the MariaDB or MySQL client programs (Debian/Ubuntu: apt-get install mariadb-client), or point MERGEBACK_MYSQL_BINDIR at their directory'

/** pg_dump: 12 or newer (custom format 1.14+), and never older than the server it dumps. */
export const PG_DUMP: ToolRequirement = { names: ['pg_dump'], binDirEnv: 'MERGEBACK_PG_BINDIR', minimum: [12, 0], parse: parsePostgresToolVersion, install: PG_INSTALL }
/** pg_restore: never older than the pg_dump that wrote the archive. */
export const PG_RESTORE: ToolRequirement = { names: ['pg_restore'], binDirEnv: 'MERGEBACK_PG_BINDIR', minimum: [12, 0], parse: parsePostgresToolVersion, install: PG_INSTALL }
/**
 * mariadb-dump (MariaDB 10.3+) or mysqldump (MySQL 5.7+ reports "Ver 8.0…"/"Ver 10.x Distrib";
 * both parse to their server line). 5.7 is the oldest with a reliable --single-transaction with --routines.
 */
export const MYSQL_DUMP: ToolRequirement = { names: ['mariadb-dump', 'mysqldump'], binDirEnv: 'MERGEBACK_MYSQL_BINDIR', minimum: [5, 7], parse: parseMysqlToolVersion, install: MYSQL_INSTALL }
export const MYSQL_CLIENT: ToolRequirement = { names: ['mariadb', 'mysql'], binDirEnv: 'MERGEBACK_MYSQL_BINDIR', minimum: [5, 7], parse: parseMysqlToolVersion, install: MYSQL_INSTALL }

export interface RunOptions {
  readonly args: readonly string[]
  /** Added to the process environment (passwords go here). */
  readonly env?: Readonly<Record<string, string>>
  /** Fed to the program's stdin (then closed); stdin is closed at once when absent. */
  readonly stdin?: Readable
  /** Receives the program's stdout; ignored when absent. */
  readonly stdout?: Writable
  /** Strings removed from the error message (the password). */
  readonly secrets?: readonly string[]
  /** What the program was doing, for the error message ("dumping database app"). */
  readonly doing: string
  readonly signal?: AbortSignal
}

/**
 * Runs a tool to completion: resolves once it exited 0 and its stdout was written into
 * `options.stdout` (with back-pressure: the program is paused while the consumer is slow).
 * Rejects with DatabaseError carrying the program's stderr (passwords removed) when it exits
 * non-zero, and with the stream's error when `stdin` or `stdout` fail (the program is killed).
 */
export async function runTool(tool: NativeTool, options: RunOptions): Promise<void> {
  const child = spawn(tool.command, [...options.args], {
    stdio: [options.stdin ? 'pipe' : 'ignore', options.stdout ? 'pipe' : 'ignore', 'pipe'],
    env: { ...process.env, ...options.env },
    signal: options.signal,
  })
  let stderr = ''
  child.stderr!.on('data', (data: Buffer) => {
    stderr = (stderr + data.toString('utf8')).slice(-STDERR_KEEP_BYTES)
  })
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve(code))
  })
  exited.catch(() => undefined)
  const streams: Promise<void>[] = []
  if (options.stdin) streams.push(pipeline(options.stdin, child.stdin!))
  if (options.stdout) streams.push(pipeline(child.stdout!, options.stdout, { end: false }))
  try {
    await Promise.all(streams)
  } catch (error) {
    child.kill('SIGTERM')
    await exited.catch(() => undefined)
    // A program that stopped reading because it failed explains the broken pipe better than EPIPE does.
    if ((error as NodeJS.ErrnoException).code === 'EPIPE' && stderr.trim()) throw failure(tool, options, stderr, null)
    throw error
  }
  const code = await exited
  if (code !== 0) throw failure(tool, options, stderr, code)
}

function failure(tool: NativeTool, options: RunOptions, stderr: string, code: number | null): DatabaseError {
  let text = stderr.trim()
  for (const secret of options.secrets ?? []) if (secret) text = text.split(secret).join('***')
  return new DatabaseError(`${tool.name} failed ${options.doing}${code === null ? '' : ` (exit ${code})`}: ${text || 'it printed no reason'}`, {
    details: { tool: tool.name, exitCode: code },
  })
}
