/**
 * `mergeback token create --name N --role admin|super_admin | list | revoke N` (docs/api.md
 * §Authentication and roles). The token is printed once; only its hash is stored, in the state
 * directory (`--state`, env MERGEBACK_STATE_DIR, else `.mergeback` beside the backup directory).
 */
import type { Command } from 'commander'
import type { TokenStore } from '../../server/tokens.js'
import { backupDirFrom, outputFor, withJson, type Flags } from '../common.js'
import { textTable } from '../format-text.js'

/** Loads the server's token modules only for a token verb (they load zod: docs/performance.md "Round six: peak RSS"). */
async function storeFrom(flags: Flags): Promise<TokenStore> {
  const [{ stateDirFrom }, { TokenStore }] = await Promise.all([import('../../server/config.js'), import('../../server/tokens.js')])
  return new TokenStore(stateDirFrom(flags.state as string | undefined, backupDirFrom(flags)))
}

function withState(command: Command): Command {
  command
    .option('--state <dir>', 'state directory (default: env MERGEBACK_STATE_DIR, else .mergeback beside the backup directory)')
    .option('--dir <path>', 'backup directory, to find the default state directory (default: env MERGEBACK_DIR or ./backups)')
  return withJson(command)
}

export function register(program: Command): void {
  const token = program.command('token').description('manage API tokens (create, list, revoke)')

  withState(
    token
      .command('create')
      .description('create a token and print it once (only its hash is stored)')
      .requiredOption('--name <name>', 'who or what uses it (shown in the audit log)')
      .requiredOption('--role <role>', 'admin or super_admin'),
  ).action(async (flags: Flags) => {
    const store = await storeFrom(flags)
    const { token: secret, info } = await store.create(String(flags.name), String(flags.role))
    outputFor(flags).result({ success: true, token: secret, ...info, file: store.file }, () =>
      [`Token for "${info.name}" (${info.role}) — shown only now, keep it safe:`, '', `  ${secret}`, '', `Use it as: Authorization: Bearer <token>. Stored (hashed) in ${store.file}.`].join('\n'),
    )
  })

  withState(token.command('list').description('list tokens (names, roles, dates; never the tokens)')).action(async (flags: Flags) => {
    const store = await storeFrom(flags)
    const tokens = store.list()
    outputFor(flags).result({ success: true, file: store.file, tokens }, () =>
      tokens.length === 0
        ? `No tokens in ${store.file}: create one with mergeback token create --name NAME --role admin.`
        : textTable(['name', 'role', 'created (UTC)', 'revoked'], tokens.map((t) => [t.name, t.role, t.createdAt.slice(0, 19).replace('T', ' '), t.revokedAt ? t.revokedAt.slice(0, 19).replace('T', ' ') : '-'])),
    )
  })

  withState(token.command('revoke').description('revoke a token: it stops working at the next request').argument('<name>', 'the token name')).action(async (name: string, flags: Flags) => {
    const info = await (await storeFrom(flags)).revoke(name)
    outputFor(flags).result({ success: true, ...info }, () => `Revoked token "${info.name}" (${info.role}).`)
  })
}
