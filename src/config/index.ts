export { configSchema, type Config } from './schema.js';
export { ConfigError, loadConfig, resolveJwtSecret, redactedConfig, embedded } from './load.js';
