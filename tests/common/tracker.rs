//! The tracker started for real: in this process (`Tracker`) or as the binary in a
//! child process (`TrackerProcess`).

use super::{free_port, get, wait_for};
use abstraction_tracker::app::serve::{self, ServeConfig};
use abstraction_tracker::clock::Clock;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::ingest::IngestConfig;
use abstraction_tracker::store::EngineKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tracker running in this process, on an ephemeral HTTP port.
/// The tests' "now": the end of April 2024, after every month their events fall in,
/// so the metric window (the as-of month and the 12 before it) holds them all.
pub const TEST_AS_OF: &str = "2024-04-30T12:00:00Z";

/// The storage engine tests start the tracker with: `TRACKER_ENGINE` (`sled` or
/// `fjall`) when set, as `serve` reads it, so a whole test file can run on either
/// engine (child processes inherit it); else `serve`'s default.
pub fn test_engine() -> Option<EngineKind> {
    std::env::var("TRACKER_ENGINE")
        .ok()
        .map(|s| s.parse().expect("TRACKER_ENGINE is sled or fjall"))
}

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
        Self::start_on(nats_url, data_dir, reference, ingest, test_engine()).await
    }

    /// As [`Tracker::start_with`], on the given engine (`None`: the directory's, else
    /// the default).
    pub async fn start_on(
        nats_url: &str,
        data_dir: &Path,
        reference: Reference,
        ingest: IngestConfig,
        engine: Option<EngineKind>,
    ) -> Tracker {
        let mut config = Self::config(nats_url, data_dir, reference, ingest);
        config.engine = engine;
        Self::start_config(config).await
    }

    /// What [`Tracker::start_with`] runs with (on [`test_engine`]); change fields, then
    /// [`Tracker::start_config`].
    pub fn config(
        nats_url: &str,
        data_dir: &Path,
        reference: Reference,
        ingest: IngestConfig,
    ) -> ServeConfig {
        let engine = test_engine();
        ServeConfig {
            nats_url: nats_url.into(),
            nats_auth: Default::default(),
            data_dir: data_dir.into(),
            engine,
            recover: false,
            reference,
            ingest,
            lpas: None,
            api_token: None,
            clock: Clock::AsOf(TEST_AS_OF.parse().unwrap()),
            tuning: Default::default(),
        }
    }

    /// Starts with `config` on an ephemeral HTTP port and waits until it is ready.
    pub async fn start_config(config: ServeConfig) -> Tracker {
        let data_dir = config.data_dir.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve::run(config, listener, async move {
            let _ = rx.await;
        }));
        let t = Tracker {
            base,
            data_dir,
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

/// A command that must succeed: its output, or a panic with its status and stderr.
pub trait RunOk {
    fn run_ok(&mut self) -> std::process::Output;
}

impl RunOk for Command {
    fn run_ok(&mut self) -> std::process::Output {
        let out = self.output().expect("the command starts");
        assert!(
            out.status.success(),
            "{:?} exited {}: {}",
            self,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
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
    /// Its stderr (every start appends), printed when the test panics so a failure in
    /// CI shows what the tracker said; removed otherwise (kept when `KEEP_TRACKER_LOGS` is
    /// set, to read a slow run that passed).
    log: PathBuf,
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
            log: std::env::temp_dir().join(format!(
                "abstraction-tracker-test-{}-{port}.log",
                std::process::id()
            )),
        };
        t.start();
        t
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the tracker's log file");
        let child = Command::new(bin())
            .arg("serve")
            .arg("--nats-url")
            .arg(&self.nats_url)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .arg("--as-of")
            .arg(TEST_AS_OF)
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
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
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "---- last {} log lines of the tracker at {} ----\n{}",
                tail.len(),
                self.base,
                tail.join("\n")
            );
        }
        if std::env::var_os("KEEP_TRACKER_LOGS").is_none() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
