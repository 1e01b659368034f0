/**
 * One WebSocket connection's state on its front thread (uWS user data). The socket itself is
 * only valid between `open` and `close`; `closed` is set first thing in `close`, and everything
 * that runs after an `await` checks it before touching the socket.
 */
import type { Caller } from '../../actors/messages.js';
import type { PreEncoded, SubProtocol } from '../../protocol/codec.js';

export interface Conn {
  readonly protocol: SubProtocol;
  readonly binary: boolean;
  /** Set once authenticated (at the upgrade or by `authenticate`). */
  user: Caller | null;
  /** Access token expiry, epoch ms. */
  expiresAt: number;
  sessionId: string;
  /** The session's actor was sent `open` (with the first join or resume; see SessionActor). */
  sessionOpen: boolean;
  /** Rooms this socket joined (subscribed to); null until the first (most sockets idle: no Set each). */
  rooms: Set<number> | null;
  closed: boolean;
  /** The authentication deadline of a socket not yet authenticated. */
  timer: NodeJS.Timeout | null;
  /** `rate_limited` answers in the current flood window, and when that window started. */
  floods: number;
  floodSince: number;
  remote: string;
  /** When the server last pinged this socket, or it opened (clock ms; see the gateway's sweep). */
  pingedAt: number;
  /**
   * Live events held back per conversation while that conversation's `resume` is answered (the
   * gateway's hold/release); null when no resume is in flight (most sockets: no Map each).
   */
  held: Map<number, HeldEvent[]> | null;
}

/** An event held for a socket being resumed, with the seq it carries (none for member_joined and the like). */
export interface HeldEvent {
  pre: PreEncoded;
  seq: number | undefined;
  /** Sent to the user's sockets (DMs), not to a room's subscribers: the socket gets it either way. */
  direct: boolean;
}

export function newConn(protocol: SubProtocol, remote: string): Conn {
  return {
    protocol,
    binary: protocol === 'veza.msgpack',
    user: null,
    expiresAt: 0,
    sessionId: '',
    sessionOpen: false,
    rooms: null,
    closed: false,
    timer: null,
    floods: 0,
    floodSince: 0,
    remote,
    pingedAt: 0,
    held: null,
  };
}

/** Topic suffix per sub-protocol: one uWS topic per (conversation, encoding), so publish sends bytes as they are. */
export const topicFor = (base: string, protocol: SubProtocol): string => (protocol === 'veza.msgpack' ? `${base}|m` : `${base}|j`);
