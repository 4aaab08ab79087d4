//! NATS connection options shared by every command that talks to the broker:
//! credentials (user/password, token, nkey seed, `.creds` file) and TLS.

use anyhow::Context as _;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Auth {
    /// NATS user name (with --nats-password).
    #[arg(long, env = "NATS_USER", global = true, help_heading = "NATS")]
    pub nats_user: Option<String>,
    /// NATS password.
    #[arg(
        long,
        env = "NATS_PASSWORD",
        global = true,
        hide_env_values = true,
        help_heading = "NATS"
    )]
    pub nats_password: Option<String>,
    /// NATS token.
    #[arg(
        long,
        env = "NATS_TOKEN",
        global = true,
        hide_env_values = true,
        help_heading = "NATS"
    )]
    pub nats_token: Option<String>,
    /// NATS nkey seed (SU...).
    #[arg(
        long,
        env = "NATS_NKEY_SEED",
        global = true,
        hide_env_values = true,
        help_heading = "NATS"
    )]
    pub nats_nkey_seed: Option<String>,
    /// NATS credentials file (.creds: JWT and nkey seed).
    #[arg(long, env = "NATS_CREDS", global = true, help_heading = "NATS")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate (PEM) to verify the NATS server's TLS certificate; implies TLS.
    #[arg(long, env = "NATS_CA", global = true, help_heading = "NATS")]
    pub nats_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with --nats-tls-key.
    #[arg(long, env = "NATS_TLS_CERT", global = true, help_heading = "NATS")]
    pub nats_tls_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, env = "NATS_TLS_KEY", global = true, help_heading = "NATS")]
    pub nats_tls_key: Option<PathBuf>,
}

/// Connects. With `keep_trying`, a broker that cannot be reached yet is waited for in
/// the background (a service should start even while the broker is down), but a TLS
/// mistake is not: it will not mend by itself, so it fails the start at once with one
/// line naming the flag to fix. Without `keep_trying`, any failure fails fast with a
/// message that says what to check.
pub async fn connect(
    url: &str,
    auth: &Auth,
    keep_trying: bool,
) -> anyhow::Result<async_nats::Client> {
    // A cluster is named as a comma-separated list of URLs.
    let addrs = url
        .split(',')
        .map(|u| u.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!("NATS URL {url:?} is not a URL or comma-separated list of URLs")
        })?;
    let first = options(auth).await?.connect(addrs.as_slice()).await;
    match first {
        Ok(client) => Ok(client),
        Err(e) => {
            if let Some(line) = tls_failure(&e, auth) {
                anyhow::bail!("cannot connect to NATS at {url}: {line}");
            }
            if !keep_trying {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot connect to NATS at {url}; is nats-server running with JetStream (nats-server -js)? Set --nats-url or NATS_URL"
                )));
            }
            tracing::warn!(error = %e, url, "cannot connect to NATS yet; retrying in the background");
            Ok(options(auth)
                .await?
                .retry_on_initial_connect()
                .connect(addrs.as_slice())
                .await?)
        }
    }
}

/// The connection options of `auth`.
async fn options(auth: &Auth) -> anyhow::Result<async_nats::ConnectOptions> {
    let mut opts = async_nats::ConnectOptions::new()
        .name("abstraction-tracker")
        .connection_timeout(Duration::from_secs(5))
        // A permissions violation or a slow-consumer notice would otherwise pass
        // unnoticed at the default log level.
        .event_callback(|event| async move {
            match event {
                async_nats::Event::ServerError(e) => {
                    tracing::warn!(error = %e, "NATS server error")
                }
                async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS"),
                async_nats::Event::Connected => tracing::info!("connected to NATS"),
                other => tracing::debug!(event = %other, "NATS event"),
            }
        });
    if let (Some(u), Some(p)) = (&auth.nats_user, &auth.nats_password) {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    if let Some(t) = &auth.nats_token {
        opts = opts.token(t.clone());
    }
    if let Some(s) = &auth.nats_nkey_seed {
        opts = opts.nkey(s.clone());
    }
    if let Some(c) = &auth.nats_creds {
        opts = opts
            .credentials_file(c)
            .await
            .with_context(|| format!("reading NATS credentials file {}", c.display()))?;
    }
    if let Some(ca) = &auth.nats_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&auth.nats_tls_cert, &auth.nats_tls_key) {
        (Some(c), Some(k)) => opts = opts.add_client_certificate(c.clone(), k.clone()),
        (None, None) => {}
        _ => anyhow::bail!(
            "TLS: --nats-tls-cert and --nats-tls-key go together (NATS_TLS_CERT, NATS_TLS_KEY): give both, or neither"
        ),
    }
    Ok(opts)
}

/// One line saying what to fix when `e` is a TLS failure; none for anything else
/// (a broker not running, a timeout), which may mend by itself.
fn tls_failure(e: &async_nats::ConnectError, auth: &Auth) -> Option<String> {
    use async_nats::rustls::{AlertDescription as Alert, CertificateError, Error as Tls};
    let ca = match &auth.nats_ca {
        Some(p) => format!("the CA in --nats-ca {}", p.display()),
        None => "the system's CA certificates (no --nats-ca given)".into(),
    };
    if e.kind() == async_nats::ConnectErrorKind::Tls {
        // Reading the files, before any connection: the cause names the file.
        let cause = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        return Some(format!(
            "TLS setup failed: {cause}; check --nats-ca, --nats-tls-cert and --nats-tls-key (NATS_CA, NATS_TLS_CERT, NATS_TLS_KEY): PEM files this user can read"
        ));
    }
    let tls = rustls_error(e)?;
    let line = match tls {
        Tls::InvalidCertificate(CertificateError::NotValidForName)
        | Tls::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "TLS: the server's certificate does not name the host in the URL ({tls}); connect by a name or address its certificate holds (--nats-url)"
        ),
        Tls::InvalidCertificate(_) => format!(
            "TLS: the server's certificate is not trusted by {ca} ({tls}); give the CA certificate that signed it with --nats-ca (NATS_CA)"
        ),
        Tls::AlertReceived(
            Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::AccessDenied,
        ) => match &auth.nats_tls_cert {
            None => format!(
                "TLS: the server requires a client certificate ({tls}); give one with --nats-tls-cert and --nats-tls-key (NATS_TLS_CERT, NATS_TLS_KEY)"
            ),
            Some(cert) => format!(
                "TLS: the server refused the client certificate --nats-tls-cert {} ({tls}); it must be signed by a CA the server trusts (its tls ca_file)",
                cert.display()
            ),
        },
        other => format!(
            "TLS handshake failed ({other}); check that the server has TLS on, and --nats-ca, --nats-tls-cert and --nats-tls-key"
        ),
    };
    Some(line)
}

/// The rustls error somewhere in `e`'s causes. `io::Error` hides the error it wraps
/// from `source()`, so it is opened with `get_ref()`.
fn rustls_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a async_nats::rustls::Error> {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(tls) = err.downcast_ref::<async_nats::rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(tls) = rustls_error(inner) {
                return Some(tls);
            }
        }
        cause = err.source();
    }
    None
}
