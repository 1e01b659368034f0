/**
 * uWebSockets.js, loaded so that its JavaScript fallback can never run.
 *
 * The package's own loader (`src/uws.js`) silently falls back to a slow `ws`-based implementation
 * when the native binary fails to load (ECOSYSTEM.md). We require the binary for this platform and
 * ABI directly, and check a constant only the native module defines; anything else stops start-up.
 */
import { createRequire } from 'node:module';
import type * as UWS from '@trufflesuite/uws-js-unofficial';

export type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  WebSocket,
  us_socket_context_t,
} from '@trufflesuite/uws-js-unofficial';

/** The module's types, plus the constant the types leave out (they declare a `ListenOptions` enum that does not exist at run time). */
export type UwsModule = typeof UWS & { LIBUS_LISTEN_EXCLUSIVE_PORT: number };

/** `close()` exists in the binary but not in the package's types. */
export type App = UWS.TemplatedApp & { close(): void };

/** The binary's path inside the package for this process's platform, architecture and ABI. */
export function nativeBinarySpecifier(
  platform: string = process.platform,
  arch: string = process.arch,
  modules: string = process.versions.modules,
): string {
  return `@trufflesuite/uws-js-unofficial/binaries/uws_${platform}_${arch}_${modules}.node`;
}

/**
 * Accept `mod` only if it is the native module. The fallback lacks `LIBUS_LISTEN_EXCLUSIVE_PORT`
 * (and the `ListenOptions` enum of the types is undefined at run time, so that is no test either).
 */
export function assertNative(mod: unknown, source: string): UwsModule {
  const m = mod as { LIBUS_LISTEN_EXCLUSIVE_PORT?: unknown; App?: unknown } | null;
  if (m === null || typeof m !== 'object' || typeof m.LIBUS_LISTEN_EXCLUSIVE_PORT !== 'number' || typeof m.App !== 'function') {
    throw new Error(
      `native uWebSockets.js binary did not load: ${source} is not the native module ` +
        '(LIBUS_LISTEN_EXCLUSIVE_PORT missing); refusing to start',
    );
  }
  return mod as UwsModule;
}

/** Load the native binary with `load` (a `require`); any failure becomes one clear error. */
export function loadNativeUws(load: (id: string) => unknown = createRequire(import.meta.url)): UwsModule {
  const spec = nativeBinarySpecifier();
  let mod: unknown;
  try {
    mod = load(spec);
  } catch (e) {
    throw new Error(
      `native uWebSockets.js binary did not load: ${spec}: ${(e as Error).message}; refusing to start ` +
        `(Node ${process.version}, ABI ${process.versions.modules}, ${process.platform}-${process.arch})`,
      { cause: e },
    );
  }
  return assertNative(mod, spec);
}

let cached: UwsModule | undefined;

/** The native module, loaded once per thread on first use. Throws if it is not native. */
export function uws(): UwsModule {
  cached ??= loadNativeUws();
  return cached;
}

/** A new (non-TLS) App. */
export function createApp(): App {
  return uws().App() as App;
}

export interface Listening {
  socket: UWS.us_listen_socket;
  /** The bound port (the real one when 0 was asked). */
  port: number;
}

/**
 * Listen on host:port (port 0 picks a free one). Not exclusive, so several front threads can
 * listen on the same port and the kernel spreads connections between them.
 */
export function listen(app: UWS.TemplatedApp, host: string, port: number): Promise<Listening> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket === false) {
        reject(new Error(`cannot listen on ${host}:${port}`));
        return;
      }
      resolve({ socket, port: uws().us_socket_local_port(socket as unknown as UWS.us_socket) });
    });
  });
}

/**
 * Stop accepting and close every socket of the App. A thread or process that ends with an App
 * still open aborts the whole process (exit 134), so every App must pass through here.
 */
export function closeApp(app: App, listening?: Listening | null): void {
  if (listening) uws().us_listen_socket_close(listening.socket);
  app.close();
}
