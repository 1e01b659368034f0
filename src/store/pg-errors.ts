import { ChatError, type ErrorDetail } from '../chat-error.js';

/**
 * PostgreSQL errors → ChatError codes, the database part of src/errors.ts toChatError. Expected
 * failures (a duplicate, a missing row a key points at, a value the column refuses) get the code a
 * client can act on and name the field; anything else is `internal`, with the original error kept
 * as `cause` for the log and never shown.
 */

/** The fields of a server error that both pg's DatabaseError and PGlite's carry. */
export interface ServerError {
  code: string;
  severity: string;
  constraint?: string | undefined;
}

/**
 * Duck-typed rather than `instanceof pg.DatabaseError`: through PGlite's node-postgres adapter
 * the error object is PGlite's own class, not pg's.
 */
export function isServerError(e: unknown): e is ServerError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    typeof (e as { severity?: unknown }).severity === 'string'
  );
}

/** Unique constraints and indexes (migrations/) with the field each protects. */
const UNIQUE: Record<string, { path: string; message: string }> = {
  users_username_key: { path: 'username', message: 'username already taken' },
  users_email_key: { path: 'email', message: 'e-mail already registered' },
  messages_conversation_seq_key: { path: 'seq', message: 'a message with this seq already exists in the conversation' },
  messages_author_client_key: { path: 'client_id', message: 'this author already sent a message with this client_id' },
  refresh_tokens_token_hash_key: { path: 'token', message: 'refresh token already stored' },
};

/** Foreign keys, by the column they are named after (`<table>_<column>_fkey`). */
function missingReference(constraint: string | undefined): { path: string; message: string } {
  const c = constraint ?? '';
  if (c === 'messages_parent_fkey') {
    return { path: 'parent_message_id', message: 'parent message not found in this conversation' };
  }
  if (/_(user_id|author_id|owner_id|user_low|user_high|uploader_id|actor_id|pinned_by)_fkey$/.test(c)) {
    return { path: 'user_id', message: 'user not found' };
  }
  if (/_conversation_id_fkey$/.test(c)) return { path: 'conversation_id', message: 'conversation not found' };
  if (/_message_id_fkey$/.test(c)) return { path: 'message_id', message: 'message not found' };
  return { path: c, message: 'referenced row not found' };
}

/** A PostgreSQL server error (see isServerError) as the ChatError a client may see. */
export function pgErrorToChatError(e: ServerError): ChatError {
  const details = (d: { path: string; message: string }): ErrorDetail[] => [d];
  switch (e.code) {
    case '23505': {
      const known = e.constraint === undefined ? undefined : UNIQUE[e.constraint];
      const d = known ?? { path: e.constraint ?? '', message: 'already exists' };
      return new ChatError('conflict', d.message, { details: details(d), cause: e });
    }
    case '23503': {
      const d = missingReference(e.constraint);
      return new ChatError('not_found', d.message, { details: details(d), cause: e });
    }
    case '23502':
    case '23514':
      return new ChatError('validation_failed', 'value refused by the database', { cause: e });
  }
  // Class 22, data exception: a malformed UUID, an unknown enum label, a string too long for its
  // column, a NUL byte in text.
  if (e.code.startsWith('22')) {
    return new ChatError('validation_failed', 'invalid value', { cause: e });
  }
  return new ChatError('internal', 'database error', { cause: e });
}

/**
 * Whether a failed read may be retried on another server: the connection failed or the server is
 * shutting down, as opposed to an error in the query itself.
 */
export function isConnectionFailure(e: unknown): boolean {
  if (!isServerError(e)) return true;
  return e.code.startsWith('08') || e.code.startsWith('57P') || e.code === '53300';
}
