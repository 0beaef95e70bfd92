//! The user directory: the folded keys each user is found by (their username, and each word
//! of their display name), kept with `user.registered` and `user.profile_updated`.

use sqlx::PgConnection;
use uuid::Uuid;

/// The keys `username` and `display_name` give.
pub(crate) fn keys(username: &str, display_name: &str) -> Vec<String> {
    let mut keys = vec![natter_richtext::fold(username)];
    let name = natter_richtext::fold(display_name);
    keys.extend(name.split(' ').filter(|w| !w.is_empty()).map(str::to_owned));
    if name.contains(' ') {
        keys.push(name);
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Sets `user`'s keys (replacing the ones they had).
pub(crate) async fn set_keys(
    conn: &mut PgConnection,
    user: Uuid,
    username: &str,
    display_name: &str,
) -> Result<(), sqlx::Error> {
    let keys = keys(username, display_name);
    sqlx::query(
        "WITH gone AS (DELETE FROM user_name_keys WHERE user_id = $1)
         INSERT INTO user_name_keys (user_id, key)
         SELECT $1, k FROM unnest($2::text[]) AS k ON CONFLICT DO NOTHING",
    )
    .bind(user)
    .bind(&keys)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_user_is_found_by_name_and_each_word() {
        assert_eq!(
            super::keys("bob_smith", "Bob  Smith-Jönsson"),
            ["bob", "bob smith-jonsson", "bob_smith", "smith-jonsson"]
        );
    }
}
