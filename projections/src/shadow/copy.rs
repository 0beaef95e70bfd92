//! Making a shadow table like a live one, under the same index names.

use sqlx::{AssertSqlSafe, PgConnection};

use super::ident;

/// Creates `to.table` like `from.table`: columns, defaults, not-null and check constraints,
/// generated columns, storage; then its primary key and unique constraints and its other
/// indexes under the same names, and its columns' statistics targets. Foreign keys are not
/// copied (read-model tables have none). Indexes named in `defer` are not built: their
/// statements are returned.
pub(super) async fn copy_table(
    conn: &mut PgConnection,
    from: &str,
    to: &str,
    table: &str,
    defer: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    let (f, t) = (ident(from), ident(to));
    let source = format!("{f}.{table}");
    let target = format!("{t}.{table}");
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {target} (LIKE {source} INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                                INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)"
    )))
    .execute(&mut *conn)
    .await?;
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = $1::regclass AND contype IN ('p', 'u') ORDER BY conname",
    )
    .bind(&source)
    .fetch_all(&mut *conn)
    .await?;
    for (name, definition) in keys {
        sqlx::query(AssertSqlSafe(format!(
            "ALTER TABLE {target} ADD CONSTRAINT {} {definition}",
            ident(&name)
        )))
        .execute(&mut *conn)
        .await?;
    }
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
         WHERE i.indrelid = $1::regclass
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
         ORDER BY i.indexrelid",
    )
    .bind(&source)
    .fetch_all(&mut *conn)
    .await?;
    let mut later = Vec::new();
    for (name, definition) in indexes {
        let statement = retarget_index(&definition, &target);
        // The name may print schema-qualified.
        let bare = name.rsplit('.').next().unwrap_or(&name).trim_matches('"');
        if defer.contains(&bare) {
            later.push(statement);
            continue;
        }
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut *conn)
            .await?;
    }
    let targets: Vec<(String, i32)> = sqlx::query_as(
        "SELECT attname::text, attstattarget::int FROM pg_attribute
         WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attstattarget > 0",
    )
    .bind(&source)
    .fetch_all(&mut *conn)
    .await?;
    for (column, stats) in targets {
        sqlx::query(AssertSqlSafe(format!(
            "ALTER TABLE {target} ALTER COLUMN {} SET STATISTICS {stats}",
            ident(&column)
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(later)
}

/// `CREATE [UNIQUE] INDEX name ON <table> USING ...` (as `pg_get_indexdef` prints it) made to
/// build the same index on `target`.
fn retarget_index(definition: &str, target: &str) -> String {
    match (definition.find(" ON "), definition.find(" USING ")) {
        (Some(on), Some(using)) if on < using => {
            let only = if definition[on + 4..].starts_with("ONLY ") {
                "ONLY "
            } else {
                ""
            };
            format!(
                "{} ON {only}{target}{}",
                &definition[..on],
                &definition[using..]
            )
        }
        _ => definition.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_definitions_are_moved_to_the_target_table() {
        assert_eq!(
            retarget_index(
                "CREATE INDEX members_by_user ON public.members USING btree (user_id, room_id)",
                "\"s\".members"
            ),
            "CREATE INDEX members_by_user ON \"s\".members USING btree (user_id, room_id)"
        );
        assert_eq!(
            retarget_index(
                "CREATE UNIQUE INDEX x ON ONLY public.t USING btree (a) WHERE deleted",
                "\"s\".t"
            ),
            "CREATE UNIQUE INDEX x ON ONLY \"s\".t USING btree (a) WHERE deleted"
        );
    }
}
