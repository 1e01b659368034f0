import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { embedded, type Config } from '../config/index.js';
import { openStore, StoreLock, StoreLockedError, type OpenedStore } from '../store/index.js';
import { CliError } from './io.js';

/**
 * Run `fn` with the store of `config`, closed afterwards. On the embedded backend the data
 * directory's lock is taken before PGlite opens anything (src/store/lock.ts), so while a server
 * owns the directory this refuses without touching the database files.
 */
export async function withStore<T>(
  config: Config,
  fn: (opened: OpenedStore) => Promise<T>,
  opts: { migrate?: boolean; mustExist?: boolean } = {},
): Promise<T> {
  let opened: OpenedStore;
  try {
    // A command that only reads (or needs users that exist) must not create an embedded database
    // where a mistyped --data-dir points, and then report on that empty one. A node that holds the
    // directory (perhaps creating its database right now) is the answer before that.
    if (opts.mustExist && embedded(config) && !existsSync(join(config.dataDir, 'pglite', 'PG_VERSION'))) {
      if (existsSync(config.dataDir)) StoreLock.acquire(config.dataDir).release();
      throw new CliError(`no database in ${config.dataDir} (nothing was created there; check --data-dir or VEZA_DATA_DIR)`);
    }
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
