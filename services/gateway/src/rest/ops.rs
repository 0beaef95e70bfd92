//! Operations: liveness, readiness, metrics.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use natter_schemas::rest::Health;

use crate::openapi::{Api, Doc};
use std::sync::Arc;

use crate::state::Ops;
use natter_actions::Actions;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/healthz",
            get(healthz),
            Doc::get("Liveness: the process answers")
                .public()
                .ok::<Health>(200, "alive"),
        )
        .route(
            "/readyz",
            get(readyz),
            Doc::get(
                "Readiness: NATS and Postgres answer and the log takes appends (Redis down: 200, degraded)",
            )
            .public()
            .ok::<Health>(200, "ready (status `ok`, or `degraded` while only Redis is down)")
            .ok::<Health>(503, "NATS or Postgres is down, or the log is lost or full"),
        )
        .route(
            "/metrics",
            get(metrics),
            Doc::get("Prometheus metrics (text format)")
                .public()
                .empty(200, "metrics"),
        )
}

async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
        checks: BTreeMap::new(),
    })
}

async fn readyz(
    State(state): State<Actions>,
    State(ops): State<Arc<Ops>>,
) -> (StatusCode, axum::Json<Health>) {
    let timeout = std::time::Duration::from_secs(2);
    let nats = match state.bus().client().connection_state() {
        async_nats::connection::State::Connected => Check::Ok,
        _ => Check::Down,
    };
    let pg = tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(state.pool())).await;
    let mut redis = ops.redis();
    let pong = tokio::time::timeout(
        timeout,
        redis::cmd("PING").query_async::<String>(&mut redis),
    )
    .await;
    let log = match state.bus().standing() {
        natter_bus::Standing::Ok => Check::Ok,
        natter_bus::Standing::Lost(_) => Check::Lost,
        natter_bus::Standing::Full(_) => Check::Full,
    };
    let checks = [
        ("nats", nats),
        ("log", log),
        ("postgres", Check::of("postgres", pg)),
        ("redis", Check::of("redis", pong)),
    ];
    // Redis holds only what may be lost (presence, typing, rate limits): without it sends and
    // history still work, so the gateway stays in its load balancer, degraded.
    let needed = checks
        .iter()
        .filter(|(name, _)| *name != "redis")
        .all(|(_, c)| *c == Check::Ok);
    let ready = needed && !ops.shutdown().is_triggered();
    let degraded = checks.iter().any(|(_, c)| *c != Check::Ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: match (ready, degraded) {
            (true, false) => "ok",
            (true, true) => "degraded",
            (false, _) => "unavailable",
        }
        .into(),
        checks: checks
            .into_iter()
            .map(|(name, check)| (name.to_owned(), check.as_str().to_owned()))
            .collect(),
    };
    (status, axum::Json(health))
}

/// One dependency's readiness, as the public answer says it (the cause goes to the log).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Ok,
    Down,
    TimedOut,
    /// The log this process started on is gone or was made again.
    Lost,
    /// The log refuses appends for its storage.
    Full,
}

impl Check {
    fn of<T, E: std::fmt::Display>(
        name: &str,
        result: Result<Result<T, E>, tokio::time::error::Elapsed>,
    ) -> Self {
        match result {
            Ok(Ok(_)) => Self::Ok,
            Ok(Err(e)) => {
                tracing::warn!(check = name, error = %e, "not ready");
                Self::Down
            }
            Err(_) => {
                tracing::warn!(check = name, "not ready: timed out");
                Self::TimedOut
            }
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Down => "unavailable",
            Self::TimedOut => "timed out",
            Self::Lost => "lost",
            Self::Full => "full",
        }
    }
}

async fn metrics(State(ops): State<Arc<Ops>>) -> Response {
    match ops.metrics() {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}
