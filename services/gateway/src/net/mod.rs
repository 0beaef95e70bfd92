//! Accepting connections: caps on open connections (in all and per client address), the
//! request-head timeout, and the client address behind trusted proxies.
//!
//! - [`limits`]: the connection counts and their permits.
//! - [`client`]: who the client is (`X-Forwarded-For` from trusted proxies only).

pub mod client;
pub mod limits;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use natter_common::Shutdown;
use natter_schemas::{ErrorCode, ErrorDetail};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

pub use client::ClientAddr;
pub use limits::{Conns, Permit, Refused};

/// Connection limits and timeouts.
#[derive(Debug, Clone, clap::Args)]
pub struct NetConfig {
    /// Most connections (HTTP and WebSocket) open at once on this gateway; more are answered
    /// 503 and closed.
    #[arg(long, env = "NATTER_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,
    /// Most connections open at once from one client address; more are answered 429 and
    /// closed. Behind trusted proxies, the forwarded address's WebSockets count.
    #[arg(long, env = "NATTER_MAX_CONNECTIONS_PER_IP", default_value_t = 4096)]
    pub max_connections_per_ip: usize,
    /// Longest wait for a request's head (line and headers), in milliseconds, from when the
    /// connection opens or its previous response was sent: a slow or half-sent request and an
    /// idle keep-alive connection are both closed after it.
    #[arg(long, env = "NATTER_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Largest request head (line and headers), in bytes; larger is 431 `headers_too_large`.
    /// At most 100 headers.
    #[arg(long, env = "NATTER_MAX_HEADER_BYTES", default_value_t = 16_384)]
    pub max_header_bytes: usize,
    /// Proxies (addresses or CIDR ranges, comma-separated) whose `X-Forwarded-For` names the
    /// client; from anyone else the header is ignored.
    #[arg(long, env = "NATTER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for NetConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

impl NetConfig {
    pub fn is_trusted(&self, ip: &std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }
}

/// Serves `app` on `listener` until `shutdown`, then waits (bounded) for requests in flight.
/// Upgraded connections (WebSockets) live on with their sessions, which close themselves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &NetConfig,
    conns: Conns,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    // HTTP/1.1 only (WebSockets upgrade from it; behind a load balancer HTTP/2 ends there): a
    // protocol sniffer would wait for a first byte without any timeout.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(config.header_timeout_ms.max(1)))
        // Generous, so that the gateway's own check answers (with the error shape) before
        // hyper's bare 431 does; see [`head_limits`].
        .max_headers(HYPER_MAX_HEADERS);
    // Drain by ownership: each connection's task holds a sender; once the last is dropped,
    // every request in flight has been answered.
    let (in_flight, mut drained) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted: keep
                    // serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.wait() => break,
        };
        // Small frames must leave at once: no Nagle delay on sockets.
        let _ = tcp.set_nodelay(true);
        let counted = (!config.is_trusted(&peer.ip())).then(|| peer.ip());
        let permit = match conns.admit(counted) {
            Ok(permit) => permit,
            Err(refused) => {
                metrics::counter!("natter_gateway_connections_refused_total").increment(1);
                tokio::spawn(refuse(tcp, refused));
                continue;
            }
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req)
        });
        let io = TokioIo::new(Counted {
            tcp,
            _permit: permit,
        });
        let conn = builder.serve_connection(io, service).with_upgrades();
        let stop = shutdown.clone();
        let held = in_flight.clone();
        tokio::spawn(async move {
            let _held = held;
            tokio::pin!(conn);
            // An upgrade ends the connection's future: the WebSocket lives on in its session.
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = stop.wait() => {
                    // Answer what is in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    drop(in_flight);
    if tokio::time::timeout(Duration::from_secs(10), drained.recv())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after 10 s; stopping anyway");
    }
    Ok(())
}

/// Most headers hyper parses; the gateway answers more than [`MAX_HEADERS`] itself.
const HYPER_MAX_HEADERS: usize = 400;
/// Most headers a request may have.
pub const MAX_HEADERS: usize = 100;

/// Refuses request heads with more than [`MAX_HEADERS`] headers or more than
/// `max_header_bytes`, with 431 and the error shape (hyper itself only answers heads beyond
/// its own, larger, limits, without a body).
pub async fn head_limits(
    axum::extract::State(max_bytes): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = req.headers();
    let uri = req.uri();
    let bytes: usize = uri.path().len()
        + uri.query().map_or(0, str::len)
        + headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if headers.len() > MAX_HEADERS || bytes > max_bytes {
        return crate::error::Refusal(crate::error::ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!("request headers must be at most {MAX_HEADERS} headers and {max_bytes} bytes"),
        ))
        .into_response();
    }
    next.run(req).await
}

/// Answers a connection over a cap with the error shape, then closes it.
async fn refuse(mut tcp: TcpStream, refused: Refused) {
    let (status, detail) = match refused {
        Refused::Full => (
            "503 Service Unavailable",
            ErrorDetail::new(
                ErrorCode::Unavailable,
                "too many connections; retry shortly",
            ),
        ),
        Refused::PerAddress => (
            "429 Too Many Requests",
            ErrorDetail {
                retry_after_ms: Some(1000),
                ..ErrorDetail::new(
                    ErrorCode::RateLimited,
                    "too many connections from this address; close some first",
                )
            },
        ),
    };
    let body = serde_json::json!({ "error": detail }).to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tcp.write_all(response.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// A TCP connection holding its place among the open connections until it closes.
struct Counted {
    tcp: TcpStream,
    _permit: Permit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
