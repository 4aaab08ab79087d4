//! A 3-node JetStream cluster on this machine: one `nats-server -js` per node, each
//! with its own name, store directory, client port and route port, routed to the
//! others. Nodes can be SIGKILLed and restarted on the same ports and store, and a
//! publisher that retries (the `Nats-Msg-Id` making a retry harmless) rides through a
//! node's death.

use super::{free_port, nats_server_bin, subject};
use async_nats::jetstream::{self, message::PublishMessage, stream};
use futures::future::join_all;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a cluster (or a restarted node) may take to have JetStream ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

static PROBES: AtomicU32 = AtomicU32::new(0);

pub struct ClusterNode {
    child: Option<Child>,
    pub name: String,
    pub port: u16,
    pub route_port: u16,
    pub dir: tempfile::TempDir,
}

impl ClusterNode {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

pub struct NatsCluster {
    pub nodes: Vec<ClusterNode>,
    pub cluster_name: String,
}

impl NatsCluster {
    /// Starts `n` routed nodes and waits until the cluster accepts (and confirms a
    /// publish to) a stream with `n` replicas.
    pub async fn start(n: usize) -> NatsCluster {
        assert!(n >= 1);
        let cluster_name = format!(
            "test-{}-{}",
            std::process::id(),
            PROBES.fetch_add(1, Ordering::Relaxed)
        );
        // Client and route ports, all distinct (each pick is released before the next).
        let mut ports = Vec::with_capacity(2 * n);
        while ports.len() < 2 * n {
            let p = free_port();
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let nodes = (0..n)
            .map(|k| ClusterNode {
                child: None,
                name: format!("node{k}"),
                port: ports[2 * k],
                route_port: ports[2 * k + 1],
                dir: tempfile::tempdir().expect("tempdir"),
            })
            .collect();
        let mut c = NatsCluster {
            nodes,
            cluster_name,
        };
        for i in 0..n {
            c.spawn(i);
        }
        for i in 0..n {
            c.wait_listening(i);
        }
        c.wait_jetstream(c.urls(), n).await;
        c
    }

    fn spawn(&mut self, i: usize) {
        let routes = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != i)
            .map(|(_, n)| format!("nats://127.0.0.1:{}", n.route_port))
            .collect::<Vec<_>>()
            .join(",");
        let node = &self.nodes[i];
        assert!(!node.is_running(), "{} is already running", node.name);
        // Appended to, so a restarted node's log follows its first life's.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log())
            .expect("nats-server log file");
        let child = Command::new(nats_server_bin())
            .args(["-js", "-n", &node.name, "-sd"])
            .arg(node.dir.path().join("js"))
            .args(["-a", "127.0.0.1", "-p", &node.port.to_string()])
            .args(["--cluster_name", &self.cluster_name])
            .arg("--cluster")
            .arg(format!("nats://127.0.0.1:{}", node.route_port))
            .args(["--routes", &routes])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.nodes[i].child = Some(child);
    }

    fn wait_listening(&self, i: usize) {
        let node = &self.nodes[i];
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", node.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not listen on port {}: {}",
                node.name,
                node.port,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until a stream with `replicas` replicas can be created through `urls` and a
    /// publish to it is confirmed: a meta leader is elected, and (for `replicas` = the
    /// cluster size) every node has joined JetStream. The probe stream is then deleted.
    async fn wait_jetstream(&self, urls: Vec<String>, replicas: usize) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(urls)
            .await
            .expect("connect to the cluster");
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(2))
            .build(client);
        let mut last = String::new();
        while Instant::now() < deadline {
            let n = PROBES.fetch_add(1, Ordering::Relaxed);
            let name = format!("CLUSTER_PROBE_{n}");
            let subject = format!("cluster.probe.{n}");
            match probe(&js, &name, &subject, replicas).await {
                Ok(()) => {
                    let _ = js.delete_stream(&name).await;
                    return;
                }
                Err(e) => last = e,
            }
            let _ = js.delete_stream(&name).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "JetStream not ready within {READY_TIMEOUT:?} (last error: {last}):\n{}",
            self.logs()
        );
    }

    /// Every node's client URL, comma-separated: what `--nats-url` takes.
    pub fn url(&self) -> String {
        self.urls().join(",")
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(ClusterNode::url).collect()
    }

    /// A client that knows every node (and so reconnects to a live one).
    pub async fn client(&self) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .connect(self.urls())
            .await
            .expect("connect to the cluster")
    }

    /// The index of the node named `name` (as a stream's `cluster.leader` gives it).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// SIGKILL node `i`: no shutdown, no flush.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts node `i` again (killing it first if it runs) on the same ports and store
    /// directory, and waits until it is serving and every node is back in JetStream.
    pub async fn restart(&mut self, i: usize) {
        self.kill9(i);
        self.spawn(i);
        self.wait_listening(i);
        let n = self.nodes.len();
        self.wait_jetstream(vec![self.nodes[i].url()], n).await;
    }

    /// Every node's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(n.log()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {} (last 30 lines) ---\n{}", n.name, tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill9(i);
        }
    }
}

async fn probe(
    js: &jetstream::Context,
    name: &str,
    subject: &str,
    replicas: usize,
) -> Result<(), String> {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subject.into()],
        storage: stream::StorageType::Memory,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("creating {name}: {e}"))?;
    js.publish(subject.to_string(), "probe".into())
        .await
        .map_err(|e| format!("publishing to {name}: {e}"))?
        .await
        .map_err(|e| format!("ack from {name}: {e}"))?;
    Ok(())
}

/// A JetStream context whose requests and acks give up after 2 s, so a publish to a
/// dead node or a stream between leaders fails fast and is retried.
pub fn impatient(client: async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(client)
}

/// What [`publish_retrying`] saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetryingSummary {
    /// Messages confirmed (each exactly once), duplicates included.
    pub confirmed: usize,
    /// Of those, confirmed as duplicates: an earlier attempt had been stored.
    pub duplicates: usize,
    /// Sends or acks that failed and were retried.
    pub failures: usize,
    /// Rounds over the unconfirmed messages (1 when nothing failed).
    pub rounds: usize,
}

/// Publishes events (subject from the envelope, `Nats-Msg-Id` = `event_id`) in chunks
/// of 64 whose acks are awaited together, and publishes again every message whose send
/// or ack failed until all are confirmed (or `timeout` passes: panics). The stream's
/// duplicate window keeps a message stored by an attempt whose ack was lost from being
/// stored twice.
pub async fn publish_retrying(
    js: &jetstream::Context,
    lines: &[Vec<u8>],
    timeout: Duration,
) -> RetryingSummary {
    let deadline = Instant::now() + timeout;
    let mut summary = RetryingSummary::default();
    let mut pending: Vec<usize> = (0..lines.len()).collect();
    let mut last_error = String::new();
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} of {} messages unconfirmed after {timeout:?} ({summary:?}); last error: {last_error}",
            pending.len(),
            lines.len()
        );
        if summary.rounds > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        summary.rounds += 1;
        let mut failed = Vec::new();
        for chunk in pending.chunks(64) {
            let mut acks = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let v: serde_json::Value = serde_json::from_slice(&lines[i]).expect("event JSON");
                let mut msg =
                    PublishMessage::build().payload(bytes::Bytes::copy_from_slice(&lines[i]));
                if let Some(id) = v["event_id"].as_str() {
                    msg = msg.message_id(id);
                }
                match js.send_publish(subject(&v), msg).await {
                    Ok(ack) => acks.push((i, ack)),
                    Err(e) => {
                        summary.failures += 1;
                        last_error = format!("send: {e}");
                        failed.push(i);
                    }
                }
            }
            let settled = join_all(
                acks.into_iter()
                    .map(|(i, ack)| async move { (i, ack.await) }),
            );
            for (i, ack) in settled.await {
                match ack {
                    Ok(a) => {
                        summary.confirmed += 1;
                        summary.duplicates += usize::from(a.duplicate);
                    }
                    Err(e) => {
                        summary.failures += 1;
                        last_error = format!("ack: {e}");
                        failed.push(i);
                    }
                }
            }
        }
        failed.sort_unstable();
        pending = failed;
    }
    summary
}

/// The node name of `stream`'s leader, retrying while the stream has none.
pub async fn stream_leader(js: &jetstream::Context, stream: &str) -> String {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(s) = js.get_stream(stream).await {
            if let Ok(info) = s.get_info().await {
                if let Some(leader) = info.cluster.and_then(|c| c.leader) {
                    return leader;
                }
            }
        }
        assert!(Instant::now() < deadline, "stream {stream} has no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The message count of `stream`, retrying while the stream does not answer.
pub async fn stream_messages(js: &jetstream::Context, stream: &str) -> u64 {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(s) = js.get_stream(stream).await {
            if let Ok(info) = s.get_info().await {
                return info.state.messages;
            }
        }
        assert!(Instant::now() < deadline, "stream {stream} does not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `stream` holds exactly `want` messages (and, with `all_current`, every
/// replica is current: not while a node is down), panicking at once if it holds more (a message stored twice) and, after `timeout`,
/// with every distinct state seen. A node just restarted may briefly answer with its
/// state from before its death (seen here on 2.9.10), so one stale answer is no loss.
pub async fn wait_stream_messages(
    js: &jetstream::Context,
    stream: &str,
    want: u64,
    all_current: bool,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let info = match js.get_stream(stream).await {
            Ok(s) => s.get_info().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let state = match &info {
            Ok(i) => {
                let (leader, replicas) = i.cluster.as_ref().map_or((None, vec![]), |c| {
                    let r = c.replicas.iter().map(|r| (r.name.clone(), r.current));
                    (c.leader.clone(), r.collect())
                });
                assert!(
                    i.state.messages <= want,
                    "{stream} holds {} messages, more than the {want} published: {:?}",
                    i.state.messages,
                    i.state
                );
                if i.state.messages == want && (!all_current || replicas.iter().all(|(_, c)| *c)) {
                    if !seen.is_empty() {
                        eprintln!("{stream}: {want} messages after {seen:?}");
                    }
                    return;
                }
                format!(
                    "{} messages (last seq {}), leader {leader:?}, replicas current {replicas:?}",
                    i.state.messages, i.state.last_sequence
                )
            }
            Err(e) => format!("no answer: {e}"),
        };
        if seen.last() != Some(&state) {
            seen.push(state);
        }
        assert!(
            Instant::now() < deadline,
            "{stream} never held {want} messages (replicas current: {all_current}) within {timeout:?}; seen: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
