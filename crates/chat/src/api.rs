//! natter's REST API, as the terminal client uses it: JSON in, JSON out, errors as their
//! sentence. The token is shared by every clone (and the socket): when it is refused, it is
//! refreshed once with the refresh token, whoever notices first.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use natter_schemas::rest::{LoginRequest, RegisterRequest};
use natter_schemas::sessions::RefreshRequest;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    tokens: Arc<Mutex<Tokens>>,
}

#[derive(Default)]
struct Tokens {
    token: String,
    refresh_token: Option<String>,
}

impl Api {
    /// Signs in (or registers first): the client and the answer (`{user, token, ...}`).
    pub async fn sign_in(
        base: &str,
        username: &str,
        password: &str,
        register: bool,
    ) -> anyhow::Result<(Self, Value)> {
        let api = Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            tokens: Arc::default(),
        };
        let device = Some("natter chat".to_owned());
        let (path, body) = if register {
            let body = RegisterRequest {
                username: username.to_owned(),
                password: password.to_owned(),
                display_name: None,
                device,
            };
            ("/v1/auth/register", serde_json::to_value(body)?)
        } else {
            let body = LoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
                device,
            };
            ("/v1/auth/login", serde_json::to_value(body)?)
        };
        let answer = api.call(Method::POST, path, Some(body)).await?;
        api.keep(&answer).await?;
        Ok((api, answer))
    }

    async fn keep(&self, answer: &Value) -> anyhow::Result<()> {
        let token = answer["token"]
            .as_str()
            .ok_or_else(|| anyhow!("no token in the answer"))?;
        let mut tokens = self.tokens.lock().await;
        tokens.token = token.to_owned();
        tokens.refresh_token = answer["refresh_token"].as_str().map(str::to_owned);
        Ok(())
    }

    /// The token now.
    pub async fn token(&self) -> String {
        self.tokens.lock().await.token.clone()
    }

    /// Whether a refresh token is left to try.
    pub async fn can_refresh(&self) -> bool {
        self.tokens.lock().await.refresh_token.is_some()
    }

    /// A fresh token for `stale`, the one that was refused. Done once however many noticed:
    /// a refresh token is good once, and a second use would end the session.
    pub async fn refresh(&self, stale: &str) -> anyhow::Result<()> {
        let mut tokens = self.tokens.lock().await;
        if tokens.token != stale {
            return Ok(()); // refreshed meanwhile
        }
        let refresh_token = tokens
            .refresh_token
            .clone()
            .ok_or_else(|| anyhow!("the session has ended: sign in again"))?;
        let response = self
            .http
            .post(format!("{}/v1/auth/refresh", self.base))
            .json(&RefreshRequest { refresh_token })
            .send()
            .await
            .context("natter cannot be reached")?;
        if response.status() == StatusCode::UNAUTHORIZED {
            tokens.refresh_token = None; // refused for good: the session has ended
        }
        let answer = answer(response).await?;
        tokens.token = answer["token"]
            .as_str()
            .ok_or_else(|| anyhow!("no token in the answer"))?
            .to_owned();
        tokens.refresh_token = answer["refresh_token"].as_str().map(str::to_owned);
        Ok(())
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(serde_json::to_value(body)?))
            .await
    }

    pub async fn patch(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Value> {
        self.call(Method::PATCH, path, Some(serde_json::to_value(body)?))
            .await
    }

    pub async fn put(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::PUT, path, Some(Value::Object(Default::default())))
            .await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::DELETE, path, None).await
    }

    /// An upload: the file's bytes under its name.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
        self.send(|http, base| {
            let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_owned());
            let form = reqwest::multipart::Form::new().part("file", part);
            http.post(format!("{base}/v1/uploads")).multipart(form)
        })
        .await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.send(|http, base| {
            let request = http.request(method.clone(), format!("{base}{path}"));
            match &body {
                Some(body) => request.json(body),
                None => request,
            }
        })
        .await
    }

    /// Sends what `build` makes, with the token; refused with 401, once more with a fresh one.
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> RequestBuilder,
    ) -> anyhow::Result<Value> {
        let mut retried = false;
        loop {
            let token = self.token().await;
            let mut request = build(&self.http, &self.base);
            if !token.is_empty() {
                request = request.bearer_auth(&token);
            }
            let response = request.send().await.context("natter cannot be reached")?;
            if response.status() == StatusCode::UNAUTHORIZED && !token.is_empty() && !retried {
                retried = true;
                if self.refresh(&token).await.is_ok() {
                    continue;
                }
            }
            return answer(response).await;
        }
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
