/**
 * A minimal loader of the native uWebSockets.js binary for the bench's reference server.
 * (src/net/uws.ts is the server's loader; the lead will unify the two.) The package's own loader
 * silently falls back to a slow JavaScript implementation (ECOSYSTEM.md): a ceiling measured on
 * that would be meaningless, so we require the binary for this platform and ABI and check a
 * constant only the native module has.
 */
import { createRequire } from 'node:module';
import type * as UWS from '@trufflesuite/uws-js-unofficial';

export type UwsModule = typeof UWS;
/** `close()` exists in the binary, not in the package's types. */
export type UwsApp = UWS.TemplatedApp & { close(): void };

let cached: UwsModule | undefined;

export function loadUws(): UwsModule {
  if (cached) return cached;
  const spec = `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const mod = createRequire(import.meta.url)(spec) as { LIBUS_LISTEN_EXCLUSIVE_PORT?: unknown };
  if (typeof mod.LIBUS_LISTEN_EXCLUSIVE_PORT !== 'number') throw new Error(`${spec} is not the native uWebSockets.js module`);
  cached = mod as unknown as UwsModule;
  return cached;
}
