//! Which log the read models were built from.
//!
//! Seqs mean something only within one log. A database whose read models were built from
//! another log (another namespace's stream, or this namespace's stream recreated empty after
//! its data was lost) would be served as if it were this one's, or never catch up: the first
//! role to start on a database records the log's identity, and every role checks it.

use sqlx::PgPool;

/// A log: its stream's name and creation time (microseconds since 1970, the `epoch` clients
/// see in `hello`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogIdentity {
    pub stream: String,
    pub epoch: String,
}

impl std::fmt::Display for LogIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let created = self
            .epoch
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        match created {
            Some(created) => write!(
                f,
                "stream `{}` created {created} (epoch {})",
                self.stream, self.epoch
            ),
            None => write!(f, "stream `{}` (epoch {})", self.stream, self.epoch),
        }
    }
}

/// Why a database's read models are not this log's.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("its read models were built from {recorded}; this natter reads {this}")]
    Another {
        recorded: LogIdentity,
        this: LogIdentity,
    },
    /// A database from before identities were recorded, whose read models are further along
    /// than this log has events.
    #[error(
        "its read models have applied seq {checkpoint} ({projection}), but {this} ends at seq {head}"
    )]
    Ahead {
        projection: String,
        checkpoint: u64,
        head: u64,
        this: LogIdentity,
    },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The log the read models were built from, if one is recorded.
pub async fn recorded(pool: &PgPool) -> Result<Option<LogIdentity>, sqlx::Error> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT stream, epoch FROM log_identity WHERE only_row")
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(stream, epoch)| LogIdentity { stream, epoch }))
}

/// Checks that the read models are `this` log's, recording `this` on a database that has no
/// identity yet (a new one, or one from before identities were recorded, as long as no
/// checkpoint is past `head`, the log's last seq). Roles starting at once agree: the first
/// insert wins and every one compares with it.
pub async fn claim(pool: &PgPool, this: &LogIdentity, head: u64) -> Result<(), IdentityError> {
    if recorded(pool).await?.is_none() {
        let ahead: Option<(String, i64)> = sqlx::query_as(
            "SELECT name, last_seq FROM projection_checkpoints WHERE last_seq > $1
             ORDER BY last_seq DESC LIMIT 1",
        )
        .bind(i64::try_from(head).unwrap_or(i64::MAX))
        .fetch_optional(pool)
        .await?;
        if let Some((projection, checkpoint)) = ahead {
            return Err(IdentityError::Ahead {
                projection,
                checkpoint: u64::try_from(checkpoint).unwrap_or(0),
                head,
                this: this.clone(),
            });
        }
        sqlx::query(
            "INSERT INTO log_identity (only_row, stream, epoch) VALUES (true, $1, $2)
             ON CONFLICT (only_row) DO NOTHING",
        )
        .bind(&this.stream)
        .bind(&this.epoch)
        .execute(pool)
        .await?;
    }
    match recorded(pool).await? {
        Some(recorded) if recorded == *this => Ok(()),
        Some(recorded) => Err(IdentityError::Another {
            recorded,
            this: this.clone(),
        }),
        None => Err(sqlx::Error::RowNotFound.into()),
    }
}

/// Records `this` as the log the read models were built from: after every read model was
/// rebuilt from it.
pub async fn record(pool: &PgPool, this: &LogIdentity) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO log_identity (only_row, stream, epoch) VALUES (true, $1, $2)
         ON CONFLICT (only_row) DO UPDATE
         SET stream = excluded.stream, epoch = excluded.epoch, recorded_at = now()",
    )
    .bind(&this.stream)
    .bind(&this.epoch)
    .execute(pool)
    .await?;
    Ok(())
}
