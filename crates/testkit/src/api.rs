//! A REST client for one user, as an app would use the API.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// A REST client for one user (or anonymous).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    pub user_id: Option<Uuid>,
    http: reqwest::Client,
}

impl Api {
    pub fn anonymous(base: &str) -> Self {
        natter_common::tls::install_crypto();
        Self {
            base: base.to_owned(),
            token: None,
            user_id: None,
            http: reqwest::Client::new(),
        }
    }

    /// Registers `username` (password `password123`) and returns a client logged in as them.
    pub async fn register(base: &str, username: &str) -> Self {
        let anon = Self::anonymous(base);
        let (status, body) = anon
            .post(
                "/v1/auth/register",
                json!({"username": username, "password": "password123"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        Self {
            token: body["token"].as_str().map(str::to_owned),
            user_id: body["user"]["id"].as_str().and_then(|s| s.parse().ok()),
            ..anon
        }
    }

    /// The same user against another gateway.
    pub fn at(&self, base: &str) -> Self {
        Self {
            base: base.to_owned(),
            ..self.clone()
        }
    }

    /// The same client with another token (or none).
    pub fn with_token(&self, token: Option<String>) -> Self {
        Self {
            token,
            ..self.clone()
        }
    }

    pub fn id(&self) -> Uuid {
        self.user_id.expect("a registered client")
    }

    pub fn token(&self) -> &str {
        self.token.as_deref().expect("a registered client")
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, text) = self.request_text(method, path, body).await;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Like [`Api::request`], with the answer's body as it came.
    pub async fn request_text(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("http request");
        let status = res.status();
        (status, res.text().await.unwrap_or_default())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    /// A DELETE with a JSON body.
    pub async fn delete_with(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::DELETE, path, Some(body))
            .await
    }

    /// Uploads `bytes` as the multipart field `file` named `name`: (status, body).
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str("text/html")
            .expect("a mime type");
        let form = reqwest::multipart::Form::new().part("file", part);
        let mut req = self
            .http
            .post(format!("{}/v1/uploads", self.base))
            .multipart(form);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("http request");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GETs `path` (with this client's token, if any, and `range` if given) for its bytes:
    /// (status, headers, body).
    pub async fn fetch(
        &self,
        path: &str,
        range: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(range) = range {
            req = req.header(reqwest::header::RANGE, range);
        }
        let res = req.send().await.expect("http request");
        let (status, headers) = (res.status(), res.headers().clone());
        let body = res.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        (status, headers, body)
    }

    /// Creates a room and returns its id.
    pub async fn create_room(&self, name: &str, visibility: &str) -> Uuid {
        let (status, body) = self
            .post("/v1/rooms", json!({"name": name, "visibility": visibility}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create room: {body}");
        body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("room id")
    }

    /// The bodies of the room's newest 100 messages (deleted ones have none), once the history
    /// read model has `min_seq`.
    pub async fn history_bodies(&self, room: Uuid, min_seq: u64) -> Vec<String> {
        let (status, page) = self
            .get(&format!(
                "/v1/rooms/{room}/messages?limit=100&min_seq={min_seq}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "history: {page}");
        page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["body"].as_str().map(str::to_owned))
            .collect()
    }

    /// Sends a message over REST and returns its seq.
    pub async fn send(&self, room: Uuid, client_msg_id: &str, body: &str) -> u64 {
        let (status, reply) = self
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"body": body, "client_msg_id": client_msg_id}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "send: {reply}");
        reply["seq"].as_u64().expect("seq")
    }
}
