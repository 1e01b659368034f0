import { Option, type Command } from 'commander';
import { inlineHasher } from '../../auth/hasher.js';
import { createAccount, publicUser } from '../../auth/service.js';
import { buildRestSchemas } from '../../protocol/rest.js';
import type { UserRole } from '../../store/types.js';
import { printJson, type CliIO } from '../io.js';
import { configFromFlags, withStoreFlags, type StoreFlags } from '../options.js';
import { withStore } from '../store.js';

interface CreateFlags extends StoreFlags {
  username: string;
  email: string;
  password: string;
  role: UserRole;
}

export function registerUser(program: Command, io: CliIO): void {
  const user = program.command('user').description('manage user accounts');
  withStoreFlags(
    user
      .command('create')
      .description('create an account (the same checks as registration); prints the user as JSON')
      .requiredOption('--username <name>', '3 to 50 letters, digits, "_", "." or "-"')
      .requiredOption('--email <address>', 'e-mail address')
      .requiredOption('--password <password>', 'at least auth.minPasswordLength characters')
      .addOption(new Option('--role <role>', 'account role').choices(['user', 'moderator', 'admin']).default('user')),
  ).action(async (flags: CreateFlags) => {
    const config = configFromFlags(flags, io);
    const schemas = buildRestSchemas(config);
    const hasher = inlineHasher({ logN: config.auth.scryptLogN, r: config.auth.scryptR, p: config.auth.scryptP });
    const created = await withStore(config, ({ store }) =>
      createAccount(
        { store, hasher, schema: schemas.register },
        { username: flags.username, email: flags.email, password: flags.password },
        flags.role,
      ),
    );
    printJson(io, publicUser(created, true));
  });
}
