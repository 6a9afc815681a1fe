/**
 * Every verb of the CLI. Each module exports `register(program)`; add a line here for a new verb.
 */
import type { Command } from 'commander'
import { register as backup } from './backup.js'
import { register as restore } from './restore.js'
import { register as inspect } from './inspect.js'
import { register as stats } from './stats.js'
import { register as demo } from './demo.js'

export const COMMANDS: ReadonlyArray<(program: Command) => void> = [backup, restore, inspect, stats, demo]
