//! `publish`: validates an NDJSON file locally, then publishes each event on its
//! subject (`neighbourhood.events.<lpa>.<type>`) with `Nats-Msg-Id` set to its
//! `event_id`, pipelining PubAcks through a [`Window`].

use crate::domain::reject::Rejection;
use crate::wire::decode::Validator;
use crate::wire::subject::subject_for;
use anyhow::Context as _;
use async_nats::jetstream::{self, context::PublishAckFuture, context::PublishError};
use async_nats::jetstream::{message::PublishMessage, publish::PublishAck};
use std::collections::VecDeque;

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
    let mut window = Window::new(js, 512);
    let mut summary = PublishSummary::default();
    let mut settle = |(line, ack): Settled<usize>| -> anyhow::Result<()> {
        let ack = ack.with_context(|| format!("line {line}: broker did not confirm"))?;
        if ack.duplicate {
            summary.duplicates += 1;
        } else {
            summary.published += 1;
        }
        progress(1);
        Ok(())
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
        let payload = bytes::Bytes::copy_from_slice(l);
        let settled = window
            .send(line, subject, payload, id.as_deref())
            .await
            .with_context(|| format!("line {line}: publishing (does the stream NEIGHBOURHOOD_EVENTS exist? `serve` creates it)"))?;
        if let Some(settled) = settled {
            settle(settled)?;
        }
    }
    while let Some(settled) = window.next().await {
        settle(settled)?;
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
