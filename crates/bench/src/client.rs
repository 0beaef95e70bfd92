//! A lean client of natter's public surface, for load: REST with reqwest, WebSocket with
//! tokio-tungstenite, split so that sends and receives run concurrently.

use anyhow::{Context, bail};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
pub type WsSink = SplitSink<WsStream, Message>;
pub type WsSource = SplitStream<WsStream>;

#[derive(Clone)]
pub struct Client {
    pub base: String,
    http: reqwest::Client,
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

impl Client {
    pub fn new(base: &str) -> Self {
        natter_common::tls::install_crypto();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("{}/v1/ws", self.base.replacen("http", "ws", 1))
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("request {path}"))?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Uploads `bytes` as the multipart field `file`: (status, body).
    pub async fn upload(
        &self,
        user: &User,
        name: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<(u16, Value)> {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
        let res = self
            .http
            .post(format!("{}/v1/uploads", self.base))
            .bearer_auth(&user.token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .context("upload")?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Registers a fresh user (or logs in when the name exists).
    pub async fn user(&self, username: &str) -> anyhow::Result<User> {
        let creds = json!({"username": username, "password": "bench-password"});
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/register",
                None,
                Some(creds.clone()),
            )
            .await?;
        let body = if status == 409 {
            self.call(reqwest::Method::POST, "/v1/auth/login", None, Some(creds))
                .await?
                .1
        } else if status == 201 {
            body
        } else {
            bail!("register {username}: {status} {body}");
        };
        Ok(User {
            id: body["user"]["id"].as_str().context("user id")?.parse()?,
            token: body["token"].as_str().context("token")?.to_owned(),
        })
    }

    pub async fn create_room(&self, owner: &User, name: &str) -> anyhow::Result<Uuid> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/rooms",
                Some(&owner.token),
                Some(json!({"name": name, "visibility": "public"})),
            )
            .await?;
        if status != 201 {
            bail!("create room: {status} {body}");
        }
        Ok(body["id"].as_str().context("room id")?.parse()?)
    }

    pub async fn join(&self, user: &User, room: Uuid) -> anyhow::Result<()> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/rooms/{room}/join"),
                Some(&user.token),
                None,
            )
            .await?;
        if status != 200 {
            bail!("join: {status} {body}");
        }
        Ok(())
    }

    /// Opens a socket and reads `hello`.
    pub async fn connect(&self, user: &User) -> anyhow::Result<(WsSink, WsSource, Value)> {
        let mut request = self.ws_url().into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", user.token).parse()?);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
        let (sink, mut source) = ws.split();
        let hello = next_json(&mut source)
            .await?
            .context("closed before hello")?;
        Ok((sink, source, hello))
    }
}

/// The next text frame as JSON (`None` when the socket ended).
pub async fn next_json(source: &mut WsSource) -> anyhow::Result<Option<Value>> {
    while let Some(message) = source.next().await {
        match message? {
            Message::Text(text) => return Ok(Some(serde_json::from_str(text.as_str())?)),
            Message::Close(_) => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

pub async fn send_json(sink: &mut WsSink, frame: &Value) -> anyhow::Result<()> {
    sink.send(Message::text(frame.to_string())).await?;
    Ok(())
}

/// Subscribes and waits for the reply (other frames before it are dropped).
pub async fn subscribe(
    sink: &mut WsSink,
    source: &mut WsSource,
    room: Uuid,
    since: Option<(u64, &str)>,
) -> anyhow::Result<Value> {
    let mut frame = json!({"type": "subscribe", "room_id": room, "id": "sub"});
    if let Some((since, epoch)) = since {
        frame["since"] = json!(since);
        frame["epoch"] = json!(epoch);
    }
    send_json(sink, &frame).await?;
    loop {
        let frame = next_json(source)
            .await?
            .context("closed before subscribe reply")?;
        if frame["type"] == "reply" && frame["id"] == "sub" {
            if frame["ok"] != true {
                bail!("subscribe failed: {frame}");
            }
            return Ok(frame["data"].clone());
        }
    }
}

/// What [`read_loop`] saw: the latencies of the answers that were 200, how many were not,
/// and the first of those (its status and body, or why no answer came), to say why.
#[derive(Default)]
pub struct Reads {
    pub samples: crate::stats::Samples,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Reads {
    fn failed(&mut self, why: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why());
        }
    }
}

/// Runs `readers` concurrent loops of GET requests for `duration`: reader `r` asks for
/// `path(r)`, `path(r + 1)`, ...
pub async fn read_loop<F>(
    client: &Client,
    token: &str,
    readers: usize,
    duration: std::time::Duration,
    path: F,
) -> Reads
where
    F: Fn(u64) -> String + Send + Sync + Clone + 'static,
{
    let until = std::time::Instant::now() + duration;
    let mut tasks = Vec::with_capacity(readers);
    for r in 0..readers {
        let client = client.clone();
        let token = token.to_owned();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut reads = Reads::default();
            let mut i = r as u64;
            while std::time::Instant::now() < until {
                let t = std::time::Instant::now();
                let path = path(i);
                match client
                    .call(reqwest::Method::GET, &path, Some(&token), None)
                    .await
                {
                    Ok((200, _)) => reads.samples.push(t.elapsed()),
                    Ok((status, body)) => reads.failed(|| format!("GET {path}: {status} {body}")),
                    Err(e) => reads.failed(|| format!("GET {path}: {e:#}")),
                }
                i += 1;
            }
            reads
        }));
    }
    let mut all = Reads::default();
    for task in tasks {
        match task.await {
            Ok(reads) => {
                all.samples.extend(reads.samples);
                all.errors += reads.errors;
                all.first_error = all.first_error.or(reads.first_error);
            }
            Err(e) => all.failed(|| format!("a reader failed: {e}")),
        }
    }
    all
}
