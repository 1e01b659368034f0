import type { Command } from 'commander';
import { redactedConfig } from '../../config/index.js';
import { printJson, type CliIO } from '../io.js';
import { configFromFlags, withServerFlags, type ServerFlags } from '../options.js';

export function registerConfig(program: Command, io: CliIO): void {
  const config = program.command('config').description('configuration');
  withServerFlags(
    config.command('print').description('print the effective configuration as JSON, secrets redacted (touches nothing)'),
  ).action(async (flags: ServerFlags) => {
    printJson(io, redactedConfig(configFromFlags(flags, io)));
  });
}
