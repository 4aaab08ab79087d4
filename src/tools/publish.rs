//! `publish`: validates an NDJSON file locally, then publishes each event on its
//! subject (`neighbourhood.events.<lpa>.<type>`) with `Nats-Msg-Id` set to its
//! `event_id`, pipelining PubAcks through a [`Window`].
//!
//! Two streaming passes, neither holding the file: [`validate`] decodes each line once
//! and keeps only the numbers of the refused lines; [`send`] then re-reads the bytes and
//! publishes them, taking subject and id from a cheap parse. So nothing is published
//! from a file with a bad line unless the caller chooses to skip it, and memory does
//! not grow with the file ([`Lines`]).

mod input;
mod lines;

pub use input::Input;
pub use lines::{Line, Lines, Tee};

use crate::clock::Clock;
use crate::domain::reject::{RejectCode, Rejection};
use crate::wire::decode::{Validator, MAX_EVENT_BYTES};
use crate::wire::subject::subject_for;
use anyhow::Context as _;
use async_nats::jetstream::{self, context::PublishAckFuture, context::PublishError};
use async_nats::jetstream::{message::PublishMessage, publish::PublishAck};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::BufRead;

/// JetStream publishes with up to `size` PubAcks in flight, awaited oldest first. The
/// client caps the acks it tracks and would wait for ever for a permit if none were
/// awaited; awaiting each before the next publish would leave the broker idle.
/// `T` tags each message (a line number, say) so an ack can be traced to its message.
pub struct Window<'a, T> {
    js: &'a jetstream::Context,
    size: usize,
    inflight: VecDeque<(T, PublishAckFuture)>,
}

/// An awaited PubAck (or its error) with the tag of the message it confirms.
pub type Settled<T> = (T, Result<PublishAck, PublishError>);

impl<'a, T> Window<'a, T> {
    pub fn new(js: &'a jetstream::Context, size: usize) -> Window<'a, T> {
        let size = size.max(1);
        Window {
            js,
            size,
            inflight: VecDeque::with_capacity(size),
        }
    }

    /// Publishes one message, with `Nats-Msg-Id` when `id` is given. When that fills the
    /// window, the oldest ack is awaited and returned. The error is the send's own.
    pub async fn send(
        &mut self,
        tag: T,
        subject: String,
        payload: bytes::Bytes,
        id: Option<&str>,
    ) -> Result<Option<Settled<T>>, PublishError> {
        let mut msg = PublishMessage::build().payload(payload);
        if let Some(id) = id {
            msg = msg.message_id(id);
        }
        let ack = self.js.send_publish(subject, msg).await?;
        self.inflight.push_back((tag, ack));
        if self.inflight.len() < self.size {
            return Ok(None);
        }
        Ok(self.next().await)
    }

    /// Awaits the oldest ack still in flight; `None` when none is.
    pub async fn next(&mut self) -> Option<Settled<T>> {
        let (tag, ack) = self.inflight.pop_front()?;
        Some((tag, ack.await))
    }
}

/// A line that failed local validation.
#[derive(Debug)]
pub struct LineError {
    pub line: u64,
    pub rejection: Rejection,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishSummary {
    pub published: u64,
    /// Already in the stream's duplicate window: the broker kept the first copy.
    pub duplicates: u64,
}

/// What the validating pass keeps of a file: counts and line numbers, never lines.
#[derive(Debug, Default)]
pub struct Validation {
    /// Non-blank lines read.
    pub lines: u64,
    /// The number of the last non-blank line: the publishing pass sends nothing after it
    /// (a file that grew in between is refused, not half-checked).
    pub last_line: u64,
    /// Every refused line's number, ascending: 8 bytes per refused line, nothing per
    /// valid one.
    pub refused: Vec<u64>,
    /// The first refused lines with their reasons (as many as asked for).
    pub errors: Vec<LineError>,
}

impl Validation {
    pub fn valid(&self) -> u64 {
        self.lines - self.refused.len() as u64
    }
}

/// Longest line sent in raw mode (`--no-validate`); longer ones stop the run. Past
/// 64 KiB the tracker rejects a message as `too_large` anyway; this bound only keeps
/// the line buffer small while still letting such messages reach the rejected stream.
pub const RAW_MAX_LINE: usize = 8 << 20;

/// The validating pass: reads `input` a line at a time (memory flat), decodes each line
/// once with the tracker's own rules, times judged against `now_ms` (the publisher's
/// clock, CONTRACT section 9), and keeps only which lines were refused, with the
/// reasons of the first `listed`. `progress` gets the bytes read since its last call.
pub fn validate<R: BufRead>(
    validator: &Validator,
    now_ms: i64,
    input: R,
    listed: usize,
    mut progress: impl FnMut(u64),
) -> std::io::Result<Validation> {
    let mut lines = Lines::new(input, MAX_EVENT_BYTES + 1);
    let mut out = Validation::default();
    let mut reported = 0;
    loop {
        let refused = match lines.next_line()? {
            None => break,
            Some(Line::Text(n, l)) => (n, validator.decode_published(l, now_ms).err()),
            Some(Line::TooLong(n, len)) => (
                n,
                Some(Rejection::new(
                    RejectCode::TooLarge,
                    format!("message is {len} bytes; the limit is {MAX_EVENT_BYTES}"),
                )),
            ),
        };
        let (n, refused) = refused;
        out.lines += 1;
        out.last_line = n;
        if let Some(rejection) = refused {
            out.refused.push(n);
            if out.errors.len() < listed {
                out.errors.push(LineError { line: n, rejection });
            }
        }
        let read = lines.bytes_read();
        progress(read - reported);
        reported = read;
    }
    Ok(out)
}

/// How the publishing pass treats the lines it reads.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// Lines already passed by [`validate`] on the same bytes: the refused ones are
    /// skipped, and each other line's subject and `Nats-Msg-Id` are read with a cheap
    /// parse of three fields, not a second validation.
    Validated(&'a Validation),
    /// Lines sent as they are (`--no-validate`), subject read best-effort, to exercise
    /// the tracker's rejected stream.
    Raw,
}

/// The publishing pass: reads `input` a line at a time and publishes each line's bytes
/// as they are, pipelining PubAcks. `progress` gets the events confirmed since its last
/// call.
pub async fn send<R: BufRead>(
    js: &jetstream::Context,
    input: R,
    mode: Mode<'_>,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<PublishSummary> {
    let max = match mode {
        Mode::Validated(_) => MAX_EVENT_BYTES + 1,
        Mode::Raw => RAW_MAX_LINE,
    };
    let mut lines = Lines::new(input, max);
    let mut refused = match mode {
        Mode::Validated(v) => v.refused.iter().peekable(),
        Mode::Raw => [].iter().peekable(),
    };
    let mut window = Window::new(js, 512);
    let mut summary = PublishSummary::default();
    let mut settle = |(line, ack): Settled<u64>| -> anyhow::Result<()> {
        let ack = ack.with_context(|| format!("line {line}: broker did not confirm"))?;
        if ack.duplicate {
            summary.duplicates += 1;
        } else {
            summary.published += 1;
        }
        progress(1);
        Ok(())
    };
    let changed = |n: u64| {
        anyhow::anyhow!(
            "line {n} is not the line that was validated: the file changed while publishing"
        )
    };
    while let Some(line) = lines.next_line()? {
        let n = line.number();
        if let Mode::Validated(v) = mode {
            if n > v.last_line {
                return Err(changed(n));
            }
            if refused.next_if_eq(&&n).is_some() {
                continue;
            }
        }
        let (l, (subject, id)) = match (line, mode) {
            (Line::Text(_, l), Mode::Validated(_)) => (l, head(l).ok_or_else(|| changed(n))?),
            (Line::Text(_, l), Mode::Raw) => (l, raw_subject(l)),
            (Line::TooLong(_, _), Mode::Validated(_)) => return Err(changed(n)),
            (Line::TooLong(_, len), Mode::Raw) => {
                anyhow::bail!("line {n}: {len} bytes; publish sends at most {RAW_MAX_LINE}")
            }
        };
        let payload = bytes::Bytes::copy_from_slice(l);
        let settled = window
            .send(n, subject, payload, id.as_deref())
            .await
            .with_context(|| format!("line {n}: publishing (does the stream NEIGHBOURHOOD_EVENTS exist? `serve` creates it)"))?;
        if let Some(settled) = settled {
            settle(settled)?;
        }
    }
    while let Some(settled) = window.next().await {
        settle(settled)?;
    }
    Ok(summary)
}

/// Validates every line of `text`, then publishes them all, or none if a line is
/// refused; without `validator`, sends the lines as they are. (The command line streams
/// a file through [`validate`] and [`send`]; this is the same for bytes in memory.)
pub async fn publish(
    js: &jetstream::Context,
    validator: Option<&Validator>,
    text: &[u8],
    progress: impl FnMut(u64),
) -> anyhow::Result<PublishSummary> {
    let Some(validator) = validator else {
        return send(js, text, Mode::Raw, progress).await;
    };
    let now_ms = Clock::Wall.now().as_millisecond();
    let checked = validate(validator, now_ms, text, 1, |_| {})?;
    if let Some(e) = checked.errors.first() {
        anyhow::bail!(
            "line {}: {} ({} invalid line(s); nothing was published)",
            e.line,
            e.rejection,
            checked.refused.len()
        );
    }
    send(js, text, Mode::Validated(&checked), progress).await
}

/// The subject and event id of a line that passed validation, from its `event_id`,
/// `type` and `lpa` only (the rest is skipped, not checked). `None` if they cannot be
/// read; a key given twice (which the validator reads as its last value) falls back to
/// a full JSON parse with the same reading.
fn head(l: &[u8]) -> Option<(String, Option<String>)> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        event_id: Cow<'a, str>,
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        #[serde(borrow)]
        lpa: Cow<'a, str>,
    }
    let (id, kind, lpa) = match serde_json::from_slice::<Head>(l) {
        Ok(h) => (
            h.event_id.into_owned(),
            h.kind.into_owned(),
            h.lpa.into_owned(),
        ),
        Err(_) => {
            let v: serde_json::Value = serde_json::from_slice(l).ok()?;
            let f = |k: &str| v.get(k)?.as_str().map(str::to_owned);
            (f("event_id")?, f("type")?, f("lpa")?)
        }
    };
    Some((subject_for(&lpa, &kind), Some(id)))
}

fn raw_subject(l: &[u8]) -> (String, Option<String>) {
    let v: Option<serde_json::Value> = serde_json::from_slice(l).ok();
    let field = |k: &str| {
        v.as_ref()
            .and_then(|v| v.get(k))
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty() && !s.contains(['.', ' ', '*', '>']))
            .map(str::to_owned)
    };
    let lpa = field("lpa").unwrap_or_else(|| "unknown".into());
    let kind = v
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(|x| x.as_str())
        .filter(|s| {
            s.split('.')
                .all(|t| !t.is_empty() && !t.contains([' ', '*', '>']))
        })
        .unwrap_or("unknown")
        .to_string();
    (subject_for(&lpa, &kind), field("event_id"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reference::Reference;
    use crate::tools::simulate::{simulate, SimConfig};

    fn simulated() -> Vec<u8> {
        let cfg = SimConfig {
            seed: 5,
            from: "2024-03-04".parse().unwrap(),
            to: "2024-03-05".parse().unwrap(),
            officers: 30,
            now: None,
        };
        let mut out = Vec::new();
        simulate(&cfg, &Reference::west_midlands(), &mut out, &mut |_, _| {}).unwrap();
        out
    }

    fn now() -> i64 {
        "2024-03-06T00:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
    }

    /// The cheap parse of the publishing pass names the same subject and id as the full
    /// validation, for every kind of event the simulation writes.
    #[test]
    fn the_cheap_head_agrees_with_the_full_decode() {
        let v = Validator::new(Reference::west_midlands());
        let text = simulated();
        let mut lines = Lines::new(&text[..], MAX_EVENT_BYTES + 1);
        let mut n = 0;
        while let Some(Line::Text(_, l)) = lines.next_line().unwrap() {
            let env = v.decode_published(l, now()).unwrap();
            let want = (
                subject_for(&env.lpa, env.event_type().as_str()),
                Some(env.event_id.to_string()),
            );
            assert_eq!(head(l), Some(want));
            n += 1;
        }
        assert!(n > 50, "{n} lines");
    }

    #[test]
    fn a_key_given_twice_is_refused_before_anything_is_sent() {
        let v = Validator::new(Reference::west_midlands());
        let text = simulated();
        let first = text.split(|b| *b == b'\n').next().unwrap();
        let s = std::str::from_utf8(first).unwrap();
        let twice = s.replacen('{', "{\"lpa\":\"walsall\",", 1);
        // The tracker would refuse it (which `lpa` was meant?), so `publish` does too.
        let r = v.decode_published(twice.as_bytes(), now()).unwrap_err();
        assert_eq!(r.code, RejectCode::DuplicateMember, "{r}");
    }

    #[test]
    fn validation_keeps_line_numbers_not_lines() {
        let v = Validator::new(Reference::west_midlands());
        let text = simulated();
        let good: Vec<&[u8]> = text.split(|b| *b == b'\n').take(3).collect();
        let far = std::str::from_utf8(good[2])
            .unwrap()
            .replace("\"2024-", "\"2099-");
        let big = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_EVENT_BYTES));
        let mut input = Vec::new();
        for l in [
            good[0],
            b"{not json",
            b"",
            far.as_bytes(),
            big.as_bytes(),
            good[1],
        ] {
            input.extend_from_slice(l);
            input.extend_from_slice(b"\r\n");
        }
        let mut read = 0;
        let checked = validate(&v, now(), &input[..], 2, |n| read += n).unwrap();
        assert_eq!(read, input.len() as u64, "progress covers every byte");
        assert_eq!(checked.lines, 5);
        assert_eq!(checked.last_line, 6);
        assert_eq!(checked.refused, vec![2, 4, 5]);
        assert_eq!(checked.valid(), 2);
        let codes: Vec<_> = checked
            .errors
            .iter()
            .map(|e| (e.line, e.rejection.code))
            .collect();
        assert_eq!(
            codes,
            vec![
                (2, RejectCode::InvalidJson),
                (4, RejectCode::ImplausibleTime)
            ],
            "only the first two reasons are kept"
        );
        let all = validate(&v, now(), &input[..], 10, |_| {}).unwrap();
        assert_eq!(all.errors[2].rejection.code, RejectCode::TooLarge);
        assert_eq!(all.errors[2].line, 5);
    }
}
