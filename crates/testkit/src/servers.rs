//! Private servers a test may kill: a `nats-server` with JetStream in a directory of its own.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::wait_until;

/// Debian's path; `nats-server` on `PATH` otherwise.
fn nats_server_binary() -> PathBuf {
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
}

impl PrivateNats {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let store = std::env::temp_dir().join(format!(
            "natter-test-nats-{port}-{:08x}",
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&store).expect("nats store dir");
        let mut nats = Self {
            child: None,
            port,
            store,
        };
        nats.restart().await;
        nats
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

    /// Starts it (again) on the same port and store, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.kill().await;
        let child = Command::new(nats_server_binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
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
    }
}
