/**
 * Global setup of the integration tests: fails the run when the tests changed the repository's
 * own `./backups` (the default backup directory of a CLI run in the working directory, with the
 * user's audit log in it). Tests write backups into temporary directories only (issue #14 item 5).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  interface ProvidedContext {
    /** A temporary directory for this run's scratch files (cli.ts' backup directories), removed at teardown. */
    scratchRoot: string
  }
}

const BACKUPS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../backups')

/** What the directory holds: names with sizes and modification times, or null when absent. */
export function backupsState(dir = BACKUPS): string | null {
  if (!fs.existsSync(dir)) return null
  return fs
    .readdirSync(dir)
    .sort()
    .map((name) => {
      const stat = fs.statSync(path.join(dir, name))
      return `${name}:${stat.size}:${stat.mtimeMs}`
    })
    .join('\n')
}

export default function setup(project: TestProject): () => void {
  const before = backupsState()
  // The test workers end without an 'exit' event of their own, so what they make under this
  // directory is removed here, once, when the run is over.
  const scratchRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-test-scratch-'))
  project.provide('scratchRoot', scratchRoot)
  return () => {
    fs.rmSync(scratchRoot, { recursive: true, force: true })
    const after = backupsState()
    if (after !== before) {
      // Vitest reports a teardown error but does not fail the run for it: set the exit code too.
      process.exitCode = 1
      throw new Error(`The tests changed ${BACKUPS} (the working directory's backups): a test must use a temporary directory (--dir, MERGEBACK_DIR or cwd).`)
    }
  }
}
