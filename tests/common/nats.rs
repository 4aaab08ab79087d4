//! `nats-server -js` per test, and publishing to it.

use abstraction_tracker::tools::publish::Window;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

/// The server the tests run against: `NATS_SERVER_BIN` when set (the README's test
/// command runs the NATS tests a second time on a current 2.1x server that way),
/// otherwise Debian's.
pub fn nats_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.exists(), "NATS_SERVER_BIN={} does not exist", p.display());
        return p;
    }
    for p in [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    if let Ok(out) = Command::new("which").arg("nats-server").output() {
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !s.is_empty() {
            return s.into();
        }
    }
    panic!("nats-server is not installed: run `apt-get install -y nats-server` (the README's test command does this)");
}

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    config: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        Self::start_with_config(None)
    }

    /// Starts with a server config file (accounts, users); `-a/-p/-sd` still apply.
    pub fn start_with_config(config: Option<PathBuf>) -> NatsServer {
        Self::start_with_config_env(config, &[])
    }

    /// With environment variables for the server (configs may read `$VAR`s).
    pub fn start_with_config_env(config: Option<PathBuf>, env: &[(&str, &str)]) -> NatsServer {
        let mut s = NatsServer {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            config,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("nats-server.log");
        let mut cmd = Command::new(nats_server_bin());
        if let Some(c) = &self.config {
            cmd.arg("-c").arg(c);
        }
        let port = self.port.to_string();
        cmd.args(["-js", "-a", "127.0.0.1", "-p", &port, "-sd"])
            .arg(self.dir.path().join("js"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("nats-server log file"));
        self.child = Some(cmd.spawn().expect("start nats-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start on port {}: {}",
                self.port,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops and starts again on the same port and store directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Publishes raw bytes with an optional Nats-Msg-Id and waits for the PubAck.
pub async fn publish(
    js: &async_nats::jetstream::Context,
    subject: &str,
    payload: &[u8],
    id: Option<&str>,
) {
    let mut window = Window::new(js, 1);
    let payload = bytes::Bytes::copy_from_slice(payload);
    let (_, ack) = window
        .send((), subject.to_string(), payload, id)
        .await
        .expect("publish")
        .expect("a window of one awaits each ack");
    ack.expect("puback");
}

pub fn subject(e: &serde_json::Value) -> String {
    format!(
        "neighbourhood.events.{}.{}",
        e["lpa"].as_str().unwrap(),
        e["type"].as_str().unwrap()
    )
}

/// Publishes events (subject from the envelope) with their Nats-Msg-Id, 256 PubAcks
/// in flight.
pub async fn publish_events(js: &async_nats::jetstream::Context, lines: &[Vec<u8>]) {
    let mut window = Window::new(js, 256);
    for l in lines {
        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
        let payload = bytes::Bytes::copy_from_slice(l);
        let id = v["event_id"].as_str();
        if let Some((_, ack)) = window
            .send((), subject(&v), payload, id)
            .await
            .expect("publish")
        {
            ack.expect("puback");
        }
    }
    while let Some((_, ack)) = window.next().await {
        ack.expect("puback");
    }
}

/// Reads the rejected stream from its start.
pub async fn rejected_messages(
    js: &async_nats::jetstream::Context,
) -> async_nats::jetstream::consumer::pull::Stream {
    js.get_stream("NEIGHBOURHOOD_REJECTED")
        .await
        .expect("the rejected stream exists")
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap()
        .messages()
        .await
        .unwrap()
}
