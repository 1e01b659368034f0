-- The messages table is the hot path: every chat message is one row, written in batches by a
-- shard's group committer. Two kinds of work on it checked nothing the writer had not already
-- made sure of, and cost most of each insert. Measured on embedded PGlite, batches of 32:
-- ≈150 µs per row with them, ≈85 without the foreign keys (INSERT), ≈36 → ≈21 µs per row
-- without the uuid index (COPY, src/store/message-copy.ts).
--
-- Foreign keys. Each ran a lookup that locks the referenced row (SELECT … FOR KEY SHARE) for every
-- message. A message is written only by its conversation's RoomActor, which exists because the
-- conversation does, accepts only members (authenticated users) as authors, and checks that a
-- reply's parent is a message of the same conversation before submitting it (src/actors/room.ts).
-- A failing key also failed every other message of its batch: a reply to a made-up parent made
-- its batch-mates' sends fail too. Conversations and users are never deleted (no such operation
-- exists); whatever adds one deletes the conversation's messages itself.
ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_author_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_parent_fkey;

-- The uuid's unique index. A uuid is random (version 4, from the CSPRNG: gen_random_uuid() or
-- crypto.randomUUID()), so each insert landed on a random page of a 16-byte-key index, the most
-- expensive of the table's four. Nothing looks a message up by uuid (operations name messages by
-- id); the first feature that does adds a plain index.
ALTER TABLE messages DROP CONSTRAINT messages_uuid_key;
