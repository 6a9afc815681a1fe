/**
 * `mergeback schedule add | list | status | remove | ack | run` — scheduled backups without the
 * web server (docs/operations.md §Schedules). Schedules live in the state directory, the same one
 * `mergeback serve` uses (and edits through /api/schedules); databases are named by the same
 * aliases (`--db` is "default", `--config` adds others).
 *
 * `schedule run` runs the scheduler in the foreground until SIGINT/SIGTERM (`--now ID` runs one
 * schedule once and exits: non-zero when it failed). `schedule status` exits 1 when the last run
 * of any schedule failed, so a plain cron job or a monitoring check can watch it.
 */
import type { Command } from 'commander'
import { UsageError } from '../../errors.js'
import type { ServerConfig } from '../../server/config.js'
import { readPassphrase } from '../../storage/passphrase.js'
import type { ScheduleStore, ScheduleInput } from '../../schedule/schedule-store.js'
import type { Scheduler, ScheduleStatus } from '../../schedule/scheduler.js'
import { backupDirFrom, outputFor, parseList, parseNonNegativeInt, setExitCode, withJson, type Flags } from '../common.js'
import { EXIT_FAILED } from '../exit-codes.js'
import { textTable } from '../format-text.js'

function withServerConfig(command: Command): Command {
  return command
    .option('--db <url>', 'the database, alias "default" (default: env DATABASE_URL)')
    .option('--config <file>', 'JSON config: { "databases": { "alias": "URL or env:NAME" } } (as for serve)')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
    .option('--state <dir>', 'state directory (default: env MERGEBACK_STATE_DIR, else .mergeback beside the backup directory)')
    .option('--passphrase-file <file>', 'passphrase for schedules that encrypt (or set MERGEBACK_PASSPHRASE)')
}

/**
 * The scheduler's modules, loaded when a schedule verb runs: they load the S3 SDK, zod and croner,
 * which every other command would otherwise carry in memory (~20 MB of peak RSS,
 * docs/performance.md "Round six: peak RSS").
 */
async function modules() {
  const [config, store, scheduler, run] = await Promise.all([
    import('../../server/config.js'),
    import('../../schedule/schedule-store.js'),
    import('../../schedule/scheduler.js'),
    import('../../schedule/run-schedule.js'),
  ])
  return { ...config, ...store, ...scheduler, ...run }
}

async function configFrom(flags: Flags): Promise<ServerConfig> {
  const { buildServerConfig } = await modules()
  return buildServerConfig({
    db: (flags.db as string | undefined) ?? process.env.DATABASE_URL,
    dir: backupDirFrom(flags),
    config: flags.config as string | undefined,
    state: flags.state as string | undefined,
    webDir: '.',
    passphrase: readPassphrase({ passphraseFile: flags.passphraseFile as string | undefined }),
  })
}

async function schedulerFor(config: ServerConfig, store: ScheduleStore, log: (line: string) => void, alerts: Promise<unknown>[] = []): Promise<Scheduler> {
  const { Scheduler, scheduleWork, resolveDatabase, alertFailure } = await modules()
  const logLine = (level: string, message: string) => log(`${new Date().toISOString()} ${level} ${message}`)
  return new Scheduler({
    store,
    work: scheduleWork({ dir: config.dir, databaseUrl: (alias) => resolveDatabase(config, { database: alias }).url, passphrase: config.passphrase }),
    log: logLine,
    onFailure: (schedule, run) => {
      const delivery = alertFailure(schedule, run, { log: logLine })
      if (delivery) alerts.push(delivery)
    },
  })
}

function renderStatus(rows: readonly ScheduleStatus[]): string {
  if (rows.length === 0) return 'No schedules (add one with mergeback schedule add).'
  return textTable(
    ['id', 'name', 'cron', 'kind', 'destination', 'next run (UTC)', 'last run'],
    rows.map((r) => [
      r.schedule.id,
      r.schedule.name,
      `${r.schedule.cron} ${r.schedule.timezone}`,
      r.schedule.kind,
      r.schedule.destination,
      r.schedule.enabled ? (r.nextRunAt?.slice(0, 19).replace('T', ' ') ?? '-') : 'disabled',
      r.lastRun ? `${r.lastRun.outcome} ${r.lastRun.startedAt.slice(0, 19).replace('T', ' ')}${r.lastRun.error ? `: ${r.lastRun.error}` : ''}` : 'never',
    ]),
  )
}

export function register(program: Command): void {
  const schedule = program.command('schedule').description('scheduled backups with retention and failure alerts (without the web server)')

  const add = schedule
    .command('add')
    .description('add a schedule')
    .requiredOption('--name <name>', 'backup name of this schedule\'s backups (retention applies to these only)')
    .requiredOption('--cron <expr>', 'cron expression, e.g. "0 3 * * *"')
    .option('--timezone <tz>', 'IANA time zone of the cron expression', 'UTC')
    .option('--database <alias>', 'database alias (default: the default database)')
    .option('--kind <kind>', 'smart or full', 'smart')
    .option('--gzip', 'compress')
    .option('--encrypt', 'encrypt (passphrase from MERGEBACK_PASSPHRASE / --passphrase-file when it runs)')
    .option('--tables <names>', 'only these tables (smart)')
    .option('--exclude <names>', 'leave out these tables (smart)')
    .option('--destination <where>', 'local, remote or both', 'local')
    .option('--remote <url>', 's3://bucket/prefix for remote / both')
    .option('--keep-last <n>', 'retention: keep the n newest')
    .option('--keep-daily <n>', 'retention: newest of each of the last n days')
    .option('--keep-weekly <n>', 'retention: newest of each of the last n ISO weeks')
    .option('--keep-monthly <n>', 'retention: newest of each of the last n months')
    .option('--webhook <url>', 'POST a JSON alert here when a run fails')
    .option('--disabled', 'add it switched off')
  withServerConfig(add)
  withJson(add)
  add.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const config = await configFrom(flags)
    const retention = {
      keepLast: parseNonNegativeInt('--keep-last', flags.keepLast),
      keepDaily: parseNonNegativeInt('--keep-daily', flags.keepDaily),
      keepWeekly: parseNonNegativeInt('--keep-weekly', flags.keepWeekly),
      keepMonthly: parseNonNegativeInt('--keep-monthly', flags.keepMonthly),
    }
    const hasRetention = Object.values(retention).some((v) => v !== undefined)
    const input: ScheduleInput = {
      name: flags.name as string,
      cron: flags.cron as string,
      timezone: flags.timezone as string,
      database: flags.database as string | undefined,
      kind: flags.kind as 'smart' | 'full',
      gzip: Boolean(flags.gzip),
      encrypt: Boolean(flags.encrypt),
      tables: parseList(flags.tables),
      exclude: parseList(flags.exclude),
      destination: flags.destination as 'local' | 'remote' | 'both',
      remote: flags.remote as string | undefined,
      retention: hasRetention ? Object.fromEntries(Object.entries(retention).filter(([, v]) => v !== undefined)) : undefined,
      webhook: flags.webhook as string | undefined,
      enabled: !flags.disabled,
    }
    const { resolveDatabase, checkScheduleRemote, parseScheduleInput, ScheduleStore } = await modules()
    // The alias must exist now, not at 3 a.m.
    resolveDatabase(config, { database: input.database })
    // So must the remote (endpoint, credentials, bucket); nothing is written otherwise.
    await checkScheduleRemote(parseScheduleInput(input))
    const created = await new ScheduleStore(config.stateDir).create(input)
    output.result({ success: true, schedule: created }, () => `Added schedule ${created.id} "${created.name}" (${created.cron} ${created.timezone}).`)
  })

  for (const verb of ['list', 'status']) {
    const command = schedule.command(verb).description(verb === 'status' ? 'each schedule\'s next run and last result (exit 1 when a last run failed)' : 'the schedules')
    withServerConfig(command)
    withJson(command)
    command.action(async (flags: Flags) => {
      const output = outputFor(flags)
      const config = await configFrom(flags)
      const store = new (await modules()).ScheduleStore(config.stateDir)
      const rows = await (await schedulerFor(config, store, () => undefined)).status()
      const failed = rows.filter((r) => r.lastRun?.outcome === 'failure')
      output.result({ schedules: rows, failed: failed.map((r) => r.schedule.id) }, () =>
        [renderStatus(rows), ...(failed.length ? ['', `${failed.length} schedule${failed.length === 1 ? '' : 's'} failed on the last run: ${failed.map((r) => r.schedule.name).join(', ')}`] : [])].join('\n'),
      )
      if (verb === 'status' && failed.length > 0) setExitCode(EXIT_FAILED)
    })
  }

  const remove = schedule.command('remove').description('remove a schedule (its backups stay)').argument('<id>', 'schedule id (see schedule list)')
  withServerConfig(remove)
  withJson(remove)
  remove.action(async (id: string, flags: Flags) => {
    const removed = await new (await modules()).ScheduleStore((await configFrom(flags)).stateDir).remove(id)
    outputFor(flags).result({ success: true, removed }, () => `Removed schedule ${removed.id} "${removed.name}".`)
  })

  const ack = schedule.command('ack').description('acknowledge a failed run (clears the page banner; status still reports it until a run succeeds)').argument('<id>')
  withServerConfig(ack)
  withJson(ack)
  ack.action(async (id: string, flags: Flags) => {
    const store = new (await modules()).ScheduleStore((await configFrom(flags)).stateDir)
    await store.get(id)
    const run = await store.acknowledge(id)
    outputFor(flags).result({ success: true, run }, () => (run ? `Acknowledged the last run of ${id}.` : `Schedule ${id} has not run yet.`))
  })

  const run = schedule
    .command('run')
    .description('run the scheduler in the foreground until SIGINT/SIGTERM (or, with --now ID, run one schedule once)')
    .option('--now <id>', 'run this schedule once, now, and exit (non-zero when it failed)')
  withServerConfig(run)
  withJson(run)
  run.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const config = await configFrom(flags)
    const store = new (await modules()).ScheduleStore(config.stateDir)
    const log = (line: string) => process.stderr.write(`${line}\n`)
    const alerts: Promise<unknown>[] = []
    const scheduler = await schedulerFor(config, store, log, alerts)
    if (flags.now !== undefined) {
      const result = await scheduler.runNow(String(flags.now))
      // A one-shot run delivers its alert (with its retries) before the process ends.
      await Promise.allSettled(alerts)
      output.result({ success: result.outcome === 'success', run: result }, () => `${result.outcome}${result.error ? `: ${result.error}` : ''}${result.files ? ` → ${result.files.join(', ')}` : ''}`)
      if (result.outcome !== 'success') setExitCode(EXIT_FAILED)
      return
    }
    if ((await store.list()).length === 0) throw new UsageError(`No schedules in ${config.stateDir}: add one with mergeback schedule add.`, { code: 'NO_SCHEDULES' })
    await scheduler.start()
    for (const row of await scheduler.status()) log(`${new Date().toISOString()} info schedule "${row.schedule.name}" next run at ${row.nextRunAt ?? '(disabled)'}`)
    // Schedules edited meanwhile (schedule add, the API of a server on the same state directory) are picked up.
    const reload = setInterval(() => void scheduler.reload().catch((error) => log(`reload failed: ${(error as Error).message}`)), 60_000)
    await new Promise<void>((resolve) => {
      const stop = () => resolve()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    clearInterval(reload)
    log(`${new Date().toISOString()} info stopping: waiting for running backups`)
    await scheduler.stop()
  })
}
