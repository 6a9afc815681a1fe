/**
 * What bin/mergeback.js's shebang (`#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-old-space-size=…`)
 * gives a user's CLI and the server's jobs: the benches run mergeback with the same environment
 * and node flags, so that what they measure is what ships.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const BIN = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'mergeback.js')

const words: string[] = (fs.readFileSync(BIN, 'utf8').split('\n')[0] ?? '').split(/\s+/)

/** Node flags from the shebang. */
export const BIN_NODE_FLAGS: readonly string[] = words.filter((word) => word.startsWith('--'))

/** Environment settings from the shebang (NAME=value words, set by env before node starts). */
export const BIN_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  words.flatMap((word) => {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(word)
    return match === null ? [] : [[match[1]!, match[2]!]]
  }),
)
