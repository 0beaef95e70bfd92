//! Operations: liveness, readiness, metrics.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use natter_schemas::rest::Health;

use crate::openapi::{Api, Doc};
use crate::state::AppState;

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
            Doc::get("Readiness: NATS, Postgres and Redis answer")
                .public()
                .ok::<Health>(200, "ready")
                .ok::<Health>(503, "a dependency is down"),
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

async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<Health>) {
    let timeout = std::time::Duration::from_secs(2);
    let mut checks = BTreeMap::new();
    let nats = match state.bus().client().connection_state() {
        async_nats::connection::State::Connected => "ok".to_owned(),
        other => format!("{other:?}"),
    };
    checks.insert("nats".to_owned(), nats);
    let pg = tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(state.pool())).await;
    checks.insert(
        "postgres".to_owned(),
        match pg {
            Ok(Ok(_)) => "ok".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        },
    );
    let mut redis = state.redis();
    let pong = tokio::time::timeout(
        timeout,
        redis::cmd("PING").query_async::<String>(&mut redis),
    )
    .await;
    checks.insert(
        "redis".to_owned(),
        match pong {
            Ok(Ok(_)) => "ok".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        },
    );
    let ready = checks.values().all(|v| v == "ok") && !state.shutdown().is_triggered();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: if ready { "ok" } else { "unavailable" }.into(),
        checks,
    };
    (status, axum::Json(health))
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics() {
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
