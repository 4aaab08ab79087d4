//! The test kit, shared by `tests/` and `benches/pipeline` (which includes this file
//! with `#[path]`): a real `nats-server -js` per test on a free port with its own store
//! directory, the tracker started for real (in-process or as a child process), event
//! builders that write through `wire::encode`, and publishing through
//! `tools::publish::Window`. Everything is cleaned up on drop. A missing `nats-server`
//! fails the test.
#![allow(dead_code)]

use abstraction_tracker::app::serve::{self, ServeConfig};
use abstraction_tracker::domain::event::{
    AbstractionFields, Amendment, Envelope, Event, Role, Scope, ShiftFields,
};
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::ingest::IngestConfig;
use abstraction_tracker::tools::publish::Window;
use abstraction_tracker::wire::encode::Encoder;
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

pub fn nats_server_bin() -> PathBuf {
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

/// The tracker running in this process, on an ephemeral HTTP port.
pub struct Tracker {
    pub base: String,
    pub data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Tracker {
    pub async fn start(nats_url: &str, data_dir: &Path) -> Tracker {
        Self::start_with(
            nats_url,
            data_dir,
            Reference::west_midlands(),
            IngestConfig::default(),
        )
        .await
    }

    pub async fn start_with(
        nats_url: &str,
        data_dir: &Path,
        reference: Reference,
        ingest: IngestConfig,
    ) -> Tracker {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let config = ServeConfig {
            nats_url: nats_url.into(),
            nats_auth: Default::default(),
            data_dir: data_dir.into(),
            reference,
            ingest,
            api_token: None,
        };
        let task = tokio::spawn(serve::run(config, listener, async move {
            let _ = rx.await;
        }));
        let t = Tracker {
            base,
            data_dir: data_dir.into(),
            stop: Some(tx),
            task: Some(task),
        };
        t.wait_ready().await;
        t
    }

    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.base);
        wait_for(Duration::from_secs(20), "tracker ready", || {
            let url = url.clone();
            async move { get(&url).await.0 == 200 }
        })
        .await;
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// GET returning (status, body); never errors on HTTP status.
pub async fn get(url: &str) -> (u16, String) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        match agent.get(&url).call() {
            Ok(mut r) => (
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    })
    .await
    .unwrap()
}

pub async fn get_json(url: &str) -> serde_json::Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The LPA entry of a `/api/v1/months` answer.
pub fn lpa<'a>(month: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    month["lpas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lpa"] == code)
        .unwrap_or_else(|| panic!("no LPA {code} in {month}"))
}

/// A sample value from Prometheus text, by exact series text, e.g.
/// `neighbourhood_rostered_seconds{lpa="dudley",month="2024-03"}`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
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

/// Epoch milliseconds of an RFC 3339 time (panics on a malformed one: test input).
pub fn ms(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339
        .parse()
        .unwrap_or_else(|e| panic!("{rfc3339:?}: {e}"));
    t.as_millisecond()
}

/// A test envelope: source `test`, `occurred` in RFC 3339.
pub fn envelope(id: &str, lpa: &str, occurred: &str, event: Event) -> Envelope {
    Envelope {
        event_id: id.into(),
        occurred_ms: ms(occurred),
        source: "test".into(),
        lpa: lpa.into(),
        event,
    }
}

/// The wire JSON of a test event, written by `wire::encode` (times in UTC).
pub fn event(id: &str, lpa: &str, occurred: &str, event: Event) -> serde_json::Value {
    event_with(id, lpa, occurred, event, None)
}

/// As [`event`], with the type's free-text field (`note`, `cause` or `why`).
pub fn event_with(
    id: &str,
    lpa: &str,
    occurred: &str,
    event: Event,
    remark: Option<&str>,
) -> serde_json::Value {
    let env = envelope(id, lpa, occurred, event);
    Encoder::utc()
        .value(&env, remark)
        .expect("test times are representable")
}

/// `shift.rostered`.
pub fn rostered(
    shift_id: &str,
    officer_id: &str,
    role: Role,
    sector: &str,
    start: &str,
    end: &str,
) -> Event {
    Event::ShiftRostered {
        shift_id: shift_id.into(),
        fields: ShiftFields {
            officer_id: officer_id.into(),
            role,
            sector: sector.into(),
            start_ms: ms(start),
            end_ms: ms(end),
        },
    }
}

/// `shift.cancelled`.
pub fn shift_cancelled(shift_id: &str) -> Event {
    Event::ShiftCancelled {
        shift_id: shift_id.into(),
    }
}

/// What `recorded` and `started` carry; scope `lpa`, unplanned, no shift: change the
/// fields for other cases.
pub fn abstraction(
    officer_id: &str,
    role: Role,
    sector: &str,
    reason: &str,
    start: &str,
) -> AbstractionFields {
    AbstractionFields {
        officer_id: officer_id.into(),
        role,
        sector: sector.into(),
        reason: reason.into(),
        scope: Scope::Lpa,
        planned: false,
        start_ms: ms(start),
        shift_id: None,
    }
}

/// `abstraction.recorded`.
pub fn recorded(abstraction_id: &str, fields: AbstractionFields, end: &str) -> Event {
    Event::AbstractionRecorded {
        abstraction_id: abstraction_id.into(),
        fields,
        end_ms: ms(end),
    }
}

/// `abstraction.started`.
pub fn started(abstraction_id: &str, fields: AbstractionFields) -> Event {
    Event::AbstractionStarted {
        abstraction_id: abstraction_id.into(),
        fields,
    }
}

/// `abstraction.ended`.
pub fn ended(abstraction_id: &str, end: &str) -> Event {
    Event::AbstractionEnded {
        abstraction_id: abstraction_id.into(),
        end_ms: ms(end),
    }
}

/// `abstraction.amended`.
pub fn amended(abstraction_id: &str, amendment: Amendment) -> Event {
    Event::AbstractionAmended {
        abstraction_id: abstraction_id.into(),
        amendment,
    }
}

/// `abstraction.cancelled`.
pub fn abstraction_cancelled(abstraction_id: &str) -> Event {
    Event::AbstractionCancelled {
        abstraction_id: abstraction_id.into(),
    }
}

pub fn subject(e: &serde_json::Value) -> String {
    format!(
        "neighbourhood.events.{}.{}",
        e["lpa"].as_str().unwrap(),
        e["type"].as_str().unwrap()
    )
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_abstraction-tracker")
}

/// The tracker binary as a child process, for crash and signal tests.
pub struct TrackerProcess {
    child: Option<Child>,
    pub base: String,
    pub http_port: u16,
    nats_url: String,
    data_dir: PathBuf,
    pub extra_args: Vec<String>,
}

impl TrackerProcess {
    pub fn spawn(nats_url: &str, data_dir: &Path) -> TrackerProcess {
        Self::spawn_with(nats_url, data_dir, &[])
    }

    pub fn spawn_with(nats_url: &str, data_dir: &Path, extra: &[&str]) -> TrackerProcess {
        let port = free_port();
        let mut t = TrackerProcess {
            child: None,
            base: format!("http://127.0.0.1:{port}"),
            http_port: port,
            nats_url: nats_url.into(),
            data_dir: data_dir.into(),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        t.start();
        t
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new(bin())
            .arg("serve")
            .arg("--nats-url")
            .arg(&self.nats_url)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .args(&self.extra_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start abstraction-tracker serve");
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no chance to flush or ack.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then the exit status (waits up to `timeout`).
    pub fn term(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let ok = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("tracker did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.base);
        wait_for(Duration::from_secs(30), "tracker process ready", || {
            let url = url.clone();
            async move { get(&url).await.0 == 200 }
        })
        .await;
    }
}

impl Drop for TrackerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Simulated NDJSON lines for tests.
pub fn simulated(from: &str, to: &str, officers: u32, seed: u64) -> Vec<Vec<u8>> {
    let cfg = abstraction_tracker::tools::simulate::SimConfig {
        seed,
        from: from.parse().unwrap(),
        to: to.parse().unwrap(),
        officers,
    };
    let mut out = Vec::new();
    abstraction_tracker::tools::simulate::simulate(
        &cfg,
        &Reference::west_midlands(),
        &mut out,
        &mut |_, _| {},
    )
    .unwrap();
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.to_vec())
        .collect()
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
