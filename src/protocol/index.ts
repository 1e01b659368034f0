/**
 * The wire contract of PROTOCOL.md as code:
 * - codec.ts: envelope decoding and encoding for veza.json and veza.msgpack, and fan-out pre-encoding;
 * - client-ops.ts: one strict schema per client operation, and parseClientFrame;
 * - events.ts: server event types and the row → wire conversions (message, room, user);
 * - rest.ts: REST bodies, path parameters and queries;
 * - validation.ts: field rules both surfaces share, and zod issues → validation_failed.
 */
export {
  DEFAULT_SUBPROTOCOL,
  ENVELOPE_ID_MAX_CHARS,
  FrameError,
  MSGPACK_MAX_DEPTH,
  PreEncoded,
  SUBPROTOCOLS,
  decodeFrame,
  encodeEvent,
  encodeJson,
  encodeMsgpack,
  getCodec,
  jsonCodec,
  msgpackCodec,
  preencode,
  preencodeJson,
  jsonEvent,
  selectSubprotocol,
  toEnvelope,
  type Codec,
  type Envelope,
  type EventExtra,
  type FrameInput,
  type JsonEvent,
  type SubProtocol,
} from './codec.js';
export {
  CLIENT_OPS,
  CLIENT_OP_TYPES,
  HISTORY_DEFAULT_LIMIT,
  HISTORY_MAX_LIMIT,
  RESUME_MAX_POSITIONS,
  buildClientSchemas,
  dmPeerId,
  isClientOpType,
  parseClientFrame,
  type ClientLimits,
  type ClientOp,
  type ClientOpData,
  type ClientOpType,
  type ClientSchemas,
} from './client-ops.js';
export * from './events.js';
export {
  buildRestSchemas,
  emojiParam,
  idParam,
  pageQuery,
  parseRest,
  type PageQuery,
  type RestBody,
  type RestLimits,
  type RestSchemas,
} from './rest.js';
export {
  EMOJI_MAX_CHARS,
  METADATA_MAX_BYTES,
  METADATA_MAX_DEPTH,
  METADATA_MAX_NODES,
  contentProblem,
  metadataProblem,
  type Problem,
  zodToChatError,
} from './validation.js';
