export { buildProgram, run, VERSION } from './program.js';
export { CliError, processIO, type CliIO } from './io.js';
export { configFromFlags, flagsLayer, integer, withServerFlags, withStoreFlags, type ServerFlags, type StoreFlags } from './options.js';
export { withStore } from './store.js';
