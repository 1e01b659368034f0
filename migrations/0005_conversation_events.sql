-- The events that change a conversation's stored state after a message is written: edits,
-- deletes, reactions and pins. Each takes the conversation's next `seq`, as a message does, and
-- is kept here so that `resume` replays it in order (messages come from `messages`, these from
-- here, merged by seq). `data` is the event's wire data as clients received it; the row that the
-- event changed (messages, message_reactions, pinned_messages) holds the current state that
-- history and REST read.
CREATE TABLE conversation_events (
  conversation_id BIGINT      NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  seq             BIGINT      NOT NULL CHECK (seq > 0),
  type            TEXT        NOT NULL CHECK (type IN ('message_edited', 'message_deleted', 'reaction_added',
                                                       'reaction_removed', 'message_pinned', 'message_unpinned')),
  message_id      BIGINT      NOT NULL,
  data            JSONB       NOT NULL,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, seq)
);
-- A delete scrubs the content its message's earlier edit events carried.
CREATE INDEX conversation_events_message_idx ON conversation_events (message_id);

-- A deleted message stays as a tombstone: its seq keeps the conversation's order, its content is
-- gone (emptied by the delete, never returned).
ALTER TABLE messages ADD COLUMN deleted_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN deleted_by BIGINT;
