/**
 * What the routes share: the dependencies `createApp` is given, and Hono's per-request variables.
 */
import type { HttpBindings } from '@hono/node-server'
import type { Context } from 'hono'
import type { ServerConfig } from './config.js'
import type { Logger } from './log.js'
import type { Actor, TokenStore } from './tokens.js'
import type { JobManager } from './jobs/job-manager.js'
import type { DownloadTokens } from './download-tokens.js'
import type { ScheduleStore } from '../schedule/schedule-store.js'
import type { Scheduler } from '../schedule/scheduler.js'

export interface AppDeps {
  readonly config: ServerConfig
  readonly tokens: TokenStore
  readonly jobs: JobManager
  readonly downloadTokens: DownloadTokens
  readonly logger: Logger
  /** The scheduler `serve` runs and its store (docs/operations.md §Schedules); absent in servers built without one. */
  readonly schedules?: { readonly store: ScheduleStore; readonly scheduler: Scheduler }
}

export interface AppEnv {
  Bindings: HttpBindings
  Variables: {
    requestId: string
    /** Set by the auth middleware on every authenticated route. */
    actor: Actor
  }
}

export type AppContext = Context<AppEnv>

/** The client's address, as the socket reports it. */
export function clientAddress(c: AppContext): string {
  return c.env?.incoming?.socket?.remoteAddress ?? 'unknown'
}

/** `alice (admin)`: how an actor appears in the audit log. */
export function actorLabel(actor: Actor | undefined): string {
  return actor ? `${actor.name} (${actor.role})` : 'anonymous'
}
