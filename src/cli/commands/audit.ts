/**
 * `veza-chat audit`: the audit trail for operators, read from the database directly (like the other
 * store commands; the REST endpoint is `GET /api/v1/admin/audit`). The same filters and order:
 * newest first by id, `--before <id>` for the next page. One JSON object per line (JSON Lines), or
 * with `--json` one document `{ entries, has_more, next_cursor }`.
 */
import type { Command } from 'commander';
import { auditPage } from '../../net/http/routes-audit.js';
import { CliError, printJson, type CliIO } from '../io.js';
import { configFromFlags, integer, withStoreFlags, type StoreFlags } from '../options.js';
import { withStore } from '../store.js';

interface AuditFlags extends StoreFlags {
  action?: string;
  actor?: number;
  targetType?: string;
  target?: string;
  since?: string;
  until?: string;
  before?: number;
  limit: number;
  json?: boolean;
}

function time(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new CliError(`--${flag}: not a date and time (ISO 8601, e.g. 2026-01-31T12:00:00Z)`);
  return d;
}

export function registerAudit(program: Command, io: CliIO): void {
  withStoreFlags(
    program
      .command('audit')
      .description('print audit entries, newest first (logins, refreshes, logouts, password changes, moderation)')
      .option('--action <action>', 'one action (auth.login), or a family (auth.*)')
      .option('--actor <user-id>', 'who did it', integer(1))
      .option('--target-type <type>', 'what it was done to: user, session, room, ...')
      .option('--target <id>', 'the target id')
      .option('--since <time>', 'at or after this time (ISO 8601)')
      .option('--until <time>', 'before this time (ISO 8601)')
      .option('--before <entry-id>', 'entries older than this one (the next_cursor of a page)', integer(1))
      .option('--limit <n>', 'entries (1 to 1000)', integer(1, 1000), 50)
      .option('--json', 'one JSON document with has_more and next_cursor instead of JSON lines'),
  ).action(async (flags: AuditFlags) => {
    const config = configFromFlags(flags, io);
    const filter = {
      action: flags.action,
      actorId: flags.actor,
      targetType: flags.targetType,
      targetId: flags.target,
      since: time('since', flags.since),
      until: time('until', flags.until),
      before: flags.before,
      limit: flags.limit,
    };
    const page = await withStore(config, ({ store }) => auditPage(store, filter), { mustExist: true });
    if (flags.json) return printJson(io, page);
    for (const e of page.entries) io.out(JSON.stringify(e) + '\n');
    if (page.has_more) io.err(`more: --before ${page.next_cursor}\n`);
  });
}
