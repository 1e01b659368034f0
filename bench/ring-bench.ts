/**
 * Ring benchmark (compiled with the rest of src, so `bench/ring.ts` and the CLI can run it):
 * envelopes per second of small msgpackr envelopes from this thread to a worker over a ring, the
 * same envelopes over MessagePort.postMessage in the same run, and round-trip latency over a pair
 * of rings: at moderate load (pings at a steady 5,000/s, so nearly every ping wakes a sleeping
 * thread), in ping-pong (one in flight), and the platform's floor for comparison (two threads waking
 * each other with Atomics.waitAsync, no ring at all).
 *
 * Both transports pay for their serialisation: the ring packs and unpacks every envelope with
 * msgpackr, postMessage structured-clones it. The ring is allowed what rings are for: the consumer
 * drains everything available per wake-up and the producer only rings the doorbell when the
 * consumer sleeps.
 */
import { once } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { createCodec } from '../src/runtime/transport/codec.js';
import { waitAsync } from '../src/runtime/transport/doorbell.js';
import { siblingModule } from '../src/runtime/threads/entry.js';
import { Ring } from '../src/runtime/transport/ring.js';
import { RingReader } from '../src/runtime/transport/ring-reader.js';
import { RingWriter } from '../src/runtime/transport/ring-writer.js';

export interface RingBenchOptions {
  /** Envelopes per throughput run; default 1,000,000. */
  envelopes?: number;
  /** Bytes of each ring; default 4 MiB (the `runtime.ringBytes` default). */
  ringBytes?: number;
  /** Round trips measured for latency; default 20,000. */
  roundTrips?: number;
  /** Pings per second during the latency run, sent at a steady pace ("moderate load"); default 5,000. */
  rate?: number;
}

export interface Percentiles {
  p50: number;
  p99: number;
}

export interface RingBenchResult {
  /** Small envelopes per second, one thread to another over a ring (packed, unpacked). */
  ring_per_s: number;
  /** The same envelopes over MessagePort.postMessage. */
  postmessage_per_s: number;
  ratio: number;
  /** Round trips over two rings, pings at a steady `rtt_rate_per_s` (each usually wakes a sleeping thread). */
  rtt_us: Percentiles;
  rtt_rate_per_s: number;
  /** Round trips, one in flight: the next ping leaves when the reply arrives (the readers' spin catches it). */
  rtt_pingpong_us: Percentiles;
  /** The platform floor: two threads waking each other with Atomics.waitAsync, no ring. */
  wake_pingpong_us: Percentiles;
  envelope_bytes: number;
  envelopes: number;
}

export type BenchWorkerData =
  /** Counts (and decodes) envelopes; posts 'mark' when the count reaches each of `marks`. */
  | { mode: 'ring-sink'; ring: SharedArrayBuffer; marks: number[] }
  /** Ticks `ticks[0]` every `intervalMs` (Atomics.wait: this thread serves nothing else) until `ticks[1]` is set. */
  | { mode: 'pacer'; ticks: SharedArrayBuffer; intervalMs: number }
  | { mode: 'port-sink'; marks: number[] }
  | { mode: 'ring-echo'; inbound: SharedArrayBuffer; outbound: SharedArrayBuffer }
  /** Echoes words[0] into words[1], sleeping with Atomics.waitAsync in between. */
  | { mode: 'wake-echo'; words: SharedArrayBuffer };

/** The envelope shape a front sends a shard for a chat message, with a small payload. */
function sampleEnvelope(n: number): unknown {
  return { type: 'tell', kind: 'room', id: 'r-1042', msg: { op: 'send', n, text: 'hello there' } };
}

function startWorker(data: BenchWorkerData, transferList: MessagePort[] = []): Worker {
  const payload = transferList.length ? { ...data, port: transferList[0] } : data;
  return new Worker(siblingModule('ring-bench-worker', import.meta.url), {
    workerData: payload,
    transferList,
  });
}

/** Both transports first carry this many envelopes untimed, so the timed run meets warm code. */
const WARMUP = 100_000;

async function ringThroughput(count: number, ringBytes: number): Promise<number> {
  const sab = Ring.allocate(ringBytes);
  const worker = startWorker({ mode: 'ring-sink', ring: sab, marks: [WARMUP, WARMUP + count] });
  const [ready] = await once(worker, 'message');
  if (ready !== 'ready') throw new Error('bench worker did not start');
  const codec = createCodec();
  let drained: (() => void) | null = null;
  const writer = new RingWriter(new Ring(sab), {
    maxRecordBytes: 1 << 20,
    overflowLimit: 1024,
    onDrain: () => drained?.(),
  });
  const send = async (from: number, to: number) => {
    for (let i = from; i < to; ) {
      if (!writer.writable) {
        await new Promise<void>((resolve) => (drained = resolve));
        continue;
      }
      writer.write(codec.pack(sampleEnvelope(i)));
      i++;
    }
  };
  const warm = once(worker, 'message');
  await send(0, WARMUP);
  await warm;
  const done = once(worker, 'message');
  const t0 = performance.now();
  await send(WARMUP, WARMUP + count);
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await worker.terminate();
  return count / seconds;
}

async function postMessageThroughput(count: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const worker = startWorker({ mode: 'port-sink', marks: [WARMUP, WARMUP + count] }, [port2]);
  const [ready] = await once(worker, 'message');
  if (ready !== 'ready') throw new Error('bench worker did not start');
  const warm = once(worker, 'message');
  for (let i = 0; i < WARMUP; i++) port1.postMessage(sampleEnvelope(i));
  await warm;
  const done = once(worker, 'message');
  const t0 = performance.now();
  for (let i = WARMUP; i < WARMUP + count; i++) port1.postMessage(sampleEnvelope(i));
  await done;
  const seconds = (performance.now() - t0) / 1000;
  port1.close();
  await worker.terminate();
  return count / seconds;
}

function percentiles(samples: Float64Array, warmup: number): Percentiles {
  const sorted = Array.from(samples.subarray(warmup)).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 1000;
  return { p50: Math.round(at(0.5) * 10) / 10, p99: Math.round(at(0.99) * 10) / 10 };
}

/**
 * Round trips over a pair of rings to an echoing worker. `ratePerS` > 0: pings leave at that steady
 * pace, whatever the replies do (a pacer thread ticks; this thread sleeps between ticks like a
 * front between requests; a busy-polling sender would take a core from the thread it measures).
 * `ratePerS` = 0: ping-pong, the next ping leaves when the reply to the last one arrives.
 */
async function roundTrips(count: number, ratePerS: number, ringBytes: number): Promise<Percentiles> {
  const toWorker = Ring.allocate(ringBytes);
  const fromWorker = Ring.allocate(ringBytes);
  const worker = startWorker({ mode: 'ring-echo', inbound: toWorker, outbound: fromWorker });
  const [ready] = await once(worker, 'message');
  if (ready !== 'ready') throw new Error('bench worker did not start');
  const codec = createCodec();
  const writer = new RingWriter(new Ring(toWorker), { maxRecordBytes: 1 << 20, overflowLimit: 1 << 20 });
  const sentAt = new Float64Array(count);
  const rtt = new Float64Array(count);
  let sent = 0;
  let received = 0;
  const send = () => {
    sentAt[sent] = performance.now();
    writer.write(codec.pack({ type: 'ask', kind: 'room', id: 'r-1042', req: sent, msg: { op: 'ping' } }));
    sent++;
  };
  const ticks = new Int32Array(new SharedArrayBuffer(8));
  const pacer =
    ratePerS > 0 ? startWorker({ mode: 'pacer', ticks: ticks.buffer as SharedArrayBuffer, intervalMs: 1000 / ratePerS }) : null;
  await new Promise<void>((resolve) => {
    const reader = new RingReader(
      new Ring(fromWorker),
      (bytes, start, end) => {
        const reply = codec.unpack(bytes, start, end) as { req: number };
        rtt[reply.req] = performance.now() - sentAt[reply.req]!;
        if (++received === count) {
          reader.close();
          resolve();
        } else if (!pacer && sent < count) send();
      },
      { maxRecordBytes: 1 << 20 },
    );
    reader.start();
    if (!pacer) {
      send();
      return;
    }
    void (async () => {
      while (sent < count) {
        const due = Atomics.load(ticks, 0);
        while (sent < count && sent < due) send();
        const wait = waitAsync(ticks, 0, due);
        if (wait.async) await wait.value;
      }
      Atomics.store(ticks, 1, 1);
    })();
  });
  await pacer?.terminate();
  await worker.terminate();
  return percentiles(rtt, Math.min(1000, Math.floor(count / 10)));
}

/** The platform's floor: ping-pong of one Int32 with `Atomics.waitAsync` on both sides, no ring, no spin. */
async function wakePingPong(count: number): Promise<Percentiles> {
  const words = new Int32Array(new SharedArrayBuffer(8));
  const worker = startWorker({ mode: 'wake-echo', words: words.buffer as SharedArrayBuffer });
  const [ready] = await once(worker, 'message');
  if (ready !== 'ready') throw new Error('bench worker did not start');
  const rtt = new Float64Array(count);
  for (let i = 1; i <= count; i++) {
    const t0 = performance.now();
    Atomics.store(words, 0, i);
    Atomics.notify(words, 0);
    for (let v = Atomics.load(words, 1); v !== i; v = Atomics.load(words, 1)) {
      const wait = waitAsync(words, 1, v);
      if (wait.async) await wait.value;
    }
    rtt[i - 1] = performance.now() - t0;
  }
  await worker.terminate();
  return percentiles(rtt, Math.min(1000, Math.floor(count / 10)));
}

export async function runRingBench(opts: RingBenchOptions = {}): Promise<RingBenchResult> {
  const envelopes = opts.envelopes ?? 1_000_000;
  const ringBytes = opts.ringBytes ?? 4 * 1024 * 1024;
  const rate = opts.rate ?? 5_000;
  const trips = opts.roundTrips ?? 20_000;
  const ring = await ringThroughput(envelopes, ringBytes);
  const post = await postMessageThroughput(envelopes);
  const paced = await roundTrips(trips, rate, ringBytes);
  const pingpong = await roundTrips(trips, 0, ringBytes);
  const wake = await wakePingPong(trips);
  return {
    ring_per_s: Math.round(ring),
    postmessage_per_s: Math.round(post),
    ratio: Math.round((ring / post) * 100) / 100,
    rtt_us: paced,
    rtt_rate_per_s: rate,
    rtt_pingpong_us: pingpong,
    wake_pingpong_us: wake,
    envelope_bytes: createCodec().pack(sampleEnvelope(123456)).length,
    envelopes,
  };
}
