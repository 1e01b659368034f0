/**
 * One WebSocket connection's state on its front thread (uWS user data). The socket itself is
 * only valid between `open` and `close`; `closed` is set first thing in `close`, and everything
 * that runs later (a reply, a timer) checks it before touching the socket.
 */
import type { Caller } from '../../actors/messages.js';
import type { SubProtocol } from '../../protocol/codec.js';
import type { WebSocket } from '../uws.js';

export interface Conn {
  readonly protocol: SubProtocol;
  readonly binary: boolean;
  /** The uWS socket from `open` to `close`; null before and after. */
  ws: WebSocket<SocketData> | null;
  /** Set once authenticated (at the upgrade or by `authenticate`). */
  user: Caller | null;
  /** Access token expiry, epoch ms. */
  expiresAt: number;
  /** The login session (`sid` claim) of the token it authenticated with; '' for none (src/auth/sessions.ts). */
  authSession: string;
  sessionId: string;
  /** The session's actor was sent `open` (with the first join or resume; see SessionActor). */
  sessionOpen: boolean;
  /** Rooms this socket joined (subscribed to); null until the first (most sockets idle: no Set each). */
  rooms: Set<number> | null;
  /**
   * Conversations with a join or resume in flight on this socket: until its reply, the socket is
   * off the conversation's topic and its direct (DM) events are not sent, since the reply carries
   * them (see ./fanout.ts). Null when none (most sockets: no Set each).
   */
  pending: Set<number> | null;
  closed: boolean;
  /** The authentication deadline of a socket not yet authenticated. */
  timer: NodeJS.Timeout | null;
  /** `rate_limited` answers in the current flood window, and when that window started. */
  floods: number;
  floodSince: number;
  /** The socket's frame budget (./flood.ts `frameAllowed`): tokens left, and when last counted (clock ms). */
  frameTokens: number;
  frameAt: number;
  remote: string;
  /** performance.now() at `open`, for the connection-duration metric. */
  openedAt: number;
  /** When the server last pinged this socket, or it opened (clock ms; see ./sweep.ts). */
  pingedAt: number;
  /** Behind its backpressure limit at the last sweep. */
  lagging: boolean;
  /** Counted by the connection caps (./caps.ts): 1 its source, 2 its user. */
  caps: number;
}

/**
 * What is given to uWS as a socket's user data: one field holding the Conn. uWS copies the user
 * data's properties onto its WebSocket object one by one, and with the sixteen fields of a Conn
 * that object went to dictionary mode in V8: 832 bytes of property table per socket, about a third
 * of an idle connection's memory (measured with heap snapshots of the connections bench at 15,000
 * sockets). One property stays a fast property; the Conn is a plain object literal with its fields
 * in the object.
 */
export interface SocketData {
  readonly conn: Conn;
}

export function newConn(protocol: SubProtocol, remote: string): Conn {
  return {
    protocol,
    binary: protocol === 'veza.msgpack',
    ws: null,
    user: null,
    expiresAt: 0,
    authSession: '',
    sessionId: '',
    sessionOpen: false,
    rooms: null,
    pending: null,
    closed: false,
    timer: null,
    floods: 0,
    floodSince: 0,
    // A full bucket at the first frame (refilled from 0 over an age that caps it).
    frameTokens: 0,
    frameAt: 0,
    remote,
    openedAt: 0,
    pingedAt: 0,
    lagging: false,
    caps: 0,
  };
}

/** Topic suffix per sub-protocol: one uWS topic per (conversation, encoding), so publish sends bytes as they are. */
export const topicFor = (base: string, protocol: SubProtocol): string => (protocol === 'veza.msgpack' ? `${base}|m` : `${base}|j`);
