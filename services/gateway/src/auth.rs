//! Who is calling a REST route: the token a request carries (`Authorization: Bearer`, or
//! `?token=` on the WebSocket upgrade), checked by the actions ([`Caller::from_token`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use natter_actions::auth::Caller;

use crate::AppState;
use crate::error::{ApiError, Refusal};

/// The caller of a REST route, refused with 401 unless their token is good.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub Caller);

impl std::ops::Deref for AuthUser {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let token =
            presented_token(parts).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        Ok(Self(Caller::from_token(state.actions(), &token).await?))
    }
}

/// The token a request carries: `Authorization: Bearer`, or on the WebSocket upgrade
/// `?token=`.
pub fn presented_token(parts: &Parts) -> Option<String> {
    bearer(parts).or_else(|| query_token(parts))
}

fn bearer(parts: &Parts) -> Option<String> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// `?token=` is accepted on the WebSocket upgrade only (browsers cannot set headers there).
fn query_token(parts: &Parts) -> Option<String> {
    if parts.uri.path() != "/v1/ws" {
        return None;
    }
    parts.uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| v.to_owned())
    })
}

/// The request's `User-Agent`, when it is text.
pub fn user_agent(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}
