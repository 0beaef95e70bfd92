//! Extractors whose rejections use the public error shape, and that refuse text the database
//! cannot hold (NUL) in any field, naming it, before a handler sees it.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Refusal};
use natter_actions::validate;

/// `Json<T>` answering bad bodies with `invalid` (413 `payload_too_large` when too big, and
/// `invalid` naming the field for a string holding NUL); a body that is not a JSON object is
/// `invalid` too.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        // Every body is an object: serde would read a struct from an array by position (`[]`
        // as an empty update).
        if !value.is_object() {
            return Err(
                ApiError::invalid("body", "the JSON body must be an object ({...})").into(),
            );
        }
        validate::no_nul_in(&value)?;
        validate::fit(&value).map(Json).map_err(|(field, message)| {
            let field = field.as_deref().unwrap_or("body");
            ApiError::invalid(field, format!("the JSON body does not fit: {message}")).into()
        })
    }
}

impl From<JsonRejection> for Refusal {
    fn from(rejection: JsonRejection) -> Self {
        Self(refused_json(rejection))
    }
}

fn refused_json(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large("the request body is too large")
    } else if let JsonRejection::BytesRejection(e) = &rejection {
        // The connection failed while the body was read: its cause is not the client's
        // JSON, and its text is the transport's.
        tracing::debug!(error = %e, "request body not read");
        ApiError::invalid("body", "the request body could not be read")
    } else {
        ApiError::invalid("body", rejection.body_text())
    }
}

/// `Path<T>` answering malformed ids with `invalid`.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if has_encoded_nul(parts.uri.path()) {
            return Err(ApiError::invalid("path", "the path must not contain NUL").into());
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

impl From<PathRejection> for Refusal {
    fn from(rejection: PathRejection) -> Self {
        Self(refused_path(rejection))
    }
}

fn refused_path(rejection: PathRejection) -> ApiError {
    match rejection {
        // A route without the parameters its handler takes: natter's bug, not the client's.
        PathRejection::MissingPathParams(e) => ApiError::internal(&e),
        other => ApiError::invalid("path", format!("malformed id: {}", other.body_text())),
    }
}

/// `Query<T>` answering bad parameters with `invalid` (naming the parameter that holds NUL).
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(query) = parts.uri.query()
            && let Some(pair) = query.split('&').find(|pair| has_encoded_nul(pair))
        {
            let name = pair.split('=').next().unwrap_or_default();
            let field = if has_encoded_nul(name) { "query" } else { name };
            return Err(ApiError::invalid(field, format!("{field} must not contain NUL")).into());
        }
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}

impl From<QueryRejection> for Refusal {
    fn from(rejection: QueryRejection) -> Self {
        Self(refused_query(rejection))
    }
}

fn refused_query(rejection: QueryRejection) -> ApiError {
    ApiError::invalid("query", rejection.body_text())
}

/// A percent-encoded NUL (`%00`) in a path or query (a raw NUL cannot be in a URI).
fn has_encoded_nul(raw: &str) -> bool {
    raw.as_bytes().windows(3).any(|w| w == b"%00")
}
