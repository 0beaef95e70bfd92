//! Comparing a read model's tables across schemas (live and a verify's scratch copy): a digest
//! per table, and the rows only one side has.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, PgConnection};

use super::ident;
use crate::Projection;

/// A table's row count and a hash of its contents that does not depend on row order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    pub rows: i64,
    pub hash: String,
}

/// The digest of each of `projection`'s tables in `schema`, read on `conn` (inside a
/// transaction, the tables as of its snapshot).
pub async fn digests<P: Projection>(
    conn: &mut PgConnection,
    schema: &str,
    projection: &P,
) -> Result<BTreeMap<&'static str, TableDigest>, sqlx::Error> {
    let s = ident(schema);
    let mut out = BTreeMap::new();
    for table in projection
        .tables()
        .iter()
        .filter(|t| !projection.queues().contains(t))
    {
        // Each row's text hashed to 60 bits, summed (as numeric, which cannot overflow).
        let (rows, hash): (i64, String) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT count(*), to_hex((COALESCE(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)
                                      % 9223372036854775807)::bigint)
             FROM {s}.{table} t"
        )))
        .fetch_one(&mut *conn)
        .await?;
        out.insert(*table, TableDigest { rows, hash });
    }
    Ok(out)
}

/// Up to `limit` rows (as text) of `table` that are in schema `a` and not in `b`, and the same
/// the other way round.
pub async fn differing_rows(
    conn: &mut PgConnection,
    a: &str,
    b: &str,
    table: &str,
    limit: i64,
) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
    let (a, b) = (ident(a), ident(b));
    let only = |x: &str, y: &str| {
        format!(
            "SELECT r FROM (SELECT t::text AS r FROM {x}.{table} t
                            EXCEPT SELECT t::text FROM {y}.{table} t) d ORDER BY r LIMIT $1"
        )
    };
    let only_a = sqlx::query_scalar(AssertSqlSafe(only(&a, &b)))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let only_b = sqlx::query_scalar(AssertSqlSafe(only(&b, &a)))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    Ok((only_a, only_b))
}
