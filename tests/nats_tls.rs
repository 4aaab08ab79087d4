//! TLS to NATS, proved on a real `nats-server` with TLS and `verify: true` (client
//! certificates required), certificates made here by `openssl` (deploy/test.sh installs
//! it): `serve` and `publish` connect with `--nats-ca`, `--nats-tls-cert` and
//! `--nats-tls-key` by `tls://` and `nats://` URLs and the events arrive; a server
//! certificate from another CA and a missing client certificate each stop the command
//! with one line that says it is TLS and which flag to fix. `deploy/test.sh` runs it on
//! 2.9 and on a current server.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs openssl with `args` in `dir`; panics with its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (apt-get install -y openssl; deploy/test.sh does it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` (`<name>.pem`, `<name>-key.pem`).
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A certificate `<name>.pem` (key `<name>-key.pem`) signed by CA `by`, for a server
/// on 127.0.0.1 (`serverAuth`) or a client (`clientAuth`).
fn leaf(dir: &Path, name: &str, by: &str, usage: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{by}.pem"),
            "-CAkey",
            &format!("{by}-key.pem"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// The force's CA with a server and a client certificate, and a rogue CA with a
    /// server certificate of its own.
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ca(d, "ca");
        leaf(d, "server", "ca", "serverAuth");
        leaf(d, "client", "ca", "clientAuth");
        ca(d, "rogue");
        leaf(d, "rogue-server", "rogue", "serverAuth");
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A nats-server config with TLS by certificate `server` (of `server.pem`),
    /// requiring client certificates signed by the force's CA.
    fn server_config(&self, server: &str) -> PathBuf {
        let conf = self.path(&format!("{server}.conf"));
        std::fs::write(
            &conf,
            format!(
                "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n  timeout: 2\n}}\n",
                self.path(&format!("{server}.pem")).display(),
                self.path(&format!("{server}-key.pem")).display(),
                self.path("ca.pem").display(),
            ),
        )
        .unwrap();
        conf
    }

    /// `--nats-ca`, and the client certificate unless `client` is false.
    fn flags(&self, client: bool) -> Vec<String> {
        let mut f = vec![
            "--nats-ca".into(),
            self.path("ca.pem").display().to_string(),
        ];
        if client {
            f.extend([
                "--nats-tls-cert".into(),
                self.path("client.pem").display().to_string(),
                "--nats-tls-key".into(),
                self.path("client-key.pem").display().to_string(),
            ]);
        }
        f
    }
}

fn tls_url(nats: &NatsServer) -> String {
    format!("tls://127.0.0.1:{}", nats.port)
}

/// Simulated events in an NDJSON file in `dir`; how many.
fn events_file(dir: &Path) -> (PathBuf, usize) {
    let lines = simulated("2024-03-01", "2024-03-07", 60, 5);
    let file = dir.join("events.ndjson");
    let mut text = Vec::new();
    for l in &lines {
        text.extend_from_slice(l);
        text.push(b'\n');
    }
    std::fs::write(&file, text).unwrap();
    (file, lines.len())
}

/// `publish FILE` with `args`; (exit code, stderr).
fn publish(file: &Path, url: &str, args: &[String]) -> (i32, String) {
    let out = Command::new(bin())
        .arg("publish")
        .arg(file)
        .args(["--nats-url", url])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `serve` with `args`, which must exit by itself within 30 s; (exit code, stderr).
fn serve_exits(url: &str, args: &[String]) -> (i32, String) {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .arg("serve")
        .args(["--nats-url", url, "--http-addr"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(data.path())
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("serve kept running on a TLS failure");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status.code().unwrap_or(-1), stderr)
}

/// The one `error:` line of `stderr`, which must say TLS and name `flag`.
fn one_tls_line<'a>(stderr: &'a str, flag: &str) -> &'a str {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let line = errors[0];
    assert!(line.contains("TLS"), "{line}");
    assert!(line.contains(flag), "{line}");
    assert!(!line.contains("is nats-server running"), "{line}");
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_publish_connect_with_client_certificates() {
    let pki = Pki::new();
    let nats = NatsServer::start_with_config(Some(pki.server_config("server")));
    let data = tempfile::tempdir().unwrap();
    let flags = pki.flags(true);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let tracker = TrackerProcess::spawn_with(&tls_url(&nats), data.path(), &args);
    tracker.wait_ready().await;

    // publish by a nats:// URL: --nats-ca alone makes the connection TLS.
    let (file, n) = events_file(pki.dir.path());
    let (code, stderr) = publish(&file, &nats.url(), &flags);
    assert_eq!(code, 0, "{stderr}");
    let url = format!("{}/metrics", tracker.base);
    wait_for(Duration::from_secs(30), "every event stored", || {
        let url = url.clone();
        async move { metric(&get(&url).await.1, "abstraction_tracker_stored_events") == Some(n as f64) }
    })
    .await;
    tracker.wait_ready().await;
}

#[test]
fn a_server_certificate_from_another_ca_is_one_line_naming_nats_ca() {
    let pki = Pki::new();
    let nats = NatsServer::start_with_config(Some(pki.server_config("rogue-server")));
    let (file, _) = events_file(pki.dir.path());
    let (code, stderr) = publish(&file, &tls_url(&nats), &pki.flags(true));
    assert_eq!(code, 1, "{stderr}");
    let line = one_tls_line(&stderr, "--nats-ca");
    eprintln!("publish: {line}");
    let (code, stderr) = serve_exits(&tls_url(&nats), &pki.flags(true));
    assert_eq!(code, 1, "{stderr}");
    let line = one_tls_line(&stderr, "--nats-ca");
    eprintln!("serve: {line}");
}

#[test]
fn a_missing_client_certificate_is_one_line_naming_nats_tls_cert() {
    let pki = Pki::new();
    let nats = NatsServer::start_with_config(Some(pki.server_config("server")));
    let (file, _) = events_file(pki.dir.path());
    let (code, stderr) = publish(&file, &tls_url(&nats), &pki.flags(false));
    assert_eq!(code, 1, "{stderr}");
    let line = one_tls_line(&stderr, "--nats-tls-cert");
    eprintln!("publish: {line}");
    let (code, stderr) = serve_exits(&tls_url(&nats), &pki.flags(false));
    assert_eq!(code, 1, "{stderr}");
    let line = one_tls_line(&stderr, "--nats-tls-cert");
    eprintln!("serve: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_still_waits_for_a_broker_that_is_not_up_yet() {
    // Not reaching the broker is not a TLS failure: serve starts and connects later.
    let pki = Pki::new();
    let mut nats = NatsServer::start_with_config(Some(pki.server_config("server")));
    nats.stop();
    let data = tempfile::tempdir().unwrap();
    let flags = pki.flags(true);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let tracker = TrackerProcess::spawn_with(&tls_url(&nats), data.path(), &args);
    let healthz = format!("{}/healthz", tracker.base);
    wait_for(Duration::from_secs(20), "serve up without a broker", || {
        let url = healthz.clone();
        async move { get(&url).await.0 == 200 }
    })
    .await;
    assert_ne!(get(&format!("{}/readyz", tracker.base)).await.0, 200);
    nats.restart();
    tracker.wait_ready().await;
}
