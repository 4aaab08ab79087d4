//! The HTML board paper in a real browser: render a realistic month (all seven West
//! Midlands LPAs, 13 months of trend; no NATS needed), screenshot it with Debian's
//! headless Chromium at A4 proportions (1240×1754) and check the PNG.
//!
//! Needs `/usr/bin/chromium` (`apt-get install -y chromium`); the test fails, never
//! skips, when it is missing.
//!
//! A second page is the same force's month in progress (as of the 12th), whose statuses
//! must all be the forecast's.
//!
//! To refresh the committed example, run
//!
//! ```text
//! WRITE_DOCS_EXAMPLE=1 cargo test --test report_chromium
//! ```
//!
//! which also copies the pages and their screenshots to `docs/report-example.html` and
//! `.png`, and `docs/report-in-progress-synthetic.html` and `.png`. The data is deterministic, so the HTML only changes when
//! the renderer does.

use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::contribution::{AbstractedCell, AbstractionKey};
use abstraction_tracker::domain::event::{Role, Scope};
use abstraction_tracker::domain::readmodel::{LpaDay, LpaMonth, SectorMonth};
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::domain::report::{month_report, LpaInputs, MonthReport};
use abstraction_tracker::render::{render, Format};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const WIDTH: u32 = 1240;
const HEIGHT: u32 = 1754;
const H: i64 = 3_600_000;

/// A small deterministic generator (xorshift), so the example is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// (LPA, neighbourhood officers, typical counted ratio).
const LPAS: [(&str, i64, f64); 7] = [
    ("birmingham", 190, 0.262),
    ("coventry", 72, 0.226),
    ("dudley", 58, 0.152),
    ("sandwell", 66, 0.232),
    ("solihull", 38, 0.118),
    ("walsall", 56, 0.305),
    ("wolverhampton", 61, 0.184),
];

/// (reason, share of abstracted time). Training and court are not counted.
const REASONS: [(&str, f64); 12] = [
    ("response_cover", 0.34),
    ("custody_constant_watch", 0.08),
    ("hospital_watch", 0.07),
    ("prisoner_escort", 0.04),
    ("scene_guarding", 0.09),
    ("public_order", 0.06),
    ("local_aid_events", 0.07),
    ("central_aid", 0.05),
    ("mutual_aid", 0.02),
    ("night_time_economy", 0.04),
    ("training", 0.10),
    ("court", 0.04),
];

fn month_data(rng: &mut Rng, month: Month, officers: i64, ratio: f64) -> LpaMonth {
    let mut m = LpaMonth::default();
    let roles = [
        (Role::Pc, 0.55),
        (Role::Pcso, 0.30),
        (Role::SpecialConstable, 0.05),
        (Role::Sergeant, 0.08),
        (Role::Inspector, 0.02),
    ];
    let rostered_h = officers as f64 * 150.0 * (0.93 + 0.1 * rng.next());
    for (role, share) in roles {
        let h = (rostered_h * share) as i64;
        m.add_rostered(role, h * H, (h / 8).max(1));
    }
    // Winter and summer events push abstraction up.
    let season = match month.month {
        6..=8 => 1.12,
        12 | 1 => 1.08,
        _ => 1.0,
    };
    // Counted reasons take ~86% of the time, so scale to hit the counted ratio.
    let abstracted_h = rostered_h * ratio * season * (0.9 + 0.2 * rng.next()) / 0.86;
    for (reason, share) in REASONS {
        for (role, rshare) in [(Role::Pc, 0.6), (Role::Pcso, 0.3), (Role::Sergeant, 0.1)] {
            for (scope, sshare, planned) in [
                (Scope::Lpa, 0.55, false),
                (Scope::Force, 0.3, true),
                (Scope::Force, 0.1, false),
                (Scope::External, 0.05, true),
            ] {
                let h = abstracted_h * share * rshare * sshare * (0.7 + 0.6 * rng.next());
                let ms = (h * H as f64) as i64;
                if ms <= 0 {
                    continue;
                }
                let cell = AbstractedCell {
                    month,
                    day: abstraction_tracker::domain::calendar::first_day(month),
                    sector: String::new(),
                    key: AbstractionKey {
                        reason: reason.into(),
                        role,
                        scope,
                        planned,
                    },
                    ms,
                    count: (h / 6.0).ceil() as i64,
                };
                m.add_abstracted(&cell, 1);
            }
        }
    }
    m.open = (rng.next() * 6.0) as i64;
    m
}

fn sectors(
    rng: &mut Rng,
    reference: &Reference,
    lpa: &str,
    m: &LpaMonth,
) -> Vec<(String, SectorMonth)> {
    let mut codes: Vec<String> = reference
        .lpa(lpa)
        .unwrap()
        .sectors
        .iter()
        .map(|s| s.code.clone())
        .collect();
    if lpa == "sandwell" {
        codes.push("sandwell-unmapped".into()); // not in the reference data
    }
    let n = codes.len() as f64;
    codes
        .into_iter()
        .map(|code| {
            let mut s = SectorMonth::default();
            let rostered = m.rostered_ms() as f64 / n * (0.7 + 0.6 * rng.next());
            s.add_rostered(rostered as i64, (rostered / (8.0 * H as f64)) as i64);
            // The unmapped sector is a busy one, so the example shows the marker.
            let busy = if code.ends_with("-unmapped") {
                1.6
            } else {
                1.0
            };
            for (reason, share) in &REASONS[..6] {
                let ms = rostered * 0.22 * busy * share * (0.3 + 1.4 * rng.next());
                s.add_abstracted(reason, ms as i64, 1 + (rng.next() * 9.0) as i64);
            }
            (code, s)
        })
        .collect()
}

fn realistic_report(reference: &Reference) -> MonthReport {
    month_report(
        reference,
        Month::new(2024, 3),
        &realistic_inputs(reference),
        &rejected(),
    )
}

fn rejected() -> [(String, u64); 2] {
    [
        ("schema_violation".to_string(), 4),
        ("unknown_lpa".to_string(), 1),
    ]
}

/// The same force's March 2024 in progress, as of the 12th: each LPA's month split into
/// days, the abstractions of days before the 12th all entered and, of the rest, only the
/// planned ones (booked ahead); the month's own model holds what has been entered.
fn realistic_in_progress(reference: &Reference) -> MonthReport {
    let as_of = jiff::civil::date(2024, 3, 12);
    let mut rng = Rng(0x5eed_2024_0312);
    let mut inputs = realistic_inputs(reference);
    for inp in &mut inputs {
        let m = inp.this.clone();
        let mut entered = LpaMonth::default();
        let mut days = Vec::new();
        for d in 1..=31i8 {
            let day = jiff::civil::date(2024, 3, d);
            let share = (0.8 + 0.4 * rng.next()) / 31.0;
            let mut lpa_day = LpaDay {
                rostered_ms: (m.rostered_ms() as f64 / 31.0) as i64,
                ..LpaDay::default()
            };
            for (key, t) in m.cells() {
                let ms = (t.ms as f64 * share) as i64;
                if ms == 0 || (day >= as_of && !key.planned) {
                    continue;
                }
                lpa_day.add_abstracted(key.reason, key.planned, ms);
                let cell = AbstractedCell {
                    month: Month::new(2024, 3),
                    day,
                    sector: String::new(),
                    key: AbstractionKey {
                        reason: key.reason.into(),
                        role: key.role,
                        scope: key.scope,
                        planned: key.planned,
                    },
                    ms,
                    count: 1,
                };
                entered.add_abstracted(&cell, 1);
            }
            days.push((day, lpa_day));
        }
        entered.rostered = m.rostered.clone();
        entered.open = m.open;
        inp.this = entered.clone();
        if let Some(last) = inp.trend.last_mut() {
            last.1 = entered;
        }
        inp.days = Some((as_of, days));
    }
    month_report(reference, Month::new(2024, 3), &inputs, &rejected())
}

fn realistic_inputs(reference: &Reference) -> Vec<LpaInputs> {
    let month = Month::new(2024, 3);
    let mut rng = Rng(0x5eed_2024_0301);
    LPAS.iter()
        .map(|&(lpa, officers, ratio)| {
            let mut months = vec![month];
            for _ in 0..12 {
                months.push(months.last().unwrap().prev());
            }
            months.reverse();
            let trend: Vec<(Month, LpaMonth)> = months
                .iter()
                .map(|&mo| {
                    // Solihull's rosters only reached the tracker from June 2023.
                    let missing = lpa == "solihull" && mo < Month::new(2023, 6);
                    let data = if missing {
                        LpaMonth::default()
                    } else {
                        month_data(&mut rng, mo, officers, ratio)
                    };
                    (mo, data)
                })
                .collect();
            let this = trend[12].1.clone();
            let officer_counts = (0..officers)
                .map(|_| (rng.next() * rng.next() * 14.0) as u64)
                .filter(|&c| c > 0)
                .collect();
            LpaInputs {
                days: None,
                lpa: lpa.into(),
                sectors: sectors(&mut rng, reference, lpa, &this),
                this,
                prev: trend[11].1.clone(),
                year_ago: trend[0].1.clone(),
                officer_counts,
                trend,
            }
        })
        .collect::<Vec<_>>()
}

/// Runs Chromium headless to screenshot `page` into `png`, killing it after a minute.
fn screenshot(page: &Path, png: &Path, profile: &Path) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y chromium`"
    );
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            let out = child.wait_with_output().expect("chromium output");
            assert!(
                status.success(),
                "chromium failed ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish its screenshot within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 24, "PNG too short");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk is IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// Renders `rep` as HTML, screenshots it in Chromium and checks the PNG; with
/// WRITE_DOCS_EXAMPLE=1 copies both to docs/`name`.html and .png.
fn screenshot_checked(reference: &Reference, rep: &MonthReport, name: &str) -> String {
    let html = render(rep, reference, Format::Html);
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("report.html");
    let png = dir.path().join("report.png");
    let profile = dir.path().join("chromium-profile");
    std::fs::create_dir(&profile).expect("profile dir");
    std::fs::write(&page, &html).expect("write page");

    screenshot(&page, &png, &profile);

    let bytes = std::fs::read(&png).expect("chromium wrote no screenshot");
    assert!(
        bytes.len() > 20_000,
        "screenshot is only {} bytes: probably a blank page",
        bytes.len()
    );
    assert_eq!(png_size(&bytes), (WIDTH, HEIGHT));

    if std::env::var_os("WRITE_DOCS_EXAMPLE").is_some_and(|v| v == "1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).expect("docs dir");
        std::fs::write(docs.join(format!("{name}.html")), &html).expect("write example");
        std::fs::copy(&png, docs.join(format!("{name}.png"))).expect("copy screenshot");
    }
    html
}

#[test]
fn board_paper_renders_in_chromium_at_a4_proportions() {
    let reference = Reference::west_midlands();
    let rep = realistic_report(&reference);
    assert_eq!(rep.lpas.len(), 7);
    assert!(rep.lpas.iter().all(|l| l.trend.len() == 13));
    screenshot_checked(&reference, &rep, "report-example");
}

/// The month in progress in the browser: every status is a forecast's, and the page
/// carries the month's to-date and forecast figures but never its part-month ratio.
#[test]
fn the_month_in_progress_renders_in_chromium_with_forecast_statuses() {
    let reference = Reference::west_midlands();
    let rep = realistic_in_progress(&reference);
    assert!(rep.summary.in_progress.is_some());
    let html = screenshot_checked(&reference, &rep, "report-in-progress-synthetic");
    for l in rep.present() {
        let p = l.in_progress.as_ref().expect("every LPA is in progress");
        let badge = match l.rag {
            Some(r) => format!("rag-{} rag-forecast\">Forecast", r.as_str()),
            None => "rag-none rag-forecast\">No forecast".to_string(),
        };
        assert!(html.contains(&badge), "{}: {badge}", l.lpa);
        let section = &html[html.find(&format!("id=\"lpa-{}\"", l.lpa)).unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        let part_month = format!("{:.1}%", l.abstraction_ratio.unwrap() * 100.0);
        let to_date = format!("{:.1}%", p.abstraction_ratio_to_date.unwrap() * 100.0);
        assert!(section.contains(&format!("to date {to_date}")), "{}", l.lpa);
        assert!(!section.contains(&format!(">{part_month}<")), "{}", l.lpa);
    }
}

#[test]
fn png_header_is_parsed() {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&1240u32.to_be_bytes());
    b.extend_from_slice(&1754u32.to_be_bytes());
    b.push(8);
    assert_eq!(png_size(&b), (1240, 1754));
}
