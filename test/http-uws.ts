/** The native uWS binary is what runs; the check refuses the JavaScript fallback. */
import t from 'tap';
import { createRequire } from 'node:module';
import { assertNative, loadNativeUws, nativeBinarySpecifier, uws } from '../src/net/uws.js';

t.test('the native module loads', async (t) => {
  const mod = uws();
  t.type(mod.LIBUS_LISTEN_EXCLUSIVE_PORT, 'number');
  t.equal(uws(), mod, 'loaded once');
  t.match(nativeBinarySpecifier('linux', 'x64', '115'), /binaries\/uws_linux_x64_115\.node$/);
});

t.test('the fallback and broken binaries are refused', async (t) => {
  // The package's own entry falls back to JavaScript when it cannot load the binary; its shape:
  const fallback = { App: () => ({}), SSLApp: () => ({}), us_listen_socket_close: () => undefined };
  t.throws(() => assertNative(fallback, 'fake'), { message: /native uWebSockets\.js binary did not load.*refusing to start/ });
  t.throws(() => assertNative({ ...fallback, LIBUS_LISTEN_EXCLUSIVE_PORT: '1' }, 'fake'), /refusing to start/);
  t.throws(() => assertNative(null, 'fake'), /refusing to start/);
  t.throws(() => loadNativeUws(() => fallback), /refusing to start/);
  t.throws(
    () =>
      loadNativeUws(() => {
        throw new Error('GLIBC_2.38 not found');
      }),
    { message: /did not load: .*uws_.*GLIBC_2\.38 not found; refusing to start/ },
  );
  const real = createRequire(import.meta.url);
  t.ok(loadNativeUws(real).App, 'the real require passes');
});
