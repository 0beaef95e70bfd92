//! A private 3-node NATS JetStream cluster on loopback: each node with its own client,
//! route and monitoring ports and its own store directory, routes between all of them. A test
//! may kill a node and start it again (same ports and store), and reads the cluster's state
//! from the monitoring endpoints.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::servers::nats_server_binary;
use crate::wait_until;

/// One node of a [`PrivateCluster`].
struct Node {
    name: String,
    port: u16,
    route_port: u16,
    monitor_port: u16,
    store: PathBuf,
    child: Option<Child>,
}

/// Three `nats-server -js` nodes clustered on loopback.
pub struct PrivateCluster {
    name: String,
    nodes: Vec<Node>,
}

fn free_ports(n: usize) -> Vec<u16> {
    // Held together until all are chosen, so that no two are the same.
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

impl PrivateCluster {
    /// Starts three nodes and waits until the cluster has a JetStream meta leader.
    pub async fn start() -> Self {
        let ports = free_ports(9);
        let name = format!("natter-test-{:08x}", rand::random::<u32>());
        let nodes = (0..3)
            .map(|i| {
                let node = format!("{name}-n{}", i + 1);
                let store = std::env::temp_dir().join(&node);
                std::fs::create_dir_all(&store).expect("nats store dir");
                Node {
                    name: node,
                    port: ports[i],
                    route_port: ports[3 + i],
                    monitor_port: ports[6 + i],
                    store,
                    child: None,
                }
            })
            .collect();
        let mut cluster = Self { name, nodes };
        for i in 0..3 {
            cluster.spawn(i);
        }
        cluster.wait_ready().await;
        cluster
    }

    /// Every node's client URL, comma-separated (as `NATS_URL` names a cluster).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `i`'s client URL alone.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].port)
    }

    /// The index of the node named `name` (as JetStream names a leader).
    pub fn node_named(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// SIGKILL of node `i`: its store stays.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGSTOP of node `i`: it keeps its connections open and answers nothing (a hung node,
    /// not a dead one) until [`PrivateCluster::resume`].
    pub fn pause(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// SIGCONT of a node [`PrivateCluster::pause`]d.
    pub fn resume(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, signal: &str) {
        crate::servers::send_signal(self.nodes[i].child.as_ref(), signal);
    }

    /// SIGKILL of node `i`, its store deleted, and the node started again empty: it rejoins
    /// and catches up from the others.
    pub async fn wipe(&mut self, i: usize) {
        self.kill(i).await;
        let store = &self.nodes[i].store;
        let _ = std::fs::remove_dir_all(store);
        std::fs::create_dir_all(store).expect("nats store dir");
        self.spawn(i);
        self.wait_ready().await;
    }

    /// The node leading JetStream's meta layer, as a running node reports it.
    pub async fn meta_leader(&self) -> Option<usize> {
        let jsz = self.jsz("").await?;
        self.node_named(jsz["meta_cluster"]["leader"].as_str()?)
    }

    /// The node leading the stream `name` (a key bucket's stream is `KV_<bucket>`).
    pub async fn leader_of(&self, name: &str) -> Option<usize> {
        let jsz = self.jsz("?accounts=true&streams=true").await?;
        let leader = jsz["account_details"]
            .as_array()?
            .iter()
            .flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default())
            .find(|s| s["name"] == name)?["cluster"]["leader"]
            .as_str()?
            .to_owned();
        self.node_named(&leader)
    }

    /// Whether every replica of the stream `name` is current (caught up with its leader), as
    /// its leader reports it, and how many replicas the stream has.
    pub async fn replicas_current(&self, name: &str) -> Option<(bool, usize)> {
        let leader = self.leader_of(name).await?;
        let jsz = self.jsz_of(leader, "?accounts=true&streams=true").await?;
        let stream = jsz["account_details"]
            .as_array()?
            .iter()
            .flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default())
            .find(|s| s["name"] == name)?;
        let followers = stream["cluster"]["replicas"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let current = followers
            .iter()
            .all(|r| r["current"] == true && r["offline"] != true);
        Some((current, followers.len() + 1))
    }

    /// `/jsz<query>` of node `i`.
    async fn jsz_of(&self, i: usize, query: &str) -> Option<serde_json::Value> {
        reqwest::Client::new()
            .get(format!(
                "http://127.0.0.1:{}/jsz{query}",
                self.nodes[i].monitor_port
            ))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    /// `/jsz<query>` of the first running node that answers (the leader's view where the
    /// nodes disagree: every node reports the meta leader it follows).
    async fn jsz(&self, query: &str) -> Option<serde_json::Value> {
        let client = reqwest::Client::new();
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let answer = client
                .get(format!("http://127.0.0.1:{}/jsz{query}", node.monitor_port))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(answer) = answer
                && let Ok(jsz) = answer.json::<serde_json::Value>().await
            {
                return Some(jsz);
            }
        }
        None
    }

    /// Starts every node that is down again on its ports and store, at once, and waits until
    /// the cluster is whole.
    pub async fn restart_all(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_none() {
                self.spawn(i);
            }
        }
        self.wait_ready().await;
    }

    /// Starts node `i` again on its ports and store, and waits until the cluster is whole.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i).await;
        self.spawn(i);
        self.wait_ready().await;
    }

    fn spawn(&mut self, i: usize) {
        let routes: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| format!("nats://127.0.0.1:{}", n.route_port))
            .collect();
        let node = &mut self.nodes[i];
        let child = Command::new(nats_server_binary())
            .args(["-a", "127.0.0.1", "-p", &node.port.to_string()])
            .args(["-n", &node.name, "-js", "-sd"])
            .arg(&node.store)
            .args(["--cluster_name", &self.name])
            .args([
                "--cluster",
                &format!("nats://127.0.0.1:{}", node.route_port),
            ])
            .args(["--routes", &routes.join(",")])
            .args(["-m", &node.monitor_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server (Debian: apt install nats-server)");
        node.child = Some(child);
    }

    /// Waits until every running node says it is healthy and knows the meta leader.
    async fn wait_ready(&self) {
        natter_common::tls::install_crypto();
        let client = reqwest::Client::new();
        let monitors: Vec<u16> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.monitor_port)
            .collect();
        wait_until("the NATS cluster", Duration::from_secs(30), || {
            let client = client.clone();
            let monitors = monitors.clone();
            async move {
                for port in monitors {
                    let jsz: serde_json::Value = client
                        .get(format!("http://127.0.0.1:{port}/jsz"))
                        .send()
                        .await
                        .ok()?
                        .json()
                        .await
                        .ok()?;
                    let leader = jsz["meta_cluster"]["leader"].as_str().unwrap_or_default();
                    if leader.is_empty() {
                        return None;
                    }
                    let health = client
                        .get(format!("http://127.0.0.1:{port}/healthz"))
                        .send()
                        .await
                        .ok()?;
                    if !health.status().is_success() {
                        return None;
                    }
                }
                Some(())
            }
        })
        .await;
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let _ = child.start_kill();
            }
            let _ = std::fs::remove_dir_all(&node.store);
        }
    }
}
