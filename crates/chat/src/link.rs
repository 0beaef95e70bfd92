//! The socket, kept open: it reconnects with backoff and jitter (refreshing the token when it
//! is refused), follows the rooms it was asked to from where it left off (`since`, `epoch`),
//! hands on each room event once, in order, and answers requests by id. While it is down,
//! requests fail at once ([`LinkError::Lost`]) rather than wait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natter_schemas::frames::{ClientEnvelope, ClientFrame, RequestId, close_code};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use uuid::Uuid;

use crate::api::Api;

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
    /// A room is not followed any more: following it again was refused (the reason).
    Unfollowed(Uuid, String),
    /// The session has ended (the reason): the token was refused and could not be refreshed.
    SignedOut(String),
}

/// Why a request has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// The connection is down or dropped before the reply: not sent, or not known to be.
    Lost,
    /// The server answered with an error (its sentence).
    Refused(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Lost => f.write_str("the connection is down"),
            Self::Refused(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for LinkError {}

type Reply = oneshot::Sender<Result<Value, LinkError>>;

enum Out {
    Request(ClientFrame, Reply),
    Tell(ClientFrame),
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
    online: Arc<AtomicBool>,
}

impl Link {
    /// Starts the connection task. What comes in is never held back by a reader that is busy
    /// waiting for a reply (a replay can bring thousands of events before it): the channel
    /// in is unbounded.
    pub fn start(api: Api) -> (Self, mpsc::UnboundedReceiver<Incoming>) {
        let (out, out_rx) = mpsc::channel(64);
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let followed = Arc::new(Mutex::new(Followed::default()));
        let online = Arc::new(AtomicBool::new(false));
        let link = Self {
            out,
            followed: followed.clone(),
            online: online.clone(),
        };
        tokio::spawn(run(api, out_rx, in_tx, followed, online));
        (link, in_rx)
    }

    /// A request; its reply's `data`, or why there is none.
    pub async fn request(&self, frame: ClientFrame) -> Result<Value, LinkError> {
        if !self.online.load(Ordering::Acquire) {
            return Err(LinkError::Lost);
        }
        let (tx, rx) = oneshot::channel();
        self.out
            .send(Out::Request(frame, tx))
            .await
            .map_err(|_| LinkError::Lost)?;
        rx.await.map_err(|_| LinkError::Lost)?
    }

    /// A frame without a reply (typing), dropped while the connection is down.
    pub async fn tell(&self, frame: ClientFrame) {
        if self.online.load(Ordering::Acquire) {
            let _ = self.out.send(Out::Tell(frame)).await;
        }
    }

    /// Follows a room from `since` (or from now), across reconnects.
    pub async fn follow(&self, room: Uuid, since: Option<u64>) -> Result<Value, LinkError> {
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

fn subscribe_frame(room: Uuid, since: Option<u64>, epoch: Option<&str>) -> ClientFrame {
    // `since` only with the log's epoch: a seq means nothing in another log.
    let (since, epoch) = match (since, epoch) {
        (Some(since), Some(epoch)) => (Some(since), Some(epoch.to_owned())),
        _ => (None, None),
    };
    ClientFrame::Subscribe {
        room_id: room,
        since,
        epoch,
    }
}

/// A frame as sent, with the id its reply will carry.
fn outgoing(id: Option<i64>, frame: ClientFrame) -> Message {
    let envelope = ClientEnvelope {
        id: id.map(RequestId::Number),
        frame,
    };
    Message::text(serde_json::to_string(&envelope).unwrap_or_default())
}

async fn run(
    api: Api,
    mut out: mpsc::Receiver<Out>,
    incoming: mpsc::UnboundedSender<Incoming>,
    followed: Arc<Mutex<Followed>>,
    online: Arc<AtomicBool>,
) {
    let mut attempt = 0u32;
    loop {
        let token = api.token().await;
        let ended = connected(
            &api,
            &token,
            &mut out,
            &incoming,
            &followed,
            &online,
            &mut attempt,
        )
        .await;
        online.store(false, Ordering::Release);
        match ended {
            Ended::ClientGone => return,
            Ended::Dropped => {}
            Ended::TokenRefused(reason) => {
                // Not refreshed, and no refresh token left (it was refused): the end. Not
                // reached (natter down) keeps it for the next attempt.
                if api.refresh(&token).await.is_err() && !api.can_refresh().await {
                    let _ = incoming.send(Incoming::SignedOut(reason));
                    return;
                }
            }
        }
        let _ = incoming.send(Incoming::Online(false));
        let ceiling = 500u64.saturating_mul(1 << attempt.min(6)).min(30_000);
        let jitter = u64::from(Uuid::new_v4().as_bytes()[0]) * ceiling / 512;
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(ceiling / 2 + jitter)).await;
    }
}

/// How a connection ended.
enum Ended {
    /// Dropped, or never made: try again.
    Dropped,
    /// The token was refused (at the handshake, or closed with 4001): refresh, then again.
    TokenRefused(String),
    /// The client is gone.
    ClientGone,
}

/// One connection, until it ends.
async fn connected(
    api: &Api,
    token: &str,
    out: &mut mpsc::Receiver<Out>,
    incoming: &mpsc::UnboundedSender<Incoming>,
    followed: &Arc<Mutex<Followed>>,
    online: &AtomicBool,
    attempt: &mut u32,
) -> Ended {
    let Ok(mut request) = api.ws_url().into_client_request() else {
        return Ended::ClientGone;
    };
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.headers_mut().insert("authorization", value);
    }
    let socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status() == 401 => {
            return Ended::TokenRefused("the token was refused".into());
        }
        Err(_) => return Ended::Dropped,
    };
    let (mut sink, mut stream) = socket.split();
    let mut waiting: HashMap<i64, Reply> = HashMap::new();
    // Subscriptions made again after a reconnect: their replies are read here.
    let mut resubscribing: HashMap<i64, Uuid> = HashMap::new();
    let mut next_id = 1i64;
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    loop {
        tokio::select! {
            frame = stream.next() => {
                let message = match frame {
                    Some(Ok(message)) => message,
                    _ => return Ended::Dropped,
                };
                let text = match message {
                    Message::Text(text) => text,
                    Message::Close(Some(close)) if close.code == CloseCode::from(close_code::UNAUTHORIZED) => {
                        return Ended::TokenRefused(close.reason.to_string());
                    }
                    Message::Close(_) => return Ended::Dropped,
                    _ => continue,
                };
                let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                match frame["type"].as_str() {
                    Some("hello") => {
                        *attempt = 0;
                        let (rooms, epoch) = {
                            let mut f = followed.lock().unwrap_or_else(|e| e.into_inner());
                            f.epoch = frame["epoch"].as_str().map(str::to_owned);
                            let rooms: Vec<(Uuid, Option<u64>)> = f.rooms.iter().map(|(r, s)| (*r, *s)).collect();
                            (rooms, f.epoch.clone())
                        };
                        for (room, since) in rooms {
                            let f = outgoing(Some(next_id), subscribe_frame(room, since, epoch.as_deref()));
                            resubscribing.insert(next_id, room);
                            next_id += 1;
                            if sink.send(f).await.is_err() { return Ended::Dropped }
                        }
                        online.store(true, Ordering::Release);
                        let _ = incoming.send(Incoming::Online(true));
                    }
                    Some("reply") => {
                        let id = frame["id"].as_i64().unwrap_or(0);
                        let result = if frame["ok"] == true { Ok(frame["data"].clone()) } else {
                            Err(LinkError::Refused(frame["error"]["message"].as_str().unwrap_or("refused").to_owned()))
                        };
                        if let Some(room) = resubscribing.remove(&id) {
                            resubscribed(room, result, followed, incoming);
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
                            let _ = incoming.send(Incoming::Event { room, seq, event: frame["event"].clone() });
                        }
                    }
                    Some("pong") => {}
                    _ => { let _ = incoming.send(Incoming::Frame(frame)); }
                }
            }
            item = out.recv() => {
                let Some(item) = item else { return Ended::ClientGone };
                let message = match item {
                    Out::Request(frame, tx) => {
                        let id = next_id;
                        next_id += 1;
                        waiting.insert(id, tx);
                        outgoing(Some(id), frame)
                    }
                    Out::Tell(frame) => outgoing(None, frame),
                };
                if sink.send(message).await.is_err() { return Ended::Dropped }
            }
            _ = ping.tick() => {
                if sink.send(outgoing(None, ClientFrame::Ping)).await.is_err() { return Ended::Dropped }
            }
        }
    }
}

/// A room followed again after a reconnect: resumed, reset (history must be reloaded), or
/// refused (no longer followed, and said so).
fn resubscribed(
    room: Uuid,
    result: Result<Value, LinkError>,
    followed: &Mutex<Followed>,
    incoming: &mpsc::UnboundedSender<Incoming>,
) {
    let mut f = followed.lock().unwrap_or_else(|e| e.into_inner());
    match result {
        Ok(data) if data["recovered"] == false => {
            f.rooms.insert(room, data["last_seq"].as_u64());
            let _ = incoming.send(Incoming::Reset(room));
        }
        Ok(_) => {}
        Err(e) => {
            f.rooms.remove(&room);
            let _ = incoming.send(Incoming::Unfollowed(room, e.to_string()));
        }
    }
}
