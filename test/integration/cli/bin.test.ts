/**
 * The installed entry point: `bin/mergeback.js` runs through its shebang (as `npx mergeback` and a
 * symlinked bin do), with the bounded-heap node flags it declares.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { JOB_NODE_FLAGS } from '../../../src/server/jobs/job-manager.js'
import { REPO_ROOT } from '../../helpers/cli.js'

const BIN = path.join(REPO_ROOT, 'bin/mergeback.js')

describe('bin/mergeback.js', () => {
  it('is executable and runs through its shebang', () => {
    fs.accessSync(BIN, fs.constants.X_OK)
    const out = execFileSync(BIN, ['--version'], { encoding: 'utf8' })
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })

  it('bounds the heap through the shebang flags', () => {
    const firstLine = fs.readFileSync(BIN, 'utf8').split('\n')[0]
    expect(firstLine).toMatch(/^#!\/usr\/bin\/env -S (\w+=\S+ )*node .*--max-old-space-size=\d+/)
  })

  it('runs node with two malloc arenas, set by env in the shebang (issue #17, peak RSS)', () => {
    // A script with the bin's own first line, run by the kernel through it: what node gets.
    const firstLine = fs.readFileSync(BIN, 'utf8').split('\n')[0]!
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mbshebang-'))
    try {
      const script = path.join(dir, 'probe.js')
      fs.writeFileSync(script, `${firstLine}\nconsole.log(JSON.stringify({ arenas: process.env.MALLOC_ARENA_MAX, gc: typeof globalThis.gc }))\n`, { mode: 0o755 })
      const env = { ...process.env }
      delete env.MALLOC_ARENA_MAX
      const seen = JSON.parse(execFileSync(script, [], { encoding: 'utf8', env })) as { arenas?: string; gc: string }
      expect(seen).toEqual({ arenas: '2', gc: 'function' })
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('exposes gc, so that a backup can free its dead Buffers as it goes (engine/buffer-reclaim.ts)', () => {
    const firstLine = fs.readFileSync(BIN, 'utf8').split('\n')[0]
    expect(firstLine.split(/\s+/)).toContain('--expose-gc')
  })

  it('gives the API server jobs the same node flags as the shebang (a job without --expose-gc skipped the Buffer reclaim)', () => {
    const firstLine = fs.readFileSync(BIN, 'utf8').split('\n')[0]!
    const nodeFlags = firstLine.split(/\s+/).filter((word) => word.startsWith('--'))
    expect([...JOB_NODE_FLAGS].sort()).toEqual(nodeFlags.sort())
  })
})
