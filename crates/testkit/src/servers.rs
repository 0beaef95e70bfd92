//! Private servers a test may kill: a `nats-server` with JetStream in a directory of its own,
//! and an S3 stand-in.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::wait_until;

/// Debian's path; `nats-server` on `PATH` otherwise.
pub(crate) fn nats_server_binary() -> PathBuf {
    let debian = PathBuf::from("/usr/sbin/nats-server");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("nats-server")
    }
}

/// A `nats-server -js` on a free port with its store in a temporary directory, which survives
/// [`PrivateNats::kill`] so that [`PrivateNats::restart`] brings the same log back.
pub struct PrivateNats {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
    /// Its config file, when it was started with one ([`PrivateNats::start_with`]).
    config: Option<PathBuf>,
}

impl PrivateNats {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Like [`PrivateNats::start`], with `config` added to its config file (authorization,
    /// TLS); it listens on loopback with JetStream in its own store either way.
    pub async fn start_with(config: impl Into<Option<&str>>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let store = std::env::temp_dir().join(format!(
            "natter-test-nats-{port}-{:08x}",
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&store).expect("nats store dir");
        let config = config.into().map(|extra| {
            let path = store.with_extension("conf");
            let text = format!(
                "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n{extra}\n",
                store.display()
            );
            std::fs::write(&path, text).expect("nats config");
            path
        });
        let mut nats = Self {
            child: None,
            port,
            store,
            config,
        };
        nats.restart().await;
        nats
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no goodbye to its clients, nothing flushed that was not already.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGSTOP: it keeps its connections open and answers nothing (a hung server) until
    /// [`PrivateNats::resume`].
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT of a [`PrivateNats::pause`]d server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        send_signal(self.child.as_ref(), signal);
    }

    /// SIGKILL, its store deleted, and started again empty: NATS that lost its disk.
    pub async fn wipe(&mut self) {
        self.kill().await;
        let _ = std::fs::remove_dir_all(&self.store);
        std::fs::create_dir_all(&self.store).expect("nats store dir");
        self.restart().await;
    }

    /// Starts it (again) on the same port and store, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.kill().await;
        let mut command = Command::new(nats_server_binary());
        match &self.config {
            Some(config) => command.arg("-c").arg(config),
            None => command
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(&self.store),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server (Debian: apt install nats-server)");
        self.child = Some(child);
        let port = self.port;
        wait_until(
            "the private nats-server",
            Duration::from_secs(10),
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(drop)
            },
        )
        .await;
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.store);
        if let Some(config) = &self.config {
            let _ = std::fs::remove_file(config);
        }
    }
}

/// `kill -<signal>` of a running server (`-STOP`, `-CONT`).
pub(crate) fn send_signal(child: Option<&Child>, signal: &str) {
    let pid = child.and_then(Child::id).expect("a running server");
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// A local S3 stand-in (`moto_server`, from PyPI's `moto[server]`; `scripts/test` installs
/// it) on a free port, with one bucket. Killed when dropped.
pub struct PrivateS3 {
    _child: Child,
    port: u16,
    pub bucket: String,
}

impl PrivateS3 {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server (pip install 'moto[server]'; scripts/test installs it)");
        let bucket = "natter-test".to_owned();
        natter_common::tls::install_crypto();
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/{bucket}");
        wait_until("moto_server to answer", Duration::from_secs(30), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let created = http.put(&url).send().await.ok()?;
                created.status().is_success().then_some(())
            }
        })
        .await;
        Self {
            _child: child,
            port,
            bucket,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A store config for this bucket (any keys work).
    pub fn store_config(&self) -> natter_files::StoreConfig {
        natter_files::StoreConfig {
            s3_bucket: Some(self.bucket.clone()),
            s3_endpoint: Some(self.endpoint()),
            s3_access_key_id: Some("test".into()),
            s3_secret_access_key: Some("test".into()),
            ..natter_files::StoreConfig::default()
        }
    }
}
