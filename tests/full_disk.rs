//! A full disk (issue 22 item 5): the store's file system (a small tmpfs the test
//! mounts; CI runs as root) fills while events stream in. The tracker stops
//! acknowledging, `/readyz` turns 503, one log line and
//! `abstraction_tracker_store_disk_full` say why, and it keeps serving HTTP. sled
//! refuses every write after its first I/O error, so it cannot carry on in the same
//! process: once space is back it exits with status 1 and one line saying so, and a
//! restart (a supervisor's) carries on from its checkpoint. Afterwards every event is
//! stored once and the figures equal a clean run's.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tmpfs mounted for the test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let uid = Command::new("id").arg("-u").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "tests/full_disk.rs fills a file system of its own: it mounts a small tmpfs, which needs root (CI runs as root). Run it as root"
        );
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(ok.success(), "mount -t tmpfs at {}", at.display());
        Tmpfs(at.into())
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A child process killed on drop, so a failing test leaves none behind.
struct Proc(Child);

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve` as a child process, its stderr in `log`.
fn serve(nats_url: &str, data: &Path, port: u16, consumer: &str, log: &Path) -> Proc {
    let child = Command::new(bin())
        .arg("serve")
        .args(["--nats-url", nats_url, "--consumer", consumer])
        .arg("--data-dir")
        .arg(data)
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--as-of", TEST_AS_OF])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Proc(child)
}

async fn stored(base: &str) -> Option<f64> {
    metric(
        &get(&format!("{base}/metrics")).await.1,
        "abstraction_tracker_stored_events",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_acknowledging_and_a_restart_carries_on_with_nothing_lost() {
    let work = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&work.path().join("disk"), "6m");
    let data = disk.0.join("data");
    let nats = NatsServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let lines = simulated("2024-01-01", "2024-02-29", 600, 21);
    let total = lines.len() as f64;

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = work.path().join("serve.log");
    let mut tracker = serve(&nats.url(), &data, port, "full", &log);
    wait_for(Duration::from_secs(30), "serve answering", || async {
        get(&format!("{base}/healthz")).await.0 == 200
    })
    .await;
    // serve creates the streams once it is connected.
    wait_for(Duration::from_secs(30), "the events stream", || async {
        js.get_stream("NEIGHBOURHOOD_EVENTS").await.is_ok()
    })
    .await;
    publish_events(&js, &lines).await;

    // The disk fills: not ready, the metric says why, and it keeps serving.
    wait_for(
        Duration::from_secs(60),
        "/readyz 503 for a full disk",
        || async {
            let (status, body) = get(&format!("{base}/readyz")).await;
            status == 503 && body.contains("file system is full")
        },
    )
    .await;
    let text = get(&format!("{base}/metrics")).await.1;
    assert_eq!(
        metric(&text, "abstraction_tracker_store_disk_full"),
        Some(1.0)
    );
    let before = metric(&text, "abstraction_tracker_stored_events").unwrap_or(0.0);
    assert!(
        before < total,
        "{before} of {total} stored: the disk never filled"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        tracker.try_wait().unwrap().is_none(),
        "serve exited while the disk was full"
    );
    assert_eq!(get(&format!("{base}/readyz")).await.0, 503);
    let said = std::fs::read_to_string(&log).unwrap();
    let lines_said: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("the store's file system is full"))
        .collect();
    assert_eq!(lines_said.len(), 1, "{said}");
    eprintln!("while full ({before} of {total} stored): {}", lines_said[0]);

    // Space comes back: serve exits with one line saying to start it again.
    disk.resize("256m");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = tracker.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not exit once space was back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Some(1));
    let said = std::fs::read_to_string(&log).unwrap();
    let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{said}");
    assert!(errors[0].contains("space is back") && errors[0].contains("start serve again"));
    eprintln!("on exit: {}", errors[0]);

    // The restart a supervisor makes carries on: every event stored once.
    let tracker = serve(
        &nats.url(),
        &data,
        port,
        "full",
        &work.path().join("serve2.log"),
    );
    wait_for(
        Duration::from_secs(120),
        "every event stored after the restart",
        || async { stored(&base).await == Some(total) },
    )
    .await;
    wait_for(
        Duration::from_secs(30),
        "ready after the restart",
        || async { get(&format!("{base}/readyz")).await.0 == 200 },
    )
    .await;
    let text = get(&format!("{base}/metrics")).await.1;
    assert_eq!(
        metric(&text, "abstraction_tracker_store_disk_full"),
        Some(0.0)
    );

    // The same figures as a clean run of the same stream.
    let clean_dir = tempfile::tempdir().unwrap();
    let clean_port = free_port();
    let clean_base = format!("http://127.0.0.1:{clean_port}");
    let clean = serve(
        &nats.url(),
        clean_dir.path(),
        clean_port,
        "clean",
        &work.path().join("clean.log"),
    );
    wait_for(
        Duration::from_secs(120),
        "the clean run stored every event",
        || async { stored(&clean_base).await == Some(total) },
    )
    .await;
    for month in ["2024-01", "2024-02"] {
        let got = get_json(&format!("{base}/api/v1/months/{month}")).await;
        let want = get_json(&format!("{clean_base}/api/v1/months/{month}")).await;
        assert_eq!(got, want, "{month}");
        assert!(lpa(&got, "dudley")["rostered_hours"].as_f64().unwrap() > 0.0);
    }
    drop((tracker, clean));
}
