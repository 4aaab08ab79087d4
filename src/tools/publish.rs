//! `publish`: validates an NDJSON file locally, then publishes each event on its
//! contract subject with `Nats-Msg-Id` set to its `event_id`, pipelining PubAcks.

use crate::wire::subject::subject_for;

use crate::domain::reject::Rejection;

use crate::wire::decode::Validator;
use anyhow::Context as _;
use async_nats::jetstream;
use std::collections::VecDeque;

/// A line that failed local validation.
#[derive(Debug)]
pub struct LineError {
    pub line: usize,
    pub rejection: Rejection,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishSummary {
    pub published: u64,
    /// Already in the stream's duplicate window: the broker kept the first copy.
    pub duplicates: u64,
}

/// Non-empty lines with their 1-based line numbers.
pub fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    text.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

/// Every invalid line, so a publisher can fix the file in one go.
pub fn validate(validator: &Validator, text: &[u8]) -> Vec<LineError> {
    lines(text)
        .filter_map(|(line, l)| {
            validator
                .decode(l)
                .err()
                .map(|rejection| LineError { line, rejection })
        })
        .collect()
}

/// Publishes every line. With `validator`, lines are decoded for their subject; without
/// (raw mode, for exercising the rejection path), the subject is read best-effort.
pub async fn publish(
    js: &jetstream::Context,
    validator: Option<&Validator>,
    text: &[u8],
    mut progress: impl FnMut(u64),
) -> anyhow::Result<PublishSummary> {
    const WINDOW: usize = 512;
    let mut inflight = VecDeque::with_capacity(WINDOW);
    let mut summary = PublishSummary::default();
    let settle = |ack: async_nats::jetstream::publish::PublishAck, s: &mut PublishSummary| {
        if ack.duplicate {
            s.duplicates += 1;
        } else {
            s.published += 1;
        }
    };
    for (line, l) in lines(text) {
        let (subject, id) = match validator.map(|v| v.decode(l)) {
            Some(Ok(env)) => (
                subject_for(&env.lpa, env.event_type().as_str()),
                Some(env.event_id),
            ),
            Some(Err(r)) => anyhow::bail!("line {line}: {r}"),
            None => raw_subject(l),
        };
        let mut msg =
            jetstream::message::PublishMessage::build().payload(bytes::Bytes::copy_from_slice(l));
        if let Some(id) = id {
            msg = msg.message_id(id);
        }
        let ack = js
            .send_publish(subject, msg)
            .await
            .with_context(|| format!("line {line}: publishing (does the stream NEIGHBOURHOOD_EVENTS exist? `serve` creates it)"))?;
        inflight.push_back((line, ack));
        if inflight.len() >= WINDOW {
            let (line, ack) = inflight.pop_front().expect("non-empty");
            settle(
                ack.await
                    .with_context(|| format!("line {line}: broker did not confirm"))?,
                &mut summary,
            );
            progress(1);
        }
    }
    while let Some((line, ack)) = inflight.pop_front() {
        settle(
            ack.await
                .with_context(|| format!("line {line}: broker did not confirm"))?,
            &mut summary,
        );
        progress(1);
    }
    Ok(summary)
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

    #[test]
    fn lines_are_numbered_from_one_and_blank_lines_skipped() {
        let text = b"a\n\n  \nb\r\n";
        let got: Vec<_> = lines(text).collect();
        assert_eq!(got, vec![(1, &b"a"[..]), (4, &b"b"[..])]);
    }
}
