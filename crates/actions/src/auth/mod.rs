//! Who is calling: HS256 JWTs with `exp` ([`Tokens`]), checked against the sessions in the
//! log ([`revocation`]); refresh tokens ([`refresh`]); when sessions were last used ([`seen`]);
//! argon2id password hashes ([`hashing`]).

mod hashing;
pub mod refresh;
pub mod revocation;
pub mod seen;

pub use hashing::{hash_password, verify_password};

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use natter_realtime::hub::TokenRef;

use crate::Actions;
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

    /// A token of `user` for `session`.
    pub fn issue(&self, user: Uuid, session: Uuid) -> Result<String, ApiError> {
        let now = now_secs();
        let claims = Claims {
            sub: user,
            exp: now.saturating_add(self.ttl.as_secs()),
            iat: Some(now),
            nbf: None,
            sid: Some(session),
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

/// Who is who: natter's tokens, refresh tokens, whether sessions are still good, and when
/// each was last used.
pub struct Auth {
    pub tokens: Tokens,
    pub refresh: refresh::RefreshTokens,
    pub revocations: revocation::Revocations,
    pub seen: seen::Seen,
}

/// A caller whose token was checked: signed by us, unexpired, of a session that has not ended.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub id: Uuid,
    /// Token expiry, seconds since the epoch.
    pub exp: u64,
    /// The token says so (`"admin": true`); see also `NATTER_ADMIN_USER_IDS`.
    pub admin: bool,
    /// Which sign-in the token is of.
    pub token: TokenRef,
}

impl From<&Claims> for TokenRef {
    fn from(claims: &Claims) -> Self {
        Self {
            session: claims.sid,
            issued: claims.iat.unwrap_or(0),
        }
    }
}

impl Caller {
    /// The caller a token names, if it is good: signed by us, not expired, of a registered
    /// user and of a session that has not ended (a validly signed token of no registered
    /// user, or of an ended session, is refused like a bad one).
    pub async fn from_token(actions: &Actions, token: &str) -> Result<Self, ApiError> {
        let claims = actions.auth().tokens.verify(token)?;
        let token = TokenRef::from(&claims);
        actions.auth().revocations.check(claims.sub, token).await?;
        if let Some(session) = token.session {
            actions.auth().seen.touch(claims.sub, session);
        }
        Ok(Self {
            id: claims.sub,
            exp: claims.exp,
            admin: claims.admin,
            token,
        })
    }
}
