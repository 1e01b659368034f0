/**
 * The message object the reference servers (uws-baseline.ts, socketio-server.ts) put in their
 * `message` events: PROTOCOL.md's fields, so a client reads them as it reads veza's.
 */
import { randomUUID } from 'node:crypto';

export interface ReferenceMessageInput {
  id: number;
  conversationId: number;
  /** Set for rooms; absent for direct conversations (as in PROTOCOL.md). */
  roomId?: number;
  seq: number;
  authorId: number;
  /** What the client sent as `data` (content, parent_id, metadata, client_id). */
  data: Readonly<Record<string, unknown>>;
  createdAt: string;
}

export function referenceMessage(m: ReferenceMessageInput): Record<string, unknown> {
  return {
    id: m.id,
    uuid: randomUUID(),
    conversation_id: m.conversationId,
    ...(m.roomId !== undefined ? { room_id: m.roomId } : {}),
    seq: m.seq,
    author_id: m.authorId,
    author: `user${m.authorId}`,
    content: m.data.content,
    message_type: 'text',
    parent_message_id: m.data.parent_id ?? null,
    thread_count: 0,
    is_edited: false,
    edit_count: 0,
    is_pinned: false,
    metadata: m.data.metadata ?? {},
    client_id: m.data.client_id ?? null,
    created_at: m.createdAt,
  };
}
