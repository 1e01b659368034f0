import type { Command } from 'commander';
import { AccessTokens } from '../../auth/jwt.js';
import { resolveJwtSecret } from '../../config/index.js';
import { CliError, type CliIO } from '../io.js';
import { configFromFlags, integer, withStoreFlags, type StoreFlags } from '../options.js';
import { withStore } from '../store.js';

interface IssueFlags extends StoreFlags {
  user: string;
  ttl?: number;
}

export function registerToken(program: Command, io: CliIO): void {
  const token = program.command('token').description('access tokens');
  withStoreFlags(
    token
      .command('issue')
      .description("print an access token for a user, signed with the node's secret (for scripts and tests)")
      .requiredOption('--user <username>', 'whose token')
      .option('--ttl <seconds>', 'lifetime in seconds (default auth.accessTtlS)', integer(1, 366 * 86_400)),
  ).action(async (flags: IssueFlags) => {
    const config = configFromFlags(flags, io);
    // Before opening the store: a missing secret (PostgreSQL without JWT_SECRET) is a config error.
    const { secret } = resolveJwtSecret(config);
    const tokens = new AccessTokens(secret, { ttlS: config.auth.accessTtlS });
    const user = await withStore(config, ({ store }) => store.getUserByUsername(flags.user), { mustExist: true });
    if (!user) throw new CliError(`no user named ${JSON.stringify(flags.user)}`);
    if (!user.is_active) throw new CliError(`user ${user.username} is disabled`);
    const signed = await tokens.sign(user, flags.ttl === undefined ? {} : { ttlS: flags.ttl });
    io.out(signed.token + '\n');
  });
}
