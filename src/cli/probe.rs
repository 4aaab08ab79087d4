//! `probe`: one GET of a running tracker's `/healthz`, for the container's
//! HEALTHCHECK (the image has no curl). Exit status 0 on 200, 1 otherwise.

use super::args::ProbeArgs;
use super::client;

pub fn run(a: ProbeArgs) -> anyhow::Result<()> {
    let url = a.url.unwrap_or_else(|| healthz_url(&a.http_addr));
    let options = client::Options {
        timeout: a.timeout,
        ca: None,
    };
    let answer = client::get(&url, None, options)?;
    if answer.status != 200 {
        anyhow::bail!(
            "{url} answered {}: {}",
            answer.status,
            answer.body.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    println!("ok: {url} answered 200");
    Ok(())
}

/// `http://ADDR/healthz`, an unspecified bind address (`0.0.0.0`, `[::]`) replaced by
/// the loopback one: `serve` listening on every interface is reached on loopback.
pub fn healthz_url(http_addr: &str) -> String {
    let addr = match http_addr.rsplit_once(':') {
        Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => http_addr.to_owned(),
    };
    format!("http://{addr}/healthz")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listen_on_every_interface_is_probed_on_loopback() {
        assert_eq!(healthz_url("0.0.0.0:8080"), "http://127.0.0.1:8080/healthz");
        assert_eq!(healthz_url("[::]:9000"), "http://[::1]:9000/healthz");
        assert_eq!(healthz_url("10.0.0.5:8080"), "http://10.0.0.5:8080/healthz");
    }
}
