/**
 * `veza-chat/client`: the typed client of the veza-chat wire protocol (docs/CLIENT.md).
 * Browser-safe: no Node module, no dependency.
 */
export { VezaClient, VezaError, uuid } from './client.js';
export type { FetchLike, SendOptions, VezaClientOptions, WebSocketConstructor, WebSocketLike } from './client.js';
export { encode as encodeMsgpack, decode as decodeMsgpack } from './msgpack.js';
export { decodeText } from './text.js';
export * from './types.js';
