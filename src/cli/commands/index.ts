/**
 * Every verb of the CLI. Each module exports `register(program)`; add a line here for a new verb.
 */
import type { Command } from 'commander'

export const COMMANDS: ReadonlyArray<(program: Command) => void> = []
