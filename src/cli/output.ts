/**
 * What a command shows: one JSON document on stdout with `--json` (nothing else there), text for a
 * person otherwise; progress and prompts on stderr, and only when stderr is a terminal.
 */
import readline from 'node:readline/promises'
import { UsageError } from '../errors.js'

/** A value with a method under this symbol is printed by it in pieces (merge/report.ts: writeReportJson). */
const WRITE_JSON = Symbol.for('mergeback.writeJson')

export interface Output {
  readonly json: boolean
  /** Prints the command's result: `data` as JSON with --json, else `human()` as text. */
  result(data: unknown, human: () => string): void
  /** A line for a person on stderr (suppressed with --json so scripts see only stdout). */
  info(line: string): void
  /** A progress reporter on stderr when it is a terminal; a no-op otherwise. */
  progress(label: string, total?: number): Progress
  /**
   * Asks before a destructive step. `yes` answers for the user. Without a terminal and without
   * `yes`, refuses with a UsageError telling the user to pass --yes.
   */
  confirm(question: string, yes: boolean | undefined): Promise<void>
}

export interface Progress {
  /** Adds `n` to the count and redraws at most ten times a second. */
  tick(n: number): void
  /** Clears the line. */
  done(): void
}

const noProgress: Progress = { tick() {}, done() {} }

export function createOutput(options: { json: boolean; stdout?: NodeJS.WriteStream; stderr?: NodeJS.WriteStream; stdin?: NodeJS.ReadStream }): Output {
  const stdout = options.stdout ?? process.stdout
  const stderr = options.stderr ?? process.stderr
  const stdin = options.stdin ?? process.stdin
  const json = options.json
  return {
    json,
    result(data, human) {
      const pieces = json ? (data as { [WRITE_JSON]?: (write: (text: string) => void) => void } | null)?.[WRITE_JSON] : undefined
      if (pieces === undefined) {
        stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`)
        return
      }
      // The same text in pieces of about 64 KiB (a merge report with every conflict can be tens of MB).
      let text = ''
      pieces((piece) => {
        text += piece
        if (text.length >= 1 << 16) {
          stdout.write(text)
          text = ''
        }
      })
      stdout.write(`${text}\n`)
    },
    info(line) {
      if (!json) stderr.write(`${line}\n`)
    },
    progress(label, total) {
      if (!stderr.isTTY) return noProgress
      let count = 0
      let last = 0
      const started = Date.now()
      const draw = () => {
        const secs = (Date.now() - started) / 1000
        const rate = secs > 0 ? Math.round(count / secs) : 0
        const of = total ? ` / ${total.toLocaleString('en-US')} (${Math.floor((count / total) * 100)}%)` : ''
        stderr.write(`\r\x1b[K${label}: ${count.toLocaleString('en-US')}${of}, ${rate.toLocaleString('en-US')}/s`)
      }
      return {
        tick(n) {
          count += n
          const now = Date.now()
          if (now - last >= 100) {
            last = now
            draw()
          }
        },
        done() {
          stderr.write('\r\x1b[K')
        },
      }
    },
    async confirm(question, yes) {
      if (yes) return
      if (!stdin.isTTY || !stderr.isTTY) {
        throw new UsageError(`${question} Refused without a terminal to confirm: pass --yes to go ahead.`, { code: 'CONFIRMATION_REQUIRED' })
      }
      const rl = readline.createInterface({ input: stdin, output: stderr })
      try {
        const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase()
        if (answer !== 'y' && answer !== 'yes') throw new UsageError('Cancelled: nothing was changed.', { code: 'CANCELLED' })
      } finally {
        rl.close()
      }
    },
  }
}
