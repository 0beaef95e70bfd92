//! natter's REST API, as the terminal client uses it: JSON in, JSON out, errors as their
//! sentence.

use anyhow::{Context, anyhow};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    /// Signs in (or registers first): the client and the answer (`{user, token, ...}`).
    pub async fn sign_in(
        base: &str,
        username: &str,
        password: &str,
        register: bool,
    ) -> anyhow::Result<(Self, Value)> {
        let mut api = Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: String::new(),
        };
        let body = json!({"username": username, "password": password, "device": "natter chat"});
        let path = if register {
            "/v1/auth/register"
        } else {
            "/v1/auth/login"
        };
        let answer = api.call(Method::POST, path, Some(body)).await?;
        api.token = answer["token"]
            .as_str()
            .ok_or_else(|| anyhow!("no token in the answer"))?
            .to_owned();
        Ok((api, answer))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::DELETE, path, None).await
    }

    /// An upload: the file's bytes under its name.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        let response = self
            .http
            .post(format!("{}/v1/uploads", self.base))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .context("natter cannot be reached")?;
        answer(response).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.context("natter cannot be reached")?;
        answer(response).await
    }

    /// The WebSocket address.
    pub fn ws_url(&self) -> String {
        format!("{}/v1/ws", self.base.replacen("http", "ws", 1))
    }
}

async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let value: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    if status.is_success() {
        return Ok(value);
    }
    let message = value["error"]["message"]
        .as_str()
        .unwrap_or("no reason given");
    Err(anyhow!("{message} ({status})"))
}
