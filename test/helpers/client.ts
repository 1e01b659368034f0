/** What the client library's live tests share: a TCP relay that can cut connections, and awaiting one event. */
import type { Test } from 'tap';
import { createServer, Socket as NetSocket, type AddressInfo, type Server, type Socket } from 'node:net';
import type { ClientEvents, VezaClient } from '../../src/client/index.js';

/**
 * A TCP relay to `port` whose connections can all be cut at once; `cut(downMs)` also refuses new
 * connections for that long (`Infinity`: until `restore()`), an outage the reconnecting client
 * has to wait out.
 */
export async function relay(t: Test, port: number): Promise<{ url: string; cut(downMs?: number): number; restore(): void }> {
  const pairs = new Set<[Socket, Socket]>();
  let downUntil = 0;
  const server: Server = createServer((down) => {
    if (Date.now() < downUntil) {
      down.destroy();
      return;
    }
    const up = new NetSocket();
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    up.connect(port, '127.0.0.1');
    down.pipe(up).pipe(down);
    const end = () => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (cutAll(), server.close(() => r()))));
  const cutAll = (downMs = 0) => {
    downUntil = Date.now() + downMs;
    const n = pairs.size;
    for (const [a, b] of [...pairs]) (a.destroy(), b.destroy());
    pairs.clear();
    return n;
  };
  const restore = () => {
    downUntil = 0;
  };
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, cut: cutAll, restore };
}

/** The next `type` event of `c` for which `pred` holds, or a rejection after `timeoutMs`. */
export function next<K extends keyof ClientEvents>(c: VezaClient, type: K, pred: (d: ClientEvents[K]) => boolean = () => true, timeoutMs = 10_000): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`no ${type} within ${timeoutMs} ms`))), timeoutMs);
    const off = c.on(type, (d) => {
      if (!pred(d)) return;
      clearTimeout(timer);
      off();
      resolve(d);
    });
  });
}
