-- Avatars (history read model): a user's picture, one of their uploaded images
-- (`user.profile_updated`). A file that is someone's avatar is readable by every signed-in
-- user, and is not swept.
ALTER TABLE users ADD COLUMN avatar_id uuid;
CREATE INDEX users_avatar ON users (avatar_id) WHERE avatar_id IS NOT NULL;
