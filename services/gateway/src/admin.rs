//! The admin API: what the cluster is doing, and the operator's hands on it.
//!
//! Admins are the users listed in `NATTER_ADMIN_USER_IDS`, or whose token carries
//! `"admin": true` (for tokens issued by an identity provider). Actions that concern sockets
//! go to every gateway over core NATS (`<ns>.admin.*`): each gateway answers for its own
//! sockets, and the caller gathers the answers for a moment (gateways that do not answer within
//! [`GATHER`] are left out, and said so by `gateways` in the answer).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use bytes::Bytes;
use futures::StreamExt;
use natter_bus::BusError;
use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::unread::Unread;
use natter_schemas::frames::close_code;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult, Refusal};
use crate::openapi::{Api, Doc};
use crate::rest::extract::Path;
use std::sync::Arc;

use crate::state::{AppState, Ops};
use natter_actions::Actions;
use natter_actions::commands;

/// How long answers from gateways are gathered.
const GATHER: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Connection {
    pub id: Uuid,
    pub user_id: Uuid,
    pub gateway_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GatewayStats {
    pub id: Uuid,
    pub connections: usize,
    /// Rooms with at least one subscribed socket on this gateway.
    pub rooms: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ConsumerLag {
    pub name: String,
    /// Events in the log after this reader's position.
    pub lag: u64,
    /// Its position: the last event acked (fan-out) or applied (projections).
    pub position: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AdminStats {
    pub gateways: Vec<GatewayStats>,
    pub connections: usize,
    /// The log's newest seq.
    pub last_seq: u64,
    /// Events appended per second, over the last 10 s or so (measured by this gateway).
    pub events_per_s: f64,
    pub consumers: Vec<ConsumerLag>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ConnectionList {
    pub connections: Vec<Connection>,
    /// How many gateways answered.
    pub gateways: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Disconnected {
    pub closed: usize,
}

/// What an admin asks every gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Report,
    Close {
        session: Option<Uuid>,
        user: Option<Uuid>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Answer {
    gateway: GatewayStats,
    connections: Vec<Connection>,
    closed: usize,
}

/// An authenticated admin.
pub struct AdminUser(pub AuthUser);

impl axum::extract::FromRequestParts<AppState> for AdminUser {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Refusal> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.admin || state.config().admin_user_ids.contains(&user.id) {
            Ok(Self(user))
        } else {
            Err(ApiError::forbidden("this needs an administrator").into())
        }
    }
}

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/admin/stats",
            get(stats),
            Doc::get(
                "Cluster figures: connections per gateway, events/s, each reader's lag (admins)",
            )
            .ok::<AdminStats>(200, "the figures"),
        )
        .route(
            "/v1/admin/connections",
            get(connections),
            Doc::get("Every open socket on every gateway that answers (admins)")
                .ok::<ConnectionList>(200, "the sockets"),
        )
        .route(
            "/v1/admin/connections/{id}",
            delete(disconnect),
            Doc::delete("Close one socket, on whichever gateway holds it (admins)")
                .ok::<Disconnected>(200, "closed"),
        )
        .route(
            "/v1/admin/users/{id}/sessions",
            delete(disconnect_user),
            Doc::delete("Close every socket of a user (admins)").ok::<Disconnected>(200, "closed"),
        )
        .route(
            "/v1/admin/users/{id}",
            delete(erase_user),
            Doc::delete(
                "Erase a user: their account and everything they wrote become unreadable (admins)",
            )
            .empty(204, "erased"),
        )
        .route(
            "/v1/admin/rooms/{id}",
            delete(archive),
            Doc::delete(
                "Archive a room: no more messages or joins, every subscription ends (admins)",
            )
            .empty(204, "archived"),
        )
}

/// Answers admin requests for this gateway's sockets until shutdown.
pub async fn serve(state: AppState, gateway: Uuid) {
    let subject = state.actions().bus().subjects().admin();
    let Ok(mut requests) = state.actions().bus().client().subscribe(subject).await else {
        tracing::warn!("cannot subscribe to admin requests");
        return;
    };
    let shutdown = state.ops().shutdown().clone();
    loop {
        let message = tokio::select! {
            () = shutdown.wait() => break,
            message = requests.next() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let Some(reply) = message.reply.clone() else {
            continue;
        };
        let Ok(request) = serde_json::from_slice::<Request>(&message.payload) else {
            continue;
        };
        let sockets = state.actions().hub().local_users().await;
        let mut closed = 0;
        if let Request::Close { session, user } = &request {
            closed = state
                .actions()
                .hub()
                .close_sessions(
                    *session,
                    *user,
                    close_code::BY_ADMIN,
                    "closed by an administrator",
                )
                .await;
        }
        let answer = Answer {
            gateway: GatewayStats {
                id: gateway,
                connections: state.actions().hub().session_count(),
                rooms: state.actions().hub().room_count().await,
            },
            connections: sockets
                .into_iter()
                .flat_map(|(user, sessions)| {
                    sessions.into_iter().map(move |id| Connection {
                        id,
                        user_id: user,
                        gateway_id: gateway,
                    })
                })
                .collect(),
            closed,
        };
        let payload = Bytes::from(serde_json::to_vec(&answer).unwrap_or_default());
        let _ = state.actions().bus().client().publish(reply, payload).await;
    }
}

/// Asks every gateway; gathers the answers for [`GATHER`].
async fn ask(state: &Actions, request: &Request) -> HttpResult<Vec<Answer>> {
    let client = state.bus().client();
    let inbox = client.new_inbox();
    let mut answers = client
        .subscribe(inbox.clone())
        .await
        .map_err(BusError::unavailable)?;
    let payload = Bytes::from(serde_json::to_vec(request).unwrap_or_default());
    client
        .publish_with_reply(state.bus().subjects().admin(), inbox, payload)
        .await
        .map_err(BusError::unavailable)?;
    let mut out = Vec::new();
    let until = tokio::time::Instant::now() + GATHER;
    while let Ok(Some(message)) = tokio::time::timeout_at(until, answers.next()).await {
        if let Ok(answer) = serde_json::from_slice::<Answer>(&message.payload) {
            out.push(answer);
        }
    }
    Ok(out)
}

async fn stats(
    State(state): State<Actions>,
    State(ops): State<Arc<Ops>>,
    _admin: AdminUser,
) -> HttpResult<axum::Json<AdminStats>> {
    let answers = ask(&state, &Request::Report).await?;
    let last_seq = state.bus().last_seq().await?;
    let mut consumers = Vec::new();
    if let Some((acked, _)) = state.bus().durable_position("fanout").await? {
        consumers.push(ConsumerLag {
            name: "fanout".into(),
            lag: last_seq.saturating_sub(acked),
            position: acked,
        });
    }
    for name in [History::NAME, Unread::NAME, Search::NAME] {
        let at = natter_projections::checkpoint(state.pool(), name).await?;
        consumers.push(ConsumerLag {
            name: name.to_owned(),
            lag: last_seq.saturating_sub(at),
            position: at,
        });
    }
    let gateways: Vec<GatewayStats> = answers.into_iter().map(|a| a.gateway).collect();
    Ok(axum::Json(AdminStats {
        connections: gateways.iter().map(|g| g.connections).sum(),
        gateways,
        last_seq,
        events_per_s: ops.event_rate(),
        consumers,
    }))
}

async fn connections(
    State(state): State<Actions>,
    _admin: AdminUser,
) -> HttpResult<axum::Json<ConnectionList>> {
    let answers = ask(&state, &Request::Report).await?;
    Ok(axum::Json(ConnectionList {
        gateways: answers.len(),
        connections: answers.into_iter().flat_map(|a| a.connections).collect(),
    }))
}

async fn disconnect(
    State(state): State<Actions>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<Disconnected>> {
    let closed = close(&state, Some(id), None).await?;
    if closed == 0 {
        return Err(ApiError::not_found("connection").into());
    }
    Ok(axum::Json(Disconnected { closed }))
}

async fn disconnect_user(
    State(state): State<Actions>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<Disconnected>> {
    Ok(axum::Json(Disconnected {
        closed: close(&state, None, Some(id)).await?,
    }))
}

async fn close(state: &Actions, session: Option<Uuid>, user: Option<Uuid>) -> HttpResult<usize> {
    let answers = ask(state, &Request::Close { session, user }).await?;
    Ok(answers.iter().map(|a| a.closed).sum())
}

async fn archive(
    State(state): State<Actions>,
    admin: AdminUser,
    Path(id): Path<Uuid>,
) -> HttpResult<StatusCode> {
    commands::archive_as_admin(&state, admin.0.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn erase_user(
    State(state): State<Actions>,
    admin: AdminUser,
    Path(id): Path<Uuid>,
) -> HttpResult<StatusCode> {
    commands::erasure::erase(&state, admin.0.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
