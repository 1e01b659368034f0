-- Moderation (issue 17): timed room bans with who and why, and global bans.
--
-- A room ban stays on the membership row (0001: the row outlives a leave, so leaving and joining
-- again cannot clear it). A banned row is no longer a membership: the ban removed the user from
-- the room, and lifting it deletes the row. `banned_until` NULL with `banned` set is permanent; a
-- timed ban past its end counts as none (the RoomActor deletes the row at the next join).
ALTER TABLE conversation_members
  ADD COLUMN banned_until TIMESTAMPTZ,
  ADD COLUMN banned_at    TIMESTAMPTZ,
  ADD COLUMN banned_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
  ADD COLUMN ban_reason   TEXT,
  ADD COLUMN muted_by     BIGINT REFERENCES users (id) ON DELETE SET NULL,
  ADD COLUMN mute_reason  TEXT;

-- A global ban: the user cannot log in, refresh or connect. `banned_at` NULL: not banned;
-- `banned_until` NULL with `banned_at` set: permanent; past `banned_until`: over.
ALTER TABLE users
  ADD COLUMN banned_at    TIMESTAMPTZ,
  ADD COLUMN banned_until TIMESTAMPTZ,
  ADD COLUMN ban_reason   TEXT;
