/**
 * `veza-chat user role|ban|unban`: what is refused before any database is opened. The commands'
 * effect (the row, the audit entry, a running node refusing the next login) is tested against a
 * live node's PostgreSQL database in test/live-moderation.ts; opening an embedded database per
 * command costs seconds each here.
 */
import t from 'tap';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { run } from '../src/cli/program.js';
import { tempDirs } from './helpers/tmp.js';

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await run(args, { out: (s) => void (out += s), err: (s) => void (err += s), env: { VEZA_LOG_LEVEL: 'warn' } });
  return { code, out, err };
}

const tmp = tempDirs(t, 'veza-cli-mod');

t.test('user role, ban and unban: bad arguments are refused before the database is touched', async (t) => {
  const dataDir = join(tmp(), 'data');
  const d = ['--data-dir', dataDir];
  const until = new Date(Date.now() + 3_600_000).toISOString();
  for (const [args, message] of [
    [['user', 'role', 'eve', 'root'], /'root' is invalid for argument 'role'/],
    [['user', 'role', 'eve'], /missing required argument 'role'/],
    [['user', 'ban', 'eve', '--until', 'soon'], /--until: not a time/],
    [['user', 'ban', 'eve', '--until', '2001-01-01T00:00:00Z'], /has passed/],
    [['user', 'ban', 'eve', '--until', until, '--permanent'], /exclude each other/],
    [['user', 'unban'], /missing required argument 'username'/],
  ] as const) {
    const r = await cli([...args, ...d]);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.err, message, args.join(' '));
  }
  t.notOk(existsSync(dataDir), 'no database was made');
  const help = await cli(['user', '--help']);
  for (const cmd of ['role', 'ban', 'unban']) t.match(help.out, new RegExp(`^\\s+${cmd}\\b`, 'm'), `user ${cmd} listed`);
});
