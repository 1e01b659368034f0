import type { Config } from '../config/index.js';
import { openStore, StoreLockedError, type OpenedStore } from '../store/index.js';
import { CliError } from './io.js';

/**
 * Run `fn` with the store of `config`, closed afterwards. On the embedded backend the data
 * directory's lock is taken before PGlite opens anything (src/store/lock.ts), so while a server
 * owns the directory this refuses without touching the database files.
 */
export async function withStore<T>(
  config: Config,
  fn: (opened: OpenedStore) => Promise<T>,
  opts: { migrate?: boolean } = {},
): Promise<T> {
  let opened: OpenedStore;
  try {
    opened = await openStore(config, { migrate: opts.migrate ?? true });
  } catch (e) {
    if (e instanceof StoreLockedError) {
      // The store's message names the holder and the lock file; say what to do from here.
      throw new CliError(`refusing to open the store: ${e.message} (a running server serves this through its REST API)`, 3, {
        cause: e,
      });
    }
    throw e;
  }
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}
