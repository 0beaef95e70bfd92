//! Accounts: registration, credentials, profile changes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user account was created. The credentials (an argon2id password hash, PHC string) live in
/// the log, sealed with the user's key (`crate::sealed`), so that the user read model can be
/// rebuilt from it.
///
/// Version 2; version 1 had a flat `password_hash` where `credentials` is now (see
/// [`crate::upcast`]), so that sign-ins other than a password can be added as new kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub credentials: Credentials,
}

/// How a user signs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credentials {
    /// A password, stored as its argon2id hash (PHC string).
    Password { hash: String },
}

impl Credentials {
    /// The password hash, for the kinds that have one.
    pub fn password_hash(&self) -> Option<&str> {
        match self {
            Self::Password { hash } => Some(hash),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct UserProfileUpdated {
    pub user_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `Some("")` clears the status text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// The new avatar: one of the user's uploaded images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_id: Option<Uuid>,
    /// The avatar was taken away.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear_avatar: bool,
}
