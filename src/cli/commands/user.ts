import { Argument, Option, type Command } from 'commander';
import { inlineHasher } from '../../auth/hasher.js';
import { createAccount, publicUser } from '../../auth/service.js';
import { buildRestSchemas } from '../../protocol/rest.js';
import type { Store } from '../../store/store.js';
import type { AuditEntry, User, UserRole } from '../../store/types.js';
import { CliError, printJson, type CliIO } from '../io.js';
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

  // Operators' role and ban changes: straight to the database, each with its audit entry (actor
  // null: an operator, not a user). A running node reads a user's row at login and refresh, so a
  // ban made here holds from the user's next login or refresh; sockets already open stay until
  // their access token expires (15 minutes at most). The REST endpoints (`PUT /users/:id/role`,
  // `POST /users/:id/ban`) also close the user's sockets at once.
  const named = async (store: Store, name: string): Promise<User> => {
    const u = await store.getUserByUsername(name);
    if (!u) throw new CliError(`no user named ${JSON.stringify(name)}`);
    return u;
  };
  const entry = (action: string, u: User, details: Record<string, unknown> = {}): AuditEntry => ({
    actorId: null,
    action,
    targetType: 'user',
    targetId: String(u.id),
    details: { ...details, via: 'cli' },
  });
  withStoreFlags(
    user
      .command('role')
      .description("set a user's global role; prints the user as JSON")
      .argument('<username>', 'the user')
      .addArgument(new Argument('<role>', 'the new role').choices(['user', 'moderator', 'admin'])),
  ).action(async (username: string, role: UserRole, flags: StoreFlags) => {
    const config = configFromFlags(flags, io);
    const changed = await withStore(config, async ({ store }) => {
      const u = await named(store, username);
      return store.setUserRole(u.id, role, entry('user.role', u, { from: u.role, to: role }));
    }, { mustExist: true });
    printJson(io, publicUser(changed!, true));
  });
  withStoreFlags(
    user
      .command('ban')
      .description('ban a user from the whole server (no login, refresh or new connection); permanent unless --until')
      .argument('<username>', 'the user')
      .option('--until <time>', 'when the ban ends (ISO 8601, e.g. 2027-01-31T00:00:00Z)')
      .option('--permanent', 'no end (the default)')
      .option('--reason <text>', 'why (kept with the ban and in the audit trail)'),
  ).action(async (username: string, flags: StoreFlags & { until?: string; permanent?: boolean; reason?: string }) => {
    const config = configFromFlags(flags, io);
    if (flags.until !== undefined && flags.permanent) throw new CliError('--until and --permanent exclude each other');
    let until: string | null = null;
    if (flags.until !== undefined) {
      const at = Date.parse(flags.until);
      if (Number.isNaN(at)) throw new CliError(`--until: not a time: ${JSON.stringify(flags.until)} (ISO 8601, e.g. 2027-01-31T00:00:00Z)`);
      if (at <= Date.now()) throw new CliError('--until: that time has passed');
      until = new Date(at).toISOString();
    }
    const reason = flags.reason ?? null;
    const banned = await withStore(config, async ({ store }) => {
      const u = await named(store, username);
      return store.banUser(u.id, { until, reason }, entry('user.ban', u, { until, reason }));
    }, { mustExist: true });
    printJson(io, { user_id: banned!.id, username: banned!.username, banned: true, banned_until: banned!.banned_until, reason });
  });
  withStoreFlags(user.command('unban').description("lift a user's ban").argument('<username>', 'the user')).action(
    async (username: string, flags: StoreFlags) => {
      const config = configFromFlags(flags, io);
      const [was, now] = await withStore(config, async ({ store }) => {
        const u = await named(store, username);
        return [u, await store.unbanUser(u.id, entry('user.unban', u))] as const;
      }, { mustExist: true });
      printJson(io, { user_id: now!.id, username: now!.username, banned: false, changed: was.banned_at !== null });
    },
  );
}
