/**
 * Every verb of the CLI. Each module exports `register(program)`; add a line here for a new verb.
 */
import type { Command } from 'commander'
import { register as backup } from './backup.js'
import { register as restore } from './restore.js'
import { register as inspect } from './inspect.js'
import { register as stats } from './stats.js'
import { register as demo } from './demo.js'
import { register as list } from './list.js'
import { register as deleteBackup } from './delete.js'
import { register as prune } from './prune.js'
import { register as audit } from './audit.js'
import { register as analyze } from './analyze.js'
import { register as merge } from './merge.js'
import { register as serve } from './serve.js'
import { register as token } from './token.js'
import { register as transfer } from './transfer.js'
import { register as schedule } from './schedule.js'
import { register as reseal } from './reseal.js'
import { register as recover } from './recover.js'

export const COMMANDS: ReadonlyArray<(program: Command) => void> = [backup, restore, inspect, stats, demo, list, deleteBackup, prune, audit, analyze, merge, serve, token, transfer, schedule, reseal, recover]
