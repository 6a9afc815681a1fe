/**
 * `--remote s3://bucket/prefix` for the commands that work on backups (docs/operations.md
 * §Off-site copies). The endpoint, region and credentials come from the environment or the AWS
 * config files (src/remote/s3-remote.ts), never from an option.
 */
import type { Command } from 'commander'
import type { S3Remote } from '../remote/s3-remote.js'
import type { Flags } from './common.js'

export function withRemote(command: Command, what = 'work on the backups in this S3 location instead of the backup directory'): Command {
  return command.option('--remote <url>', `s3://bucket/prefix: ${what} (endpoint, region and credentials from the environment, see docs/operations.md)`)
}

/** The remote the flags name, with its bucket and credentials checked; undefined without --remote. */
export async function remoteFrom(flags: Flags): Promise<S3Remote | undefined> {
  if (flags.remote === undefined) return undefined
  const { S3Remote } = await import('../remote/s3-remote.js')
  const remote = new S3Remote(String(flags.remote))
  try {
    await remote.check()
  } catch (error) {
    remote.close()
    throw error
  }
  return remote
}
