//! The preview fetcher: an HTTP client that goes only where [`Policy`] allows.
//!
//! - Names are resolved by the client's own resolver, which checks every address and hands
//!   the connector only the allowed ones: what was checked is what is connected to.
//! - IP literals (which no resolver sees) are checked from the URL.
//! - Redirects are followed by hand, each target checked like the first URL, at most a few.
//! - No proxy from the environment, no cookies, one time limit for the whole fetch (redirects
//!   included), and a byte limit on what is read: a page is cut there (its head is what
//!   matters), an image past it is refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use url::Url;

use crate::policy::{Policy, Refused};

/// Why a fetch gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("more than {0} redirects")]
    Redirects(usize),
    #[error("status {0}")]
    Status(reqwest::StatusCode),
    #[error("content type {0:?} is not what was asked for")]
    ContentType(String),
    #[error("larger than {0} bytes")]
    TooLarge(usize),
    #[error("timed out")]
    Timeout,
    #[error("request failed: {0}")]
    Http(#[source] reqwest::Error),
}

/// What is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTML page: cut at the byte limit.
    Page,
    /// An image: refused past the byte limit.
    Image,
}

impl Kind {
    fn accept(self) -> &'static str {
        match self {
            Self::Page => "text/html,application/xhtml+xml;q=0.9",
            Self::Image => "image/png,image/jpeg,image/webp,image/gif",
        }
    }

    fn wants(self, content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match self {
            Self::Page => matches!(essence.as_str(), "text/html" | "application/xhtml+xml"),
            Self::Image => essence.starts_with("image/"),
        }
    }
}

/// A fetched resource.
#[derive(Debug)]
pub struct Fetched {
    /// Where it was found, after redirects.
    pub url: Url,
    pub bytes: Bytes,
}

/// The fetcher's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_page_bytes: usize,
    pub max_image_bytes: usize,
    pub max_redirects: usize,
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<Policy>,
    limits: Limits,
}

impl Fetcher {
    pub fn new(policy: Policy, limits: Limits) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .dns_resolver(CheckedResolver(policy.clone()))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(limits.timeout)
            .user_agent(concat!("natter-previews/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            policy,
            limits,
        })
    }

    /// Fetches `url` as `kind`, within the limits.
    pub async fn fetch(&self, url: Url, kind: Kind) -> Result<Fetched, FetchError> {
        tokio::time::timeout(self.limits.timeout, self.follow(url, kind))
            .await
            .map_err(|_| FetchError::Timeout)?
    }

    async fn follow(&self, mut url: Url, kind: Kind) -> Result<Fetched, FetchError> {
        for _ in 0..=self.limits.max_redirects {
            self.policy.check_url(&url)?;
            let response = self
                .client
                .get(url.clone())
                .header(ACCEPT, kind.accept())
                .send()
                .await
                .map_err(|e| match refusal(&e) {
                    Some(refused) => FetchError::Refused(refused),
                    None => FetchError::Http(e),
                })?;
            let status = response.status();
            if status.is_redirection() {
                let target = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .ok_or(FetchError::Status(status))?;
                url = target;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status));
            }
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if !kind.wants(&content_type) {
                return Err(FetchError::ContentType(content_type));
            }
            let bytes = self.read(response, kind).await?;
            return Ok(Fetched { url, bytes });
        }
        Err(FetchError::Redirects(self.limits.max_redirects))
    }

    /// The body, up to the limit.
    async fn read(&self, mut response: reqwest::Response, kind: Kind) -> Result<Bytes, FetchError> {
        let limit = match kind {
            Kind::Page => self.limits.max_page_bytes,
            Kind::Image => self.limits.max_image_bytes,
        };
        let declared = response.content_length().unwrap_or(0);
        if kind == Kind::Image && declared > limit as u64 {
            return Err(FetchError::TooLarge(limit));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::Http)? {
            let room = limit - body.len();
            if chunk.len() > room {
                if kind == Kind::Image {
                    return Err(FetchError::TooLarge(limit));
                }
                body.extend_from_slice(&chunk[..room]);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// The policy's refusal behind a failed request, if that is why it failed.
fn refusal(error: &reqwest::Error) -> Option<Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        source = e.source();
    }
    None
}

/// Resolves names and keeps only the addresses the policy allows.
struct CheckedResolver(Arc<Policy>);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            policy.check_name(&host)?;
            let allowed: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| policy.check_ip(addr.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Refused::NoAddress(host)) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
