/**
 * `veza-chat bench` building blocks:
 * - ws-client: a lean RFC 6455 client over `net` (connect, connectMany, ConnectLimiter)
 * - cohort: the load generator's main thread (runLoad, plan shapes); cohort-worker: its threads
 * - histogram: log-linear latency histogram (≤ 0.39 % error), mergeable across threads
 * - wire: how a cohort speaks to its target: veza's envelopes (frames) or Socket.IO's packets
 *   (socketio-frames: Engine.IO v4 / Socket.IO v5 over the websocket transport)
 * - uws-baseline: the plain uWebSockets.js pub/sub reference server (in-process or child)
 * - socketio-server: the Socket.IO reference server (socket.io on node:http; in-process or child)
 * - proc: CPU and RSS of the server process from /proc, and its CPU by thread role (thread names)
 * - result, report-html, compare: the result file, its HTML report, and regression checks
 */
export {
  connect,
  connectMany,
  ConnectLimiter,
  encodeClientFrame,
  maskInPlace,
  WsClientError,
  WsConnection,
  WsState,
  type WsConnectOptions,
  type WsErrorCode,
} from './ws-client.js';
export { Histogram, RELATIVE_ERROR, type HistogramJSON, type HistogramSnapshot, type Percentiles } from './histogram.js';
export {
  fanoutPlan,
  idlePlan,
  roomsPlan,
  runLoad,
  type LoadOutcome,
  type LoadPlan,
  type RunOptions,
  type ShapeCommon,
  type TimelinePoint,
} from './cohort.js';
export type { AuthMode } from './cohort-messages.js';
export { CODECS, FrameReader, type Codec } from './frames.js';
export { makeWire, WIRES, type Decoded, type Wire, type WireConn, type WireName, type WireReader } from './wire.js';
export { parsePacket, SioReader, SocketIoWire, SOCKETIO_PATH, type SioPacket } from './socketio-frames.js';
export { spawnChildServer, type ChildServer } from './child-server.js';
export {
  startSocketIoServer,
  spawnSocketIoServer,
  type SocketIoServer,
  type SocketIoServerOptions,
  type SocketIoServerStats,
} from './socketio-server.js';
export { loadSocketIo, requireSocketIo, socketIoVersion, SocketIoMissing } from './socketio-package.js';
export { nowMs, nowUs } from './clock.js';
export { startBaseline, spawnBaseline, type Baseline, type BaselineOptions, type BaselineProcess } from './uws-baseline.js';
export {
  byRole,
  parseStat,
  parseStatus,
  readProc,
  readThreads,
  threadCpuByName,
  threadRole,
  THREAD_ROLES,
  type ProcSample,
  type RoleFigures,
  type ThreadRole,
  type ThreadSample,
} from './proc.js';
export {
  gitCommit,
  machineInfo,
  makeResult,
  parseResult,
  planSummary,
  readResult,
  resultFileName,
  writeResult,
  type BenchFigures,
  type BenchResult,
} from './result.js';
export { renderReport } from './report-html.js';
export { compare, formatComparison, FIGURES, type Comparison, type CompareRow } from './compare.js';
