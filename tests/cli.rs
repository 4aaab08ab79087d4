//! The command line as an operator meets it: `report --server` inside an environment
//! that names a data directory (the shipped image and pod), the report client's TLS,
//! deadline and 401 hint, `probe`, and the exit statuses `--help` documents.

mod common;

use common::{bin, NatsServer, TrackerProcess};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The binary with a clean environment: no TRACKER_* or NATS_* from the caller.
fn cli() -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("TRACKER_") || k.starts_with("NATS_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A one-connection HTTP server on a free port answering `response` to the first
/// request; returns its base URL and a handle yielding the request line it got.
fn answer_once(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        s.write_all(response.as_bytes()).unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        text.lines().next().unwrap_or("").to_owned()
    });
    (base, h)
}

#[tokio::test]
async fn report_server_works_where_the_environment_names_the_served_data_dir() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let tracker = TrackerProcess::spawn_with(&nats.url(), dir.path(), &["--api-token", "s3cret"]);
    tracker.wait_ready().await;

    // As in the image: TRACKER_DATA_DIR names the directory `serve` holds locked.
    let report = |extra: &[&str]| {
        cli()
            .env("TRACKER_DATA_DIR", dir.path())
            .args(["report", "--format", "json", "--server", &tracker.base])
            .args(extra)
            .output()
            .unwrap()
    };

    // Without the token: the server's reason and what to do.
    let o = report(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("missing or wrong bearer token"), "{e}");
    assert!(e.contains("--api-token"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");

    // With it, and no --month: the month before the --as-of month.
    let o = report(&["--api-token", "s3cret", "--as-of", "2024-04-15T12:00:00Z"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["month"], "2024-03", "{doc}");

    // TRACKER_SERVER does the same as --server.
    let o = cli()
        .env("TRACKER_DATA_DIR", dir.path())
        .env("TRACKER_SERVER", &tracker.base)
        .env("TRACKER_API_TOKEN", "s3cret")
        .args(["report", "--month", "2024-02", "--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["month"], "2024-02");

    // probe, with the address the way the image sets it.
    let addr = tracker.base.trim_start_matches("http://");
    let o = cli()
        .env("TRACKER_HTTP_ADDR", addr.replace("127.0.0.1", "0.0.0.0"))
        .arg("probe")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn flags_not_the_environment_choose_between_store_and_server() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    // Both as flags: a usage error.
    let o = cli()
        .args([
            "report",
            "--month",
            "2024-03",
            "--server",
            "http://127.0.0.1:9",
        ])
        .arg("--data-dir")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot be used together"),
        "{}",
        stderr(&o)
    );

    // A --data-dir flag wins over TRACKER_SERVER: the store is read (and is missing).
    let o = cli()
        .env("TRACKER_SERVER", "http://127.0.0.1:9")
        .args(["report", "--month", "2024-03", "--data-dir"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no tracker data in"), "{}", stderr(&o));
}

#[test]
fn a_server_that_never_answers_fails_the_report_within_its_timeout() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    // Accept and hold the connections, never answering.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            held.push(s);
        }
    });
    let t0 = Instant::now();
    let o = cli()
        .args([
            "report",
            "--month",
            "2024-03",
            "--timeout",
            "1s",
            "--server",
            &base,
        ])
        .output()
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(stderr(&o).contains("no answer from"), "{}", stderr(&o));
}

#[test]
fn an_https_server_is_spoken_to_over_tls() {
    // Not a TLS server: the handshake fails in rustls, which shows https is supported
    // (without a TLS feature, ureq refuses the scheme before connecting).
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let https = format!("https://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut first = [0u8; 5];
        s.read_exact(&mut first).unwrap();
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        first
    });
    let o = cli()
        .args([
            "report",
            "--month",
            "2024-03",
            "--timeout",
            "5s",
            "--server",
            &https,
        ])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(!e.to_lowercase().contains("scheme"), "{e}");
    // rustls's own words for a record that is not TLS.
    assert!(e.contains("InvalidContentType"), "{e}");
    // What the server got was a TLS handshake record (content type 22), not "GET /".
    assert_eq!(h.join().unwrap()[0], 22);
}

#[test]
fn probe_fails_with_one_line_unless_the_answer_is_200() {
    let (base, _h) = answer_once(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\nconnection: close\r\n\r\nstarting\n",
    );
    let o = cli()
        .args(["probe", "--url", &format!("{base}/healthz")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("503") && e.contains("starting"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");

    let (base, _h) =
        answer_once("HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n");
    let o = cli()
        .args([
            "probe",
            "--timeout",
            "2s",
            "--url",
            &format!("{base}/healthz"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // Nothing listening.
    let port = common::free_port();
    let o = cli()
        .args(["probe", "--http-addr", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn the_exit_statuses_are_the_ones_help_documents() {
    let help = cli().arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout).into_owned();
    for line in ["0  success", "1  failure", "2  usage error"] {
        assert!(text.contains(line), "--help lacks {line:?}:\n{text}");
    }
    let usage = cli().args(["report", "--no-such-flag"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let bad = cli()
        .args(["report", "--month", "2024-13"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let fail = cli()
        .args(["report", "--month", "2024-03", "--data-dir"])
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(fail.status.code(), Some(1));
    assert!(stderr(&fail).starts_with("error: "));
}

/// `openssl s_server -www` on a free port with a fresh self-signed certificate for
/// 127.0.0.1: a real TLS server that answers any GET with 200 and a status page.
struct TlsServer {
    child: std::process::Child,
    base: String,
    cert: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl (Debian package openssl) makes the test certificate");
        assert!(made.status.success(), "{}", stderr(&made));
        let port = common::free_port();
        let child = Command::new("openssl")
            .args(["s_server", "-www", "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsServer {
            child,
            base: format!("https://127.0.0.1:{port}"),
            cert,
            _dir: dir,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn report_server_fetches_over_https_verifying_the_certificate() {
    let tls = TlsServer::start();
    let report = |ca: Option<&std::path::Path>| {
        let mut c = cli();
        c.args(["report", "--month", "2024-03", "--timeout", "5s"])
            .args(["--server", &tls.base]);
        if let Some(ca) = ca {
            c.arg("--server-ca").arg(ca);
        }
        c.output().unwrap()
    };
    // Trusting the server's certificate: the answer is read.
    let o = report(Some(&tls.cert));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("s_server"));
    // Mozilla's roots do not vouch for it: refused, and said so.
    let o = report(None);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("UnknownIssuer") && e.contains("--server-ca"),
        "{e}"
    );
}
