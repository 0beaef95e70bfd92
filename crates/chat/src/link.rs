//! The socket, kept open: it reconnects with backoff and jitter, follows the rooms it was
//! asked to from where it left off (`since`, `epoch`), hands on each room event once, in
//! order, and answers requests by id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

/// What the socket hands on.
#[derive(Debug)]
pub enum Incoming {
    /// A room event, each once, in order.
    Event { room: Uuid, seq: u64, event: Value },
    /// Any other frame (typing, presence, notices).
    Frame(Value),
    /// Connected (again): true; lost: false.
    Online(bool),
    /// A room could not be resumed (too much missed, another log): reload its history.
    Reset(Uuid),
}

enum Out {
    Request(Value, oneshot::Sender<Result<Value, String>>),
    Tell(Value),
}

#[derive(Default)]
struct Followed {
    /// Room -> the last seq handed on (None: from now).
    rooms: HashMap<Uuid, Option<u64>>,
    epoch: Option<String>,
}

/// The handle the rest of the client uses.
#[derive(Clone)]
pub struct Link {
    out: mpsc::Sender<Out>,
    followed: Arc<Mutex<Followed>>,
}

impl Link {
    /// Starts the connection task.
    pub fn start(url: String, token: String) -> (Self, mpsc::Receiver<Incoming>) {
        let (out, out_rx) = mpsc::channel(64);
        let (in_tx, in_rx) = mpsc::channel(1024);
        let followed = Arc::new(Mutex::new(Followed::default()));
        tokio::spawn(run(url, token, out_rx, in_tx, followed.clone()));
        (Self { out, followed }, in_rx)
    }

    /// A request; its reply's `data`, or the error's sentence.
    pub async fn request(&self, frame: Value) -> Result<Value, String> {
        let (tx, rx) = oneshot::channel();
        self.out
            .send(Out::Request(frame, tx))
            .await
            .map_err(|_| "the connection is closed".to_owned())?;
        rx.await.map_err(|_| "the connection was lost".to_owned())?
    }

    /// A frame without a reply (typing).
    pub async fn tell(&self, frame: Value) {
        let _ = self.out.send(Out::Tell(frame)).await;
    }

    /// Follows a room from `since` (or from now), across reconnects.
    pub async fn follow(&self, room: Uuid, since: Option<u64>) -> Result<Value, String> {
        let frame = {
            let mut f = self.followed.lock().unwrap_or_else(|e| e.into_inner());
            let since = *f.rooms.entry(room).or_insert(since);
            subscribe_frame(room, since, f.epoch.as_deref())
        };
        let reply = self.request(frame).await?;
        self.record_subscribed(room, &reply);
        Ok(reply)
    }

    fn record_subscribed(&self, room: Uuid, reply: &Value) {
        let mut f = self.followed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(since) = f.rooms.get_mut(&room)
            && since.is_none()
        {
            *since = reply["last_seq"].as_u64();
        }
    }
}

fn subscribe_frame(room: Uuid, since: Option<u64>, epoch: Option<&str>) -> Value {
    match (since, epoch) {
        (Some(since), Some(epoch)) => {
            json!({"type": "subscribe", "room_id": room, "since": since, "epoch": epoch})
        }
        _ => json!({"type": "subscribe", "room_id": room}),
    }
}

async fn run(
    url: String,
    token: String,
    mut out: mpsc::Receiver<Out>,
    incoming: mpsc::Sender<Incoming>,
    followed: Arc<Mutex<Followed>>,
) {
    let mut attempt = 0u32;
    loop {
        if connected(&url, &token, &mut out, &incoming, &followed, &mut attempt).await {
            return; // the client is gone
        }
        let _ = incoming.send(Incoming::Online(false)).await;
        let ceiling = 500u64.saturating_mul(1 << attempt.min(6)).min(30_000);
        let jitter = u64::from(Uuid::new_v4().as_bytes()[0]) * ceiling / 512;
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(ceiling / 2 + jitter)).await;
    }
}

/// One connection, until it drops (false) or the client is gone (true).
async fn connected(
    url: &str,
    token: &str,
    out: &mut mpsc::Receiver<Out>,
    incoming: &mpsc::Sender<Incoming>,
    followed: &Arc<Mutex<Followed>>,
    attempt: &mut u32,
) -> bool {
    let Ok(mut request) = url.into_client_request() else {
        return true;
    };
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.headers_mut().insert("authorization", value);
    }
    let Ok((socket, _)) = tokio_tungstenite::connect_async(request).await else {
        return false;
    };
    let (mut sink, mut stream) = socket.split();
    let mut waiting: HashMap<u64, oneshot::Sender<Result<Value, String>>> = HashMap::new();
    // Subscriptions made again after a reconnect: their replies are read here.
    let mut resubscribing: HashMap<u64, Uuid> = HashMap::new();
    let mut next_id = 1u64;
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(message)) = frame else { return false };
                let Message::Text(text) = message else { continue };
                let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                match frame["type"].as_str() {
                    Some("hello") => {
                        *attempt = 0;
                        let rooms: Vec<(Uuid, Option<u64>)> = {
                            let mut f = followed.lock().unwrap_or_else(|e| e.into_inner());
                            f.epoch = frame["epoch"].as_str().map(str::to_owned);
                            f.rooms.iter().map(|(r, s)| (*r, *s)).collect()
                        };
                        let epoch = frame["epoch"].as_str().map(str::to_owned);
                        for (room, since) in rooms {
                            let mut f = subscribe_frame(room, since, epoch.as_deref());
                            f["id"] = json!(next_id);
                            resubscribing.insert(next_id, room);
                            next_id += 1;
                            if sink.send(Message::text(f.to_string())).await.is_err() { return false }
                        }
                        let _ = incoming.send(Incoming::Online(true)).await;
                    }
                    Some("reply") => {
                        let id = frame["id"].as_u64().unwrap_or(0);
                        let result = if frame["ok"] == true { Ok(frame["data"].clone()) } else {
                            Err(frame["error"]["message"].as_str().unwrap_or("refused").to_owned())
                        };
                        if let Some(room) = resubscribing.remove(&id) {
                            if let Ok(data) = &result && data["recovered"] == false {
                                followed
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .rooms
                                    .insert(room, data["last_seq"].as_u64());
                                let _ = incoming.send(Incoming::Reset(room)).await;
                            }
                        } else if let Some(tx) = waiting.remove(&id) {
                            let _ = tx.send(result);
                        }
                    }
                    Some("event") => {
                        let (Some(room), Some(seq)) = (
                            frame["room_id"].as_str().and_then(|r| r.parse::<Uuid>().ok()),
                            frame["seq"].as_u64(),
                        ) else { continue };
                        let fresh = {
                            let mut f = followed.lock().unwrap_or_else(|e| e.into_inner());
                            match f.rooms.get_mut(&room) {
                                Some(since) if since.is_none_or(|s| seq > s) => { *since = Some(seq); true }
                                _ => false,
                            }
                        };
                        if fresh {
                            let _ = incoming.send(Incoming::Event { room, seq, event: frame["event"].clone() }).await;
                        }
                    }
                    Some("pong") => {}
                    _ => { let _ = incoming.send(Incoming::Frame(frame)).await; }
                }
            }
            item = out.recv() => {
                let Some(item) = item else { return true };
                let (mut frame, tx) = match item {
                    Out::Request(frame, tx) => (frame, Some(tx)),
                    Out::Tell(frame) => (frame, None),
                };
                if let Some(tx) = tx {
                    frame["id"] = json!(next_id);
                    waiting.insert(next_id, tx);
                    next_id += 1;
                }
                if sink.send(Message::text(frame.to_string())).await.is_err() { return false }
            }
            _ = ping.tick() => {
                if sink.send(Message::text(r#"{"type":"ping"}"#)).await.is_err() { return false }
            }
        }
    }
}
