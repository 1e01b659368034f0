/**
 * Issue 16's REST endpoints: the read marker (`POST /conversations/:id/read`) and a room's
 * settings and deletion (`PATCH`, `DELETE /rooms/:id`). Each asks the conversation's RoomActor,
 * which owns its state and tells its sockets, as the WebSocket operations do.
 */
import type { z } from 'zod';
import { ROOM, type ActorCaller, type Caller, type ReadReply } from '../../actors/messages.js';
import type { AccessTokens } from '../../auth/jwt.js';
import { ChatError } from '../../errors.js';
import type { ContentPipeline } from '../../content/pipeline.js';
import type { BudgetAction } from '../../limits/budgets.js';
import type { RestSchemas } from '../../protocol/rest.js';
import type { RoomPatch } from '../../store/reads-sql.js';
import { requestCaller } from './caller.js';
import { json, noContent } from './reply.js';
import type { Request, Route } from './types.js';
import { idParam, jsonBody } from './validate.js';

interface ReadRouteDeps {
  actors: ActorCaller;
  tokens: AccessTokens;
  schemas: RestSchemas;
  /** Take one operation of the user's budget for `action`, or throw `rate_limited`. */
  limit: (user: Caller, action: BudgetAction) => void;
  content: ContentPipeline;
}

export function readRoutes({ actors, tokens, schemas, limit, content }: ReadRouteDeps, prefix: string): Route[] {
  const caller = (req: Request): Promise<Caller> => requestCaller(tokens, req);
  return [
    {
      method: 'PATCH',
      path: `${prefix}/rooms/:id`,
      handler: async (req) => {
        const user = await caller(req);
        const id = idParam(req, 'id');
        const patch = roomPatch(jsonBody(req, schemas.updateRoom));
        if (patch.name !== undefined) patch.name = content.name(patch.name, 'name', false, 100);
        if (patch.description !== undefined && patch.description !== null) patch.description = content.name(patch.description, 'description', true);
        limit(user, 'update_room');
        return json(200, await actors.ask(ROOM, id, { t: 'update', caller: user, patch, ip: req.ip }));
      },
    },
    {
      method: 'DELETE',
      path: `${prefix}/rooms/:id`,
      handler: async (req) => {
        const user = await caller(req);
        const id = idParam(req, 'id');
        limit(user, 'update_room');
        await actors.ask(ROOM, id, { t: 'delete_room', caller: user, ip: req.ip });
        return noContent();
      },
    },
    {
      method: 'POST',
      path: `${prefix}/conversations/:id/read`,
      handler: async (req) => {
        const user = await caller(req);
        const id = idParam(req, 'id');
        const body = jsonBody(req, schemas.readMarker);
        limit(user, 'mark_read');
        // No socket asked: every socket of the user gets the `read` event.
        return json(200, await actors.ask<ReadReply>(ROOM, id, { t: 'read', caller: user, messageId: body.message_id }));
      },
    },
  ];
}

/** The body's fields as the store's patch; null counts as absent (PROTOCOL.md, REST), and something must remain. */
function roomPatch(body: z.output<RestSchemas['updateRoom']>): RoomPatch {
  const patch: RoomPatch = {};
  if (body.name != null) patch.name = body.name;
  if (body.description != null) patch.description = body.description;
  if (body.is_public != null) patch.isPublic = body.is_public;
  if (body.max_members != null) patch.maxMembers = body.max_members;
  if (Object.keys(patch).length === 0) {
    throw new ChatError('validation_failed', 'nothing to update: give name, description, is_public or max_members', {
      details: [{ path: '', message: 'nothing to update' }],
    });
  }
  return patch;
}
