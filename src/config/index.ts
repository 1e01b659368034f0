export { configSchema, type Config, type ConfigInput } from './schema.js';
export { ConfigError, loadConfig, resolveJwtSecret, redactedConfig, embedded, mergeLayers } from './load.js';
