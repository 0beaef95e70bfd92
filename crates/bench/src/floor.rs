//! `floor`: what the socket writes alone cost on this machine. A minimal WebSocket
//! broadcaster (no log, no database, no JSON: each frame a publisher sends goes, as the same
//! bytes, to every subscriber, and the publisher gets a one-byte ack) runs as a process of its
//! own, and the `rate400` shape (1 room x 50 sockets, 5 publishers, 400 messages/s) is driven
//! through it. Its CPU per message is the floor natter's figures are read against.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::stats::{Percentiles, Samples, ms, read_proc, table};

#[derive(Debug, Clone, clap::Args)]
pub struct FloorArgs {
    /// Subscribed sockets.
    #[arg(long, default_value_t = 50)]
    pub subscribers: usize,
    /// Publishing sockets.
    #[arg(long, default_value_t = 5)]
    pub publishers: usize,
    /// Messages per second in all.
    #[arg(long, default_value_t = 400)]
    pub rate: u64,
    /// Measured seconds (after a 1 s warm-up).
    #[arg(long, default_value_t = 8)]
    pub duration: u64,
    /// Message size in bytes (natter's event frames for 100-byte bodies are about 500).
    #[arg(long, default_value_t = 500)]
    pub frame_bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FloorReport {
    pub subscribers: usize,
    pub publishers: usize,
    pub target_rate: u64,
    pub sent_per_s: f64,
    pub deliveries_per_s: f64,
    pub send_to_deliver: Percentiles,
    /// The broadcaster's CPU, percent of one core, and per message sent.
    pub server_cpu_percent: f64,
    pub server_ms_per_msg: f64,
}

/// Serves the broadcaster on `listener` until the process ends: a client's first frame says
/// `sub` or `pub`; a publisher's frames go to every subscriber.
pub async fn serve(listener: TcpListener) {
    type Subs = Arc<RwLock<Vec<mpsc::Sender<Message>>>>;
    let subs: Subs = Arc::default();
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        let subs = subs.clone();
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            let (mut sink, mut stream) = ws.split();
            let Some(Ok(Message::Text(role))) = stream.next().await else {
                return;
            };
            let (tx, mut rx) = mpsc::channel::<Message>(1024);
            if role.as_str() == "sub" {
                subs.write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(tx.clone());
            }
            // One writer per socket, coalescing what is queued into one flush.
            tokio::spawn(async move {
                while let Some(first) = rx.recv().await {
                    if sink.feed(first).await.is_err() {
                        return;
                    }
                    while let Ok(more) = rx.try_recv() {
                        if sink.feed(more).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
            });
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(_) = message {
                    for sub in subs
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .iter()
                    {
                        let _ = sub.try_send(message.clone());
                    }
                    let _ = tx.try_send(Message::text("k"));
                }
            }
        });
    }
}

/// Drives the shape through the broadcaster at `url` (`ws://host:port`), measuring the
/// process `server_pid`.
pub async fn run(args: &FloorArgs, url: &str, server_pid: u32) -> anyhow::Result<FloorReport> {
    let start = Instant::now();
    // Latency counts messages sent after the warm-up (connections settle in it).
    let warmup = Duration::from_secs(1);
    let measured_from = u64::try_from(warmup.as_micros()).unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let mut receivers = Vec::new();
    for _ in 0..args.subscribers {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        ws.send(Message::text("sub")).await?;
        let (stop, delivered) = (stop.clone(), delivered.clone());
        receivers.push(tokio::spawn(async move {
            let mut latency = Samples::default();
            loop {
                let next = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
                let text = match next {
                    Err(_) if stop.load(Ordering::Relaxed) => break,
                    Err(_) => continue,
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(_))) => continue,
                    Ok(_) => break,
                };
                delivered.fetch_add(1, Ordering::Relaxed);
                let sent: Option<u64> = text.split(' ').next().and_then(|m| m.parse().ok());
                if let Some(micros) = sent.filter(|m| *m >= measured_from) {
                    let at = start + Duration::from_micros(micros);
                    latency.push(Instant::now().saturating_duration_since(at));
                }
            }
            latency
        }));
    }
    // Subscribed before the first message: the broadcaster registers a socket on its first frame.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let total = warmup + Duration::from_secs(args.duration);
    let sent = Arc::new(AtomicU64::new(0));
    let count = args.publishers.max(1);
    let per_publisher = (args.rate as f64 / count as f64).max(0.1);
    let mut publishers = Vec::new();
    for p in 0..args.publishers {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        ws.send(Message::text("pub")).await?;
        let (sent, size) = (sent.clone(), args.frame_bytes);
        publishers.push(tokio::spawn(async move {
            let (mut sink, mut acks) = ws.split();
            tokio::spawn(async move { while let Some(Ok(_)) = acks.next().await {} });
            let gap = Duration::from_secs_f64(1.0 / per_publisher);
            // Publishers start spread over their first gap.
            let mut next = start + gap.mul_f64(p as f64 / count as f64);
            while next < start + total {
                tokio::time::sleep_until(next.into()).await;
                let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(0);
                let mut frame = format!("{micros} ");
                frame.extend(std::iter::repeat_n('x', size.saturating_sub(frame.len())));
                if sink.send(Message::text(frame)).await.is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                next += gap;
            }
        }));
    }
    tokio::time::sleep_until((start + warmup).into()).await;
    let cpu_start = read_proc(server_pid).map_or(0.0, |p| p.cpu_secs);
    let (sent_at, delivered_at, window_at) = (
        sent.load(Ordering::Relaxed),
        delivered.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep_until((start + total).into()).await;
    let cpu = read_proc(server_pid).map_or(0.0, |p| p.cpu_secs) - cpu_start;
    let window = window_at.elapsed().as_secs_f64();
    let sent_in_window = sent.load(Ordering::Relaxed) - sent_at;
    let delivered_in_window = delivered.load(Ordering::Relaxed) - delivered_at;
    for p in publishers {
        p.await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latency = Samples::default();
    for r in receivers {
        latency.extend(r.await?);
    }
    Ok(FloorReport {
        subscribers: args.subscribers,
        publishers: args.publishers,
        target_rate: args.rate,
        sent_per_s: sent_in_window as f64 / window,
        deliveries_per_s: delivered_in_window as f64 / window,
        send_to_deliver: latency.percentiles(),
        server_cpu_percent: cpu / window * 100.0,
        server_ms_per_msg: if sent_in_window == 0 {
            0.0
        } else {
            cpu * 1000.0 / sent_in_window as f64
        },
    })
}

pub fn print(r: &FloorReport) {
    table(
        &format!(
            "floor: a bare WebSocket broadcaster, 1 room x {} sockets, {} publishers, {} msg/s",
            r.subscribers, r.publishers, r.target_rate
        ),
        &[
            ("sent/s", format!("{:.0}", r.sent_per_s)),
            ("deliveries/s", format!("{:.0}", r.deliveries_per_s)),
            ("send -> deliver", ms(&r.send_to_deliver)),
            (
                "broadcaster cpu",
                format!(
                    "{:.0}% of one core: {:.3} ms per message",
                    r.server_cpu_percent, r.server_ms_per_msg
                ),
            ),
        ],
    );
}
