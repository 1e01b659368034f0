/**
 * The other threads of ring-bench.ts: count envelopes from a ring or a port (decoding each, as a
 * shard would) and post 'mark' at the counts asked for; echo ring envelopes back as replies; echo a
 * word with bare Atomics.waitAsync (the platform's floor); or tick a pacer. Says "ready" once
 * listening (the pacer never returns from its loop and says nothing).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createCodec } from '../src/runtime/transport/codec.js';
import { waitAsync } from '../src/runtime/transport/doorbell.js';
import { Ring } from '../src/runtime/transport/ring.js';
import { RingReader } from '../src/runtime/transport/ring-reader.js';
import { RingWriter } from '../src/runtime/transport/ring-writer.js';
import type { BenchWorkerData } from './ring-bench.js';

const data = workerData as BenchWorkerData & { port?: MessagePort };
const port = parentPort!;
const codec = createCodec();
// A pending Atomics.waitAsync does not keep a thread alive; the parent port does until we are terminated.
port.on('message', () => {});

switch (data.mode) {
  case 'ring-sink': {
    let seen = 0;
    const marks = new Set(data.marks);
    const reader = new RingReader(
      new Ring(data.ring),
      (bytes, start, end) => {
        codec.unpack(bytes, start, end);
        if (marks.has(++seen)) port.postMessage('mark');
      },
      { maxRecordBytes: 1 << 20 },
    );
    reader.start();
    break;
  }
  case 'port-sink': {
    let seen = 0;
    const marks = new Set(data.marks);
    data.port!.on('message', () => {
      if (marks.has(++seen)) port.postMessage('mark');
    });
    break;
  }
  case 'pacer': {
    const ticks = new Int32Array(data.ticks);
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const start = performance.now();
    for (let n = 1; Atomics.load(ticks, 1) === 0; n++) {
      const wait = start + n * data.intervalMs - performance.now();
      if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
      Atomics.store(ticks, 0, n);
      Atomics.notify(ticks, 0);
    }
    break;
  }
  case 'wake-echo': {
    const words = new Int32Array(data.words);
    void (async () => {
      for (let seen = 0; ; ) {
        const v = Atomics.load(words, 0);
        if (v !== seen) {
          seen = v;
          Atomics.store(words, 1, v);
          Atomics.notify(words, 1);
          continue;
        }
        const wait = waitAsync(words, 0, v);
        if (wait.async) await wait.value;
      }
    })();
    break;
  }
  case 'ring-echo': {
    const writer = new RingWriter(new Ring(data.outbound), { maxRecordBytes: 1 << 20, overflowLimit: 1 << 20 });
    const reader = new RingReader(
      new Ring(data.inbound),
      (bytes, start, end) => {
        const ask = codec.unpack(bytes, start, end) as { req: number };
        writer.write(codec.pack({ type: 'reply', req: ask.req, ok: true, value: null }));
      },
      { maxRecordBytes: 1 << 20 },
    );
    reader.start();
    break;
  }
}
port.postMessage('ready');
