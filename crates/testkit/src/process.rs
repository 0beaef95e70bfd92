//! natter as a real OS process: for "two gateways in two processes" and kill -9.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::TestEnv;

/// The `natter` binary next to the test executable (target/<profile>/natter). Every test build
/// produces it (the `natter` package has an integration test); it is built here only if missing.
pub fn natter_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/<test> -> target/<profile>/natter
        let dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target dir")
            .to_path_buf();
        let bin = dir.join("natter");
        if !bin.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = std::process::Command::new(cargo);
            build.args(["build", "--quiet", "-p", "natter", "--bin", "natter"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build -p natter");
            assert!(status.success(), "cargo build -p natter failed");
        }
        bin
    })
    .clone()
}

/// One `natter <role>` process in a test namespace.
pub struct NatterProcess {
    child: Child,
    /// `http://addr` for roles with a gateway.
    pub base: String,
    /// What it warned of, and what it said on stderr.
    troubles: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl NatterProcess {
    /// `natter` with the environment of `env`'s namespace (JSON logs, rate limits off);
    /// add the arguments.
    pub fn command(env: &TestEnv) -> Command {
        let mut command = Command::new(natter_binary());
        command
            .env("NATTER_NAMESPACE", env.conn.namespace.as_str())
            .env("NATS_URL", &env.conn.nats_url)
            .env("DATABASE_URL", &env.conn.database_url)
            .env("REDIS_URL", &env.conn.redis_url)
            .env("NATTER_HTTP_ADDR", "127.0.0.1:0")
            .env("NATTER_UPLOAD_DIR", env.upload_dir())
            .env("NATTER_LOG_FORMAT", "json")
            .env("NATTER_LOG", "info")
            .env("NATTER_RATE_MESSAGES", "off")
            .env("NATTER_RATE_REACTIONS", "off")
            .env("NATTER_RATE_TYPING", "off")
            .env("NATTER_RATE_ROOMS", "off")
            .env("NATTER_RATE_AUTH_IP", "off")
            .env("NATTER_RATE_AUTH_USER", "off");
        for (var, path) in [
            ("NATS_CREDS", &env.conn.nats_creds),
            ("NATS_NKEY_FILE", &env.conn.nats_nkey_file),
            ("NATS_TLS_CA", &env.conn.nats_tls_ca),
            ("NATS_TLS_CERT", &env.conn.nats_tls_cert),
            ("NATS_TLS_KEY", &env.conn.nats_tls_key),
        ] {
            if let Some(path) = path {
                command.env(var, path);
            }
        }
        command
    }

    /// Starts `natter <role>` (`up`, `gateway`, `fanout`, `projector`) and waits until it says
    /// it is running.
    pub async fn spawn(env: &TestEnv, role: &str) -> Self {
        Self::spawn_with(env, role, &[]).await
    }

    /// Like [`NatterProcess::spawn`], with more environment variables.
    pub async fn spawn_with(env: &TestEnv, role: &str, vars: &[(&str, &str)]) -> Self {
        let mut child = Self::command(env)
            .arg(role)
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn natter");
        let stdout = child.stdout.take().expect("stdout");
        // What it says on stderr (a start that fails says why there), kept for the failure.
        let stderr = child.stderr.take().expect("stderr");
        let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let told = said.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut said = told
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if said.len() < 16 * 1024 {
                    said.push_str(&line);
                    said.push('\n');
                }
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let ready = match role {
            "fanout" => "fanout started",
            "projector" => "projector started",
            _ => "gateway listening",
        };
        let mut base = String::new();
        let mut troubles = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if log["level"] == "WARN" || log["level"] == "ERROR" {
                    troubles.push(line.clone());
                }
                if log["message"] == "gateway listening" {
                    base = format!("http://{}", log["addr"].as_str().unwrap_or_default());
                }
                if log["message"] == ready {
                    return true;
                }
            }
            false
        })
        .await;
        if !matches!(found, Ok(true)) {
            // Whatever it said on its way out.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let said = said
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            panic!("natter {role} did not start; its warnings: {troubles:#?}; its stderr: {said}");
        }
        // Keep draining the logs so the process never blocks on a full pipe, keeping what it
        // warns of (the last 200 lines of it).
        let kept = std::sync::Arc::new(std::sync::Mutex::new(troubles));
        let keep = kept.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\"") {
                    let mut kept = keep
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if kept.len() >= 200 {
                        kept.remove(0);
                    }
                    kept.push(line);
                }
            }
        });
        Self {
            child,
            base,
            troubles: kept,
            stderr: said,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("{}/v1/ws", self.base.replacen("http", "ws", 1))
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// What it has warned of or logged as an error (its last 200 such lines), and its stderr.
    pub fn troubles(&self) -> String {
        let lines = self
            .troubles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("\n");
        let stderr = self
            .stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        format!("{lines}\n{stderr}")
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no drain, no acks, no goodbye.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then wait for a graceful exit: its status, or `None` if it had to be killed
    /// after 15 s.
    pub async fn stop(mut self) -> Option<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                let _ = self.child.start_kill();
                None
            }
        }
    }
}
