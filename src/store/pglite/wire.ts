import type { PGlite } from '@electric-sql/pglite';

/**
 * What `createPgConfig` from `@electric-sql/pglite/node-postgres` (0.5.16) is given in place of the
 * PGlite instance: it forwards the extended-query messages pg writes (Parse, Bind, Describe,
 * Execute, Close) to PGlite together with the Sync (or Flush) that ends them, in one
 * `execProtocolStream` call, the way a socket would deliver them to a server.
 *
 * Why: the adapter hands PGlite each message on its own, and PGlite ends every call with
 * "ReadyForQuery if necessary". After an error (a unique violation at Execute, say) that sends a
 * ReadyForQuery before pg's Sync, then the Sync brings a second one: pg ends the next query on the
 * stray one, and the connection is out of step for good ("Received unexpected parseComplete
 * message from backend", then "Connection terminated unexpectedly"). Given the whole batch, PGlite
 * does what PostgreSQL does: skips to the Sync after an error and answers it with one
 * ReadyForQuery. It also writes the data directory once per query instead of once per message.
 *
 * The adapter uses nothing of the instance but `waitReady` and `execProtocolStream` (read in its
 * source); test/store-pglite.ts holds a regression test that fails without this shim.
 */
const HELD = new Set([0x50 /* P */, 0x42 /* B */, 0x44 /* D */, 0x45 /* E */, 0x43 /* C */]);

export function batchExtendedQueries(db: PGlite): PGlite {
  let held: Uint8Array[] = [];
  const shim = {
    waitReady: db.waitReady,
    execProtocolStream(message: Uint8Array, opts?: Parameters<PGlite['execProtocolStream']>[1]) {
      if (HELD.has(message[0]!)) {
        held.push(message);
        return Promise.resolve([]);
      }
      let bytes = message;
      if (held.length > 0) {
        held.push(message);
        bytes = Buffer.concat(held);
        held = [];
      }
      return db.execProtocolStream(bytes, opts);
    },
  };
  return shim as unknown as PGlite;
}
