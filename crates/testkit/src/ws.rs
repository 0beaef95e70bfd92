//! A WebSocket client: request/reply by id, other frames kept in arrival order.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use uuid::Uuid;

/// How a socket was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsClosed {
    pub code: Option<u16>,
    pub reason: String,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client: request/reply by id, with other frames kept in arrival order.
pub struct Ws {
    socket: Socket,
    pending: VecDeque<Value>,
    next_id: u64,
    /// The `hello` frame.
    pub hello: Value,
}

const WAIT: Duration = Duration::from_secs(10);

impl Ws {
    /// Connects with `Authorization: Bearer`, and reads `hello`.
    pub async fn connect(ws_url: &str, token: &str) -> Result<Self, tungstenite::Error> {
        let mut request = ws_url.into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        Self::open(request).await
    }

    /// Connects with `?token=`.
    pub async fn connect_query(ws_url: &str, token: &str) -> Result<Self, tungstenite::Error> {
        Self::open(format!("{ws_url}?token={token}").into_client_request()?).await
    }

    /// Connects without a token, as a browser does: nothing is read yet; the first frame sent
    /// must be `auth` ([`Ws::sign_in`]).
    pub async fn connect_bare(ws_url: &str) -> Result<Self, tungstenite::Error> {
        let request = ws_url.into_client_request()?;
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
        Ok(Self {
            socket,
            pending: VecDeque::new(),
            next_id: 1,
            hello: Value::Null,
        })
    }

    /// Signs in a socket from [`Ws::connect_bare`] with an `auth` frame: its reply, once
    /// `hello` has come too.
    pub async fn sign_in(&mut self, token: &str) -> Value {
        let reply = self.request(json!({"type": "auth", "token": token})).await;
        if reply["ok"] == true {
            self.hello = self.next_of("hello").await;
        }
        reply
    }

    /// Connects with a small TCP receive buffer (`bytes`), so that a client that stops reading
    /// pushes back on the server after kilobytes rather than after the megabytes Linux would
    /// otherwise grow the window to.
    pub async fn connect_with_recv_buffer(
        ws_url: &str,
        token: &str,
        bytes: u32,
    ) -> Result<Self, tungstenite::Error> {
        let mut request = ws_url.into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let host = request.uri().host().unwrap_or("127.0.0.1").to_owned();
        let port = request.uri().port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))?;
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_recv_buffer_size(bytes)?;
        let stream = socket.connect(addr).await?;
        let (socket, _) = tokio_tungstenite::client_async_with_config(
            request,
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
            None,
        )
        .await?;
        Self::ready(socket).await
    }

    async fn open(
        request: tungstenite::handshake::client::Request,
    ) -> Result<Self, tungstenite::Error> {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
        Self::ready(socket).await
    }

    /// Reads `hello` on a connected socket.
    async fn ready(socket: Socket) -> Result<Self, tungstenite::Error> {
        let mut ws = Self {
            socket,
            pending: VecDeque::new(),
            next_id: 1,
            hello: Value::Null,
        };
        let hello = ws.next_frame().await;
        assert_eq!(hello["type"], "hello", "first frame: {hello}");
        ws.hello = hello;
        Ok(ws)
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.expect("ws send");
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.send_raw(Message::text(frame.to_string())).await;
    }

    async fn read(&mut self) -> Option<Result<Value, WsClosed>> {
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("timed out waiting for a frame")?;
            match message {
                Ok(Message::Text(text)) => {
                    return Some(Ok(serde_json::from_str(text.as_str()).expect("json frame")));
                }
                Ok(Message::Close(frame)) => {
                    return Some(Err(WsClosed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    }));
                }
                Ok(_) => continue,
                Err(e) => {
                    return Some(Err(WsClosed {
                        code: None,
                        reason: e.to_string(),
                    }));
                }
            }
        }
    }

    /// The next frame of any type (panics on close).
    pub async fn next_frame(&mut self) -> Value {
        if let Some(frame) = self.pending.pop_front() {
            return frame;
        }
        match self.read().await {
            Some(Ok(frame)) => frame,
            other => panic!("socket ended: {other:?}"),
        }
    }

    /// Sends `frame` with a fresh id and returns the matching reply; other frames are kept.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        frame["id"] = json!(id);
        self.send_json(frame).await;
        loop {
            match self.read().await {
                Some(Ok(f)) if f["type"] == "reply" && f["id"] == json!(id) => return f,
                Some(Ok(f)) => self.pending.push_back(f),
                other => panic!("socket ended before reply {id}: {other:?}"),
            }
        }
    }

    /// `request` that must succeed; returns `data`.
    pub async fn ok(&mut self, frame: Value) -> Value {
        let reply = self.request(frame.clone()).await;
        assert_eq!(reply["ok"], true, "{frame} -> {reply}");
        reply["data"].clone()
    }

    pub async fn subscribe(&mut self, room: Uuid) -> Value {
        self.ok(json!({"type": "subscribe", "room_id": room})).await
    }

    pub async fn send_message(&mut self, room: Uuid, client_msg_id: &str, body: &str) -> Value {
        self.ok(
            json!({"type": "send", "room_id": room, "client_msg_id": client_msg_id, "body": body}),
        )
        .await
    }

    /// The next frame of type `ty`, skipping others of no interest (pongs, notices...).
    pub async fn next_of(&mut self, ty: &str) -> Value {
        loop {
            let frame = self.next_frame().await;
            if frame["type"] == ty {
                return frame;
            }
        }
    }

    /// The next `n` room events.
    pub async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.next_of("event").await);
        }
        out
    }

    /// The seqs of the next `n` room events.
    pub async fn event_seqs(&mut self, n: usize) -> Vec<u64> {
        seqs(&self.events(n).await)
    }

    /// Asserts that no room event arrives within `window` (other frames are fine).
    pub async fn assert_no_events(&mut self, window: Duration) {
        let frames = self.drain(window).await;
        assert!(
            frames.iter().all(|f| f["type"] != "event"),
            "no more events expected: {frames:?}"
        );
    }

    /// Every frame the server queued for this socket before it handled a `ping` sent now
    /// (frames already received included; the ping's own answers left out): what the socket
    /// has been given so far, without waiting for a time window.
    pub async fn settle(&mut self) -> Vec<Value> {
        let reply = self.request(json!({"type": "ping"})).await;
        assert_eq!(reply["ok"], true, "ping -> {reply}");
        self.pending
            .drain(..)
            .filter(|f| f["type"] != "pong")
            .collect()
    }

    /// Frames received within `window` (for "nothing more arrives" checks).
    pub async fn drain(&mut self, window: Duration) -> Vec<Value> {
        let mut out: Vec<Value> = self.pending.drain(..).collect();
        while let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(window, self.socket.next()).await
        {
            out.push(serde_json::from_str(text.as_str()).expect("json"));
        }
        out
    }

    /// Reads until the server closes the socket; returns how.
    pub async fn closed(&mut self) -> WsClosed {
        loop {
            match self.read().await {
                Some(Ok(_)) => continue,
                Some(Err(closed)) => return closed,
                None => {
                    return WsClosed {
                        code: None,
                        reason: "stream ended".into(),
                    };
                }
            }
        }
    }

    /// The next frame of any type, or `None` once the socket is closed (or broken).
    pub async fn next_any(&mut self) -> Option<Value> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        match self.socket.next().await? {
            Ok(Message::Text(text)) => serde_json::from_str(text.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => None,
            Ok(_) => Some(Value::Null),
        }
    }

    /// Every frame until the server closes the socket, and how it closed.
    pub async fn frames_until_closed(&mut self) -> (Vec<Value>, WsClosed) {
        let mut frames: Vec<Value> = self.pending.drain(..).collect();
        loop {
            match self.read().await {
                Some(Ok(frame)) => frames.push(frame),
                Some(Err(closed)) => return (frames, closed),
                None => {
                    let closed = WsClosed {
                        code: None,
                        reason: "stream ended".into(),
                    };
                    return (frames, closed);
                }
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// The `seq` of each event frame.
pub fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["seq"].as_u64().expect("event seq"))
        .collect()
}
