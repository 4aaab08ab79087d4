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

/// Connects. With `keep_trying`, returns at once and connects in the background (a
/// service should start even while the broker is down); otherwise fails fast with a
/// message that says what to check.
pub async fn connect(
    url: &str,
    auth: &Auth,
    keep_trying: bool,
) -> anyhow::Result<async_nats::Client> {
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
    if let (Some(c), Some(k)) = (&auth.nats_tls_cert, &auth.nats_tls_key) {
        opts = opts.add_client_certificate(c.clone(), k.clone());
    }
    if keep_trying {
        opts = opts.retry_on_initial_connect();
    }
    // A cluster is named as a comma-separated list of URLs.
    let addrs = url
        .split(',')
        .map(|u| u.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!("NATS URL {url:?} is not a URL or comma-separated list of URLs")
        })?;
    opts.connect(addrs.as_slice()).await.with_context(|| {
        format!("cannot connect to NATS at {url}; is nats-server running with JetStream (nats-server -js)? Set --nats-url or NATS_URL")
    })
}
