//! The database: created when missing, pooled, migrated.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::ProjectionError;

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connects to `url`, first creating its database when it does not exist (through the server's
/// `postgres` database), then runs the migrations.
pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
    timeout: Duration,
) -> Result<PgPool, ProjectionError> {
    create_database_if_missing(url, timeout).await?;
    let pool = connect(url, max_connections, timeout).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

pub async fn connect(
    url: &str,
    max_connections: u32,
    timeout: Duration,
) -> Result<PgPool, ProjectionError> {
    // Short queries, many at once: JIT compilation cost more than it saved (10-15 ms on the
    // unread and search queries, which it compiled once their estimates passed
    // `jit_above_cost`), and parallel workers for one search slowed all the others (two extra
    // processes per query on a machine already busy with concurrent requests: common-word
    // searches went from about 7 ms alone to 70 ms p50 with 4 at once).
    let options = PgConnectOptions::from_str(url)?
        .options([("jit", "off"), ("max_parallel_workers_per_gather", "0")]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(timeout)
        .connect_with(options)
        .await?)
}

pub async fn create_database_if_missing(
    url: &str,
    timeout: Duration,
) -> Result<(), ProjectionError> {
    let options = PgConnectOptions::from_str(url)?;
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let admin = options.clone().database("postgres");
    let mut conn = tokio::time::timeout(timeout, admin.connect())
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it at the same moment: PostgreSQL answers
            // `duplicate_database`, or, when both got past its own check, a unique violation
            // on `pg_database`'s name index.
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
            Err(e) => return Err(e.into()),
        }
    }
    conn.close().await?;
    Ok(())
}

/// Drops a database (tests clean up their namespaces with it).
pub async fn drop_database(url: &str) -> Result<(), ProjectionError> {
    let options = PgConnectOptions::from_str(url)?;
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let mut conn = options.database("postgres").connect().await?;
    let sql = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "\"\"")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
