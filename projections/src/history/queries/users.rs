//! Users: credentials for sign-in, profiles, existence, who shares a room with whom.

use chrono::{DateTime, Utc};
use natter_schemas::model::User;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// A user with the password hash, for login only.
#[derive(Debug, Clone, FromRow)]
pub struct Credentials {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub status_text: Option<String>,
    pub created_at: DateTime<Utc>,
    pub password_hash: String,
    pub avatar_id: Option<Uuid>,
}

impl Credentials {
    pub fn user(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            status_text: self.status_text.clone(),
            created_at: self.created_at,
            avatar_url: None,
            avatar_id: self.avatar_id,
        }
    }
}

const USER_COLUMNS: &str =
    "id, username, display_name, status_text, created_at, password_hash, avatar_id";

pub async fn credentials_by_username(
    pool: &PgPool,
    username: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
    )))
    .bind(username)
    .fetch_optional(pool)
    .await
}

pub async fn user(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    Ok(credentials(pool, id).await?.map(|c| c.user()))
}

/// A user with the password hash, by id (for a password change).
pub async fn credentials(pool: &PgPool, id: Uuid) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Which of `ids` exist.
pub async fn existing_users(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// The rooms (and direct conversations) `user` is a member of.
pub async fn member_rooms(pool: &PgPool, user: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT room_id FROM members WHERE user_id = $1")
        .bind(user)
        .fetch_all(pool)
        .await
}

/// Which of `users` are members of any of `rooms`.
pub async fn members_of_any(
    pool: &PgPool,
    rooms: &[Uuid],
    users: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM members WHERE room_id = ANY($1) AND user_id = ANY($2)",
    )
    .bind(rooms)
    .bind(users)
    .fetch_all(pool)
    .await
}

/// Who may be found in the user directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Findable {
    /// Everyone.
    All,
    /// Those who share a room (or a direct conversation) with the viewer, and the viewer.
    SharingARoom,
}

type ProfileRow = (
    Uuid,
    String,
    String,
    Option<String>,
    DateTime<Utc>,
    Option<Uuid>,
);

fn profile(r: ProfileRow) -> User {
    User {
        id: r.0,
        username: r.1,
        display_name: r.2,
        status_text: r.3,
        created_at: r.4,
        avatar_url: None,
        avatar_id: r.5,
    }
}

/// Users whose username, or a word of whose display name, starts with `folded` (already
/// folded: `natter_richtext::fold`), exact matches first, then by username; at most `limit`,
/// among those `viewer` may find.
pub async fn find_users(
    pool: &PgPool,
    folded: &str,
    viewer: Uuid,
    findable: Findable,
    limit: i64,
) -> Result<Vec<User>, sqlx::Error> {
    // Every key starting with `folded` lies in [folded, folded + U+10FFFF] bytewise.
    let upper = format!("{folded}\u{10FFFF}");
    let rows: Vec<ProfileRow> = sqlx::query_as(
        "WITH found AS (
             SELECT user_id FROM user_name_keys WHERE key = $1
             UNION
             (SELECT user_id FROM user_name_keys WHERE key >= $1 AND key <= $2 LIMIT 500))
         SELECT u.id, u.username, u.display_name, u.status_text, u.created_at, u.avatar_id
         FROM found f JOIN users u ON u.id = f.user_id
         WHERE NOT $4 OR u.id = $3 OR EXISTS (
             SELECT 1 FROM members v JOIN members o ON o.room_id = v.room_id
             WHERE v.user_id = $3 AND o.user_id = u.id)
         ORDER BY EXISTS (SELECT 1 FROM user_name_keys e WHERE e.user_id = u.id AND e.key = $1)
                  DESC, u.username
         LIMIT $5",
    )
    .bind(folded)
    .bind(&upper)
    .bind(viewer)
    .bind(findable == Findable::SharingARoom)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(profile).collect())
}

/// One user's profile by id or by username, if `viewer` may find them.
pub async fn find_user(
    pool: &PgPool,
    id: Option<Uuid>,
    username: Option<&str>,
    viewer: Uuid,
    findable: Findable,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<ProfileRow> = sqlx::query_as(
        "SELECT u.id, u.username, u.display_name, u.status_text, u.created_at, u.avatar_id
         FROM users u
         WHERE (u.id = $1 OR u.username = $2)
           AND (NOT $4 OR u.id = $3 OR EXISTS (
               SELECT 1 FROM members v JOIN members o ON o.room_id = v.room_id
               WHERE v.user_id = $3 AND o.user_id = u.id))",
    )
    .bind(id)
    .bind(username)
    .bind(viewer)
    .bind(findable == Findable::SharingARoom)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(profile))
}
