/**
 * Messages across the cohort boundary (main thread ↔ cohort worker), one discriminated union per
 * direction.
 *
 * Sequence: main posts `start` (the worker's share of the plan) → the worker connects, joins,
 * posting `progress` now and then, then `ready` → once every worker is ready, main posts `go`
 * with a start time on the shared clock → the worker sends and receives, posting a `tick` at the
 * end of every second after the start → after the window and its drain, `done` with totals and
 * full histograms → main posts `close` → the worker closes its connections and posts `closed`.
 * Any failure inside the worker is a `fatal` message, not a silent exit.
 */
import type { Codec } from './frames.js';
import type { HistogramJSON, HistogramSnapshot } from './histogram.js';
import type { WireName } from './wire.js';

export type AuthMode = 'none' | 'header' | 'query' | 'frame';

/**
 * What a cohort does after `go`:
 * - `load`: connections opened and joined at set-up send on a schedule (open loop at
 *   `ratePerSender`) or, with `window` > 0, closed loop: each sender keeps `window` sends in flight
 *   and sends the next one when a reply (`ack` or `error`) comes back;
 * - `churn`: every connection plan is a slot that connects, authenticates and closes, over and
 *   over, until the window ends (nothing is opened at set-up);
 * - `resume`: nothing is opened at set-up; at `go` every connection connects at once, sends
 *   `resume` with its positions and counts `resumed` and the recovered events;
 * - `mixed`: connections opened and joined at set-up send a mix of operations (`mix`: messages,
 *   typing, reactions, read markers, edits, deletes) on the open-loop schedule at `ratePerSender`
 *   operations per second; the connections marked `churns` send nothing and close and reconnect
 *   (authenticate, join again) over and over (cohort-worker.ts, `runMixed`).
 */
export type CohortMode = 'load' | 'churn' | 'resume' | 'mixed';
/** The operations of the `mixed` mode. */
export const MIXED_OPS = ['send_message', 'typing', 'add_reaction', 'mark_read', 'edit_message', 'delete_message'] as const;
export type MixedOp = (typeof MIXED_OPS)[number];
/** Relative weights of the operations (`mixed` mode); absent ones are never sent. */
export type MixWeights = Partial<Record<MixedOp, number>>;
/** What a sender sends: `send_message` to a room, or `send_dm` to a direct conversation. */
export type SendKind = 'room' | 'dm';

export interface WorkerConnPlan {
  /** Global connection index (the sender id in message content). */
  index: number;
  token?: string;
  rooms: number[];
  sends: boolean;
  /** `create_dm` with this user at set-up; the conversation becomes this connection's first room. */
  dmPeer?: number;
  /** `resume` mode: conversation id → last seen seq. */
  positions?: Record<string, number>;
  /** `resume` mode: recovered events this connection should get. */
  expectEvents?: number;
  /** `mixed` mode: this connection closes and reconnects during the run (and sends nothing, counts no delivery). */
  churns?: boolean;
}

export interface StartMessage {
  type: 'start';
  worker: number;
  url: string;
  /** The target's wire protocol (wire.ts); `protocol` is veza's encoding on the veza wire. */
  wire: WireName;
  protocol: Codec;
  auth: AuthMode;
  conns: WorkerConnPlan[];
  ratePerSender: number;
  payloadBytes: number;
  ack: boolean;
  /** Every send carries a fresh `client_id` (a random UUID). */
  clientIds: boolean;
  mode: CohortMode;
  send: SendKind;
  /** Closed loop: sends in flight per sender (0: open loop at ratePerSender). */
  window: number;
  connectConcurrency: number;
  handshakeTimeoutMs: number;
  setupTimeoutMs: number;
  /** `mixed` mode: the operations' weights. */
  mix?: MixWeights;
  /** `mixed` mode: how long a churning connection stays connected, ms (uniform in [min, max]). */
  churnOnlineMs?: [number, number];
}

export interface GoMessage {
  type: 'go';
  /** Shared-clock ms (clock.ts) at which sending starts. */
  startAt: number;
  warmupMs: number;
  durationMs: number;
  /** Longest wait for in-flight deliveries after sending stops. */
  drainMs: number;
  /** The drain ends early once no delivery came for this long. */
  quietMs: number;
}

export interface CloseMessage {
  type: 'close';
}

export type MainToWorker = StartMessage | GoMessage | CloseMessage;

export interface ProgressMessage {
  type: 'progress';
  worker: number;
  connected: number;
  failed: number;
}

export interface ReadyMessage {
  type: 'ready';
  worker: number;
  connected: number;
  failed: number;
  /** Connections whose joins all succeeded (the others are counted in errors). */
  joined: number;
  /** Room ids and, at the same positions, how many of this worker's connections joined each. */
  rooms: number[];
  members: number[];
  errors: Record<string, number>;
  /** Handshake durations in µs. */
  connectUs: HistogramJSON;
  setupMs: number;
}

export interface TickMessage {
  type: 'tick';
  worker: number;
  /** Second index since `startAt`: this tick covers [startAt + k s, startAt + (k+1) s). */
  k: number;
  sent: number;
  delivered: number;
  acks: number;
  /** Latency of this second's deliveries, µs. */
  latency: HistogramSnapshot;
  /** Event-loop utilisation of this worker thread over the second (0..1). */
  elu: number;
  /** Worst lateness of the send schedule in this second, ms. */
  lagMs: number;
  open: number;
}

export interface DoneMessage {
  type: 'done';
  worker: number;
  /** Messages sent inside the measured window, by room (parallel arrays). */
  sentRooms: number[];
  sentCounts: number[];
  sent: number;
  sentTotal: number;
  /** Deliveries of messages sent inside the measured window. */
  delivered: number;
  deliveredTotal: number;
  acks: number;
  latency: HistogramSnapshot;
  ackLatency: HistogramSnapshot;
  errors: Record<string, number>;
  /** Event-loop utilisation over the measured window. */
  elu: number;
  lagMaxMs: number;
  /** Connections that closed during the run. */
  dropped: number;
  /** Deliveries this worker expected by itself (resume mode: recovered events); null otherwise. */
  expected: number | null;
  /** Mode-specific counts (churn cycles, resumed, recovered...), summed over workers. */
  counters: Record<string, number>;
  /** `mixed` mode: send → ack latency of each operation sent in the window, µs. */
  opLatency?: Partial<Record<MixedOp, HistogramSnapshot>>;
}

export interface ClosedMessage {
  type: 'closed';
  worker: number;
}

export interface FatalMessage {
  type: 'fatal';
  worker: number;
  message: string;
  stack?: string;
}

export type WorkerToMain = ProgressMessage | ReadyMessage | TickMessage | DoneMessage | ClosedMessage | FatalMessage;
