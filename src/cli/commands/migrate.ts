import { Argument, type Command } from 'commander';
import { migrate, migrationStatus } from '../../store/index.js';
import type { CliIO } from '../io.js';
import { configFromFlags, withStoreFlags, type StoreFlags } from '../options.js';
import { withStore } from '../store.js';

export function registerMigrate(program: Command, io: CliIO): void {
  withStoreFlags(
    program
      .command('migrate')
      .description('apply pending schema migrations (up), or list applied and pending ones (status)')
      .addArgument(new Argument('[action]', 'up or status').choices(['up', 'status']).default('up')),
  ).action(async (action: 'up' | 'status', flags: StoreFlags) => {
    const config = configFromFlags(flags, io);
    await withStore(
      config,
      async ({ pool }) => {
        if (action === 'up') {
          const { applied } = await migrate(pool);
          if (applied.length === 0) io.out('schema is up to date\n');
          for (const m of applied) io.out(`applied ${pad(m.version)}_${m.name}\n`);
          return;
        }
        const s = await migrationStatus(pool);
        for (const m of s.applied) io.out(`applied  ${pad(m.version)}_${m.name}  ${m.applied_at}\n`);
        for (const m of s.pending) io.out(`pending  ${pad(m.version)}_${m.name}\n`);
        for (const m of s.changed) io.out(`CHANGED  ${pad(m.version)}_${m.name}  (file edited after it was applied)\n`);
        for (const m of s.unknown) io.out(`unknown  ${pad(m.version)}_${m.name}  (applied by a newer build)\n`);
      },
      // Status must not change what it reports on, nor create a database to report on.
      { migrate: false, mustExist: action === 'status' },
    );
  });
}

const pad = (v: number) => String(v).padStart(4, '0');
