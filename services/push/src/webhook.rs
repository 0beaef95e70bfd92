//! Calling the webhook: one POST per notification, its JSON body signed
//! (`Natter-Signature: t=<unix seconds>,v1=<HMAC-SHA256 of "<t>.<body>" under the secret,
//! base64url without padding>`) and carrying its idempotency key (`Idempotency-Key`, also the
//! body's `id`), retried with doubling backoff on network errors, timeouts, 408, 429 and 5xx;
//! any other answer is final.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const SIGNATURE_HEADER: &str = "Natter-Signature";

/// First wait between attempts; each next one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One message for one person who is not connected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `<message id>:<user id>`: the same on every retry and redelivery (the idempotency key).
    pub id: String,
    /// Whom to reach.
    pub user_id: Uuid,
    /// `mention` or `direct` (a message in a direct conversation).
    pub reason: String,
    pub room_id: Uuid,
    pub seq: u64,
    pub message_id: Uuid,
    pub sender_id: Uuid,
    pub sender_name: String,
    /// The start of the message (at most 200 characters); `null` for an encrypted one.
    pub text: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// `t=<timestamp>,v1=<signature>` for `body` sent at `timestamp` (seconds).
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={timestamp},v1={}",
        natter_files::sign::tag(secret, &signed)
    )
}

pub(crate) struct Webhook {
    http: reqwest::Client,
    url: String,
    secret: Vec<u8>,
    attempts: u32,
}

/// How a notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Delivered,
    /// Refused for good, or still failing after the last attempt.
    GivenUp,
}

impl Webhook {
    pub fn new(
        url: String,
        secret: String,
        timeout: Duration,
        attempts: u32,
    ) -> Result<Self, reqwest::Error> {
        // No proxy from the environment, no redirects: the operator named the place.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            url,
            secret: secret.into_bytes(),
            attempts: attempts.max(1),
        })
    }

    /// Sends `notification`, retrying as the module says.
    pub async fn send(&self, notification: &Notification) -> Sent {
        let body = serde_json::to_vec(notification).unwrap_or_default();
        let mut wait = FIRST_BACKOFF;
        for attempt in 1..=self.attempts {
            let now = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
            let sent = self
                .http
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("Idempotency-Key", &notification.id)
                .header(SIGNATURE_HEADER, sign(&self.secret, now, &body))
                .body(body.clone())
                .send()
                .await;
            let retry = match sent {
                Ok(res) if res.status().is_success() => {
                    metrics::counter!("natter_push_total", "outcome" => "delivered").increment(1);
                    return Sent::Delivered;
                }
                Ok(res) => {
                    let status = res.status().as_u16();
                    let retry = status == 408 || status == 429 || status >= 500;
                    tracing::warn!(id = %notification.id, status, attempt, "push webhook refused a notification");
                    retry
                }
                Err(e) => {
                    tracing::warn!(id = %notification.id, error = %e, attempt, "push webhook unreachable");
                    true
                }
            };
            if !retry || attempt == self.attempts {
                break;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_BACKOFF);
        }
        metrics::counter!("natter_push_total", "outcome" => "given_up").increment(1);
        tracing::error!(id = %notification.id, "push notification given up");
        Sent::GivenUp
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signature_covers_the_time_and_the_body() {
        let one = super::sign(b"k", 10, b"{}");
        assert!(one.starts_with("t=10,v1="));
        assert_ne!(one, super::sign(b"k", 11, b"{}"));
        assert_ne!(one, super::sign(b"k", 10, b"{ }"));
        assert_ne!(one, super::sign(b"j", 10, b"{}"));
    }
}
