/**
 * Flags shared by the commands, and the one place flags become a configuration layer
 * (defaults < --config file < environment < flags, see src/config/load.ts).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, type Config } from '../config/index.js';
import { configSecrets, configureLogging, setLogLevel } from '../log.js';
import type { CliIO } from './io.js';

/** Where the configuration and the store come from: every command that reads them takes these. */
export interface StoreFlags {
  config?: string;
  dataDir?: string;
  databaseUrl?: string;
  redisUrl?: string;
}

/** What `start` adds. */
export interface ServerFlags extends StoreFlags {
  port?: number;
  host?: string;
  fronts?: number;
  shards?: number;
}

/** An integer option's parser, so `--port abc` fails at parse time naming the flag. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

export function withStoreFlags(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON configuration file')
    .option('--data-dir <dir>', 'data directory of the embedded database (VEZA_DATA_DIR)')
    .option('--database-url <url>', 'PostgreSQL URL; embedded PGlite when unset (DATABASE_URL)')
    .option('--redis-url <url>', 'Redis URL for several nodes (REDIS_URL)');
}

export function withServerFlags(cmd: Command): Command {
  return withStoreFlags(cmd)
    .option('--port <port>', 'TCP port, 0 for any free one (VEZA_PORT)', integer(0, 65535))
    .option('--host <host>', 'address to listen on (VEZA_HOST)')
    .option('--fronts <n>', 'front threads serving sockets (VEZA_FRONTS)', integer(1, 64))
    .option('--shards <n>', 'shard threads hosting actors (VEZA_SHARDS)', integer(1, 64));
}

/** Flags as a configuration layer; flags not given are left out, so lower layers show through. */
function flagsLayer(flags: ServerFlags): Record<string, unknown> {
  return {
    dataDir: flags.dataDir,
    database: { url: flags.databaseUrl },
    redis: { url: flags.redisUrl },
    server: { port: flags.port, host: flags.host, fronts: flags.fronts, shards: flags.shards },
  };
}

/** The validated, frozen configuration for these flags; a ConfigError names what is wrong. */
export function configFromFlags(flags: ServerFlags, io: CliIO): Config {
  const config = loadConfig({ file: flags.config, env: io.env, flags: flagsLayer(flags) });
  setLogLevel(config.log.level);
  configureLogging({ ...config.log, secrets: configSecrets(config) });
  return config;
}
