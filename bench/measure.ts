/**
 * Runs one command and measures it: wall-clock time, peak resident set size, CPU time.
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f …`), which reads the child's rusage when it is
 * reaped. The kernel folds into it the largest RSS of the child's own reaped children, so
 * `pg_restore -j 2` (which forks its workers) is measured as its biggest process. Only client
 * processes are measured, on both sides: the database server's memory is not part of any number.
 * Wall-clock time is taken here around spawn → exit (GNU time's own %e has 10 ms resolution).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'

export const GNU_TIME = '/usr/bin/time'

/** What one run of a command cost. */
export interface Sample {
  readonly seconds: number
  /** Peak resident set size of the process (largest of it and its reaped children), in bytes. */
  readonly peakRssBytes: number
  readonly userSeconds: number
  readonly systemSeconds: number
  readonly exitCode: number
  /** The command was killed after the time limit. */
  readonly timedOut: boolean
  /** One-minute load average when the run started: the machine is shared, this says how busy it was. */
  readonly loadAverage: number
}

/** A command to run: argv[0] is the program. Environment entries are added to (or, when null, removed from) ours. */
export interface CommandSpec {
  readonly argv: readonly string[]
  readonly env?: Readonly<Record<string, string | null>>
  /** Feed this file to stdin (as `mysql < dump.sql` does); stdin is empty otherwise. */
  readonly stdinFile?: string
  readonly cwd?: string
}

/**
 * Checks that GNU time is installed. Throws an Error with the install command when it is not:
 * without it there is no peak-RSS number, and the bench refuses to run rather than print blanks.
 */
export function requireGnuTime(): void {
  if (!fs.existsSync(GNU_TIME)) {
    throw new Error(`${GNU_TIME} (GNU time) is missing: the bench needs it for peak RSS. Install it: apt-get install -y time`)
  }
}

/**
 * Runs `command` under GNU time, with stdout and stderr written to `logPrefix.stdout` / `.stderr`.
 * Resolves with the sample whatever the exit code (the caller decides what a failure means);
 * rejects only when the command could not be started at all. `signal` kills the child (and the
 * promise rejects); after `timeoutMs` the child is killed and the sample has `timedOut: true`.
 */
export async function measure(command: CommandSpec, logPrefix: string, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Sample> {
  const { signal, timeoutMs } = options
  const statsFile = `${logPrefix}.time`
  const stdout = fs.openSync(`${logPrefix}.stdout`, 'w')
  const stderr = fs.openSync(`${logPrefix}.stderr`, 'w')
  const stdin = command.stdinFile ? fs.openSync(command.stdinFile, 'r') : 'ignore'
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const [name, value] of Object.entries(command.env ?? {})) {
    if (value === null) delete env[name]
    else env[name] = value
  }
  const loadAverage = os.loadavg()[0]
  let timedOut = false
  const started = performance.now()
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      if (signal?.aborted) return reject(new Error('interrupted'))
      // A process group of its own, so that an interrupt stops the measured command and not only
      // GNU time (which would leave, say, pg_restore's workers running).
      const child = spawn(GNU_TIME, ['-f', '%M %U %S', '-o', statsFile, '--', ...command.argv], {
        cwd: command.cwd,
        env,
        stdio: [stdin, stdout, stderr],
        detached: true,
      })
      const stop = () => {
        if (child.pid) process.kill(-child.pid, 'SIGTERM')
      }
      signal?.addEventListener('abort', stop, { once: true })
      const timer = timeoutMs
        ? setTimeout(() => {
            timedOut = true
            stop()
          }, timeoutMs)
        : undefined
      child.once('error', reject)
      child.once('close', (code, sig) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', stop)
        if (signal?.aborted) reject(new Error('interrupted'))
        else resolve(code ?? (sig ? 128 : 1))
      })
    })
    const seconds = (performance.now() - started) / 1000
    // GNU time is killed with its child on a timeout and then writes nothing.
    const stats = timedOut ? { peakRssBytes: 0, userSeconds: 0, systemSeconds: 0 } : parseTimeOutput(fs.readFileSync(statsFile, 'utf8'))
    return { seconds, exitCode, loadAverage, timedOut, ...stats }
  } finally {
    fs.closeSync(stdout)
    fs.closeSync(stderr)
    if (typeof stdin === 'number') fs.closeSync(stdin)
  }
}

/**
 * Parses GNU time's `-f '%M %U %S'` output. GNU time puts "Command exited with non-zero status N"
 * (or "Command terminated by signal N") on a line of its own before the format line, so the
 * numbers are on the last non-empty line. Throws when that line is not three numbers.
 */
export function parseTimeOutput(text: string): { peakRssBytes: number; userSeconds: number; systemSeconds: number } {
  const last = text.trim().split('\n').at(-1) ?? ''
  const match = /^(\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$/.exec(last.trim())
  if (!match) throw new Error(`cannot read GNU time output: ${JSON.stringify(text)}`)
  return { peakRssBytes: Number(match[1]) * 1024, userSeconds: Number(match[2]), systemSeconds: Number(match[3]) }
}

/** The last `lines` non-empty lines of a log file ('' when it does not exist). */
export function tail(file: string, lines = 5): string {
  if (!fs.existsSync(file)) return ''
  const fd = fs.openSync(file, 'r')
  try {
    const size = fs.fstatSync(fd).size
    const length = Math.min(size, 16_384)
    const buffer = Buffer.alloc(length)
    fs.readSync(fd, buffer, 0, length, size - length)
    return buffer.toString('utf8').split('\n').filter((l) => l.trim()).slice(-lines).join('\n')
  } finally {
    fs.closeSync(fd)
  }
}

/** Total size in bytes of the files directly inside `dir` (a backup tool's output directory). */
export function directoryBytes(dir: string): number {
  let total = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(dir, entry.name)).size
  }
  return total
}

/** The median of a non-empty list (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list')
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
