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
}

impl Credentials {
    pub fn user(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            status_text: self.status_text.clone(),
            created_at: self.created_at,
        }
    }
}

const USER_COLUMNS: &str = "id, username, display_name, status_text, created_at, password_hash";

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
    let row: Option<Credentials> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|c| c.user()))
}

/// Which of `ids` exist.
pub async fn existing_users(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// Which of `users` share a room (or a direct conversation) with `viewer`.
pub async fn sharing_a_room(
    pool: &PgPool,
    viewer: Uuid,
    users: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT o.user_id FROM members v
         JOIN members o ON o.room_id = v.room_id
         WHERE v.user_id = $1 AND o.user_id = ANY($2)",
    )
    .bind(viewer)
    .bind(users)
    .fetch_all(pool)
    .await
}
