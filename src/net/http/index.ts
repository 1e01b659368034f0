/** The REST layer: a route table of plain async handlers, wired to uWS by one adapter. */
export type { Handler, Method, Reply, Request, Route } from './types.js';
export { Router, type Match } from './router.js';
export { attachRoutes, type AttachOptions } from './uws-adapter.js';
export { errorReply, json, noContent, JSON_TYPE } from './reply.js';
export { idParam, jsonBody, parseWith, readJson } from './validate.js';
export { authRoutes, API_PREFIX, type AuthRouteDeps } from './routes-auth.js';
export { healthRoutes, type HealthDeps } from './routes-health.js';
export { notImplementedRoutes, NOT_IMPLEMENTED } from './routes-pending.js';
export { requestCaller } from './caller.js';
