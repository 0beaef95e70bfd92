//! Tokens and passwords: HS256 JWTs with `exp`, argon2id hashes.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

/// What a token says. The contract requires `sub` and `exp` only (an identity provider may
/// send no more); tokens natter issues also carry `iat` and a session id `sid`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before, seconds since the epoch: refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The session (one sign-in) the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// Set by an identity provider for administrators (natter never issues it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    pub fn issue(&self, user: Uuid) -> Result<String, ApiError> {
        let now = now_secs();
        let claims = Claims {
            sub: user,
            exp: now.saturating_add(self.ttl.as_secs()),
            iat: Some(now),
            nbf: None,
            sid: Some(Uuid::now_v7()),
            admin: false,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| {
            tracing::error!(error = %e, "signing token");
            ApiError::new(natter_schemas::ErrorCode::Internal, "internal error")
        })
    }

    /// Checks signature, algorithm (HS256 only: `alg: none` and others are refused) and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("the token has expired")
                }
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                    ApiError::unauthorized("the token is not valid yet (nbf)")
                }
                _ => ApiError::unauthorized("the token is invalid"),
            })
    }
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An authenticated caller (`Authorization: Bearer <token>`).
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: Uuid,
    /// Token expiry, seconds since the epoch.
    pub exp: u64,
    /// The token says so (`"admin": true`); see also `NATTER_ADMIN_USER_IDS`.
    pub admin: bool,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)
            .or_else(|| query_token(parts))
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let claims = state.tokens().verify(&token)?;
        // A validly signed token of no registered user is refused like a bad one.
        if !state.user_exists(claims.sub).await? {
            return Err(ApiError::unauthorized("the token's user does not exist"));
        }
        Ok(Self {
            id: claims.sub,
            exp: claims.exp,
            admin: claims.admin,
        })
    }
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

/// Password hashing is CPU- and memory-hard on purpose (argon2id: about 19 MiB each). It runs
/// on a few dedicated threads, one per core: a burst of registrations or logins neither
/// starves the other work nor balloons memory (each short-lived blocking thread would keep its
/// own 19 MiB malloc arena).
type Job = Box<dyn FnOnce() + Send>;

fn hashers() -> &'static std::sync::Mutex<std::sync::mpsc::Sender<Job>> {
    static POOL: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("natter-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
        }
        std::sync::Mutex::new(tx)
    })
}

/// Runs `work` on a hashing thread.
async fn on_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(work());
    });
    hashers().lock().ok()?.send(job).ok()?;
    rx.await.ok()
}

/// argon2id with the crate's default (OWASP) parameters.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    on_hasher(move || {
        use argon2::PasswordHasher;
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    .ok_or_else(|| ApiError::internal(&"the password hashing threads are gone"))?
    .map_err(|e| ApiError::internal(&format_args!("hashing a password: {e}")))
}

/// Whether `password` is the one `hash` was made from. A stored hash that cannot be read (or
/// no hashing thread) is logged, and the password refused.
pub async fn verify_password(password: String, hash: String) -> bool {
    let verified = on_hasher(move || {
        use argon2::PasswordVerifier;
        use argon2::password_hash::Error;
        match argon2::Argon2::default().verify_password(password.as_bytes(), hash.as_str()) {
            Ok(()) => Ok(true),
            Err(Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await;
    match verified {
        Some(Ok(ok)) => ok,
        Some(Err(e)) => {
            tracing::error!(error = %e, "a stored password hash cannot be read");
            false
        }
        None => {
            tracing::error!("the password hashing threads are gone");
            false
        }
    }
}
