/**
 * How a cohort talks to its target: the wire protocol behind the bench's operations.
 *
 * The load generator thinks in veza's terms (PROTOCOL.md): operations (`join_room`,
 * `send_message`, `create_dm`...) with a request id, and received envelopes (`message`, `ack`,
 * `error`...). A wire turns those into frames and back:
 * - `veza` (frames.ts): the envelopes themselves, JSON or MessagePack;
 * - `socketio` (socketio-frames.ts): Engine.IO v4 / Socket.IO v5 packets over the websocket
 *   transport, the same operations as events with acknowledgements.
 *
 * Each wire has a fast path (`reader`) that recognises a bench `message` delivery or the `ack` of
 * a bench send from its first bytes without decoding it, and a per-connection `decode` for
 * everything else. Choose one with `makeWire`.
 */
import type { SendKind } from './cohort-messages.js';
import type { Codec, Envelope } from './frames.js';
import { VezaWire } from './frames.js';
import { SocketIoWire } from './socketio-frames.js';
import type { WsConnection } from './ws-client.js';

export const WIRES = ['veza', 'socketio'] as const;
export type WireName = (typeof WIRES)[number];

/** The fast path over received frames; allocates nothing. */
export interface WireReader {
  /** KIND_MESSAGE (a bench message delivered), KIND_ACK (a bench send acked), or KIND_OTHER. */
  read(buf: Buffer): number;
  /** The slow path's helper: parse a bench content's marker into the fields. */
  readContent(content: string): boolean;
  /** KIND_MESSAGE: the sender's connection index and sequence; both kinds: the send time, µs. */
  sender: number;
  seq: number;
  sentUs: number;
}

/**
 * A received frame as the slow path sees it: an envelope for the cohort, nothing (a protocol
 * frame the wire handled itself, such as Socket.IO's ping), or a malformed frame under an error
 * key the cohort counts.
 */
export type Decoded = { kind: 'envelope'; env: Envelope } | { kind: 'none' } | { kind: 'invalid'; key: string };

/** One connection's protocol state. */
export interface WireConn {
  /** The upgrade is verified (WsConnectOptions.onOpen): the protocol may speak first. */
  opened(ws: WsConnection): void;
  /**
   * Resolves once operations may be sent: null, or the error key of a failed protocol handshake
   * (veza: at once; Socket.IO: when the namespace connect is acknowledged).
   */
  ready(timeoutMs: number): Promise<string | null>;
  /** The socket closed (`onClose`): a protocol handshake still waiting fails at once. */
  closed(code: number): void;
  /** A received frame the fast path did not take. */
  decode(buf: Buffer, isBinary: boolean): Decoded;
}

export interface Wire {
  readonly name: WireName;
  /** Sub-protocols offered at the upgrade. */
  readonly protocols: readonly string[];
  /**
   * Whether a token travels in the protocol's own connect step (Socket.IO's auth payload) rather
   * than by veza's means (header, query or an `authenticate` frame).
   */
  readonly tokenInConnect: boolean;
  readonly reader: WireReader;
  /** An operation; with `id`, its reply (ack or error) comes back under `reply_to` = `id`. */
  op(type: string, data: Record<string, unknown>, id?: string): string | Buffer;
  /**
   * A bench message to a room (`send_message`) or a direct conversation (`send_dm`); with
   * `clientId`, its `client_id` (the idempotency key PROTOCOL.md has clients send).
   */
  message(kind: SendKind, target: number, content: string, id?: string, clientId?: string): string | Buffer;
  /** A connection's state, made before it connects (its protocol may speak in the upgrade's read). */
  conn(token: string | undefined): WireConn;
}

/** The wire of this name; `codec` picks veza's encoding (Socket.IO speaks its JSON parser only). */
export function makeWire(name: WireName, codec: Codec): Wire {
  switch (name) {
    case 'veza':
      return new VezaWire(codec);
    case 'socketio':
      return new SocketIoWire();
    default:
      throw new Error(`unknown wire ${JSON.stringify(name satisfies never)}`);
  }
}
