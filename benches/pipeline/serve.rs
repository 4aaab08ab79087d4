//! Phase 4, reading: the big store opened as `serve` would, the month report, the month
//! API and the scrape timed in-process and over a socket.

use super::*;

#[derive(Serialize, Deserialize, Clone, Copy)]
pub(crate) struct Lat {
    pub(crate) median: f64,
    pub(crate) p95: f64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Serve {
    pub(crate) open_s: f64,
    pub(crate) rss_before_open_kib: u64,
    pub(crate) rss_after_open_kib: u64,
    pub(crate) rss_end_kib: u64,
    pub(crate) peak_rss_kib: u64,
    pub(crate) cold_report_ms: f64,
    pub(crate) report: Lat,
    /// The same report timed again after the API and the scrape: the first samples
    /// follow the open (from a cold page cache when root), these a settled process.
    pub(crate) report_later: Lat,
    pub(crate) api: Lat,
    pub(crate) api_bytes: usize,
    pub(crate) api_socket: Lat,
    pub(crate) render: Lat,
    pub(crate) scrape: Lat,
    pub(crate) scrape_bytes: usize,
    pub(crate) scrape_socket: Lat,
    pub(crate) rostered_h: f64,
    pub(crate) abstracted_h: f64,
    pub(crate) disk: u64,
    pub(crate) allocated: u64,
    pub(crate) ours: MonthMs,
}

/// The month to report on: the last one the simulation covered completely, or the
/// month in progress when none is complete yet (small runs).
pub(crate) fn report_month(
    store: &Store,
    reference: &Reference,
    max_shift_start: i64,
) -> anyhow::Result<Month> {
    let current = Month::containing_ms(max_shift_start);
    let full = current.prev();
    let has_data = store
        .lpa_month(&reference.lpas[0].code, full)?
        .rostered_ms()
        > 0;
    Ok(if has_data { full } else { current })
}

/// Where a month report's and a scrape's time goes: the store reads `figures::month`
/// and the metrics collector make, timed one kind at a time (median of 10 each).
pub(crate) fn read_breakdown(
    store: &Store,
    reference: &Reference,
    month: Month,
) -> anyhow::Result<Vec<(String, f64)>> {
    use abstraction_tracker::domain::report::month_report;
    let lpas: Vec<&str> = reference.lpas.iter().map(|l| l.code.as_str()).collect();
    let months: Vec<Month> = std::iter::successors(Some(month), |m| Some(m.prev()))
        .take(13)
        .chain([month.year_earlier()])
        .collect();
    let mut out = Vec::new();
    let mut model_bytes = 0usize;
    for l in &lpas {
        model_bytes += serde_json::to_vec(&store.lpa_month(l, month)?)?.len();
    }
    let t = sample(10, || {
        for l in &lpas {
            for m in &months {
                std::hint::black_box(store.lpa_month(l, *m)?);
            }
        }
        Ok(())
    })?;
    out.push((
        format!(
            "{} LpaMonth gets (mean {} B JSON)",
            lpas.len() * months.len(),
            model_bytes / lpas.len()
        ),
        t.median,
    ));
    let mut sectors = 0;
    let t = sample(10, || {
        sectors = 0;
        for l in &lpas {
            sectors += store.sectors(l, month)?.len();
        }
        Ok(())
    })?;
    out.push((format!("sector scans ({sectors} keys)"), t.median));
    let mut officers = 0;
    let t = sample(10, || {
        officers = 0;
        for l in &lpas {
            officers += store.officer_counts(l, month)?.len();
        }
        Ok(())
    })?;
    out.push((format!("officer-count scans ({officers} keys)"), t.median));
    let (inputs, rejected) =
        abstraction_tracker::app::figures::inputs(store, reference, month, mid_month(month))?;
    let t = sample(10, || {
        std::hint::black_box(month_report(reference, month, &inputs, &rejected));
        Ok(())
    })?;
    out.push(("month_report (pure, no I/O)".into(), t.median));
    let report = month_report(reference, month, &inputs, &rejected);
    let t = sample(10, || {
        std::hint::black_box(serde_json::to_vec(&report)?);
        Ok(())
    })?;
    out.push(("report to JSON".into(), t.median));
    let mut all = Vec::new();
    let t = sample(10, || {
        all = store.months()?.into_iter().collect();
        Ok(())
    })?;
    out.push((
        format!("scrape: months() scan ({} months)", all.len()),
        t.median,
    ));
    let t = sample(10, || {
        for l in &lpas {
            std::hint::black_box(store.open_now(l)?);
        }
        Ok(())
    })?;
    out.push((
        format!(
            "scrape: open now, {} LPAs x {} months of n/ keys",
            lpas.len(),
            all.len()
        ),
        t.median,
    ));
    // The scrape's window, as-of the latest month held: it and the 12 before it.
    let latest: Vec<Month> = match all.iter().next_back() {
        Some(&last) => {
            let first = (0..12).fold(last, |m, _| m.prev());
            all.iter()
                .filter(|m| (first..=last).contains(*m))
                .copied()
                .collect()
        }
        None => Vec::new(),
    };
    let t = sample(10, || {
        for l in &lpas {
            for m in &latest {
                std::hint::black_box(store.lpa_month(l, *m)?);
            }
        }
        Ok(())
    })?;
    out.push((
        format!(
            "scrape: the window's months ({} LpaMonth gets)",
            lpas.len() * latest.len()
        ),
        t.median,
    ));
    Ok(out)
}

/// Child: opens the big store as `serve` would, then times the month report, the month
/// API and the scrape.
pub(crate) fn child_serve() -> anyhow::Result<()> {
    let dir = PathBuf::from(env_str("BENCH_CHILD_DIR")?);
    let month: Month = env_str("BENCH_CHILD_MONTH")?.parse()?;
    let runs = env_num("BENCH_RUNS", 50)?.max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let reference = Arc::new(Reference::west_midlands());
    let rss_before_open_kib = proc_status_kib("VmRSS");
    let t = Instant::now();
    let store = Store::open(&dir)?;
    store.check_consistent()?;
    let open_s = t.elapsed().as_secs_f64();
    let rss_after_open_kib = proc_status_kib("VmRSS");
    let t = Instant::now();
    let first = figures::month(&store, &reference, month, mid_month(month))?;
    let cold_report_ms = t.elapsed().as_secs_f64() * 1e3;
    let report = sample(runs, || {
        figures::month(&store, &reference, month, mid_month(month))?;
        Ok(())
    })?;
    // The scrape's window ends at the latest month the store holds.
    let latest = store.months()?.last().copied().unwrap_or(month);
    let metrics = Arc::new(Metrics::new(
        store.clone(),
        reference.clone(),
        Clock::AsOf(latest.start()),
    ));
    let state = AppState {
        store: store.clone(),
        reference: reference.clone(),
        metrics: metrics.clone(),
        probe: None,
        api_token: None,
        view: None,
        issues: None,
    };
    let api_path = format!("/api/v1/months/{month}");
    let (api, api_bytes) = rt.block_on(oneshot_latency(&state, &api_path, runs))?;
    let api_socket = rt.block_on(socket_latency(&state, &api_path, runs))?;
    let render = sample(runs, || {
        std::hint::black_box(metrics.render());
        Ok(())
    })?;
    let (scrape, scrape_bytes) = rt.block_on(oneshot_latency(&state, "/metrics", runs))?;
    let scrape_socket = rt.block_on(socket_latency(&state, "/metrics", runs))?;
    let report_later = sample(runs, || {
        figures::month(&store, &reference, month, mid_month(month))?;
        Ok(())
    })?;
    println!(
        "serving process: store opened in {open_s:.2} s (RSS {} -> {} MiB); month {month}: first report {}, then median {} p95 {} over {runs} runs",
        mib(rss_before_open_kib),
        mib(rss_after_open_kib),
        fmt_ms(cold_report_ms),
        fmt_ms(report.median),
        fmt_ms(report.p95)
    );
    println!(
        "{api_path}: oneshot median {} p95 {} ({api_bytes} B); real socket median {} p95 {}",
        fmt_ms(api.median),
        fmt_ms(api.p95),
        fmt_ms(api_socket.median),
        fmt_ms(api_socket.p95)
    );
    println!(
        "/metrics: Metrics::render median {} p95 {}; oneshot median {} p95 {} ({scrape_bytes} B); real socket median {} p95 {}",
        fmt_ms(render.median),
        fmt_ms(render.p95),
        fmt_ms(scrape.median),
        fmt_ms(scrape.p95),
        fmt_ms(scrape_socket.median),
        fmt_ms(scrape_socket.p95)
    );
    println!(
        "month {month} again, after the API and the scrape: median {} p95 {} over {runs} runs",
        fmt_ms(report_later.median),
        fmt_ms(report_later.p95)
    );
    let disk = store.size_on_disk();
    let allocated = allocated_bytes(&dir);
    println!(
        "big store on disk: size_on_disk {:.2} GiB, blocks allocated {:.2} GiB; serving RSS now {} MiB, peak {} MiB",
        disk as f64 / MIB / 1024.0,
        allocated as f64 / MIB / 1024.0,
        mib(proc_status_kib("VmRSS")),
        mib(proc_status_kib("VmHWM"))
    );
    let parts = read_breakdown(&store, &reference, month)?;
    let parts_text: Vec<String> = parts
        .iter()
        .map(|(what, ms)| format!("{what} {}", fmt_ms(*ms)))
        .collect();
    println!("where the time goes: {}", parts_text.join("; "));
    let ours = our_month_ms(&store, &reference, month)?;
    // Last, so that the figures above are those of the reading part alone: what `serve`
    // adds at start before it consumes (ingest's Bloom filters).
    let t = Instant::now();
    let ids = store.load_filters()?;
    let scan_s = t.elapsed().as_secs_f64();
    println!(
        "serve's start-up extra: Bloom filters of {ids} ids and their entities loaded in {scan_s:.1} s; RSS now {} MiB",
        mib(proc_status_kib("VmRSS"))
    );
    // What a restart after a clean stop does instead: the filters saved by the stop,
    // taken in one read.
    let t = Instant::now();
    store.save_filters()?;
    let save_s = t.elapsed().as_secs_f64();
    let saved_bytes = store.saved_filters_len()?;
    let t = Instant::now();
    let taken = store.load_saved_filters()?;
    println!(
        "after a clean stop: filters saved in {:.1} ms and taken back in {:.1} ms (taken: {taken}; {} B), against {scan_s:.1} s reading every key ({:.4}x)",
        save_s * 1e3,
        t.elapsed().as_secs_f64() * 1e3,
        saved_bytes,
        t.elapsed().as_secs_f64() / scan_s
    );
    print_result(&Serve {
        open_s,
        rss_before_open_kib,
        rss_after_open_kib,
        rss_end_kib: proc_status_kib("VmRSS"),
        peak_rss_kib: proc_status_kib("VmHWM"),
        cold_report_ms,
        report,
        report_later,
        api,
        api_bytes,
        api_socket,
        render,
        scrape,
        scrape_bytes,
        scrape_socket,
        rostered_h: first.summary.rostered_hours,
        abstracted_h: first.summary.abstracted_hours,
        disk,
        allocated,
        ours,
    })
}

impl Lat {
    /// Median and 95th percentile of samples in milliseconds.
    pub(crate) fn of(mut v: Vec<f64>) -> Lat {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Lat {
            median: v[n / 2],
            p95: v[(n * 95).div_ceil(100).max(1) - 1],
        }
    }
}

/// Three warm-up calls, then `runs` timed calls.
pub(crate) fn sample(
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Lat> {
    for _ in 0..3 {
        f()?;
    }
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(Lat::of(v))
}

/// Through the router in-process (`tower::ServiceExt::oneshot`), body collected; one
/// warm-up request.
pub(crate) async fn oneshot_latency(
    state: &AppState,
    path: &str,
    runs: usize,
) -> anyhow::Result<(Lat, usize)> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let app = http::app(state.clone());
    let mut v = Vec::with_capacity(runs);
    let mut len = 0;
    for i in 0..=runs {
        let req = axum::http::Request::get(path).body(axum::body::Body::empty())?;
        let t = Instant::now();
        let resp = app.clone().oneshot(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        let took = t.elapsed().as_secs_f64() * 1e3;
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        len = body.len();
        if i > 0 {
            v.push(took);
        }
    }
    Ok((Lat::of(v), len))
}

/// Over a real socket: `http::serve` on an ephemeral port, a blocking HTTP client with a
/// kept-alive connection; one warm-up request.
pub(crate) async fn socket_latency(
    state: &AppState,
    path: &str,
    runs: usize,
) -> anyhow::Result<Lat> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}{path}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    let times = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<f64>> {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        let mut v = Vec::with_capacity(runs);
        for i in 0..=runs {
            let t = Instant::now();
            let body = agent.get(&url).call()?.body_mut().read_to_vec()?;
            let took = t.elapsed().as_secs_f64() * 1e3;
            if body.is_empty() {
                bail!("GET {url}: empty body");
            }
            if i > 0 {
                v.push(took);
            }
        }
        Ok(v)
    })
    .await??;
    let _ = stop.send(());
    server.await??;
    Ok(Lat::of(times))
}

/// The 15th of a month: the bench times a month report in progress, which also reads
/// the month's per-day figures.
pub fn mid_month(month: abstraction_tracker::domain::calendar::Month) -> jiff::civil::Date {
    jiff::civil::Date::new(month.year, month.month, 15).expect("every month has a 15th")
}
